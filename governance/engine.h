#ifndef WARDEN_GOVERNANCE_ENGINE_H_
#define WARDEN_GOVERNANCE_ENGINE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "governance/audit_log.h"
#include "governance/audit_reader.h"
#include "governance/authorization.h"
#include "governance/balance_source.h"
#include "governance/budget_alerts.h"
#include "governance/budget_status.h"
#include "governance/budget_store.h"
#include "governance/clock.h"
#include "governance/config_store.h"
#include "governance/freeze_store.h"
#include "governance/notification.h"
#include "governance/policy.h"
#include "governance/policy_change.h"
#include "governance/price_source.h"
#include "governance/vendor_freezer.h"

namespace warden {

// Bounds on request fields, in bytes.
inline constexpr size_t kMaxIdempotencyKeyBytes = 128;
inline constexpr size_t kMaxMemoBytes = 1024;
// The most records one listing (pending approvals) returns.
inline constexpr size_t kMaxListed = 1000;
// How long an idempotency key is remembered after its hold could last.
inline constexpr absl::Duration kIdempotencyRetention = absl::Hours(24);
// How many expired holds one sweep moves per org.
inline constexpr size_t kExpireBatchMax = 1000;

struct AuthorizeInput {
  std::string org_id;  // Empty: the only org, if there is exactly one.
  std::string agent_id;
  std::string wallet_id;
  std::string asset;
  std::string amount;  // Base units, decimal.
  std::string destination;
  // A contract call's calldata, 0x-hex (the contract is `destination`);
  // empty for a plain transfer. See AuthorizeRequest.calldata.
  std::string calldata;
  // An x402 payment: the URL of the resource it pays for, whose host the
  // x402_domains allowlists govern; empty for anything else.
  std::string x402_resource;
  std::string idempotency_key;
  std::string memo;
  std::string actor;
  // The caller's W3C traceparent; kept only when valid.
  std::string traceparent;
  // When the caller stops waiting: a reservation the store would make
  // later is not made (BudgetStore::Reserve's not_after).
  absl::Time deadline = absl::InfiniteFuture();
};

struct AuthorizeOutput {
  Authorization authorization;
  bool replayed = false;  // An earlier decision for the same key.
};

struct SettleInput {
  std::string org_id;
  std::string authorization_id;
  std::string amount;  // Empty: the whole held amount.
  std::string tx_hash;
  std::string actor;
  // Set (an agent id): the record must be this agent's.
  std::string owner;
};

struct VoteInput {
  std::string org_id;
  std::string authorization_id;
  // The principal who approves or rejects: "user/alice", "agent/agent_b".
  std::string approver;
  std::string comment;
  std::string actor;  // The caller, for the audit trail.
};

struct VoteOutput {
  Authorization authorization;  // After the vote.
  bool counted = false;         // False: this approver had already answered.
};

// What freezing (or unfreezing) one wallet at its vendor did.
struct VendorFreezeResult {
  enum class Outcome {
    kDone,         // The vendor now refuses (or again allows) its spends.
    kUnsupported,  // The vendor has no such control: Warden's freeze is all.
    kFailed,       // The vendor could not be reached or refused; see reason.
    // The vendor cannot refuse: it now holds every spend for the wallet
    // owner's approval (MetaMask's 2FA), which the owner may still give.
    kOwnerApproval,
  };
  std::string wallet_id;
  std::string vendor;
  Outcome outcome = Outcome::kDone;
  std::string reason;  // For kUnsupported and kFailed.
};
const char* VendorFreezeOutcomeName(VendorFreezeResult::Outcome outcome);

// What a freeze or decommission did.
struct FreezeOutcome {
  std::string scope;
  int64_t wallets_frozen = 0;
  int64_t holds_voided = 0;
  // At the wallets' vendors (with a VendorFreezer): one result per wallet.
  std::vector<VendorFreezeResult> vendor_results;
};

// The engine's optional collaborators; each may be null.
struct EngineHooks {
  // The durable record budget stores are rebuilt from when they lose their
  // state.
  AuditReader* history = nullptr;
  // Receives notify, delay and approval events.
  NotificationSink* notifications = nullptr;
  // Freezes wallets at their vendors too (the wallet adapters).
  VendorFreezer* vendor_freezer = nullptr;
  // Wallets' balances on chain, for the drain_all guard line (which is
  // skipped, saying so, without one).
  BalanceSource* balances = nullptr;
  // Live prices, for assets whose bundle names a chainlink or file feed
  // (without one, their spends are denied PRICE_STALE).
  PriceSource* prices = nullptr;
};

struct ApplyResult {
  std::string org_id;
  int64_t version = 0;
  bool changed = false;
  std::vector<std::string> diff;
  // What the bundle loosens, when the org's policy in force has
  // org.policy_changes (a dry run says it too).
  std::vector<std::string> loosenings;
  // Set when it loosens: the change waits for approval, and `version` is
  // still the one in force.
  std::optional<PolicyChange> pending;
  // ApplyAtStart only: how many policy changes awaiting approval kept the
  // bundle from being applied (0: it was applied, or changed nothing).
  size_t held_back = 0;
};

// One approver's answer to a pending policy change.
struct PolicyChangeVote {
  std::string org_id;
  std::string change_id;
  std::string approver;  // "user/alice".
  std::string comment;
  std::string actor;  // The caller, for the audit trail.
};

struct PolicyChangeOutcome {
  PolicyChange change;   // After the vote.
  bool counted = false;  // False: this approver had already approved.
};

// How long a record can still matter to a policy's limits: the longest
// window any of its limits or cumulative tiers looks at, plus the longest
// wait before a hold's TTL starts (a delay, an approval), the hold TTL and
// the idempotency retention.
absl::Duration RecordRetention(const Policy& p);

// The decision engine: evaluates a spend against the rules and every limit
// on the agent's path (org, department, agent), reserves it atomically
// through the BudgetStore, and makes each outcome durable in the AuditLog
// before it returns. It knows the store interfaces only, never a backend.
//
// Errors are for calls that could not be decided: INVALID_ARGUMENT and
// NOT_FOUND name the field, FAILED_PRECONDITION for a wrong state,
// UNAVAILABLE when a backend failed (nothing is left reserved). A denial is
// an OK result with decision kDeny. Thread-safe.
class Engine {
 public:
  // The stores, clock and hooks are not owned and must outlive the engine.
  Engine(ConfigStore* config, BudgetStore* budgets, AuditLog* audit,
         FreezeStore* freezes, const Clock* clock, EngineHooks hooks = {});
  // Answers what its post-audit checks still hold, then stops them.
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  absl::StatusOr<AuthorizeOutput> Authorize(const AuthorizeInput& in);
  // Authorize, answering through `done` once the decision is durable in the
  // audit log, perhaps on the log's thread: a caller's thread never waits
  // on the disk.
  void AuthorizeAsync(
      const AuthorizeInput& in,
      std::function<void(absl::StatusOr<AuthorizeOutput>)> done);
  absl::StatusOr<Authorization> Settle(const SettleInput& in);
  absl::StatusOr<Authorization> Void(const std::string& org_id,
                                     const std::string& authorization_id,
                                     const std::string& actor,
                                     const std::string& owner = "");
  // The record, with its decision as it stands now (a DELAYED one whose
  // release time passed is an ALLOW). With `owner` (an agent id) set,
  // another agent's record is PERMISSION_DENIED; Settle and Void take the
  // same `owner`.
  absl::StatusOr<Authorization> Get(const std::string& org_id,
                                    const std::string& authorization_id,
                                    const std::string& owner = "");
  // The record as a replayed Authorize answers it now: a hold no longer
  // live (settled, voided, expired) is a DENY saying what happened.
  absl::StatusOr<Authorization> GetAsReplay(
      const std::string& org_id, const std::string& authorization_id);

