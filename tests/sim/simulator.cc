#include "tests/sim/simulator.h"

#include <algorithm>
#include <deque>
#include <iostream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "governance/clock.h"
#include "governance/engine.h"
#include "governance/memory/embedded_recovery.h"
#include "governance/memory/memory_config_store.h"
#include "governance/memory/memory_freeze_store.h"
#include "governance/redis/redis_budget_store.h"
#include "governance/usage_buckets.h"
#include "tests/fakes/fault_injecting_budget_store.h"
#include "tests/sim/adversarial.h"
#include "tests/sim/audit_trail.h"
#include "tests/support/mark_ready.h"

namespace warden::sim {
namespace {

// 2040-01-01T00:00:00Z: far enough ahead that Redis, which expires keys by
// its own clock at absolute times the store derives from ours, keeps them.
constexpr absl::Time kEpoch = absl::FromUnixSeconds(2208988800);
constexpr char kOrg[] = "sim";

constexpr char kAdmin[] = "user/admin";

// EnsureReady's restored count, or the first failure (its org's, if any).
absl::StatusOr<size_t> Restored(absl::StatusOr<Engine::ReadyReport> r) {
  if (!r.ok()) return r.status();
  if (!r->failed.empty()) return r->failed.front().second;
  return r->restored;
}

enum class Op {
  kAuthorize,
  kReplaySame,
  kReplayOther,
  kKeyOtherAgent,
  kSettle,
  kVoid,
  kSweep,
  kClock,
  kFreeze,
  kUnfreeze,
  kDecommission,
  kVote,
  kBundle,
  kGet,
  kListPending,
  kOutage,
  kLoseData,
};

// Per mille. Authorize dominates; faults are rare but every run meets some.
constexpr std::pair<Op, int> kOps[] = {
    {Op::kAuthorize, 330},    {Op::kReplaySame, 70},  {Op::kReplayOther, 25},
    {Op::kKeyOtherAgent, 10}, {Op::kSettle, 110},     {Op::kVoid, 55},
    {Op::kSweep, 45},         {Op::kClock, 120},      {Op::kFreeze, 20},
    {Op::kUnfreeze, 30},      {Op::kDecommission, 2}, {Op::kVote, 70},
    {Op::kBundle, 25},        {Op::kGet, 20},         {Op::kListPending, 10},
    {Op::kOutage, 8},         {Op::kLoseData, 5}};

std::string Code(const absl::Status& st) {
  return absl::StatusCodeToString(st.code());
}

class World {
 public:
  World(const SimOptions& options, Backend* backend)
      : backend_(backend),
        full_check_every_(options.full_check_every > 0
                              ? options.full_check_every
                              : backend->traits().full_check_every),
        rng_(options.seed),
        clock_(kEpoch),
        oracle_(backend->traits(), backend->store()) {}

  absl::Status Init() {
    // Each seed starts somewhere in a year, so that calendar windows, DST
    // changes and midnights fall differently.
    start_ = kEpoch + absl::Milliseconds(rng_.Below(int64_t{366} * 86400000));
    clock_.Set(start_);
    high_water_ = start_;
    absl::StatusOr<std::unique_ptr<SimAuditTrail>> trail =
        SimAuditTrail::Create();
    if (!trail.ok()) return trail.status();
    trail_ = *std::move(trail);
    faults_ = std::make_unique<FaultInjectingBudgetStore>(backend_->store());
    engine_ = std::make_unique<Engine>(&config_, faults_.get(), trail_->log(),
                                       &freezes_, &clock_,
                                       EngineHooks{.history = trail_.get()});
    oracle_.BeginStep(0);
    SimPolicy policy = RandomPolicy(rng_, /*allow_invalid=*/false);
    // The first bundle must apply: within what the store compares exactly.
    if (const std::optional<int64_t> largest =
            backend_->traits().max_exact_micros) {
      policy.ClampCaps(*largest);
    }
    oracle_.OnInitialBundle(
        policy, engine_->ApplyBundle(policy.ToYaml(), false, kAdmin));
    // A new Redis holds no state for the org: mark it ready (nothing to
    // restore yet).
    if (absl::StatusOr<size_t> r = Restored(engine_->EnsureReady()); !r.ok()) {
      return r.status();
    }
    EndStep(0);
    return absl::OkStatus();
  }

