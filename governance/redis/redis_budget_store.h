#ifndef WARDEN_GOVERNANCE_REDIS_REDIS_BUDGET_STORE_H_
#define WARDEN_GOVERNANCE_REDIS_REDIS_BUDGET_STORE_H_

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "governance/budget_store.h"
#include "governance/redis/redis_client.h"

namespace warden {

// BudgetStore on Redis: one Lua script per operation touches every key of
// the spend's path, so a reservation is all-or-nothing across any number of
// wardend replicas. Any Redis failure is UNAVAILABLE; nothing is admitted
// without a successful script run.
//
// Keys (every one carries the org's hash tag, so one org lives in one
// Cluster slot, and every one but the frozen flags has a TTL):
//   {org}:r:<id>                  hash: the record (rec = JSON at creation;
//                                 st, sa, su, tx, ec = its mutable state;
//                                 dec = the decision, ALLOW once approved,
//                                 with hx (hold expiry, unix ns) and pol;
//                                 na and v:<approver> = the votes;
//                                 usd, exp, pol; t = the charge time, unix
//                                 s; p = the scope path; b = the usage
//                                 hashes it charged), expires at the
//                                 request's retain_until.
//   {org}:i:<agent>:<key>         string: the id first stored under the key;
//                                 same expiry as the record.
//   {org}:x                       zset: HELD ids scored by hold expiry (ms).
//   {org}:w                       zset: HELD ids created PENDING_APPROVAL or
//                                 DELAYED, by hold expiry (ms), until they
//                                 are approved or leave HELD.
//   {org}:ok                      string: this Redis holds the org's state,
//                                 checked on the replication history
//                                 (master_replid) it names. Absent after a
//                                 flush or an empty failover, and naming
//                                 another history after a replica was
//                                 promoted: either way every spend is
//                                 UNAVAILABLE until the engine rebuilt or
//                                 checked it. 1-day TTL, refreshed by every
//                                 sweep.
//   {org}:rb                      string: the recovery under way,
//                                 "token|history|start|hold" (ms, Redis's
//                                 clock); deleted when the org is marked
//                                 ready (or by a flush, which voids the
//                                 recovery).
//   {org}:rl                      string: the claim of the one replica
//                                 that may end the recovery
//                                 (ClaimRecovery), for a minute.
//   {org}:frozen:<scope>          string: present while the scope is frozen;
//                                 no TTL (bounded by the number of scopes,
//                                 and a freeze must never lapse).
//   {org}:u:<scope>               hash: the scope's usage buckets
//                                 (governance/usage_buckets.h): <l><n>u and
//                                 <l><n>c = USD micros and count charged in
//                                 bucket n of level l (m, t, h, q, d); <l> =
//                                 the level's newest bucket. A charge that
//                                 starts a new bucket deletes those that
//                                 fell out of the level, so a hash holds at
//                                 most 2 x 3,271 bucket fields; it expires
//                                 368 days after its last charge.
// Each charge increments its bucket at every level for the org, department,
// agent and wallet, so any window can be read whatever limits existed when
// it was charged. A reserve over any number of limits touches 4 usage
// hashes, with one HMGET and at most one HSET each.
//
// Windows: as usage_buckets.h states (the error only ever denies, never
// admits more).
//
// Time comes from the caller (the gateway's clock) in the record and the
// windows, never from the Redis server. Only key TTLs run on Redis's clock;
// they carry at least a day of margin past their last use. Replicas whose
// clocks differ by up to usage::kClockSkewAllowance still never over-admit;
// beyond that, a charge stamped by a replica that runs behind can leave a
// rolling window early by the excess. Run NTP.
class RedisBudgetStore final : public BudgetStore {
 public:
  // The largest cap or amount the scripts compare exactly (Lua doubles).
  static constexpr int64_t kMaxExactMicros = (int64_t{1} << 53) - 1;

  explicit RedisBudgetStore(std::unique_ptr<RedisClient> client);

  std::optional<int64_t> LargestExact() const override {
    return kMaxExactMicros;
  }
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
  absl::StatusOr<Readiness> CheckReady(const std::string& org_id) override;
  absl::StatusOr<Recovery> BeginRecovery(const std::string& org_id,
                                         const std::string& history,
                                         absl::Duration hold) override;
  absl::StatusOr<std::string> ClaimRecovery(const std::string& org_id) override;
  absl::Status ReleaseClaim(const std::string& org_id,
                            const std::string& claim) override;
  absl::Status MarkReady(const std::string& org_id, const std::string& history,
                         const std::string& token,
                         const std::string& claim) override;
  absl::Status Restore(const Authorization& a, absl::Time retain_until,
                       const absl::TimeZone& zone) override;
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

  // The keys and arguments of the reserve script for `request`. Exposed so
  // that benchmarks can replay the exact script call with redis-benchmark.
  struct ScriptCall {
    std::vector<std::string> keys;
    std::vector<std::string> args;
  };
  // Its last argument is the deadline: "0" (none) until
  // RedisClient::EvalWithDeadline stamps it. `restore` loads the record as
  // it was (see Restore) instead of reserving.
  static absl::StatusOr<ScriptCall> ReserveCall(const ReserveRequest& request,
                                                bool restore = false);

 private:
  // The operation-specific arguments of the transition script.
  struct TransitionArgs {
    std::string settled_amount, settled_usd, tx_hash;  // settle
    // vote
    std::string approver, vote, expiry_ms, expiry_ns, on_expiry,
        approvals_required;
  };
  absl::StatusOr<RedisReply> Transition(const std::string& org_id,
                                        const std::string& id,
                                        const std::string& op, absl::Time now,
                                        const TransitionArgs& extra);
  // Abandons the records of reserves whose answer never came: the engine
  // reported those calls as failed and audited nothing, so a record Redis
  // wrote after all (it ran the script in time, but the answer was lost) is
  // an orphan. Stops at the first UNAVAILABLE, keeping the rest.
  void ResolveInDoubt();

  std::unique_ptr<RedisClient> client_;
  // The most in-doubt reserves remembered; past it the oldest is dropped:
  // its record, if any, then counts until its hold expires, the safe side.
  static constexpr size_t kMaxInDoubt = 10000;
  absl::Mutex doubt_mu_;
  std::deque<std::pair<std::string, std::string>> in_doubt_  // (org, id)
      ABSL_GUARDED_BY(doubt_mu_);
  bool resolving_ ABSL_GUARDED_BY(doubt_mu_) = false;
};

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_REDIS_REDIS_BUDGET_STORE_H_
