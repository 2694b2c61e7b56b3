// A MemoryBudgetStore that can lose everything, as a process restart or a
// Redis FLUSHALL would. MemoryBudgetStore itself never loses its state and
// is always ready; this wrapper swaps in an empty one that answers CheckReady
// kEmpty (and refuses Reserve, Settle, Void and Vote with UNAVAILABLE, as the
// BudgetStore contract asks of a store that lost its state) until MarkReady,
// so that Engine::EnsureReady rebuilds it from the audit trail.

#ifndef WARDEN_TESTS_SIM_LOSABLE_MEMORY_BUDGET_STORE_H_
#define WARDEN_TESTS_SIM_LOSABLE_MEMORY_BUDGET_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "governance/memory/memory_budget_store.h"

namespace warden::sim {

class LosableMemoryBudgetStore final : public BudgetStore {
 public:
  LosableMemoryBudgetStore() : inner_(std::make_unique<MemoryBudgetStore>()) {}

  // Drops every record, counter, key and frozen flag; returns the new, empty
  // store (for restoring into it directly, as the embedded mode does).
  MemoryBudgetStore* Lose() {
    absl::MutexLock lock(&mu_);
    inner_ = std::make_unique<MemoryBudgetStore>();
    ready_ = false;
    return inner_.get();
  }

  absl::StatusOr<ReserveResult> Reserve(const ReserveRequest& r) override {
    if (absl::Status st = Ready(); !st.ok()) return st;
    return Inner()->Reserve(r);
  }
  absl::StatusOr<Authorization> Get(const std::string& org,
                                    const std::string& id) override {
    return Inner()->Get(org, id);
  }
  absl::StatusOr<std::vector<int64_t>> Usage(
      const std::string& org, const std::vector<UsageQuery>& queries,
      absl::Time now) override {
    if (absl::Status st = Ready(); !st.ok()) return st;
    return Inner()->Usage(org, queries, now);
  }
  absl::StatusOr<std::vector<UsageBreakdown>> Breakdown(
      const std::string& org, const std::vector<UsageQuery>& queries,
      absl::Time now) override {
    if (absl::Status st = Ready(); !st.ok()) return st;
    return Inner()->Breakdown(org, queries, now);
  }
  absl::StatusOr<Authorization> Settle(const std::string& org,
                                       const std::string& id,
                                       absl::uint128 amount, UsdMicros usd,
                                       const std::string& tx,
                                       absl::Time now) override {
    if (absl::Status st = Ready(); !st.ok()) return st;
    return Inner()->Settle(org, id, amount, usd, tx, now);
  }
  absl::StatusOr<Authorization> Void(const std::string& org,
                                     const std::string& id,
                                     absl::Time now) override {
    if (absl::Status st = Ready(); !st.ok()) return st;
    return Inner()->Void(org, id, now);
  }
  absl::Status Abandon(const std::string& org, const std::string& id) override {
    return Inner()->Abandon(org, id);
  }
  absl::Status SetFrozen(const std::string& org, const std::string& scope,
                         bool frozen) override {
    return Inner()->SetFrozen(org, scope, frozen);
  }
  absl::StatusOr<std::vector<Authorization>> VoidUnder(const std::string& org,
                                                       const std::string& scope,
                                                       absl::Time now,
                                                       size_t max) override {
    return Inner()->VoidUnder(org, scope, now, max);
  }
  absl::StatusOr<Readiness> CheckReady(const std::string&) override {
    absl::MutexLock lock(&mu_);
    Readiness r;
    if (!ready_) r.state = Readiness::State::kEmpty;
    return r;
  }
  absl::StatusOr<Recovery> BeginRecovery(const std::string& org,
                                         const std::string& history,
                                         absl::Duration hold) override {
    return Inner()->BeginRecovery(org, history, hold);
  }
  absl::StatusOr<std::string> ClaimRecovery(const std::string& org) override {
    return Inner()->ClaimRecovery(org);
  }
  absl::Status ReleaseClaim(const std::string& org,
                            const std::string& claim) override {
    return Inner()->ReleaseClaim(org, claim);
  }
  absl::Status MarkReady(const std::string&, const std::string&,
                         const std::string&, const std::string&) override {
    absl::MutexLock lock(&mu_);
    ready_ = true;
    return absl::OkStatus();
  }
  absl::Status Restore(const Authorization& a, absl::Time retain_until,
                       const absl::TimeZone& zone) override {
    return Inner()->Restore(a, retain_until, zone);
  }
  absl::StatusOr<VoteResult> Vote(const std::string& org, const std::string& id,
                                  const ApprovalVote& vote, absl::Time until,
                                  ExpiredHolds on_expiry) override {
    if (absl::Status st = Ready(); !st.ok()) return st;
    return Inner()->Vote(org, id, vote, until, on_expiry);
  }
  absl::StatusOr<std::vector<Authorization>> ListAwaiting(
      const std::string& org, size_t max) override {
    return Inner()->ListAwaiting(org, max);
  }
  absl::StatusOr<int64_t> CountHeld(const std::string& org) override {
    return Inner()->CountHeld(org);
  }
  absl::StatusOr<std::vector<Authorization>> ExpireDue(const std::string& org,
                                                       absl::Time now,
                                                       size_t max) override {
    return Inner()->ExpireDue(org, now, max);
  }

 private:
  MemoryBudgetStore* Inner() {
    absl::MutexLock lock(&mu_);
    return inner_.get();
  }
  absl::Status Ready() {
    absl::MutexLock lock(&mu_);
    if (ready_) return absl::OkStatus();
    return absl::UnavailableError(
        "the memory store lost its state and is not rebuilt yet");
  }

  absl::Mutex mu_;
  // Swapped only between calls: the simulator is single-threaded.
  std::unique_ptr<MemoryBudgetStore> inner_ ABSL_GUARDED_BY(mu_);
  bool ready_ ABSL_GUARDED_BY(mu_) = true;
};

}  // namespace warden::sim

#endif  // WARDEN_TESTS_SIM_LOSABLE_MEMORY_BUDGET_STORE_H_
