#ifndef WARDEN_TESTS_SUPPORT_MARK_READY_H_
#define WARDEN_TESTS_SUPPORT_MARK_READY_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "governance/budget_store.h"

namespace warden::testing {

// Declares the org's state ready on the store's replication history now,
// as Engine::EnsureReady does for a new org with nothing to restore.
inline absl::Status MarkReadyNow(BudgetStore& store, const std::string& org) {
  absl::StatusOr<BudgetStore::Readiness> r = store.CheckReady(org);
  if (!r.ok()) return r.status();
  absl::StatusOr<BudgetStore::Recovery> recovery =
      store.BeginRecovery(org, r->history, absl::ZeroDuration());
  if (!recovery.ok()) return recovery.status();
  return store.MarkReady(org, r->history, recovery->token, "");
}

}  // namespace warden::testing

#endif  // WARDEN_TESTS_SUPPORT_MARK_READY_H_