  std::string Step(int step) {
    oracle_.BeginStep(step);
    if (outage_steps_ > 0 && --outage_steps_ == 0) {
      faults_->FailWith(absl::OkStatus());
    }
    std::string line = RunOp(PickOp());
    EndStep(step);
    return absl::StrCat("step ", step, " [", Elapsed(), "]",
                        store_up() ? " " : " (store down) ", line);
  }

  // The last checks of a run: every record, and the whole chain with the
  // production verifier.
  void Finish() {
    oracle_.CheckStore(now(), /*full=*/true);
    absl::StatusOr<int64_t> n = trail_->VerifyAll();
    if (!n.ok()) {
      oracle_.Fail("audit", absl::StrCat("FileAuditLog::Replay: ",
                                         n.status().ToString()));
    } else if (*n != events_read_) {
      oracle_.Fail("audit",
                   absl::StrCat("the file holds ", *n,
                                " records; the tail read ", events_read_));
    }
  }

  Oracle& oracle() { return oracle_; }

 private:
  absl::Time now() const { return clock_.Now(); }
  bool store_up() const { return outage_steps_ == 0; }

  std::string Elapsed() const {
    return absl::FormatDuration(
        absl::Milliseconds(absl::ToInt64Milliseconds(now() - start_)));
  }

  void EndStep(int step) {
    absl::StatusOr<std::vector<TrailEvent>> events = trail_->ReadNew();
    if (!events.ok()) {
      oracle_.Fail("audit", events.status().ToString());
    } else {
      events_read_ += static_cast<int64_t>(events->size());
      oracle_.CheckAudit(*events);
    }
    oracle_.CheckStore(now(), step % full_check_every_ == 0);
  }

  Op PickOp() {
    int64_t r = static_cast<int64_t>(rng_.Below(1000));
    for (const auto& [op, weight] : kOps) {
      if (r < weight) return op;
      r -= weight;
    }
    return Op::kAuthorize;
  }

  std::string RunOp(Op op) {
    switch (op) {
      case Op::kAuthorize:
        return AuthorizeFresh();
      case Op::kReplaySame:
        return Replay(/*same=*/true);
      case Op::kReplayOther:
        return Replay(/*same=*/false);
      case Op::kKeyOtherAgent:
        return KeyOfOtherAgent();
      case Op::kSettle:
        return Settle();
      case Op::kVoid:
        return Void();
      case Op::kSweep:
        return Sweep();
      case Op::kClock:
        return MoveClock();
      case Op::kFreeze:
        return Freeze();
      case Op::kUnfreeze:
        return Unfreeze();
      case Op::kDecommission:
        return Decommission();
      case Op::kVote:
        return Vote();
      case Op::kBundle:
        return ApplyBundle();
      case Op::kGet:
        return Get();
      case Op::kListPending:
        return ListPending();
      case Op::kOutage:
        return Outage();
      case Op::kLoseData:
        return LoseData();
    }
    return "?";
  }

  // --- picking

  const SimPolicy& policy() const { return oracle_.policy(); }

  bool Decommissioned(const std::string& agent) const {
    auto it = oracle_.scopes().find(absl::StrCat("agent/", agent));
    return it != oracle_.scopes().end() && it->second.decommissioned;
  }

  const SimAgent& PickAgent() {
    std::vector<const SimAgent*> alive;
    for (const SimAgent& a : policy().agents) {
      if (!Decommissioned(a.id)) alive.push_back(&a);
    }
    if (alive.empty() || rng_.OneIn(10)) {
      return policy().agents[rng_.Below(policy().agents.size())];
    }
    return *alive[rng_.Below(alive.size())];
  }

