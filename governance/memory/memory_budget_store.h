#ifndef WARDEN_GOVERNANCE_MEMORY_MEMORY_BUDGET_STORE_H_
#define WARDEN_GOVERNANCE_MEMORY_MEMORY_BUDGET_STORE_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/node_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "governance/budget_store.h"

namespace warden {

// The reference BudgetStore: exact rolling windows, one mutex, everything in
// process memory. Used by tests as the model other stores must match, and
// by `wardend --embedded`.
//
// Usage of a limit is summed over the records charged to its scope inside
// the limit's interval, so a check costs O(log n + records in the window).
// Records are dropped after their retain_until, during ExpireDue.
class MemoryBudgetStore final : public BudgetStore {
 public:
  MemoryBudgetStore() = default;

  absl::StatusOr<ReserveResult> Reserve(const ReserveRequest& request) override;
  absl::StatusOr<Authorization> Get(const std::string& org_id,
                                    const std::string& id) override;
  absl::StatusOr<Authorization> Settle(const std::string& org_id,
                                       const std::string& id,
                                       absl::uint128 amount,
                                       UsdMicros amount_usd,
                                       const std::string& tx_hash,
                                       absl::Time now) override;
  absl::StatusOr<Authorization> Void(const std::string& org_id,
                                     const std::string& id,
                                     absl::Time now) override;
  absl::Status Abandon(const std::string& org_id,
                       const std::string& id) override;
  absl::StatusOr<std::vector<Authorization>> ExpireDue(
      const std::string& org_id, absl::Time now, size_t max_records) override;
  absl::Status SetFrozen(const std::string& org_id, const std::string& scope,
                         bool frozen) override;
  absl::StatusOr<VoteResult> Vote(const std::string& org_id,
                                  const std::string& id,
                                  const ApprovalVote& vote,
                                  absl::Time allowed_until,
                                  ExpiredHolds on_expiry) override;
  absl::StatusOr<std::vector<Authorization>> ListAwaiting(
      const std::string& org_id, size_t max_records) override;
  absl::StatusOr<int64_t> CountHeld(const std::string& org_id) override;
  absl::StatusOr<std::vector<Authorization>> VoidUnder(
      const std::string& org_id, const std::string& scope, absl::Time now,
      size_t max_records) override;

  // Process memory is never lost while the process lives: always ready.
  absl::StatusOr<bool> IsReady(const std::string&) override { return true; }
  absl::Status MarkReady(const std::string&) override {
    return absl::OkStatus();
  }
  absl::Status Restore(const Authorization& a, absl::Time retain_until,
                       const absl::TimeZone& zone) override;

  // Loads a record as it was (from a replayed audit trail), replacing any
  // record with the same id, without checking limits. Not atomic with
  // concurrent reservations; call before serving.
  void Replace(const Authorization& a, absl::Time retain_until);

 private:
  struct Entry {
    Authorization auth;
    absl::Time retain_until;
  };

  static std::string RecordKey(const std::string& org, const std::string& id);
  static std::string IdempotencyKey(const Authorization& a);

  // Usage of `check` for a spend whose scope path is `path`, split by child
  // scope if `with_breakdown`.
  LimitUsage UsageLocked(const std::vector<std::string>& path,
                         const std::string& org, const LimitCheck& check,
                         bool with_breakdown)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void InsertLocked(const Authorization& a, absl::Time retain_until)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EraseLocked(const std::string& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<Entry*> FindHeldLocked(const std::string& org_id,
                                        const std::string& id, absl::Time now,
                                        const char* action)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  // RecordKey -> entry. Node-based, so that by_scope_ can point into it.
  absl::node_hash_map<std::string, Entry> records_ ABSL_GUARDED_BY(mu_);
  // IdempotencyKey -> RecordKey.
  absl::flat_hash_map<std::string, std::string> idempotency_
      ABSL_GUARDED_BY(mu_);
  // "<org>|<scope>" -> the records charged to the scope, sorted by
  // created_at, so a window's usage reads only the records inside it.
  absl::flat_hash_map<std::string, std::vector<const Entry*>> by_scope_
      ABSL_GUARDED_BY(mu_);
  // (hold_expires_at, RecordKey) of HELD records, per org.
  // Skipped when the record is gone or no longer HELD.
  std::map<std::string, std::multimap<absl::Time, std::string>> expiries_
      ABSL_GUARDED_BY(mu_);
  // "<org>|<scope>" of frozen scopes.
  absl::flat_hash_set<std::string> frozen_ ABSL_GUARDED_BY(mu_);
  // (created_at, RecordKey) of records created PENDING_APPROVAL or DELAYED,
  // per org. Skipped (and dropped) once the record no longer awaits.
  std::map<std::string, std::set<std::pair<absl::Time, std::string>>> awaiting_
      ABSL_GUARDED_BY(mu_);
  // (retain_until, RecordKey) per org.
  std::map<std::string, std::multimap<absl::Time, std::string>> retention_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_MEMORY_MEMORY_BUDGET_STORE_H_
