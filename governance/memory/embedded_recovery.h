#ifndef WARDEN_GOVERNANCE_MEMORY_EMBEDDED_RECOVERY_H_
#define WARDEN_GOVERNANCE_MEMORY_EMBEDDED_RECOVERY_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "governance/freeze_store.h"
#include "governance/memory/memory_budget_store.h"

namespace warden {

// Rebuilds the embedded mode's budgets after a restart: replays the audit
// file at `path` and restores every authorization created after
// `now - retention` in its last recorded state, so that holds and
// settlements made before the restart still count against their windows and
// idempotency keys still replay. Returns how many records were restored.
absl::StatusOr<size_t> RestoreBudgetsFromAuditFile(const std::string& path,
                                                   absl::Time now,
                                                   absl::Duration retention,
                                                   MemoryBudgetStore* store);

// Replays the freezes and unfreezes recorded in the audit file at `path`
// into `freezes`, for the modes without Postgres.
absl::Status RestoreFreezesFromAuditFile(const std::string& path,
                                         FreezeStore* freezes);

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_MEMORY_EMBEDDED_RECOVERY_H_
