#ifndef WARDEN_GOVERNANCE_MEMORY_MEMORY_BUDGET_STORE_H_
#define WARDEN_GOVERNANCE_MEMORY_MEMORY_BUDGET_STORE_H_

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/node_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "governance/budget_store.h"
#include "governance/usage_buckets.h"

namespace warden {

// BudgetStore in process memory, one mutex: `wardend --embedded`, and the
// store most tests run the engine on. Usage is counted in the same buckets
// as RedisBudgetStore (governance/usage_buckets.h), so a check costs the
// same whatever the traffic and both stores make the same decisions.
// Records are dropped after their retain_until, during ExpireDue; the
// buckets keep what they charged.
class MemoryBudgetStore final : public BudgetStore {
 public:
  MemoryBudgetStore() = default;

  absl::StatusOr<ReserveResult> Reserve(const ReserveRequest& request) override;
  absl::StatusOr<std::vector<int64_t>> Usage(
      const std::string& org_id, const std::vector<UsageQuery>& queries,
      absl::Time now) override;
  absl::StatusOr<std::vector<UsageBreakdown>> Breakdown(
      const std::string& org_id, const std::vector<UsageQuery>& queries,
      absl::Time now) override;
  absl::StatusOr<Authorization> Get(const std::string& org_id,
                                    const std::string& id) override;
  absl::StatusOr<std::vector<std::optional<AuthorizationStatus>>> StatusesOf(
      const std::string& org_id, const std::vector<std::string>& ids) override;
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
  absl::StatusOr<Readiness> CheckReady(const std::string&) override {
    return Readiness();
  }
  absl::StatusOr<Recovery> BeginRecovery(const std::string&, const std::string&,
                                         absl::Duration) override {
    return Recovery();
  }
  absl::StatusOr<std::string> ClaimRecovery(const std::string&) override {
    return std::string("memory");
  }
  absl::Status ReleaseClaim(const std::string&, const std::string&) override {
    return absl::OkStatus();
  }
  absl::Status MarkReady(const std::string&, const std::string&,
                         const std::string&, const std::string&) override {
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
  // (time, RecordKey) entries, earliest first out: a binary heap in one
  // vector, so that the usual push (later than every other) costs O(1) and
  // no node.
  class TimeQueue {
   public:
    void Push(absl::Time at, std::string key);
    bool Due(absl::Time now) const {
      return !heap_.empty() && heap_.front().first <= now;
    }
    std::pair<absl::Time, std::string> Pop();
    // Every entry, in no particular order.
    const std::vector<std::pair<absl::Time, std::string>>& entries() const {
      return heap_;
    }

   private:
    std::vector<std::pair<absl::Time, std::string>> heap_;
  };

  static std::string RecordKey(const std::string& org, const std::string& id);
  static std::string IdempotencyKey(const Authorization& a);

  // The buckets of `scope`, or nullptr.
  const usage::Buckets* BucketsLocked(const std::string& org,
                                      const std::string& scope) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Adds what `after` charges and takes back what `before` did (nullptr:
  // nothing), at the record's creation, on every scope of its path.
  void RechargeLocked(const Authorization* before, const Authorization& after)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Voids a HELD record, releasing its charge.
  void VoidLocked(Authorization* a) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // What spends awaiting approval hold in `check`'s window, under the
  // scope of `spend` that `check` limits, in its unit.
  int64_t PendingLocked(const Authorization& spend, const LimitCheck& check)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void InsertLocked(const Authorization& a, absl::Time retain_until)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EraseLocked(const std::string& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<Entry*> FindHeldLocked(const std::string& org_id,
                                        const std::string& id, absl::Time now,
                                        const char* action)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  // RecordKey -> entry.
  absl::node_hash_map<std::string, Entry> records_ ABSL_GUARDED_BY(mu_);
  // IdempotencyKey -> RecordKey.
  absl::flat_hash_map<std::string, std::string> idempotency_
      ABSL_GUARDED_BY(mu_);
  // "<org>|<scope>" -> its usage buckets.
  absl::flat_hash_map<std::string, usage::Buckets> usage_ ABSL_GUARDED_BY(mu_);
  // (hold_expires_at, RecordKey) of HELD records, per org.
  // Skipped when the record is gone or no longer HELD.
  absl::flat_hash_map<std::string, TimeQueue> expiries_ ABSL_GUARDED_BY(mu_);
  // "<org>|<scope>" of frozen scopes.
  absl::flat_hash_set<std::string> frozen_ ABSL_GUARDED_BY(mu_);
  // (created_at, RecordKey) of records created PENDING_APPROVAL or DELAYED,
  // per org. Skipped (and dropped) once the record no longer awaits.
  std::map<std::string, std::set<std::pair<absl::Time, std::string>>> awaiting_
      ABSL_GUARDED_BY(mu_);
  // (retain_until, RecordKey) per org.
  absl::flat_hash_map<std::string, TimeQueue> retention_ ABSL_GUARDED_BY(mu_);
};

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_MEMORY_MEMORY_BUDGET_STORE_H_
