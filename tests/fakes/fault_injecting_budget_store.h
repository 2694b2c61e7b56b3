#ifndef WARDEN_TESTS_FAKES_FAULT_INJECTING_BUDGET_STORE_H_
#define WARDEN_TESTS_FAKES_FAULT_INJECTING_BUDGET_STORE_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "governance/budget_store.h"

namespace warden {

// Wraps any BudgetStore, passing calls through unless told to fail every
// call (as an unreachable backend would) or to report a scope as frozen.
class FaultInjectingBudgetStore final : public BudgetStore {
 public:
  explicit FaultInjectingBudgetStore(BudgetStore* inner) : inner_(inner) {}

  // Every later call fails with `status` (OK to heal).
  void FailWith(absl::Status status) {
    absl::MutexLock lock(&mu_);
    fail_with_ = std::move(status);
  }
  // Holds whose path contains `scope` are refused as frozen ("" to thaw).
  void Freeze(std::string scope) {
    absl::MutexLock lock(&mu_);
    frozen_ = std::move(scope);
  }

  // Runs `hook` with each later Reserve's result before it is returned
  // (what another thread would do in between).
  void AfterReserve(std::function<void(const ReserveResult&)> hook) {
    absl::MutexLock lock(&mu_);
    after_reserve_ = std::move(hook);
  }

  std::optional<int64_t> LargestExact() const override {
    return inner_->LargestExact();
  }
  absl::StatusOr<ReserveResult> Reserve(const ReserveRequest& r) override {
    if (absl::Status st = Fault(); !st.ok()) return st;
    if (r.authorization.status == AuthorizationStatus::kHeld) {
      absl::MutexLock lock(&mu_);
      for (const std::string& scope : ScopePath(r.authorization)) {
        if (scope == frozen_) {
          ReserveResult result;
          result.outcome = ReserveResult::Outcome::kFrozen;
          result.frozen_scope = scope;
          return result;
        }
      }
    }
    absl::StatusOr<ReserveResult> result = inner_->Reserve(r);
    std::function<void(const ReserveResult&)> hook;
    {
      absl::MutexLock lock(&mu_);
      hook = after_reserve_;
    }
    if (hook && result.ok()) hook(*result);
    return result;
  }
  absl::StatusOr<Authorization> Get(const std::string& org,
                                    const std::string& id) override {
    if (absl::Status st = Fault(); !st.ok()) return st;
    return inner_->Get(org, id);
  }
  absl::StatusOr<std::vector<int64_t>> Usage(
      const std::string& org, const std::vector<UsageQuery>& queries,
      absl::Time now) override {
    if (absl::Status st = Fault(); !st.ok()) return st;
    return inner_->Usage(org, queries, now);
  }
  absl::StatusOr<std::vector<UsageBreakdown>> Breakdown(
      const std::string& org, const std::vector<UsageQuery>& queries,
      absl::Time now) override {
    if (absl::Status st = Fault(); !st.ok()) return st;
    return inner_->Breakdown(org, queries, now);
  }
  absl::StatusOr<std::vector<std::optional<AuthorizationStatus>>> StatusesOf(
      const std::string& org, const std::vector<std::string>& ids) override {
    if (absl::Status st = Fault(); !st.ok()) return st;
    return inner_->StatusesOf(org, ids);
  }
  absl::StatusOr<Authorization> Settle(const std::string& org,
                                       const std::string& id,
                                       absl::uint128 amount, UsdMicros usd,
                                       const std::string& tx,
                                       absl::Time now) override {
    if (absl::Status st = Fault(); !st.ok()) return st;
    return inner_->Settle(org, id, amount, usd, tx, now);
  }
  absl::StatusOr<Authorization> Void(const std::string& org,
                                     const std::string& id,
                                     absl::Time now) override {
    if (absl::Status st = Fault(); !st.ok()) return st;
    return inner_->Void(org, id, now);
  }
  absl::Status Abandon(const std::string& org, const std::string& id) override {
    if (absl::Status st = Fault(); !st.ok()) return st;
    return inner_->Abandon(org, id);
  }
  absl::Status SetFrozen(const std::string& org, const std::string& scope,
                         bool frozen) override {
    if (absl::Status st = Fault(); !st.ok()) return st;
    return inner_->SetFrozen(org, scope, frozen);
  }
  absl::StatusOr<std::vector<Authorization>> VoidUnder(const std::string& org,
                                                       const std::string& scope,
                                                       absl::Time now,
                                                       size_t max) override {
    if (absl::Status st = Fault(); !st.ok()) return st;
    return inner_->VoidUnder(org, scope, now, max);
  }
  absl::StatusOr<Readiness> CheckReady(const std::string& org) override {
    if (absl::Status st = Fault(); !st.ok()) return st;
    return inner_->CheckReady(org);
  }
  absl::StatusOr<Recovery> BeginRecovery(const std::string& org,
                                         const std::string& history,
                                         absl::Duration hold) override {
    if (absl::Status st = Fault(); !st.ok()) return st;
    return inner_->BeginRecovery(org, history, hold);
  }
  absl::StatusOr<std::string> ClaimRecovery(const std::string& org) override {
    if (absl::Status st = Fault(); !st.ok()) return st;
    return inner_->ClaimRecovery(org);
  }
  absl::Status ReleaseClaim(const std::string& org,
                            const std::string& claim) override {
    if (absl::Status st = Fault(); !st.ok()) return st;
    return inner_->ReleaseClaim(org, claim);
  }
  absl::Status MarkReady(const std::string& org, const std::string& history,
                         const std::string& token,
                         const std::string& claim) override {
    if (absl::Status st = Fault(); !st.ok()) return st;
    return inner_->MarkReady(org, history, token, claim);
  }
  absl::Status Restore(const Authorization& a, absl::Time retain_until,
                       const absl::TimeZone& zone) override {
    if (absl::Status st = Fault(); !st.ok()) return st;
    return inner_->Restore(a, retain_until, zone);
  }
  absl::StatusOr<VoteResult> Vote(const std::string& org, const std::string& id,
                                  const ApprovalVote& vote, absl::Time until,
                                  ExpiredHolds on_expiry) override {
    if (absl::Status st = Fault(); !st.ok()) return st;
    return inner_->Vote(org, id, vote, until, on_expiry);
  }
  absl::StatusOr<std::vector<Authorization>> ListAwaiting(
      const std::string& org, size_t max) override {
    if (absl::Status st = Fault(); !st.ok()) return st;
    return inner_->ListAwaiting(org, max);
  }
  absl::StatusOr<int64_t> CountHeld(const std::string& org) override {
    if (absl::Status st = Fault(); !st.ok()) return st;
    return inner_->CountHeld(org);
  }
  absl::StatusOr<std::vector<Authorization>> ExpireDue(const std::string& org,
                                                       absl::Time now,
                                                       size_t max) override {
    if (absl::Status st = Fault(); !st.ok()) return st;
    return inner_->ExpireDue(org, now, max);
  }

 private:
  absl::Status Fault() {
    absl::MutexLock lock(&mu_);
    return fail_with_;
  }

  BudgetStore* const inner_;
  absl::Mutex mu_;
  absl::Status fail_with_ ABSL_GUARDED_BY(mu_);
  std::string frozen_ ABSL_GUARDED_BY(mu_);
  std::function<void(const ReserveResult&)> after_reserve_ ABSL_GUARDED_BY(mu_);
};

}  // namespace warden

#endif  // WARDEN_TESTS_FAKES_FAULT_INJECTING_BUDGET_STORE_H_