  // A record of the oracle, preferring those `prefer` accepts; -1 if none.
  template <typename Pred>
  int PickRecord(int prefer_pct, Pred prefer) {
    const auto& records = oracle_.records();
    if (records.empty()) return -1;
    if (static_cast<int>(rng_.Below(100)) < prefer_pct) {
      std::vector<int> good;
      for (const Oracle::Record& r : records) {
        if (prefer(r)) good.push_back(r.index);
      }
      if (!good.empty()) return good[rng_.Below(good.size())];
    }
    return static_cast<int>(rng_.Below(records.size()));
  }

  std::string Label(size_t i) const {
    const Oracle::Record& r = oracle_.records()[i];
    return absl::StrCat("#", r.index, " ", DecisionName(r.a.decision), "/",
                        StatusName(r.a.status));
  }

  // --- operations

  std::string DoAuthorize(const AuthorizeInput& in, const std::string& kind) {
    absl::StatusOr<AuthorizeOutput> out = engine_->Authorize(in);
    oracle_.OnAuthorize(in, now(), store_up(), out);
    std::string line = absl::StrCat(
        kind, " ", in.agent_id, "/", in.wallet_id, " \"",
        in.amount.substr(0, 40), "\" ", in.asset,
        in.idempotency_key.empty() ? ""
                                   : absl::StrCat(" key ", in.idempotency_key),
        " -> ");
    if (!out.ok()) return absl::StrCat(line, Code(out.status()));
    const Authorization& a = out->authorization;
    const std::optional<size_t> i = oracle_.IndexOf(a.id);
    std::string why;
    if (!a.violations.empty()) {
      why = absl::StrCat(" (", a.violations[0].code, " ", a.violations[0].scope,
                         a.violations[0].limit.empty() ? "" : " ",
                         a.violations[0].limit, ")");
    }
    return absl::StrCat(line, out->replayed ? "replayed " : "",
                        DecisionName(a.decision), " ", StatusName(a.status),
                        " $", UsdText(a.amount_usd),
                        i ? absl::StrCat(" #", *i) : "", why);
  }

  std::string AuthorizeFresh() {
    const SimAgent& agent = PickAgent();
    AuthorizeInput in;
    in.org_id = kOrg;
    in.agent_id = agent.id;
    in.actor = absl::StrCat("agent/", agent.id);
    // Sometimes a wallet of another agent (refused).
    in.wallet_id =
        rng_.OneIn(30)
            ? policy().wallets[rng_.Below(policy().wallets.size())].id
            : agent.wallets[rng_.Below(agent.wallets.size())];
    // Mostly priced assets (the last one, NOPRICE, has none), rarely one the
    // bundle does not list.
    const std::vector<SimAsset>& assets = policy().assets;
    const SimAsset* asset = rng_.OneIn(50) ? nullptr
                            : rng_.OneIn(25)
                                ? &assets.back()
                                : &assets[rng_.Below(assets.size() - 1)];
    in.asset = asset ? asset->symbol : "UNLISTED";
    // Mostly to a destination (per-destination limits need one).
    if (!rng_.OneIn(10)) in.destination = rng_.Pick(policy().destinations);
    // Sometimes the tightest boundary, which decides whether a spend fits.
    const std::vector<int64_t> bounds = oracle_.Boundaries(in, now());
    const int64_t boundary =
        bounds.empty()  ? -1
        : rng_.OneIn(4) ? *std::min_element(bounds.begin(), bounds.end())
                        : rng_.Pick(bounds);
    in.amount = AdversarialAmount(
        rng_, asset ? *asset : SimAsset{"UNLISTED", 6, {}}, boundary);
    if (rng_.Below(100) < 55)
      in.idempotency_key = absl::StrCat("k", ++next_key_);
    return DoAuthorize(in, "authorize");
  }

