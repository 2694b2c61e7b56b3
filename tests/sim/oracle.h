// The simulator's oracle: its own ledger of every authorization the engine
// answered, and the invariants of /work/shared/DESIGN.md checked against
// every answer, every audit record and the budget store's records.
//
// It predicts what it can predict exactly (validation errors, settles,
// voids, votes, sweeps, freezes) and, for Authorize, checks the decision
// against what the ledger allows: an admission must fit every limit over
// its exact window (never more than the cap, whatever the store); a denial
// must be explained by a rule, a frozen scope or a limit the store counts as
// exceeded (for Redis, with its documented bucket bound, so a Redis denial
// that the exact ledger would admit is accepted, an admission past the cap
// never).

#ifndef WARDEN_TESTS_SIM_ORACLE_H_
#define WARDEN_TESTS_SIM_ORACLE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/numeric/int128.h"
#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "governance/audit_log.h"
#include "governance/budget_store.h"
#include "governance/engine.h"
#include "tests/sim/audit_trail.h"
#include "tests/sim/sim_policy.h"

namespace warden::sim {

// The earliest charge time a store counts for a limit check at `now`: the
// interval's start for an exact store, usage::CountedFrom for the bucketed
// ones.
using CountedFrom = std::function<absl::Time(const LimitCheck&, absl::Time)>;

// What the oracle must know about the store under test.
struct StoreTraits {
  std::string name;
  CountedFrom counted_from;
  // Redis compares in Lua doubles and refuses amounts above this, and
  // bundles with caps above it (INVALID_ARGUMENT); unset for exact stores.
  std::optional<int64_t> max_exact_micros;
  // How often (steps) the simulator compares every record with the store:
  // each comparison is a Get per record, a round trip on Redis.
  int full_check_every = 1;
};

// One broken invariant.
struct Finding {
  int step = 0;
  // "over-admission", "retention", "exactly-once",
  // "exactly-once-expired", "kill-switch",
  // "fail-closed", "valuation", "audit", "ledger", "bundle", "decision",
  // "count-held".
  std::string invariant;
  std::string message;
};

class Oracle {
 public:
  // What the oracle believes about one authorization.
  struct Record {
    int index = 0;           // "#n" in traces: the order of creation.
    Authorization a;         // As the store must hold it now.
    AuthorizeInput request;  // What created it, for replays.
    // The scopes it charges (SimPolicy::PathOf when it was decided).
    std::vector<std::string> path;
    std::string last_tx_hash;  // Of its last settle attempt.
    // No store drops it before this (engine.cc's retain_until, from the
    // policy at its creation, or RecordRetention when a rebuild restored
    // it); a MemoryBudgetStore drops it at the first sweep after, unless it
    // is HELD.
    absl::Time retain_until;
    // Not restored by a rebuild (older than the retention then): its charge
    // is gone from the store's buckets too.
    bool lost = false;
    // Seen dropped by the store (retention, or not restored by a rebuild);
    // its audit trail still knows it.
    bool gone = false;
  };
  // Whether the budget store enforces a scope's freeze.
  enum class Enforced {
    kNo,
    kYes,    // FreezeScope or DecommissionAgent returned OK since.
    kMaybe,  // A freeze or unfreeze failed half way since: either is fine.
  };
  struct ScopeState {
    bool durable = false;  // In the FreezeStore.
    bool decommissioned = false;
    Enforced enforced = Enforced::kNo;
  };

  // `store` is read (never changed) to compare records; not owned.
  Oracle(StoreTraits traits, BudgetStore* store);

