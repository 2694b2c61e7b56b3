#include <memory>

#include "governance/memory/memory_budget_store.h"
#include "tests/approvals/approval_cases.h"

namespace warden::testing {
namespace {

INSTANTIATE_TEST_SUITE_P(
    Memory, ApprovalTest,
    ::testing::Values([]() -> std::unique_ptr<BudgetStore> {
      return std::make_unique<MemoryBudgetStore>();
    }));

}  // namespace
}  // namespace warden::testing