  // A key used before, or null if none is usable.
  const std::pair<std::string, std::string>* PickKey() {
    const auto& keys = oracle_.keys();
    if (keys.empty()) return nullptr;
    const auto& k = keys[rng_.Below(keys.size())];
    return &k;
  }

  // A retry of an earlier request under its key: the same request, or
  // (with !same) another one, which must be refused.
  std::string Replay(bool same) {
    const std::pair<std::string, std::string>* k = PickKey();
    if (k == nullptr) return AuthorizeFresh();
    const auto& [agent_id, key] = *k;
    const std::optional<size_t> i = oracle_.KeyRecord(agent_id, key);
    AuthorizeInput in = oracle_.records()[*i].request;
    if (same) return DoAuthorize(in, absl::StrCat("retry of #", *i));
    const SimAgent* agent = policy().FindAgent(in.agent_id);
    switch (rng_.Below(4)) {
      case 0: {
        const std::optional<absl::uint128> a = ParseAmountText(in.amount);
        in.amount = AmountText(a && *a != absl::Uint128Max() ? *a + 1 : 7);
        break;
      }
      case 1:
        if (agent != nullptr && agent->wallets.size() > 1) {
          in.wallet_id =
              agent->wallets[(std::find(agent->wallets.begin(),
                                        agent->wallets.end(), in.wallet_id) -
                              agent->wallets.begin() + 1) %
                             agent->wallets.size()];
          break;
        }
        [[fallthrough]];
      case 2:
        in.destination = in.destination == policy().destinations[0]
                             ? policy().destinations[1]
                             : policy().destinations[0];
        break;
      default:
        in.asset = in.asset == "USDC" ? "ETH" : "USDC";
    }
    return DoAuthorize(in, absl::StrCat("changed retry of #", *i));
  }

  // Keys are per agent: another agent's use of the same key is its own.
  std::string KeyOfOtherAgent() {
    const std::pair<std::string, std::string>* k = PickKey();
    if (k == nullptr) return AuthorizeFresh();
    const auto& [agent_id, key] = *k;
    AuthorizeInput in =
        oracle_.records()[*oracle_.KeyRecord(agent_id, key)].request;
    const SimAgent& other = PickAgent();
    if (other.id == agent_id) {
      return AuthorizeFresh();
    }
    in.agent_id = other.id;
    in.actor = absl::StrCat("agent/", other.id);
    in.wallet_id = other.wallets[0];
    return DoAuthorize(in, "same key, other agent:");
  }

  std::string Settle() {
    const absl::Time t = now();
    const int i = PickRecord(70, [&](const Oracle::Record& r) {
      return oracle_.Live(r, t) && r.a.DecisionAt(t) == Decision::kAllow;
    });
    if (i < 0) return AuthorizeFresh();
    const Oracle::Record& r = oracle_.records()[i];
    SettleInput in;
    in.org_id = kOrg;
    in.authorization_id = r.a.id;
    in.actor = absl::StrCat("agent/", r.a.agent_id);
    in.tx_hash = absl::StrCat("0xtx", i, "_", rng_.Below(3));
    const absl::uint128 held = r.a.amount;
    switch (rng_.Below(20)) {
      case 0:
      case 1:
      case 2:
      case 3:
      case 4:
      case 5:
      case 6:
        break;  // The whole amount.
      case 7:
      case 8:
      case 9:
      case 10:
      case 11:
      case 12:
        in.amount =
            AmountText(held / static_cast<uint64_t>(rng_.Between(1, 10)));
        break;
      case 13:
        in.amount = AmountText(held > 0 ? held - 1 : 0);
        break;
      case 14:
        in.amount = AmountText(held);
        break;
      case 15:
        in.amount = held == absl::Uint128Max()
                        ? "340282366920938463463374607431768211456"
                        : AmountText(held + 1);
        break;
      case 16:
        in.amount = "0";
        break;
      case 17:
        in.amount = "1.5";
        break;
      default:
        // A retried settle: the same amount and tx hash as the last one.
        if (r.a.settled_amount) {
          in.amount = AmountText(*r.a.settled_amount);
          in.tx_hash = r.last_tx_hash;
        }
    }
    absl::StatusOr<Authorization> out = engine_->Settle(in);
    oracle_.OnSettle(in, t, store_up(), out);
    return absl::StrCat(
        "settle ", Label(i), " \"", in.amount.substr(0, 40), "\" of ",
        AmountText(held), " tx ", in.tx_hash, " -> ",
        out.ok() ? StatusName(out->status) : Code(out.status()));
  }

