#ifndef WARDEN_GOVERNANCE_BUDGET_STORE_H_
#define WARDEN_GOVERNANCE_BUDGET_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/numeric/int128.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "governance/authorization.h"
#include "governance/policy.h"
#include "governance/window.h"

namespace warden {

// One limit a spend must fit in, resolved to a concrete span of time.
struct LimitCheck {
  // Index into ScopePath(authorization) of the limit's scope (0: the org).
  int scope_index = 0;
  // Index of the scope below it whose part of the usage a refusal reports
  // (an org limit's department, an agent limit's wallet); -1: none.
  int child_index = -1;
  std::string limit_name;
  Limit::Kind kind = Limit::Kind::kUsd;
  // USD micros or a number of transactions; -1: passed by a first spend
  // (nothing counted in the interval yet), as a new address is.
  int64_t cap = 0;
  Interval interval;
  // Calendar intervals start and end on local midnights of the request's
  // zone; rolling ones end at infinity.
  bool calendar = false;
};

struct ReserveRequest {
  // The record to store. status kHeld asks to reserve `amount_usd` and one
  // transaction on every limit; status kDenied only records the decision
  // (a rule denial), checking and charging nothing.
  Authorization authorization;
  std::vector<LimitCheck> limits;
  // Keep the record, and its idempotency key, at least until this time.
  absl::Time retain_until;
  // The org's time zone, in which calendar intervals are drawn.
  absl::TimeZone zone = absl::UTCTimeZone();
  // The caller stops waiting then: a store that could act later than it
  // answers (Redis, stalled) must refuse to act past it.
  absl::Time not_after = absl::InfiniteFuture();
};

// One sum Usage reads: what `scope` (an entry of a scope path, such as
// "agent/bot" or "wallet/w1") has used in `interval`, as a limit of `kind`
// over it counts (held and settled spends, in USD micros or a count).
struct UsageQuery {
  std::string scope;
  Limit::Kind kind = Limit::Kind::kUsd;
  Interval interval;
  bool calendar = false;
};

// The most HELD records of an org BudgetStore::Breakdown reads.
inline constexpr int64_t kMaxBreakdownHolds = 100'000;

// Breakdown's refusal past kMaxBreakdownHolds.
inline absl::Status TooManyHolds(int64_t holds) {
  return absl::ResourceExhaustedError(absl::StrCat(
      "the org has ", holds, " or more held spends, more than the ",
      kMaxBreakdownHolds,
      " a budget status reads at once; settle or void some and retry"));
}

// What one query's window holds (BudgetStore::Breakdown).
struct UsageBreakdown {
  // Held + settled in the window: Usage's sum.
  int64_t used = 0;
  // Of `used`, what HELD records created in the query's interval hold:
  // those awaiting approval (PENDING_APPROVAL, counted as a refusal's
  // "pending" is), and the others (allowed or delayed, not yet settled).
  int64_t pending = 0;
  int64_t held = 0;
  // Rolling windows: the earliest bucket of the window's finest level
  // (usage::FinestSpan) holding usage, whose end + the window's length is
  // when that usage leaves the window; nullopt when none does, and for
  // calendar windows.
  std::optional<Interval> oldest;
};

// How much of one limit is used, as the store saw it when it refused.
struct LimitUsage {
  size_t limit_index = 0;  // Into ReserveRequest::limits.
  int64_t used = 0;        // Held + settled in the interval, limit's unit.
  // Of `used`, what went through the request's own scope below the
  // limit's (LimitCheck::child_index: its department, agent or wallet);
  // the rest went through the others. 0 without a child.
  int64_t child_used = 0;
  // Of `used`, what is held by spends awaiting approval.
  int64_t pending = 0;
};

struct ReserveResult {
  enum class Outcome {
    kReserved,   // Held on every limit, record stored.
    kRecorded,   // A kDenied record was stored.
    kOverLimit,  // Nothing stored or charged; `exceeded` says why.
    kDuplicate,  // The idempotency key was used before; nothing charged.
    kFrozen,     // A scope on the path is frozen; nothing stored or charged.
  };
  Outcome outcome = Outcome::kOverLimit;
  // kDuplicate: the first record stored under the key. (kReserved and
  // kRecorded stored the request's record as it is: nothing to return.)
  Authorization authorization;
  // kOverLimit: every limit that the spend would push past its cap.
  std::vector<LimitUsage> exceeded;
  // kReserved: each limit's usage before this charge, in request order
  // (saturated; Redis at 2^62, past every cap), so a caller can tell which
  // thresholds the charge crossed: of concurrent charges, exactly one
  // crosses each.
  std::vector<int64_t> used_before;
  // kFrozen: the frozen scope, e.g. "agent/agent_a".
  std::string frozen_scope;
};

// What Vote did.
struct VoteResult {
  Authorization authorization;  // The record after the vote.
  // False when the approver had already answered: nothing changed.
  bool counted = false;
};

// Holds, counters and idempotency records. A spend is checked against every
// limit of its path and reserved on all of them or on none, in one atomic
// step, whatever the number of concurrent callers or gateway replicas.
//
// Records are keyed by (org_id, id); idempotency keys by (org_id, agent_id,
// key). A charge counts in a limit's interval by its created_at.
//
// Every method is thread-safe. Backend failures are UNAVAILABLE and never
// leave a partial reservation.
class BudgetStore {
 public:
  BudgetStore() = default;
  BudgetStore(const BudgetStore&) = delete;
  BudgetStore& operator=(const BudgetStore&) = delete;
  virtual ~BudgetStore() = default;

