#include "tests/model/budget_model.h"

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "governance/memory/memory_budget_store.h"
#include "gtest/gtest.h"

namespace warden {
namespace {

// The reference store agrees with the model over long random runs.
TEST(BudgetModelTest, MemoryStoreMatchesModel) {
  std::vector<std::set<std::string>> refused;
  for (uint32_t seed : {1u, 2u, 3u, 4u, 5u}) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    MemoryBudgetStore store;
    testing::BudgetModel model(&store, seed);
    model.Run(3000);
    refused.push_back(model.refused_by());
  }
  testing::BudgetModel::ExpectEveryLimitRefused(refused);
}

}  // namespace
}  // namespace warden