  std::string Void() {
    const absl::Time t = now();
    if (rng_.OneIn(50)) {
      absl::StatusOr<Authorization> out =
          engine_->Void(kOrg, "az_unknown", "user/admin");
      oracle_.OnVoid("az_unknown", t, store_up(), out);
      return absl::StrCat("void az_unknown -> ", Code(out.status()));
    }
    const int i = PickRecord(
        60, [&](const Oracle::Record& r) { return oracle_.Live(r, t); });
    if (i < 0) return AuthorizeFresh();
    const std::string id = oracle_.records()[i].a.id;
    const std::string before = Label(i);
    absl::StatusOr<Authorization> out = engine_->Void(kOrg, id, kAdmin);
    oracle_.OnVoid(id, t, store_up(), out);
    return absl::StrCat(
        "void ", before, " -> ",
        out.ok() ? StatusName(out->status) : Code(out.status()));
  }

  std::string Sweep() {
    absl::StatusOr<size_t> out = engine_->SweepExpired();
    oracle_.OnSweep(now(), store_up(), out);
    return absl::StrCat("sweep -> ", out.ok() ? absl::StrCat(*out, " expired")
                                              : Code(out.status()));
  }

  std::string MoveClock() {
    const absl::Time t = now();
    absl::Time next = t;
    const uint64_t r = rng_.Below(100);
    std::string why;
    if (r < 30) {
      next += absl::Milliseconds(rng_.Between(1, 1000));
    } else if (r < 55) {
      next += absl::Milliseconds(rng_.Between(1000, 120'000));
    } else if (r < 70) {
      next += absl::Milliseconds(rng_.Between(120'000, 7'200'000));
    } else if (r < 78) {
      next += absl::Milliseconds(rng_.Between(7'200'000, 129'600'000));
    } else if (r < 82) {
      next += absl::Milliseconds(rng_.Between(86'400'000, 864'000'000));
    } else if (r < 92) {
      // To a hold's expiry or a delay's release, give or take 1 ms.
      const int i = PickRecord(100, [&](const Oracle::Record& rec) {
        return !rec.gone && rec.a.status == AuthorizationStatus::kHeld &&
               rec.a.hold_expires_at > t;
      });
      if (i >= 0) {
        const Authorization& a = oracle_.records()[i].a;
        const bool release = a.decision == Decision::kDelayed &&
                             a.release_at > t && rng_.OneIn(2);
        next = (release ? a.release_at : a.hold_expires_at) +
               absl::Milliseconds(rng_.Between(-1, 1));
        why =
            absl::StrCat(" (", release ? "release" : "expiry", " of #", i, ")");
      }
    } else if (r < 96) {
      // To the next local midnight, give or take 1 ms: calendar windows turn.
      absl::TimeZone zone;
      absl::LoadTimeZone(policy().timezone, &zone);
      next = absl::FromCivil(absl::ToCivilDay(t, zone) + 1, zone) +
             absl::Milliseconds(rng_.Between(-1, 1));
      why = " (local midnight)";
    } else {
      // Back, within the clock skew replicas are allowed.
      next = t - absl::Milliseconds(rng_.Between(1, 5000));
      why = " (back)";
    }
    next = std::max(next, high_water_ - usage::kClockSkewAllowance);
    high_water_ = std::max(high_water_, next);
    clock_.Set(next);
    return absl::StrCat("clock ", next >= t ? "+" : "-",
                        absl::FormatDuration(next >= t ? next - t : t - next),
                        why);
  }

  std::string PickScope() {
    const std::vector<std::string> all = AllScopes(policy());
    std::vector<std::string> pool;
    const uint64_t r = rng_.Below(100);
    // An org freeze stops everything; keep it rare.
    const char* kind = r < 45   ? "wallet/"
                       : r < 80 ? "agent/"
                       : r < 95 ? "department/"
                                : "org/";
    for (const std::string& s : all) {
      if (s.rfind(kind, 0) == 0) pool.push_back(s);
    }
    if (rng_.OneIn(40)) return "agent/ghost";
    return pool[rng_.Below(pool.size())];
  }

  std::string Freeze() {
    const std::string scope = PickScope();
    absl::StatusOr<FreezeOutcome> out =
        engine_->FreezeScope(kOrg, scope, "sim", kAdmin);
    oracle_.OnFreeze(scope, false, now(), store_up(), out);
    return absl::StrCat("freeze ", scope, " -> ",
                        out.ok()
                            ? absl::StrCat("OK, ", out->holds_voided, " voided")
                            : Code(out.status()));
  }

  std::string Unfreeze() {
    std::vector<std::string> frozen;
    for (const auto& [scope, st] : oracle_.scopes()) {
      // A decommissioned scope cannot be unfrozen: try that only rarely.
      if (st.durable && (!st.decommissioned || rng_.OneIn(10))) {
        frozen.push_back(scope);
      }
    }
    const std::string scope = !frozen.empty() && !rng_.OneIn(7)
                                  ? frozen[rng_.Below(frozen.size())]
                                  : PickScope();
    absl::StatusOr<FreezeOutcome> out =
        engine_->UnfreezeScope(kOrg, scope, "sim", kAdmin);
    oracle_.OnUnfreeze(scope, store_up(), out);
    return absl::StrCat("unfreeze ", scope, " -> ",
                        out.ok() ? "OK" : Code(out.status()));
  }

  std::string Decommission() {
    // At most two per run, so that most agents keep spending; never with
    // the store down (how far a failed one got is not observable).
    std::vector<std::string> alive;
    for (const SimAgent& a : policy().agents) {
      if (!Decommissioned(a.id)) alive.push_back(a.id);
    }
    if (!store_up() || decommissioned_ >= 2 || alive.empty()) return Sweep();
    ++decommissioned_;
    const std::string agent = alive[rng_.Below(alive.size())];
    absl::StatusOr<FreezeOutcome> out =
        engine_->DecommissionAgent(kOrg, agent, "sim", kAdmin);
    oracle_.OnFreeze(absl::StrCat("agent/", agent), true, now(), store_up(),
                     out);
    return absl::StrCat("decommission ", agent, " -> ",
                        out.ok()
                            ? absl::StrCat("OK, ", out->holds_voided, " voided")
                            : Code(out.status()));
  }

  std::string Vote() {
    const absl::Time t = now();
    const int i = PickRecord(80, [&](const Oracle::Record& r) {
      const Decision d = r.a.DecisionAt(t);
      return oracle_.Live(r, t) &&
             (d == Decision::kPendingApproval || d == Decision::kDelayed);
    });
    if (i < 0) return AuthorizeFresh();
    const Authorization& a = oracle_.records()[i].a;
    std::vector<std::string> valid;
    for (const std::string& p : a.approvers) {
      if (p != "second_agent") valid.push_back(p);
    }
    for (const SimAgent& other : policy().agents) {
      if (other.department == a.department_id && other.id != a.agent_id) {
        valid.push_back(absl::StrCat("agent/", other.id));
      }
    }
    static const std::vector<std::string> kInvalid = {
        "user/mallory", "agent/a5", "second_agent", "", "user/"};
    std::string approver;
    if (!valid.empty() && rng_.Below(100) < 65) {
      approver = rng_.Pick(valid);
    } else if (rng_.OneIn(3)) {
      approver = absl::StrCat("agent/", a.agent_id);  // The requester.
    } else {
      approver = rng_.Pick(kInvalid);
    }
    const bool approve = !rng_.OneIn(4);
    VoteInput in{kOrg, a.id, approver, "sim", kAdmin};
    const std::string before = Label(i);
    absl::StatusOr<VoteOutput> out =
        approve ? engine_->Approve(in) : engine_->Reject(in);
    oracle_.OnVote(in, approve, t, store_up(), out);
    return absl::StrCat(
        approve ? "approve " : "reject ", before, " by \"", approver, "\" -> ",
        out.ok() ? absl::StrCat(DecisionName(out->authorization.decision), "/",
                                StatusName(out->authorization.status),
                                out->counted ? "" : " (not counted)")
                 : Code(out.status()));
  }

  std::string ApplyBundle() {
    SimPolicy next = policy();
    const absl::Time t = now();
    const std::string what = MutatePolicy(
        rng_,
        [&](const std::string& scope, const SimLimit& l) {
          return oracle_.Used(scope, l, t);
        },
        &next);
    absl::StatusOr<ApplyResult> out =
        engine_->ApplyBundle(next.ToYaml(), false, kAdmin);
    oracle_.OnApplyBundle(next, out);
    return absl::StrCat("bundle {", what, "} -> ",
                        out.ok()
                            ? absl::StrCat("v", out->version,
                                           out->changed ? "" : " (unchanged)")
                            : Code(out.status()));
  }

  std::string Get() {
    const int i = PickRecord(0, [](const Oracle::Record&) { return true; });
    const std::string id = i < 0 || rng_.OneIn(30) ? std::string("az_unknown")
                                                   : oracle_.records()[i].a.id;
    absl::StatusOr<Authorization> out = engine_->Get(kOrg, id);
    oracle_.OnGet(id, now(), store_up(), out);
    return absl::StrCat(
        "get ", i < 0 ? id : Label(i), " -> ",
        out.ok() ? StatusName(out->status) : Code(out.status()));
  }

  std::string ListPending() {
    absl::StatusOr<std::vector<Authorization>> out =
        engine_->ListPendingApprovals(kOrg);
    oracle_.OnListPending(now(), store_up(), out);
    return absl::StrCat("list pending -> ", out.ok() ? absl::StrCat(out->size())
                                                     : Code(out.status()));
  }

  std::string Outage() {
    if (!store_up()) return Sweep();
    // Counted down at the start of each later step.
    outage_steps_ = static_cast<int>(rng_.Between(2, 7));
    faults_->FailWith(absl::UnavailableError("sim: the budget store is down"));
    return absl::StrCat("store down for ", outage_steps_ - 1, " steps");
  }

  std::string LoseData() {
    if (!store_up()) return Sweep();
    const absl::Time t = now();
    MemoryBudgetStore* fresh =
        rng_.OneIn(2) ? backend_->LoseForEmbeddedRestart() : nullptr;
    if (fresh != nullptr) {
      // The embedded mode's restart: replay the audit file, then the flags.
      absl::StatusOr<std::shared_ptr<const Policy>> p =
          engine_->GetBundle(kOrg, 0);
      absl::StatusOr<size_t> restored =
          p.ok() ? RestoreBudgetsFromAuditFile(trail_->path(), t,
                                               RecordRetention(**p), fresh)
                 : absl::StatusOr<size_t>(p.status());
      if (absl::Status st = engine_->SyncFrozen(); !st.ok()) restored = st;
      if (absl::Status st = testing::MarkReadyNow(*backend_->store(), kOrg);
          !st.ok()) {
        restored = st;
      }
      oracle_.OnRebuild(t, restored);
      return absl::StrCat("lose all data, restart embedded -> ",
                          restored.ok() ? absl::StrCat(*restored, " restored")
                                        : Code(restored.status()));
    }
    if (absl::Status st = backend_->LoseAllData(); !st.ok()) {
      oracle_.Fail("setup", st.ToString());
      return "lose all data -> failed";
    }
    std::string probe;
    if (rng_.OneIn(2)) {
      // Nothing is decided on forgotten budgets.
      const SimAgent& agent = PickAgent();
      AuthorizeInput in{.org_id = kOrg,
                        .agent_id = agent.id,
                        .wallet_id = agent.wallets[0],
                        .asset = "USDC",
                        .amount = "1",
                        .actor = "agent/probe"};
      absl::StatusOr<AuthorizeOutput> out = engine_->Authorize(in);
      if (out.ok()) {
        oracle_.Fail("fail-closed",
                     absl::StrCat("Authorize answered ",
                                  DecisionName(out->authorization.decision),
                                  " on a store that lost its state and is not "
                                  "rebuilt yet"));
      }
      probe = absl::StrCat(", probe -> ", Code(out.status()));
    }
    absl::StatusOr<size_t> restored = Restored(engine_->EnsureReady());
    oracle_.OnRebuild(t, restored);
    return absl::StrCat("lose all data", probe, ", EnsureReady -> ",
                        restored.ok() ? absl::StrCat(*restored, " restored")
                                      : Code(restored.status()));
  }

  Backend* const backend_;
  const int full_check_every_;
  SeededChooser rng_;
  ManualClock clock_;
  absl::Time start_;
  absl::Time high_water_;  // The latest time the clock showed.
  MemoryConfigStore config_;
  MemoryFreezeStore freezes_;
  std::unique_ptr<SimAuditTrail> trail_;
  std::unique_ptr<FaultInjectingBudgetStore> faults_;
  std::unique_ptr<Engine> engine_;
  Oracle oracle_;
  int outage_steps_ = 0;
  int next_key_ = 0;
  int decommissioned_ = 0;
  int64_t events_read_ = 0;
};

}  // namespace

SimResult RunSimulation(const SimOptions& options, Backend* backend) {
  SimResult res;
  res.seed = options.seed;
  res.store = backend->name();
  const absl::Time wall = absl::Now();
  size_t seen = 0;
  std::deque<std::string> trace;
  auto collect = [&](Oracle& oracle) {
    const std::vector<Finding>& all = oracle.findings();
    for (; seen < all.size(); ++seen) {
      const Finding& f = all[seen];
      const bool ignored = options.ignore.contains(f.invariant);
      if (res.counts[f.invariant]++ == 0 || (!options.keep_going && !ignored)) {
        res.findings.push_back(f);
      }
      if (!ignored) res.failed = true;
    }
  };
  if (absl::Status st = backend->Reset(); !st.ok()) {
    res.findings.push_back({0, "setup", st.ToString()});
    res.failed = true;
    return res;
  }
  World world(options, backend);
  if (absl::Status st = world.Init(); !st.ok()) {
    res.findings.push_back({0, "setup", st.ToString()});
    res.failed = true;
    return res;
  }
  collect(world.oracle());
  bool stopped = res.failed && !options.keep_going;
  for (int step = 1; step <= options.steps && !stopped; ++step) {
    std::string line = world.Step(step);
    if (options.verbose) std::cout << line << "\n";
    trace.push_back(std::move(line));
    if (static_cast<int>(trace.size()) > options.trace_steps) trace.pop_front();
    res.steps_run = step;
    collect(world.oracle());
    stopped = res.failed && !options.keep_going;
  }
  if (!stopped) {
    world.Finish();
    collect(world.oracle());
  }
  if (res.failed) res.trace = absl::StrJoin(trace, "\n");
  res.admitted = world.oracle().admitted();
  res.denied = world.oracle().denied();
  res.seconds = absl::ToDoubleSeconds(absl::Now() - wall);
  return res;
}

}  // namespace warden::sim