  // What each limit of `scope` (and, with `below`, of the scopes under it)
  // has used and has left now: see BudgetStatus (budget_status.h). With
  // `owner` (an agent id) set, only the agent's own scope and wallets may be
  // read (PERMISSION_DENIED naming `scope` otherwise).
  absl::StatusOr<BudgetReport> BudgetStatus(const std::string& org_id,
                                            const std::string& scope,
                                            bool below,
                                            const std::string& owner = "");

  // Approval tiers. Requests awaiting approval (PENDING_APPROVAL) or a
  // delay (DELAYED), oldest deadline first.
  absl::StatusOr<std::vector<Authorization>> ListPendingApprovals(
      const std::string& org_id);
  // Records one approver's approval of a PENDING_APPROVAL request. The
  // requester can never approve its own request (PERMISSION_DENIED), nor can
  // anyone outside its approvers; an approver who already answered is not
  // counted again. The approval that completes the quorum makes it an ALLOW
  // with a fresh hold TTL. Audited, and notified.
  absl::StatusOr<VoteOutput> Approve(const VoteInput& in);
  // Rejects a PENDING_APPROVAL request (same approvers), or cancels a
  // DELAYED one before its release: either way it is voided and its
  // reservation released.
  absl::StatusOr<VoteOutput> Reject(const VoteInput& in);