  // The largest cap or amount (micro-dollars, or a count) the store
  // compares exactly, if it has one: bundles with a larger cap are refused,
  // not applied to fail every spend under it.
  virtual std::optional<int64_t> LargestExact() const { return std::nullopt; }

  // Atomically: if the request's idempotency key (when non-empty) is known,
  // returns kDuplicate with the first record. Otherwise, for a kHeld record,
  // returns kFrozen if any scope of its path is frozen, kOverLimit if
  // used + requested would exceed any limit's cap, else charges every limit
  // and stores the record (kReserved). A kDenied record is stored without
  // checks (kRecorded).
  virtual absl::StatusOr<ReserveResult> Reserve(
      const ReserveRequest& request) = 0;

  // Each query's usage at `now`, in order, counted from the same buckets a
  // Reserve reads (saturated at the int64 maximum). Reads only; each sum is
  // exact as of its read, not atomic with a later Reserve.
  virtual absl::StatusOr<std::vector<int64_t>> Usage(
      const std::string& org_id, const std::vector<UsageQuery>& queries,
      absl::Time now) = 0;

  // Each query's Usage with what HELD records hold of it, read in one step
  // (one lock, one script call), so the figures agree with each other and
  // with what a Reserve at that moment would see. Reads every HELD record
  // of the org: a finance query, not a hot-path one, refused with
  // RESOURCE_EXHAUSTED past kMaxBreakdownHolds of them (so that one call
  // cannot hold Redis or the lock for long). UNAVAILABLE while the store is
  // not ready (IsReady).
  virtual absl::StatusOr<std::vector<UsageBreakdown>> Breakdown(
      const std::string& org_id, const std::vector<UsageQuery>& queries,
      absl::Time now) = 0;

  // The record, or NOT_FOUND.
  virtual absl::StatusOr<Authorization> Get(const std::string& org_id,
                                            const std::string& id) = 0;

  // The statuses of the org's records `ids` now, in order (nullopt for one
  // that does not exist): Get's, where a store cannot read them alone more
  // cheaply.
  virtual absl::StatusOr<std::vector<std::optional<AuthorizationStatus>>>
  StatusesOf(const std::string& org_id, const std::vector<std::string>& ids) {
    std::vector<std::optional<AuthorizationStatus>> out;
    for (const std::string& id : ids) {
      absl::StatusOr<Authorization> a = Get(org_id, id);
      if (!a.ok() && !absl::IsNotFound(a.status())) return a.status();
      out.push_back(a.ok() ? std::optional(a->status) : std::nullopt);
    }
    return out;
  }

  // Settles a HELD record at `now` (before its hold expires) with its final
  // amount, which the caller has checked is <= the held amount; the
  // difference is released. Settling again with the same amount and tx hash
  // returns the record unchanged. NOT_FOUND, or FAILED_PRECONDITION when the
  // record is not HELD or its hold has expired.
  virtual absl::StatusOr<Authorization> Settle(
      const std::string& org_id, const std::string& id, absl::uint128 amount,
      UsdMicros amount_usd, const std::string& tx_hash, absl::Time now) = 0;

  // Voids a HELD record before its hold expires, releasing it. Voiding a
  // VOIDED record returns it unchanged. NOT_FOUND or FAILED_PRECONDITION.
  virtual absl::StatusOr<Authorization> Void(const std::string& org_id,
                                             const std::string& id,
                                             absl::Time now) = 0;

  // Undoes a Reserve whose decision could not be made durable: releases any
  // charge and forgets the record and its idempotency key, so that a retry
  // decides afresh. NOT_FOUND if there is no such record.
  virtual absl::Status Abandon(const std::string& org_id,
                               const std::string& id) = 0;

  // Sets or clears the frozen flag of `scope` ("agent/a", ...): Reserve
  // refuses every hold whose path contains a frozen scope (kFrozen).
  virtual absl::Status SetFrozen(const std::string& org_id,
                                 const std::string& scope, bool frozen) = 0;