  // --- Steps. Each On* call checks one engine answer and moves the ledger.
  void BeginStep(int step);
  // The first bundle, which must apply.
  void OnInitialBundle(const SimPolicy& p,
                       const absl::StatusOr<ApplyResult>& r);
  void OnApplyBundle(const SimPolicy& next,
                     const absl::StatusOr<ApplyResult>& r);
  // `store_up`: the store answers (no injected outage, and ready).
  void OnAuthorize(const AuthorizeInput& in, absl::Time now, bool store_up,
                   const absl::StatusOr<AuthorizeOutput>& out);
  void OnSettle(const SettleInput& in, absl::Time now, bool store_up,
                const absl::StatusOr<Authorization>& out);
  void OnVoid(const std::string& id, absl::Time now, bool store_up,
              const absl::StatusOr<Authorization>& out);
  void OnVote(const VoteInput& in, bool approve, absl::Time now, bool store_up,
              const absl::StatusOr<VoteOutput>& out);
  void OnSweep(absl::Time now, bool store_up,
               const absl::StatusOr<size_t>& out);
  // A FreezeScope of `scope`, or with `decommission` a DecommissionAgent of
  // the agent `scope` names ("agent/<id>").
  void OnFreeze(const std::string& scope, bool decommission, absl::Time now,
                bool store_up, const absl::StatusOr<FreezeOutcome>& out);
  void OnUnfreeze(const std::string& scope, bool store_up,
                  const absl::StatusOr<FreezeOutcome>& out);
  void OnGet(const std::string& id, absl::Time now, bool store_up,
             const absl::StatusOr<Authorization>& out);
  void OnListPending(absl::Time now, bool store_up,
                     const absl::StatusOr<std::vector<Authorization>>& out);
  // The store lost all its data and the engine rebuilt it (EnsureReady, or
  // the embedded mode's restore) with this result.
  void OnRebuild(absl::Time now, const absl::StatusOr<size_t>& restored);

  // --- Checks at the end of every step.
  // `events` are the audit records this step appended.
  void CheckAudit(const std::vector<TrailEvent>& events);
  // Compares the records this step touched, a rotating sample of the others
  // (all of them when `full`) and CountHeld with the store.
  void CheckStore(absl::Time now, bool full);
  void Fail(const std::string& invariant, const std::string& message);

  // --- For the generators.
  const SimPolicy& policy() const { return policy_; }
  const std::vector<Record>& records() const { return records_; }
  const std::map<std::string, ScopeState>& scopes() const { return scopes_; }
  // The (agent, key) pairs used so far, in the order of first use.
  const std::vector<std::pair<std::string, std::string>>& keys() const {
    return key_order_;
  }
  std::optional<size_t> KeyRecord(const std::string& agent,
                                  const std::string& key) const;
  // The record the engine gave this id, if the oracle knows it.
  std::optional<size_t> IndexOf(const std::string& id) const {
    auto it = by_id_.find(id);
    if (it == by_id_.end()) return std::nullopt;
    return it->second;
  }
  // How much of `limit` on `scope` ("agent/a0") is used at `now`, over its
  // exact window.
  int64_t Used(const std::string& scope, const SimLimit& limit,
               absl::Time now) const;
  // Interesting USD amounts for a spend like `in` now: what is left of each
  // USD limit on its path, and its agent's tier thresholds.
  std::vector<int64_t> Boundaries(const AuthorizeInput& in,
                                  absl::Time now) const;
  bool Live(const Record& r, absl::Time now) const {
    return !r.gone && r.a.status == AuthorizationStatus::kHeld &&
           now < r.a.hold_expires_at;
  }

  const std::vector<Finding>& findings() const { return findings_; }
  int64_t admitted() const { return admitted_; }
  int64_t denied() const { return denied_; }

 private:
  // One limit on a spend's path, resolved at a time.
  struct PathLimit {
    std::string scope;  // "department/d0"
    SimLimit limit;
    LimitCheck check;
  };
  // The scopes a spend like `in` charges under the policy now; empty for
  // an unknown agent or wallet.
  std::vector<SimPolicy::PathScope> PathOf(const AuthorizeInput& in) const;
  std::vector<PathLimit> PathLimits(const AuthorizeInput& in,
                                    absl::Time now) const;
  LimitCheck CheckFor(const SimLimit& limit, absl::Time now) const;
  // Which records a usage counts.
  enum class Counting {
    kAll,  // Every one the engine answered: the exact ledger.
    // Those the store's buckets still count: every one but those a rebuild
    // did not restore (a dropped record's charge stays in the buckets).
    kKept,
    kSure,  // The same.
  };
  // Charged to the check's scope from `from` to the interval's end or, with
  // `to_future`, any time after `from`: a store may count charges stamped
  // past the window's end by a clock that ran ahead (or stepped back) where
  // they share a bucket with now + the skew allowance.
  absl::int128 Usage(const std::string& scope, const LimitCheck& check,
                     absl::Time from, Counting counting, absl::Time now,
                     bool to_future = false) const;