  // Validates `yaml` and, unless `dry_run`, makes it the org's next version
  // and audits the change with its diff. An unchanged bundle creates no
  // version. With `caller_org` set, a bundle for another org is
  // PERMISSION_DENIED.
  absl::StatusOr<ApplyResult> ApplyBundle(const std::string& yaml, bool dry_run,
                                          const std::string& actor,
                                          const std::string& caller_org = "");
  // The bundle a replica is started with (wardend --bundle): applied as
  // ApplyBundle would, unless it changes the policy in force while policy
  // changes await approval, which a restart must not supersede: then
  // nothing is applied and `held_back` says how many wait.
  absl::StatusOr<ApplyResult> ApplyAtStart(const std::string& yaml,
                                           const std::string& actor);
  // Applies version `version`'s bundle again, as the org's next version,
  // audited with `actor` and "rollback to v<version>". INVALID_ARGUMENT for
  // a version below 1, NOT_FOUND for one that never existed.
  absl::StatusOr<ApplyResult> RollbackBundle(const std::string& org_id,
                                             int64_t version,
                                             const std::string& actor);
  // Four-eyes policy changes (org.policy_changes). The org's changes,
  // newest first (at most kMaxListedChanges, without their YAML), only
  // pending ones when `pending_only`; or, with `change_id`, that one (with
  // its YAML) or NOT_FOUND. A pending change past its expiry is shown
  // expired.
  static constexpr size_t kMaxListedChanges = 20;
  absl::StatusOr<std::vector<PolicyChange>> ListPolicyChanges(
      const std::string& org_id, bool pending_only,
      const std::string& change_id = "");
  // One approver's approval: only the change's approvers may approve, never
  // its author (PERMISSION_DENIED); an approver who already approved is not
  // counted again. The approval that completes the quorum puts the bundle
  // in force as the next version, audited with its author and approvers;
  // unless another version took effect since it was requested
  // (FAILED_PRECONDITION: it is superseded), or it expired.
  absl::StatusOr<PolicyChangeOutcome> ApprovePolicyChange(
      const PolicyChangeVote& vote);
  // Rejects a pending change (any of its approvers, its author included).
  absl::StatusOr<PolicyChangeOutcome> RejectPolicyChange(
      const PolicyChangeVote& vote);

  // Version 0 = the active one.
  absl::StatusOr<std::shared_ptr<const Policy>> GetBundle(
      const std::string& org_id, int64_t version);