  // Voids up to `max_records` HELD records whose path contains `scope` and
  // whose hold has not expired at `now`, releasing them; returns them.
  virtual absl::StatusOr<std::vector<Authorization>> VoidUnder(
      const std::string& org_id, const std::string& scope, absl::Time now,
      size_t max_records) = 0;

  // Whether the store holds the org's state, refreshing that mark if so (in
  // one step, so a loss between a check and a refresh cannot be papered
  // over). A store that can lose its data (Redis: FLUSHALL, a restart
  // without persistence, a failover to an empty replica) answers kEmpty
  // until MarkReady; one whose replication history changed since the org's
  // state was last declared ready (Redis: a replica promoted, which may lack
  // the last writes its primary acknowledged) answers kUnverified.
  // Meanwhile Reserve, Settle, Void, Vote, Breakdown and ExpireDue are
  // UNAVAILABLE, so nothing is decided (or released) on forgotten budgets.
  struct Readiness {
    enum class State { kReady, kEmpty, kUnverified };
    State state = State::kReady;
    // The store's replication history now, for MarkReady ("" for a store
    // without one).
    std::string history;
  };
  virtual absl::StatusOr<Readiness> CheckReady(const std::string& org_id) = 0;
  // Starts a recovery of the org's state on `history` (as CheckReady gave
  // it), or joins the one under way there (several replicas recover at
  // once): its token for MarkReady, and how much of `hold` is left, during
  // which spends stay refused whatever is found (a failover's decisions
  // whose audit records are still being written must land first). The
  // hold is kept in the store, so a replica that restarts keeps to it.
  struct Recovery {
    std::string token;
    absl::Duration hold_left;
  };
  virtual absl::StatusOr<Recovery> BeginRecovery(const std::string& org_id,
                                                 const std::string& history,
                                                 absl::Duration hold) = 0;
  // Claims the org's recovery for this replica alone, for a minute (ended
  // by MarkReady with the claim): for a step that leaves the state
  // incomplete for a moment (dropping records to restore them), so that no
  // other replica marks it ready meanwhile. Returns the claim, or "" when
  // another replica holds one.
  virtual absl::StatusOr<std::string> ClaimRecovery(
      const std::string& org_id) = 0;
  // Gives a claim up (a step after it failed), if it still holds.
  virtual absl::Status ReleaseClaim(const std::string& org_id,
                                    const std::string& claim) = 0;
  // Declares the org's state rebuilt (or new, or checked) on `history` and
  // ends the recovery `token` (and `claim`, "" for none); UNAVAILABLE,
  // declaring nothing, when the store's history is no longer that (it
  // failed over again), the recovery is gone (a flush during it) or
  // another replica's claim holds it.
  virtual absl::Status MarkReady(const std::string& org_id,
                                 const std::string& history,
                                 const std::string& token,
                                 const std::string& claim) = 0;
  // Loads a record as it was, with its charges, without checking limits;
  // a record that is already there is left as it is, so concurrent
  // rebuilds by several replicas charge it once.
  virtual absl::Status Restore(const Authorization& a, absl::Time retain_until,
                               const absl::TimeZone& zone) = 0;

  // Records `vote` on a HELD record whose decision is PENDING_APPROVAL or
  // DELAYED and whose hold has not expired at `vote.at`; an approver who
  // already answered is not counted again (counted = false, nothing
  // changes). A rejection voids the record, releasing it. An approval of a
  // PENDING_APPROVAL record that brings its distinct approvals to
  // `approvals_required` makes it an ALLOW whose hold lasts until
  // `allowed_until` and expires as `on_expiry` says. NOT_FOUND, or
  // FAILED_PRECONDITION for any other record.
  virtual absl::StatusOr<VoteResult> Vote(const std::string& org_id,
                                          const std::string& id,
                                          const ApprovalVote& vote,
                                          absl::Time allowed_until,
                                          ExpiredHolds on_expiry) = 0;

  // Up to `max_records` HELD records of the org whose decision is
  // PENDING_APPROVAL or DELAYED (a released DELAYED one may be among them
  // until it settles or expires), oldest first.
  virtual absl::StatusOr<std::vector<Authorization>> ListAwaiting(
      const std::string& org_id, size_t max_records) = 0;

  // How many of the org's records are HELD now (for the metrics).
  virtual absl::StatusOr<int64_t> CountHeld(const std::string& org_id) = 0;

  // Moves up to `max_records` HELD records of the org whose hold expired at
  // or before `now` to EXPIRED (releasing them unless their on_expiry is
  // kCount) and returns them. Also drops records past their retention.
  virtual absl::StatusOr<std::vector<Authorization>> ExpireDue(
      const std::string& org_id, absl::Time now, size_t max_records) = 0;
};

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_BUDGET_STORE_H_