  // The tier the spend falls in (0 instant, 1 notify, 2 delay, 3
  // approval), counting cumulative usage as `counting` says, from the
  // window's start or (with `store_bound`) from where the store counts;
  // sets `beyond_int64` when a window's spend plus this one passes int64.
  int TierOf(const SimAgent& agent, int64_t usd, absl::Time now,
             Counting counting, bool store_bound,
             bool* beyond_int64 = nullptr) const;
  // The strictest tier the spend's own value puts it in.
  int PerTxTier(const SimAgent& agent, int64_t usd) const;

  void OnFreshDecision(const AuthorizeInput& in, absl::Time now,
                       const SimAgent& agent, const SimAsset* asset,
                       absl::uint128 amount, const Authorization& a);
  void Replayed(const AuthorizeInput& in, absl::Time now, const Record& r,
                const AuthorizeOutput& out);
  size_t AddRecord(const AuthorizeInput& in, const Authorization& a);
  // When the store may first drop `a`, which charges `path` (a lower bound
  // of engine.cc's retain_until), from the policy now.
  absl::Time RetainUntil(const Authorization& a,
                         const std::vector<SimPolicy::PathScope>& path) const;

  // Expects `got` to fail with `code` (else a finding of `invariant`).
  // Returns whether it did fail.
  bool ExpectError(const absl::Status& got, absl::StatusCode code,
                   const std::string& invariant, const std::string& what);
  // Adopts the store's copy of record `i` after a disagreement, so that a
  // run can go on (with --keep-going) without repeating one finding.
  void Resync(size_t i);
  // Whether a charge of `usd` now by `in` would take one of its scopes'
  // UTC day past the store's exact range (Redis then refuses it with
  // FAILED_PRECONDITION).
  bool DayBeyondExact(const AuthorizeInput& in, absl::Time now,
                      int64_t usd) const;
  // Whether a record may be missing from the store (retention).
  bool MayBeGone(const Record& r, absl::Time now) const;
  Record* Find(const std::string& id);
  std::string Label(const Record& r) const;
  absl::Duration Retention() const;

  const StoreTraits traits_;
  BudgetStore* const store_;
  SimPolicy policy_;
  absl::TimeZone zone_;
  int64_t policy_version_ = 0;
  int step_ = 0;
  absl::Time latest_sweep_ = absl::InfinitePast();  // Of a sweep that ran.

  std::vector<Record> records_;
  std::map<std::string, size_t> by_id_;
  // (agent, key) -> every record that used it, oldest first.
  std::map<std::pair<std::string, std::string>, std::vector<size_t>> keys_;
  std::vector<std::pair<std::string, std::string>> key_order_;
  std::map<std::string, ScopeState> scopes_;

  // This step: records whose state changed (each must be audited), records
  // to compare with the store, fresh decisions (each audited exactly once)
  // and the other events expected, as (type, scope).
  std::set<size_t> changed_;
  std::set<size_t> to_check_;
  std::set<std::string> decided_;
  std::multiset<std::pair<AuditEvent::Type, std::string>> expected_events_;
  size_t sample_cursor_ = 0;

  std::vector<Finding> findings_;
  int64_t admitted_ = 0;
  int64_t denied_ = 0;
};

// The differences between two records in what the store must keep, as
// "status HELD != VOIDED; ..."; empty when they agree.
std::string DiffRecords(const Authorization& want, const Authorization& got);

}  // namespace warden::sim

#endif  // WARDEN_TESTS_SIM_ORACLE_H_