  // The kill switch. Freezes `scope` ("org/<id>", "department/<id>",
  // "agent/<id>" or "wallet/<id>"): durably first (FreezeStore), then in
  // the budget store, whose reserve step refuses any hold under it, then
  // voids every live hold under it (pending approvals included), then
  // freezes its wallets at their vendors (best effort, reported in the
  // outcome). Returns only after all of that, so no replica admits spend
  // under the scope afterwards. Each step is audited with the actor and
  // reason. NOT_FOUND for a scope not in the policy.
  absl::StatusOr<FreezeOutcome> FreezeScope(const std::string& org_id,
                                            const std::string& scope,
                                            const std::string& reason,
                                            const std::string& actor);
  // Lifts a freeze, at the vendors too for wallets no other freeze covers;
  // FAILED_PRECONDITION for a decommissioned agent or wallet, NOT_FOUND if
  // it is not frozen.
  absl::StatusOr<FreezeOutcome> UnfreezeScope(const std::string& org_id,
                                              const std::string& scope,
                                              const std::string& reason,
                                              const std::string& actor);
  // Retires an agent for good: freezes it and each of its wallets, marked
  // decommissioned so that they can never be unfrozen.
  absl::StatusOr<FreezeOutcome> DecommissionAgent(const std::string& org_id,
                                                  const std::string& agent_id,
                                                  const std::string& reason,
                                                  const std::string& actor);
  // The org's frozen scopes (its denylist included), oldest first.
  absl::StatusOr<std::vector<FrozenScope>> ListFrozen(
      const std::string& org_id);
  // Sets the budget store's frozen flags from the FreezeStore, for every
  // org (at start, and after the budget store lost its state).
  absl::Status SyncFrozen();

  // What EnsureReady did.
  struct ReadyReport {
    // Authorizations restored from the audit trail.
    size_t restored = 0;
    // Orgs rebuilt: their state was missing (a new Redis, or one that lost
    // its data), or, after a failover, lacked decisions of the trail or
    // their settles, voids or expiries, with how many (0: all was missing).
    std::vector<std::pair<std::string, size_t>> rebuilt;
    // Orgs whose state, after a failover, held every decision checked.
    std::vector<std::string> checked;
    // Orgs refused for a while yet after a failover, and for how long.
    std::vector<std::pair<std::string, absl::Duration>> holding;
    // Orgs that could not be checked or rebuilt now (their Redis shard is
    // down, say), with why; the next call tries them again.
    std::vector<std::pair<std::string, absl::Status>> failed;
  };
  // For every org whose budget store state is missing, rebuilds it: frozen
  // flags from the FreezeStore, then every authorization recent enough to
  // count (RecordRetention) in its latest recorded state, then marks it
  // ready. For every org whose store failed over since it was last ready
  // (kUnverified: a replica promoted after a crash may lack the last writes
  // its primary acknowledged), waits out the audit log's LandingBound from
  // when the failover was first seen (the hold is kept in the store, shared
  // by every replica), so that the old primary's last decisions are in the
  // trail; then checks that the store holds the authorizations that held
  // money and were recorded last (decided, settled, voided, expired:
  // kLostWritesChecked of them), each in its recorded status. Redis
  // replicates in order, so the writes lost are the last ones. One
  // that lacks any, or holds one whose settle, void or expiry was lost, is
  // rebuilt as above (those records dropped and restored as the trail has
  // them); otherwise its frozen flags are set again and it is marked
  // ready. A flush or another failover during a rebuild voids it (it starts
  // over). Until ready the store refuses the org's spends with UNAVAILABLE.
  // Refreshes the ready mark of the rest. Fails only when the orgs cannot
  // be listed; an org that fails is in `failed`, and the others are done.
  absl::StatusOr<ReadyReport> EnsureReady();
  static constexpr int kLostWritesChecked = 1000;

  // Expires due holds in every org, auditing each; returns how many, or
  // the first org's failure (the other orgs are still swept). An org whose
  // store is not ready keeps its holds until it is.
  absl::StatusOr<size_t> SweepExpired();
  // Sends the budget.breach alerts held back whose minute is over (each
  // the last of its limit, counting the others); wardend calls it every
  // sweep.
  void FlushBreachAlerts();

