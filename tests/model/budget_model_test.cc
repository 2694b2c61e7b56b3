#include "tests/model/budget_model.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "governance/memory/memory_budget_store.h"
#include "gtest/gtest.h"

namespace warden {
namespace {

// The reference store agrees with the model over long random runs.
TEST(BudgetModelTest, MemoryStoreMatchesModel) {
  for (uint32_t seed : {1u, 2u, 3u, 4u, 5u}) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    MemoryBudgetStore store;
    testing::BudgetModel(&store, seed).Run(3000);
  }
}

}  // namespace
}  // namespace warden