  // `org_id`, or the only org when it is empty and there is exactly one;
  // else INVALID_ARGUMENT naming org_id.
  absl::StatusOr<std::string> ResolveOrg(const std::string& org_id);

 private:
  // EnsureReady for one org, adding what it did to `out`.
  absl::Status EnsureOrgReady(const std::string& org_id, ReadyReport* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(recovery_mu_);
  // EnsureReady's steps for one org: restores its authorizations from the
  // audit trail (returning how many); finds the records of its last
  // money-holding authorizations that the budget store lacks or holds
  // behind the trail; sets its frozen flags.
  absl::StatusOr<size_t> Rebuild(const std::string& org_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(recovery_mu_);
  struct Stale {
    size_t missing = 0;
    std::vector<std::string> behind;  // HELD where the trail moved on.
    size_t count() const { return missing + behind.size(); }
  };
  absl::StatusOr<Stale> StaleRecords(const std::string& org_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(recovery_mu_);
  absl::Status SyncFrozen(const std::string& org_id);
  absl::StatusOr<std::shared_ptr<const Policy>> ResolvePolicy(
      const std::string& org_id);
  // An Authorize decided and stored, before its audit record: a replay
  // (answered as it is), or a new record to audit.
  struct Decided {
    Authorization a;
    bool replayed = false;
    absl::Time now;
    std::string actor;
    Tier tier = Tier::kInstant;
    // The org.budget_alerts thresholds the reservation crossed.
    std::vector<ThresholdCrossing> crossed;
  };
  using Answer = std::function<void(absl::StatusOr<AuthorizeOutput>)>;
  absl::StatusOr<Decided> Decide(const AuthorizeInput& in);
  // Answers a replay of the record `a`, found under a reused idempotency
  // key, only once `a`'s own audit record is known durable: a retry that
  // comes while the first request's record is being written waits for
  // that outcome, and gets UNAVAILABLE when it failed (the first request's
  // hold was released) or when the trail (another replica's write) does
  // not hold it yet. A record the trail will never hold (its writer failed
  // or died) is abandoned, and `in` decided afresh.
  void AnswerReplay(const AuthorizeInput& in, Authorization a, Answer done);
  // `id`'s audit append is over (`recorded` or not): the retries that
  // waited for it, answered with the first request's answer.
  std::vector<Answer> Landed(const std::string& id, bool recorded);
  // Calls `then` with `out`, a recorded decision, as it stands now: a hold
  // that a freeze (on any replica) voided while its record was being
  // written is answered as a replay of it (DENY, HOLD_VOIDED), never as a
  // live ALLOW. Holds are checked in batches on the checker thread: one
  // store read per org for all the decisions a group commit answered.
  // With `batch` false (the audit log answered on the caller's thread),
  // the check is made there and then.
  void AsItStands(AuthorizeOutput out, Answer then, bool batch);
  // The checker thread: takes every queued hold check and answers them.
  void CheckLoop();

  struct HoldCheck {
    AuthorizeOutput out;
    Answer then;
  };
  // Reads the statuses of `batch`'s holds (one call per org) and answers
  // each.
  void AnswerChecks(std::vector<HoldCheck>& batch);
  // The answer to a new decision once its audit append returned `audited`:
  // with an error, the hold is released and nothing was decided.
  absl::StatusOr<AuthorizeOutput> Conclude(Decided d,
                                           const absl::Status& audited);
  // Audits a settle or void; on failure reports UNAVAILABLE (the state change
  // stands, as the caller's retry is idempotent).
  absl::Status AuditTransition(AuditEvent::Type type, const Authorization& a,
                               const std::string& actor);

  absl::StatusOr<VoteOutput> Vote(const VoteInput& in, bool approve);
  // ApplyBundle and RollbackBundle: `author` is the principal, `actor` what
  // the trail says of it.
  absl::StatusOr<ApplyResult> Apply(const std::string& yaml, bool dry_run,
                                    const std::string& author,
                                    const std::string& actor,
                                    const std::string& caller_org);
  absl::StatusOr<PolicyChangeOutcome> VoteOnChange(const PolicyChangeVote& in,
                                                   bool approve);
  // Audits `next` as applied (with `diff`) and puts it in force; when
  // another replica put that version in force first (ABORTED), audits that
  // this one did not take effect. Under apply_mu_.
  absl::Status PutInForce(Policy next, std::vector<std::string> diff);
  // Closes every pending change of `org` as superseded by `by`, audited.
  // Under apply_mu_.
  absl::Status SupersedeChanges(const std::string& org, const std::string& by);
  // Stores `c` one revision on, with its state change audited as `reason`
  // first. Under apply_mu_.
  absl::Status SaveChange(PolicyChange& c, const std::string& actor,
                          const std::string& reason);
  // `a` with its decision as it stands now.
  Authorization Present(Authorization a) const;
  // `a` as a replayed Authorize answers it: as it is now, and a DENY naming
  // what happened when its hold is no longer live (settled, voided,
  // expired), so that no replay is ever a live ALLOW.
  Authorization Replay(Authorization a);
  // Why a VOIDED record was voided, as far as the record and the freezes
  // in force tell.
  std::string VoidCause(const Authorization& a);
  Notification MakeNotification(const std::string& event,
                                const Authorization& a,
                                const std::string& actor,
                                const std::string& message) const;
  void Notify(const std::string& event, const Authorization& a,
              const std::string& actor, const std::string& message);

  // Freezes `scope` with the given decommission mark; see FreezeScope.
  absl::StatusOr<FreezeOutcome> Freeze(const Policy& policy,
                                       const std::string& scope,
                                       const std::string& reason,
                                       const std::string& actor,
                                       bool decommission);

  // Records `wallet`'s address as retired for good (RetiredAddressScope),
  // durably and in the trail, so that no later bundle gives it to another
  // wallet.
  absl::Status RetireAddress(const Policy& policy, const Wallet& wallet,
                             const std::string& reason,
                             const std::string& actor);
  // FAILED_PRECONDITION when a wallet of `next` uses a retired address
  // under another id than the decommissioned wallet's.
  absl::Status CheckNoRetiredAddress(const Policy& next);

  // Freezes (or unfreezes) each wallet at its vendor, after Warden's own
  // freeze: one result and one audit record (wallet.vendor_freeze) each.
  void FreezeAtVendors(const Policy& policy,
                       const std::vector<std::string>& wallets, bool frozen,
                       const std::string& reason, const std::string& actor,
                       FreezeOutcome* out);

  ConfigStore* const config_;
  BudgetStore* const budgets_;
  AuditLog* const audit_;
  FreezeStore* const freezes_;
  const EngineHooks hooks_;
  const Clock* const clock_;
  // Serializes bundle applies so the audit record and the new version agree.
  absl::Mutex apply_mu_;
  // Authorize calls whose record is (or is about to be) in the budget store
  // while its audit record is being written, by authorization id, with the
  // same-key retries waiting for it; and the latest ids whose audit append
  // failed (so their holds were released), at most kMaxUnrecorded.
  static constexpr size_t kMaxUnrecorded = 10000;
  absl::Mutex flight_mu_;
  absl::flat_hash_map<std::string, std::vector<Answer>> recording_
      ABSL_GUARDED_BY(flight_mu_);
  absl::flat_hash_set<std::string> unrecorded_ ABSL_GUARDED_BY(flight_mu_);
  std::deque<std::string> unrecorded_order_ ABSL_GUARDED_BY(flight_mu_);
  // AsItStands's queue, and its thread (started on first use).
  absl::Mutex check_mu_;
  std::vector<HoldCheck> checks_ ABSL_GUARDED_BY(check_mu_);
  bool checks_stopping_ ABSL_GUARDED_BY(check_mu_) = false;
  std::thread checker_ ABSL_GUARDED_BY(check_mu_);
  BreachThrottle breaches_;
  // Serializes EnsureReady.
  absl::Mutex recovery_mu_;
};

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_ENGINE_H_
