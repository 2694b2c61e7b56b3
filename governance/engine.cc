#include "governance/engine.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "governance/address.h"
#include "governance/bundle.h"
#include "governance/credentials.h"
#include "governance/explain.h"
#include "governance/money.h"
#include "governance/quote.h"
#include "governance/status_macros.h"

namespace warden {
namespace {

// `prefix` and 128 random bits in hex. Ids need to be unique, not secret.
std::string NewId(absl::string_view prefix) {
  static absl::Mutex mu(absl::kConstInit);
  static absl::BitGen* gen = new absl::BitGen;
  absl::MutexLock lock(&mu);
  return absl::StrFormat("%s%016x%016x", prefix, absl::Uniform<uint64_t>(*gen),
                         absl::Uniform<uint64_t>(*gen));
}

std::string FormatInstant(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

absl::Status FieldError(absl::StatusCode code, absl::string_view field,
                        absl::string_view problem) {
  return absl::Status(code, absl::StrCat(field, ": ", problem));
}

// A request id field: required, and shaped like an id (so that no unbounded
// or binary text reaches a lookup, a log line or an error message).
absl::Status CheckId(absl::string_view field, const std::string& value) {
  if (value.empty()) {
    return FieldError(absl::StatusCode::kInvalidArgument, field, "is required");
  }
  if (IsValidId(value)) return absl::OkStatus();
  return FieldError(absl::StatusCode::kInvalidArgument, field,
                    absl::StrCat(Quote(value),
                                 " is not an id (1-64 characters of A-Z, "
                                 "a-z, 0-9, _, - and .)"));
}

absl::Status CheckLength(absl::string_view field, const std::string& value,
                         size_t max) {
  if (value.size() <= max) return absl::OkStatus();
  return FieldError(
      absl::StatusCode::kInvalidArgument, field,
      absl::StrCat("is ", value.size(), " bytes; the limit is ", max));
}

std::string ListText(const std::vector<std::string>& items) {
  return absl::StrCat("[", absl::StrJoin(items, ", "), "]");
}

Violation RuleViolation(const Authorization& a, std::string code,
                        std::string rule, std::string message) {
  Violation v;
  v.code = std::move(code);
  v.scope = absl::StrCat("agent/", a.agent_id);
  v.limit = std::move(rule);
  v.requested = FormatUsdDecimal(a.amount_usd);
  v.message = std::move(message);
  return v;
}

// Rules are checked before any budget: a spend that breaks one is denied
// without reserving anything.
std::vector<Violation> CheckRules(const Authorization& a, const Agent& agent,
                                  const Policy& policy, bool priced) {
  std::vector<Violation> out;
  const AgentRules& rules = agent.rules;
  const std::string who = absl::StrCat("agent ", agent.id);
  if (!priced) {
    out.push_back(
        RuleViolation(a, "PRICE_UNAVAILABLE", "price_usd",
                      absl::StrCat("no USD price for asset ", a.asset,
                                   " in org ", policy.org.id, "'s policy")));
  }
  if (priced && rules.per_tx_max_usd && a.amount_usd > *rules.per_tx_max_usd) {
    Violation v = RuleViolation(
        a, "PER_TX_MAX", "per_tx_max_usd",
        absl::StrCat(FormatUsd(a.amount_usd), " exceeds ", who,
                     " per_tx_max_usd ", FormatUsd(*rules.per_tx_max_usd)));
    v.limit_usd = *rules.per_tx_max_usd;
    out.push_back(std::move(v));
  }
  auto allowed = [](const std::optional<std::vector<std::string>>& list,
                    const std::string& item) {
    return !list || std::find(list->begin(), list->end(), item) != list->end();
  };
  if (!allowed(rules.chains, a.chain)) {
    out.push_back(RuleViolation(
        a, "CHAIN_NOT_ALLOWED", "chains",
        absl::StrCat("chain ", a.chain, " is not in ", who,
                     "'s allowed chains ", ListText(*rules.chains))));
  }
  if (!allowed(rules.assets, a.asset)) {
    out.push_back(RuleViolation(
        a, "ASSET_NOT_ALLOWED", "assets",
        absl::StrCat("asset ", a.asset, " is not in ", who,
                     "'s allowed assets ", ListText(*rules.assets))));
  }
  const std::string destination = NormalizeDestination(a.destination);
  if (rules.destinations_allow &&
      !allowed(rules.destinations_allow, destination)) {
    out.push_back(RuleViolation(
        a, "DESTINATION_NOT_ALLOWED", "destinations_allow",
        absl::StrCat("destination ", Quote(a.destination), " is not in ", who,
                     "'s destination allowlist")));
  }
  const auto& deny = policy.org.destinations_deny;
  if (!destination.empty() &&
      std::any_of(deny.begin(), deny.end(), [&](const std::string& d) {
        return NormalizeDestination(d) == destination;
      })) {
    Violation v = RuleViolation(
        a, "DESTINATION_DENIED", "destinations_deny",
        absl::StrCat("destination ", Quote(a.destination), " is on org ",
                     policy.org.id, "'s denylist"));
    v.scope = absl::StrCat("org/", policy.org.id);
    out.push_back(std::move(v));
  }
  return out;
}

// Every limit on the path, with its window resolved at `now`.
struct PathLimits {
  std::vector<LimitCheck> checks;
  std::vector<const Limit*> limits;  // Parallel to `checks`.
  absl::Duration longest;            // The longest window, for retention.
};

PathLimits CollectLimits(const Policy& policy, const Agent& agent,
                         absl::Time now) {
  PathLimits out;
  const std::vector<Limit>* by_scope[] = {
      &policy.org.limits, &policy.departments.at(agent.department).limits,
      &agent.limits};
  for (int scope = 0; scope < 3; ++scope) {
    for (const Limit& limit : *by_scope[scope]) {
      LimitCheck c;
      c.scope_index = scope;
      c.limit_name = limit.name;
      c.kind = limit.kind;
      c.cap = limit.kind == Limit::Kind::kUsd ? limit.usd : limit.count;
      c.interval = WindowAt(limit.window, now, policy.org.timezone);
      c.calendar = limit.window.kind == Window::Kind::kCalendar;
      out.checks.push_back(std::move(c));
      out.limits.push_back(&limit);
      out.longest = std::max(out.longest, limit.window.MaxLength());
    }
  }
  // A cumulative tier threshold counts over its window too.
  for (const auto* tiers :
       {&policy.departments.at(agent.department).approvals, &agent.approvals}) {
    if (*tiers && (*tiers)->window) {
      out.longest = std::max(out.longest, (*tiers)->window->MaxLength());
    }
  }
  return out;
}

// Why the store refused a hold: a frozen scope, or every limit it would
// exceed, with the figures, and how much of each limit's usage is held by
// requests awaiting approval (from `awaiting`, for the explanation only).
std::vector<Violation> RefusalViolations(
    const ReserveResult& result, const PathLimits& path, const Authorization& a,
    const Policy& policy, const std::vector<Authorization>& awaiting) {
  std::vector<Violation> out;
  if (result.outcome == ReserveResult::Outcome::kFrozen) {
    Violation v = RuleViolation(
        a, "SCOPE_FROZEN", "frozen",
        absl::StrCat(ScopeLabel(result.frozen_scope), " is frozen"));
    v.scope = result.frozen_scope;
    out.push_back(std::move(v));
  }
  const std::vector<std::string> scopes = ScopePath(a);
  for (const LimitUsage& usage : result.exceeded) {
    const LimitCheck& check = path.checks[usage.limit_index];
    const bool usd = check.kind == Limit::Kind::kUsd;
    const std::string& scope = scopes[check.scope_index];
    int64_t pending = 0;
    for (const Authorization& p : awaiting) {
      const std::vector<std::string> under = ScopePath(p);
      if (p.decision == Decision::kPendingApproval &&
          p.created_at >= check.interval.start &&
          p.created_at < check.interval.end &&
          std::find(under.begin(), under.end(), scope) != under.end()) {
        pending = SaturatingAdd(pending, usd ? p.amount_usd : 1);
      }
    }
    out.push_back(LimitViolation(
        scope, check, path.limits[usage.limit_index]->window, usage,
        usd ? a.amount_usd : 1, std::min(pending, usage.used), policy));
  }
  return out;
}

// The tier a spend falls in, and why.
struct TierChoice {
  Tier tier = Tier::kInstant;
  const ApprovalTiers* config = nullptr;  // Of the scope that set it.
  std::string why;  // "$300.00 is above agent a delay_above_usd $250.00"
};

// Whether `x` asks for more than `y`: a higher tier, or at the same tier
// more approvals or a longer delay.
bool Stricter(const TierChoice& x, const TierChoice& y) {
  if (x.tier != y.tier) return x.tier > y.tier;
  if (x.tier == Tier::kApproval) {
    return x.config->approvals_required > y.config->approvals_required;
  }
  if (x.tier == Tier::kDelay) return x.config->delay > y.config->delay;
  return false;
}

// The scopes of the agent's path that set tiers, department first, with
// their index in ScopePath.
std::vector<std::tuple<int, std::string, const ApprovalTiers*>> TierScopes(
    const Policy& policy, const Agent& agent) {
  std::vector<std::tuple<int, std::string, const ApprovalTiers*>> out;
  const Department& dept = policy.departments.at(agent.department);
  if (dept.approvals) {
    out.emplace_back(1, absl::StrCat("department/", dept.id), &*dept.approvals);
  }
  if (agent.approvals) {
    out.emplace_back(2, absl::StrCat("agent/", agent.id), &*agent.approvals);
  }
  return out;
}

constexpr Tier kTiersStrictestFirst[] = {Tier::kApproval, Tier::kDelay,
                                         Tier::kNotify};

// The strictest tier the spend's own value puts it in; on a tie the more
// specific scope (the agent) decides.
TierChoice PerTransactionTier(const Authorization& a, const Policy& policy,
                              const Agent& agent) {
  TierChoice best;
  for (const auto& [index, scope, config] : TierScopes(policy, agent)) {
    for (Tier t : kTiersStrictestFirst) {
      std::optional<UsdMicros> above = config->per_tx.Of(t);
      if (!above || a.amount_usd <= *above) continue;
      TierChoice c{
          t, config,
          absl::StrCat(FormatUsd(a.amount_usd), " is above ", ScopeLabel(scope),
                       " ", TierName(t), "_above_usd ", FormatUsd(*above))};
      if (!Stricter(best, c)) best = std::move(c);
      break;
    }
  }
  return best;
}

// A cumulative tier threshold, checked by the store like a limit: it is
// passed when the window's spend plus this one exceeds it.
struct TierCheck {
  Tier tier;
  const ApprovalTiers* config;
  std::string scope;
  LimitCheck check;
};

// The cumulative thresholds on the path above tier `current` (the others
// cannot change the outcome).
std::vector<TierCheck> CumulativeTierChecks(const Policy& policy,
                                            const Agent& agent, Tier current,
                                            absl::Time now) {
  std::vector<TierCheck> out;
  for (const auto& [index, scope, config] : TierScopes(policy, agent)) {
    if (!config->window) continue;
    for (Tier t : kTiersStrictestFirst) {
      std::optional<UsdMicros> above = config->cumulative.Of(t);
      if (!above || t <= current) continue;
      LimitCheck c;
      c.scope_index = index;
      c.limit_name = absl::StrCat("cumulative ", TierName(t), "_above_usd");
      c.kind = Limit::Kind::kUsd;
      c.cap = *above;
      c.interval = WindowAt(*config->window, now, policy.org.timezone);
      c.calendar = config->window->kind == Window::Kind::kCalendar;
      out.push_back({t, config, scope, std::move(c)});
    }
  }
  return out;
}

TierChoice CrossedTier(const TierCheck& t, int64_t used, UsdMicros amount) {
  return {t.tier, t.config,
          absl::StrCat(t.config->window->Describe(), " spend ", FormatUsd(used),
                       " + ", FormatUsd(amount), " = ",
                       SumText(Limit::Kind::kUsd, used, amount), " is above ",
                       ScopeLabel(t.scope), " cumulative ", TierName(t.tier),
                       "_above_usd ", FormatUsd(t.check.cap))};
}

// Shapes the (rule-abiding) record for its tier: what it decides, how long
// its hold lasts, and why.
void ApplyTier(const TierChoice& t, const Org& org, size_t limit_count,
               absl::Time now, Authorization* a) {
  a->status = AuthorizationStatus::kHeld;
  a->on_expiry = org.expired_holds;
  a->release_at = absl::InfinitePast();
  a->approvals_required = 0;
  a->approvers.clear();
  switch (t.tier) {
    case Tier::kInstant:
    case Tier::kNotify:
      a->decision = Decision::kAllow;
      a->hold_expires_at = now + org.hold_ttl;
      a->reason = AllowReason(*a, limit_count);
      if (t.tier == Tier::kNotify)
        absl::StrAppend(&a->reason, "; notify: ", t.why);
      return;
    case Tier::kDelay:
      a->decision = Decision::kDelayed;
      a->release_at = now + t.config->delay;
      a->hold_expires_at = a->release_at + org.hold_ttl;
      a->reason = absl::StrCat("DELAY agent ", a->agent_id, ": ", t.why,
                               "; allowed at ", FormatInstant(a->release_at),
                               " unless cancelled before");
      return;
    case Tier::kApproval:
      a->decision = Decision::kPendingApproval;
      a->hold_expires_at = now + t.config->approval_timeout;
      // Never approved, never signed: a lapsed request frees its budget.
      a->on_expiry = ExpiredHolds::kRelease;
      a->approvals_required = t.config->approvals_required;
      a->approvers = t.config->approvers;
      a->reason = absl::StrCat(
          "PENDING_APPROVAL agent ", a->agent_id, ": ", t.why, "; needs ",
          a->approvals_required,
          a->approvals_required == 1 ? " approval" : " distinct approvals",
          " from ", ListText(a->approvers), " by ",
          FormatInstant(a->hold_expires_at));
      return;
  }
}

// Whether `approver` may vote on `a`: listed among its approvers, or an
// agent of its department other than the requester when "second_agent" is.
bool MayApprove(const Authorization& a, const std::string& approver,
                const Policy& policy) {
  const auto& list = a.approvers;
  if (std::find(list.begin(), list.end(), approver) != list.end()) return true;
  if (std::find(list.begin(), list.end(), kSecondAgent) == list.end() ||
      approver.rfind("agent/", 0) != 0) {
    return false;
  }
  auto agent = policy.agents.find(approver.substr(6));
  return agent != policy.agents.end() && agent->first != a.agent_id &&
         agent->second.department == a.department_id;
}

// The wallets a scope covers, or NOT_FOUND if the policy has no such scope.
absl::StatusOr<std::vector<std::string>> WalletsUnder(
    const Policy& p, const std::string& scope) {
  const size_t slash = scope.find('/');
  const std::string kind = scope.substr(0, slash);
  const std::string id =
      slash == std::string::npos ? "" : scope.substr(slash + 1);
  std::vector<std::string> wallets;
  for (const auto& [wid, w] : p.wallets) {
    const bool under =
        (kind == "org" && id == p.org.id) || (kind == "wallet" && wid == id) ||
        (kind == "agent" && w.agent_id == id) ||
        (kind == "department" && p.agents.at(w.agent_id).department == id);
    if (under) wallets.push_back(wid);
  }
  const bool exists = (kind == "org" && id == p.org.id) ||
                      (kind == "department" && p.departments.contains(id)) ||
                      (kind == "agent" && p.agents.contains(id)) ||
                      (kind == "wallet" && p.wallets.contains(id));
  if (!exists) {
    return absl::NotFoundError(
        absl::StrCat("scope: no ", scope, " in org ", p.org.id,
                     " (use org/, department/, agent/ or wallet/)"));
  }
  return wallets;
}

bool SameRequest(const Authorization& first, const Authorization& retry) {
  return first.agent_id == retry.agent_id &&
         first.wallet_id == retry.wallet_id && first.asset == retry.asset &&
         first.amount == retry.amount && first.destination == retry.destination;
}

}  // namespace

Engine::Engine(ConfigStore* config, BudgetStore* budgets, AuditLog* audit,
               FreezeStore* freezes, const Clock* clock, EngineHooks hooks)
    : config_(config),
      budgets_(budgets),
      audit_(audit),
      freezes_(freezes),
      hooks_(hooks),
      clock_(clock) {}

absl::Duration RecordRetention(const Policy& p) {
  absl::Duration longest;
  auto scan = [&](const std::vector<Limit>& limits) {
    for (const Limit& l : limits) {
      longest = std::max(longest, l.window.MaxLength());
    }
  };
  scan(p.org.limits);
  for (const auto& [id, d] : p.departments) scan(d.limits);
  for (const auto& [id, a] : p.agents) scan(a.limits);
  // A delayed or approved hold can start its TTL that much later; a
  // cumulative tier threshold counts over its own window.
  absl::Duration wait;
  auto waits = [&](const std::optional<ApprovalTiers>& t) {
    if (!t) return;
    wait = std::max({wait, t->delay, t->approval_timeout});
    if (t->window) longest = std::max(longest, t->window->MaxLength());
  };
  for (const auto& [id, d] : p.departments) waits(d.approvals);
  for (const auto& [id, a] : p.agents) waits(a.approvals);
  return longest + wait + p.org.hold_ttl + kIdempotencyRetention;
}

absl::StatusOr<size_t> Engine::EnsureReady() {
  WARDEN_ASSIGN_OR_RETURN(std::vector<std::string> orgs, config_->Orgs());
  size_t restored = 0;
  for (const std::string& org : orgs) {
    WARDEN_ASSIGN_OR_RETURN(bool ready, budgets_->IsReady(org));
    if (ready) continue;
    WARDEN_ASSIGN_OR_RETURN(std::shared_ptr<const Policy> policy,
                            config_->Active(org));
    WARDEN_ASSIGN_OR_RETURN(std::vector<FrozenScope> frozen,
                            freezes_->List(org));
    for (const FrozenScope& f : frozen) {
      WARDEN_RETURN_IF_ERROR(budgets_->SetFrozen(org, f.scope, true));
    }
    if (hooks_.history != nullptr) {
      const absl::Duration retention = RecordRetention(*policy);
      WARDEN_RETURN_IF_ERROR(hooks_.history->LatestAuthorizations(
          org, clock_->Now() - retention, [&](const Authorization& a) {
            ++restored;
            return budgets_->Restore(a, a.created_at + retention,
                                     policy->org.timezone);
          }));
    }
    WARDEN_RETURN_IF_ERROR(budgets_->MarkReady(org));
  }
  return restored;
}

absl::StatusOr<std::string> Engine::ResolveOrg(const std::string& org_id) {
  if (!org_id.empty()) return org_id;
  WARDEN_ASSIGN_OR_RETURN(std::vector<std::string> orgs, config_->Orgs());
  if (orgs.size() == 1) return orgs[0];
  return FieldError(absl::StatusCode::kInvalidArgument, "org_id",
                    orgs.empty() ? "no policy bundle has been applied yet"
                                 : "is required: this server serves several "
                                   "orgs");
}

absl::StatusOr<std::shared_ptr<const Policy>> Engine::ResolvePolicy(
    const std::string& org_id) {
  WARDEN_ASSIGN_OR_RETURN(std::string org, ResolveOrg(org_id));
  absl::StatusOr<std::shared_ptr<const Policy>> policy = config_->Active(org);
  if (absl::IsNotFound(policy.status())) {
    return FieldError(absl::StatusCode::kNotFound, "org_id",
                      absl::StrCat("unknown org ", Quote(org)));
  }
  return policy;
}

absl::StatusOr<AuthorizeOutput> Engine::Authorize(const AuthorizeInput& in) {
  const absl::Time now = clock_->Now();
  WARDEN_ASSIGN_OR_RETURN(std::shared_ptr<const Policy> policy,
                          ResolvePolicy(in.org_id));
  const Org& org = policy->org;

  WARDEN_RETURN_IF_ERROR(CheckId("agent_id", in.agent_id));
  WARDEN_RETURN_IF_ERROR(CheckId("wallet_id", in.wallet_id));
  WARDEN_RETURN_IF_ERROR(CheckId("asset", in.asset));
  auto agent_it = policy->agents.find(in.agent_id);
  if (agent_it == policy->agents.end()) {
    return FieldError(
        absl::StatusCode::kNotFound, "agent_id",
        absl::StrCat("unknown agent ", Quote(in.agent_id), " in org ", org.id));
  }
  const Agent& agent = agent_it->second;
  if (in.wallet_id.empty()) {
    return FieldError(absl::StatusCode::kInvalidArgument, "wallet_id",
                      "is required");
  }
  auto wallet_it = policy->wallets.find(in.wallet_id);
  if (wallet_it == policy->wallets.end()) {
    return FieldError(absl::StatusCode::kNotFound, "wallet_id",
                      absl::StrCat("unknown wallet ", Quote(in.wallet_id),
                                   " in org ", org.id));
  }
  const Wallet& wallet = wallet_it->second;
  if (wallet.agent_id != agent.id) {
    return FieldError(
        absl::StatusCode::kInvalidArgument, "wallet_id",
        absl::StrCat("wallet ", Quote(wallet.id), " belongs to agent ",
                     Quote(wallet.agent_id), ", not ", Quote(agent.id)));
  }
  absl::StatusOr<absl::uint128> amount = ParseBaseUnits(in.amount);
  if (!amount.ok()) {
    return FieldError(absl::StatusCode::kInvalidArgument, "amount",
                      amount.status().message());
  }
  if (*amount == 0) {
    return FieldError(absl::StatusCode::kInvalidArgument, "amount",
                      "must be greater than zero");
  }
  WARDEN_RETURN_IF_ERROR(CheckLength("idempotency_key", in.idempotency_key,
                                     kMaxIdempotencyKeyBytes));
  WARDEN_RETURN_IF_ERROR(CheckLength("memo", in.memo, kMaxMemoBytes));
  if (!in.destination.empty()) {
    WARDEN_RETURN_IF_ERROR(
        ValidateAddress("destination", wallet.chain, in.destination));
  }

  Authorization a;
  a.id = NewId("az_");
  a.org_id = org.id;
  a.department_id = agent.department;
  a.agent_id = agent.id;
  a.wallet_id = wallet.id;
  a.chain = wallet.chain;
  a.asset = in.asset;
  a.amount = *amount;
  a.destination = in.destination;
  a.memo = in.memo;
  a.idempotency_key = in.idempotency_key;
  if (IsValidTraceparent(in.traceparent)) a.traceparent = in.traceparent;
  a.policy_version = policy->version;
  a.on_expiry = org.expired_holds;
  a.created_at = now;

  auto asset_it = policy->assets.find(in.asset);
  const bool priced =
      asset_it != policy->assets.end() && asset_it->second.price_usd;
  if (priced) {
    absl::StatusOr<UsdMicros> usd = ValueInUsdMicros(
        a.amount, asset_it->second.decimals, *asset_it->second.price_usd);
    if (!usd.ok()) {
      return FieldError(absl::StatusCode::kInvalidArgument, "amount",
                        usd.status().message());
    }
    a.amount_usd = *usd;
    a.price_usd = FormatPrice(*asset_it->second.price_usd);
  }

  PathLimits path = CollectLimits(*policy, agent, now);
  ReserveRequest request;
  request.zone = org.timezone;
  a.violations = CheckRules(a, agent, *policy, priced);
  TierChoice tier;
  // Cumulative tier thresholds, checked with the limits; index i is
  // request.limits[path.checks.size() + i].
  std::vector<TierCheck> tier_checks;
  if (a.violations.empty()) {
    tier = PerTransactionTier(a, *policy, agent);
    tier_checks = CumulativeTierChecks(*policy, agent, tier.tier, now);
    ApplyTier(tier, org, path.checks.size(), now, &a);
  } else {
    a.decision = Decision::kDeny;
    a.status = AuthorizationStatus::kDenied;
    a.reason = DenyReason(a, &a.violations);
  }

  ReserveResult result;
  // Each pass either reserves, or denies, or finds a stricter tier (at most
  // three times): a cumulative threshold counts as passed only when the
  // store, atomically with the reservation, says so.
  while (true) {
    request.authorization = a;
    request.retain_until =
        std::max(now + path.longest, a.hold_expires_at + org.hold_ttl) +
        kIdempotencyRetention;
    request.limits.clear();
    if (a.status == AuthorizationStatus::kHeld) {
      request.limits = path.checks;
      for (const TierCheck& t : tier_checks) request.limits.push_back(t.check);
    }
    WARDEN_ASSIGN_OR_RETURN(result, budgets_->Reserve(request));
    if (result.outcome != ReserveResult::Outcome::kOverLimit) break;
    std::optional<TierChoice> stricter;
    bool over_limit = false;
    for (const LimitUsage& usage : result.exceeded) {
      if (usage.limit_index < path.checks.size()) {
        over_limit = true;
        continue;
      }
      const TierCheck& t = tier_checks[usage.limit_index - path.checks.size()];
      TierChoice crossed = CrossedTier(t, usage.used, a.amount_usd);
      if (!stricter || Stricter(crossed, *stricter)) stricter = crossed;
    }
    if (over_limit || !stricter) break;
    tier = *stricter;
    std::erase_if(tier_checks,
                  [&](const TierCheck& t) { return t.tier <= tier.tier; });
    ApplyTier(tier, org, path.checks.size(), now, &a);
  }
  if (result.outcome == ReserveResult::Outcome::kFrozen ||
      result.outcome == ReserveResult::Outcome::kOverLimit) {
    std::erase_if(result.exceeded, [&](const LimitUsage& u) {
      return u.limit_index >= path.checks.size();
    });
    // Only to explain how much of the usage awaits approval; best effort.
    std::vector<Authorization> awaiting;
    if (result.outcome == ReserveResult::Outcome::kOverLimit) {
      awaiting = budgets_->ListAwaiting(org.id, kMaxListed)
                     .value_or(std::vector<Authorization>{});
    }
    a.violations = RefusalViolations(result, path, a, *policy, awaiting);
    // Record the denial so that a retry with the same key gets it.
    a.decision = Decision::kDeny;
    a.status = AuthorizationStatus::kDenied;
    a.hold_expires_at = absl::Time();
    a.release_at = absl::InfinitePast();
    a.approvals_required = 0;
    a.approvers.clear();
    a.reason = DenyReason(a, &a.violations);
    request.authorization = a;
    request.limits.clear();
    WARDEN_ASSIGN_OR_RETURN(result, budgets_->Reserve(request));
  }
  if (result.outcome == ReserveResult::Outcome::kDuplicate) {
    if (!SameRequest(result.authorization, a)) {
      return FieldError(
          absl::StatusCode::kFailedPrecondition, "idempotency_key",
          absl::StrCat(Quote(a.idempotency_key),
                       " was first used for a different request (",
                       result.authorization.id, ")"));
    }
    return AuthorizeOutput{Replay(std::move(result.authorization)), true};
  }

  AuditEvent event;
  event.type = AuditEvent::Type::kAuthorizationDecided;
  event.time = now;
  event.org_id = org.id;
  event.actor = in.actor;
  event.authorization = result.authorization;
  if (absl::Status st = audit_->Append(event); !st.ok()) {
    absl::Status undo = budgets_->Abandon(org.id, a.id);
    return absl::UnavailableError(absl::StrCat(
        "audit log unavailable, so no decision was made: ", st.message(),
        undo.ok() ? ""
                  : absl::StrCat(" (and releasing the hold failed: ",
                                 undo.message(), "; it expires at its TTL)")));
  }
  if (result.authorization.decision != Decision::kDeny &&
      tier.tier != Tier::kInstant) {
    static constexpr const char* kEvents[] = {
        "", "spend.notify", "spend.delayed", "approval.requested"};
    Notify(kEvents[static_cast<int>(tier.tier)], result.authorization, in.actor,
           result.authorization.reason);
  }
  return AuthorizeOutput{std::move(result.authorization), false};
}

absl::Status Engine::AuditTransition(AuditEvent::Type type,
                                     const Authorization& a,
                                     const std::string& actor) {
  AuditEvent event;
  event.type = type;
  event.time = clock_->Now();
  event.org_id = a.org_id;
  event.actor = actor;
  event.authorization = a;
  absl::Status st = audit_->Append(event);
  if (st.ok()) return st;
  return absl::UnavailableError(
      absl::StrCat("audit log unavailable: ", st.message(),
                   "; the change is made, retry to record it"));
}

absl::StatusOr<Authorization> Engine::Settle(const SettleInput& in) {
  WARDEN_ASSIGN_OR_RETURN(std::string org, ResolveOrg(in.org_id));
  WARDEN_ASSIGN_OR_RETURN(Authorization held,
                          Get(org, in.authorization_id, in.owner));
  if (held.status == AuthorizationStatus::kHeld &&
      held.decision == Decision::kPendingApproval) {
    return FieldError(
        absl::StatusCode::kFailedPrecondition, "authorization_id",
        absl::StrCat(held.id, " is awaiting approval (", held.Approvals(),
                     " of ", held.approvals_required,
                     "); settle once it is ALLOW"));
  }
  if (held.status == AuthorizationStatus::kHeld &&
      held.decision == Decision::kDelayed) {
    return FieldError(absl::StatusCode::kFailedPrecondition, "authorization_id",
                      absl::StrCat(held.id, " is delayed until ",
                                   FormatInstant(held.release_at),
                                   "; settle after that, unless cancelled"));
  }
  absl::uint128 amount = held.amount;
  if (!in.amount.empty()) {
    absl::StatusOr<absl::uint128> parsed = ParseBaseUnits(in.amount);
    if (!parsed.ok()) {
      return FieldError(absl::StatusCode::kInvalidArgument, "amount",
                        parsed.status().message());
    }
    if (*parsed > held.amount) {
      return FieldError(absl::StatusCode::kInvalidArgument, "amount",
                        absl::StrCat(in.amount, " exceeds the held amount ",
                                     FormatBaseUnits(held.amount)));
    }
    amount = *parsed;
  }
  WARDEN_RETURN_IF_ERROR(CheckLength("tx_hash", in.tx_hash, 256));
  // The final value uses the price of the hold, scaled down and rounded up,
  // so settling never costs more than what was reserved.
  absl::StatusOr<absl::uint128> usd =
      MulDivRoundUp(amount, absl::uint128(held.amount_usd), held.amount);
  if (!usd.ok()) return absl::InternalError("settled value out of range");
  WARDEN_ASSIGN_OR_RETURN(
      Authorization settled,
      budgets_->Settle(org, held.id, amount, static_cast<UsdMicros>(*usd),
                       in.tx_hash, clock_->Now()));
  WARDEN_RETURN_IF_ERROR(AuditTransition(
      AuditEvent::Type::kAuthorizationSettled, settled, in.actor));
  return Present(std::move(settled));
}

absl::StatusOr<Authorization> Engine::Void(const std::string& org_id,
                                           const std::string& authorization_id,
                                           const std::string& actor,
                                           const std::string& owner) {
  WARDEN_ASSIGN_OR_RETURN(std::string org, ResolveOrg(org_id));
  WARDEN_RETURN_IF_ERROR(Get(org, authorization_id, owner).status());
  WARDEN_ASSIGN_OR_RETURN(Authorization voided,
                          budgets_->Void(org, authorization_id, clock_->Now()));
  WARDEN_RETURN_IF_ERROR(
      AuditTransition(AuditEvent::Type::kAuthorizationVoided, voided, actor));
  return Present(std::move(voided));
}

absl::StatusOr<Authorization> Engine::Get(const std::string& org_id,
                                          const std::string& authorization_id,
                                          const std::string& owner) {
  WARDEN_RETURN_IF_ERROR(CheckId("authorization_id", authorization_id));
  WARDEN_ASSIGN_OR_RETURN(std::string org, ResolveOrg(org_id));
  absl::StatusOr<Authorization> a = budgets_->Get(org, authorization_id);
  if (absl::IsNotFound(a.status())) {
    return FieldError(absl::StatusCode::kNotFound, "authorization_id",
                      absl::StrCat("no authorization ", Quote(authorization_id),
                                   " in org ", org));
  }
  if (!a.ok()) return a.status();
  if (!owner.empty() && a->agent_id != owner) {
    return FieldError(absl::StatusCode::kPermissionDenied, "authorization_id",
                      absl::StrCat(authorization_id, " belongs to agent ",
                                   a->agent_id, ", not agent ", owner));
  }
  return Present(*std::move(a));
}

Authorization Engine::Present(Authorization a) const {
  a.decision = a.DecisionAt(clock_->Now());
  return a;
}

Authorization Engine::Replay(Authorization a) {
  const absl::Time now = clock_->Now();
  a = Present(std::move(a));
  if (a.status == AuthorizationStatus::kDenied ||
      (a.status == AuthorizationStatus::kHeld && now < a.hold_expires_at)) {
    return a;  // A denial, or a hold that is still live.
  }
  // Nothing is reserved under it any more: a caller that signed on this
  // answer would spend what no budget counts.
  std::string code, what;
  switch (a.status) {
    case AuthorizationStatus::kSettled:
      code = "ALREADY_SETTLED";
      what = absl::StrCat("was settled", a.tx_hash.empty() ? "" : " with tx ",
                          a.tx_hash, " for ", FormatUsd(a.settled_usd),
                          "; a replay never authorizes a second spend");
      break;
    case AuthorizationStatus::kVoided:
      code = "HOLD_VOIDED";
      what = absl::StrCat("was voided (", VoidCause(a), ")");
      break;
    default:  // EXPIRED, or HELD past its expiry and not swept yet.
      code = "HOLD_EXPIRED";
      what = absl::StrCat("expired at ", FormatInstant(a.hold_expires_at));
      break;
  }
  Violation v = RuleViolation(a, code, "idempotency_key",
                              absl::StrCat("replay of ", a.id, ": it ", what,
                                           "; nothing is reserved for it now"));
  a.decision = Decision::kDeny;
  a.violations = {std::move(v)};
  a.reason = DenyReason(a, &a.violations);
  return a;
}

std::string Engine::VoidCause(const Authorization& a) {
  for (const ApprovalVote& v : a.votes) {
    if (!v.approve) return absl::StrCat("rejected by ", v.approver);
  }
  if (absl::StatusOr<std::vector<FrozenScope>> frozen =
          freezes_->List(a.org_id);
      frozen.ok()) {
    const std::vector<std::string> path = ScopePath(a);
    for (const FrozenScope& f : *frozen) {
      if (std::find(path.begin(), path.end(), f.scope) != path.end()) {
        return absl::StrCat(f.scope, " is frozen: ", f.reason);
      }
    }
  }
  return "by its caller, or by a freeze since lifted";
}

void Engine::Notify(const std::string& event, const Authorization& a,
                    const std::string& actor, const std::string& message) {
  if (hooks_.notifications == nullptr) return;
  Notification n;
  n.id = NewId("nt_");
  n.event = event;
  n.time = clock_->Now();
  n.org_id = a.org_id;
  n.actor = actor;
  n.message = message;
  n.authorization = a;
  hooks_.notifications->Notify(n);
}

absl::StatusOr<std::vector<Authorization>> Engine::ListPendingApprovals(
    const std::string& org_id) {
  WARDEN_ASSIGN_OR_RETURN(std::string org, ResolveOrg(org_id));
  WARDEN_ASSIGN_OR_RETURN(std::vector<Authorization> awaiting,
                          budgets_->ListAwaiting(org, kMaxListed));
  std::vector<Authorization> out;
  const absl::Time now = clock_->Now();
  for (Authorization& a : awaiting) {
    // Awaiting until it leaves HELD; a released delay no longer does.
    a = Present(std::move(a));
    if (a.status == AuthorizationStatus::kHeld && a.hold_expires_at > now &&
        a.decision != Decision::kAllow) {
      out.push_back(std::move(a));
    }
  }
  return out;
}

absl::StatusOr<VoteOutput> Engine::Approve(const VoteInput& in) {
  return Vote(in, /*approve=*/true);
}

absl::StatusOr<VoteOutput> Engine::Reject(const VoteInput& in) {
  return Vote(in, /*approve=*/false);
}

absl::StatusOr<VoteOutput> Engine::Vote(const VoteInput& in, bool approve) {
  WARDEN_ASSIGN_OR_RETURN(std::shared_ptr<const Policy> policy,
                          ResolvePolicy(in.org_id));
  const std::string& org = policy->org.id;
  if (in.approver.empty()) {
    return FieldError(absl::StatusCode::kInvalidArgument, "approver",
                      "is required (a principal such as user/alice or "
                      "agent/agent_b)");
  }
  WARDEN_RETURN_IF_ERROR(ValidatePrincipalName("approver", in.approver));
  WARDEN_RETURN_IF_ERROR(CheckLength("comment", in.comment, kMaxMemoBytes));
  WARDEN_ASSIGN_OR_RETURN(Authorization a, Get(org, in.authorization_id));
  if (a.status != AuthorizationStatus::kHeld ||
      (a.decision != Decision::kPendingApproval &&
       a.decision != Decision::kDelayed)) {
    return FieldError(
        absl::StatusCode::kFailedPrecondition, "authorization_id",
        absl::StrCat(a.id, " is ", DecisionName(a.decision), " and ",
                     StatusName(a.status), ", not awaiting approval"));
  }
  if (in.approver == absl::StrCat("agent/", a.agent_id)) {
    return FieldError(absl::StatusCode::kPermissionDenied, "approver",
                      absl::StrCat(in.approver,
                                   " made this request and cannot approve or "
                                   "reject it"));
  }
  if (a.decision == Decision::kDelayed) {
    if (approve) {
      return FieldError(
          absl::StatusCode::kFailedPrecondition, "authorization_id",
          absl::StrCat(a.id,
                       " is delayed, not awaiting approval: it is "
                       "allowed at ",
                       FormatInstant(a.release_at),
                       " unless rejected (cancelled) before"));
    }
  } else if (!MayApprove(a, in.approver, *policy)) {
    return FieldError(
        absl::StatusCode::kPermissionDenied, "approver",
        absl::StrCat(in.approver, " is not an approver of ", a.id,
                     " (approvers: ", ListText(a.approvers),
                     "; second_agent means another agent of department ",
                     a.department_id, ")"));
  }
  const absl::Time now = clock_->Now();
  WARDEN_ASSIGN_OR_RETURN(
      VoteResult result,
      budgets_->Vote(org, a.id,
                     ApprovalVote{in.approver, approve, in.comment, now},
                     now + policy->org.hold_ttl, policy->org.expired_holds));
  // Audited even when not counted, so that a retry after an audit failure
  // still records the vote.
  WARDEN_RETURN_IF_ERROR(AuditTransition(AuditEvent::Type::kAuthorizationVoted,
                                         result.authorization, in.actor));
  if (result.counted) {
    const Authorization& after = result.authorization;
    const char* event = !approve ? "approval.rejected"
                        : after.decision == Decision::kAllow
                            ? "approval.granted"
                            : "approval.voted";
    Notify(event, after, in.approver,
           absl::StrCat(in.approver, approve ? " approved " : " rejected ",
                        after.id, " (", after.Approvals(), " of ",
                        after.approvals_required, " approvals)",
                        in.comment.empty() ? "" : ": ", in.comment));
  }
  return VoteOutput{Present(std::move(result.authorization)), result.counted};
}

absl::StatusOr<ApplyResult> Engine::ApplyBundle(const std::string& yaml,
                                                bool dry_run,
                                                const std::string& actor,
                                                const std::string& caller_org) {
  WARDEN_ASSIGN_OR_RETURN(Policy next, ParseBundle(yaml));
  if (!caller_org.empty() && next.org.id != caller_org) {
    return absl::PermissionDeniedError(
        absl::StrCat("org.id: the bundle is for org ", next.org.id, "; ", actor,
                     " administers org ", caller_org));
  }
  absl::MutexLock lock(&apply_mu_);
  absl::StatusOr<std::shared_ptr<const Policy>> current =
      config_->Active(next.org.id);
  if (!current.ok() && !absl::IsNotFound(current.status())) {
    return current.status();
  }
  const Policy empty;
  const Policy& before = current.ok() ? **current : empty;
  WARDEN_RETURN_IF_ERROR(CheckNoRetiredAddress(next));
  ApplyResult result;
  result.org_id = next.org.id;
  result.diff = DiffPolicies(before, next);
  result.changed = !result.diff.empty();
  result.diff = BoundedDiff(std::move(result.diff));
  result.version = before.version + (result.changed ? 1 : 0);
  if (dry_run || !result.changed) return result;

  next.version = result.version;
  next.yaml = yaml;
  next.applied_at = clock_->Now();
  next.applied_by = actor;
  AuditEvent event;
  event.type = AuditEvent::Type::kBundleApplied;
  event.time = next.applied_at;
  event.org_id = next.org.id;
  event.actor = actor;
  event.policy_version = next.version;
  event.diff = result.diff;
  // Audit first: under apply_mu_ the apply below cannot lose a race, so the
  // trail never misses a version that took effect.
  if (absl::Status st = audit_->Append(event); !st.ok()) {
    return absl::UnavailableError(
        absl::StrCat("audit log unavailable, so the bundle was not applied: ",
                     st.message()));
  }
  WARDEN_RETURN_IF_ERROR(
      config_->Apply(std::make_shared<const Policy>(std::move(next))));
  return result;
}

absl::StatusOr<ApplyResult> Engine::RollbackBundle(const std::string& org_id,
                                                   int64_t version,
                                                   const std::string& actor) {
  if (version < 1) {
    return FieldError(absl::StatusCode::kInvalidArgument, "version",
                      absl::StrCat(version, " is not a version (1, 2, ...)"));
  }
  WARDEN_ASSIGN_OR_RETURN(std::string org, ResolveOrg(org_id));
  WARDEN_ASSIGN_OR_RETURN(std::shared_ptr<const Policy> earlier,
                          GetBundle(org, version));
  return ApplyBundle(earlier->yaml, /*dry_run=*/false,
                     absl::StrCat(actor, " (rollback to v", version, ")"), org);
}

absl::StatusOr<std::shared_ptr<const Policy>> Engine::GetBundle(
    const std::string& org_id, int64_t version) {
  WARDEN_ASSIGN_OR_RETURN(std::string org, ResolveOrg(org_id));
  absl::StatusOr<std::shared_ptr<const Policy>> policy =
      version == 0 ? config_->Active(org) : config_->Version(org, version);
  if (absl::IsNotFound(policy.status())) {
    return FieldError(
        absl::StatusCode::kNotFound, version == 0 ? "org_id" : "version",
        version == 0 ? absl::StrCat("unknown org ", Quote(org))
                     : absl::StrCat("org ", org, " has no version ", version));
  }
  return policy;
}

absl::StatusOr<FreezeOutcome> Engine::Freeze(const Policy& policy,
                                             const std::string& scope,
                                             const std::string& reason,
                                             const std::string& actor,
                                             bool decommission) {
  WARDEN_ASSIGN_OR_RETURN(std::vector<std::string> wallets,
                          WalletsUnder(policy, scope));
  const std::string& org = policy.org.id;
  const absl::Time now = clock_->Now();
  // 1. Durable. 2. Enforced by every replica's next reserve step.
  WARDEN_RETURN_IF_ERROR(
      freezes_->Freeze(org, {scope, now, actor, reason, decommission}));
  WARDEN_RETURN_IF_ERROR(budgets_->SetFrozen(org, scope, true));
  AuditEvent event;
  event.type = AuditEvent::Type::kScopeFrozen;
  event.time = now;
  event.org_id = org;
  event.actor = actor;
  event.scope = scope;
  event.reason = reason;
  event.decommissioned = decommission;
  WARDEN_RETURN_IF_ERROR(audit_->Append(event));
  // 3. Void what it already holds; no new hold can appear meanwhile.
  FreezeOutcome out{scope, static_cast<int64_t>(wallets.size()), 0};
  while (true) {
    WARDEN_ASSIGN_OR_RETURN(
        std::vector<Authorization> voided,
        budgets_->VoidUnder(org, scope, clock_->Now(), kExpireBatchMax));
    for (const Authorization& a : voided) {
      WARDEN_RETURN_IF_ERROR(AuditTransition(
          AuditEvent::Type::kAuthorizationVoided, a,
          absl::StrCat(actor, " (", scope, " frozen: ", reason, ")")));
    }
    out.holds_voided += static_cast<int64_t>(voided.size());
    if (voided.size() < kExpireBatchMax) break;
  }
  return out;
}

absl::Status Engine::RetireAddress(const Policy& policy, const Wallet& wallet,
                                   const std::string& reason,
                                   const std::string& actor) {
  const std::string scope = RetiredAddressScope(wallet.chain, wallet.address);
  const absl::Time now = clock_->Now();
  WARDEN_RETURN_IF_ERROR(freezes_->Freeze(
      policy.org.id, {scope, now, actor, reason, /*decommissioned=*/true}));
  AuditEvent event;
  event.type = AuditEvent::Type::kScopeFrozen;
  event.time = now;
  event.org_id = policy.org.id;
  event.actor = actor;
  event.scope = scope;
  event.reason =
      absl::StrCat("wallet ", wallet.id, " decommissioned: ", reason);
  event.decommissioned = true;
  return audit_->Append(event);
}

absl::Status Engine::CheckNoRetiredAddress(const Policy& next) {
  WARDEN_ASSIGN_OR_RETURN(std::vector<FrozenScope> frozen,
                          freezes_->List(next.org.id));
  absl::flat_hash_set<std::string> retired;  // Addresses and wallets.
  for (const FrozenScope& f : frozen) {
    if (f.decommissioned) retired.insert(f.scope);
  }
  if (retired.empty()) return absl::OkStatus();
  for (const auto& [id, w] : next.wallets) {
    if (retired.contains(RetiredAddressScope(w.chain, w.address)) &&
        !retired.contains(absl::StrCat("wallet/", id))) {
      return absl::FailedPreconditionError(absl::StrCat(
          "agents.", w.agent_id, ".wallets: wallet ", Quote(id), " uses ",
          w.address, " on ", w.chain,
          ", the address of a decommissioned wallet: a retired key never "
          "spends again"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<FreezeOutcome> Engine::FreezeScope(const std::string& org_id,
                                                  const std::string& scope,
                                                  const std::string& reason,
                                                  const std::string& actor) {
  WARDEN_ASSIGN_OR_RETURN(std::shared_ptr<const Policy> policy,
                          ResolvePolicy(org_id));
  WARDEN_ASSIGN_OR_RETURN(
      FreezeOutcome out,
      Freeze(*policy, scope, reason, actor, /*decommission=*/false));
  WARDEN_ASSIGN_OR_RETURN(std::vector<std::string> wallets,
                          WalletsUnder(*policy, scope));
  FreezeAtVendors(*policy, wallets, true, reason, actor, &out);
  return out;
}

void Engine::FreezeAtVendors(const Policy& policy,
                             const std::vector<std::string>& wallets,
                             bool frozen, const std::string& reason,
                             const std::string& actor, FreezeOutcome* out) {
  if (hooks_.vendor_freezer == nullptr) return;
  const std::string& org = policy.org.id;
  for (const std::string& id : wallets) {
    const Wallet& wallet = policy.wallets.at(id);
    VendorFreezeResult r{.wallet_id = id, .vendor = wallet.vendor};
    AuditEvent event;
    event.type = AuditEvent::Type::kVendorFreeze;
    event.org_id = org;
    event.actor = actor;
    event.scope = absl::StrCat("wallet/", id);
    // What Warden recorded when it froze the wallet there: a freeze already
    // in place is not taken again (it would record the frozen state as the
    // one to restore), and an unfreeze puts back what it recorded.
    absl::StatusOr<std::optional<VendorFrozenWallet>> recorded =
        freezes_->VendorFrozen(org, id);
    absl::Status st = recorded.status();
    if (st.ok() && frozen && recorded->has_value()) {
      r.reason = "already frozen there by Warden";
    } else if (st.ok() && frozen) {
      // The adapter retries what is worth retrying.
      absl::StatusOr<VendorFreeze> done =
          hooks_.vendor_freezer->Freeze(wallet, reason);
      st = done.status();
      if (st.ok() && done->restore.size() > kMaxVendorRestoreBytes) {
        st = absl::FailedPreconditionError(absl::StrCat(
            "the state to restore is ", done->restore.size(),
            " bytes, over the ", kMaxVendorRestoreBytes, " Warden keeps"));
      }
      if (st.ok()) {
        // Durable before it is reported, so that no restart can lose it.
        st = freezes_->SetVendorFrozen(
            org, {id, wallet.vendor, done->restore, clock_->Now()});
      }
      if (st.ok()) {
        if (done->strength == VendorFreeze::Strength::kOwnerApproval) {
          r.outcome = VendorFreezeResult::Outcome::kOwnerApproval;
          r.reason =
              "the vendor cannot refuse: every spend now waits for the "
              "wallet owner's approval";
        }
        event.vendor_frozen = true;
        event.vendor_restore = done->restore;
      }
    } else if (st.ok()) {
      st = hooks_.vendor_freezer->Unfreeze(
          wallet, recorded->has_value() ? (*recorded)->restore : "", reason);
      if (st.ok()) st = freezes_->ClearVendorFrozen(org, id);
      if (st.ok()) event.vendor_frozen = false;
    }
    if (!st.ok()) {
      r.outcome = absl::IsUnimplemented(st)
                      ? VendorFreezeResult::Outcome::kUnsupported
                      : VendorFreezeResult::Outcome::kFailed;
      r.reason = std::string(st.message());
    }
    event.time = clock_->Now();
    event.reason =
        absl::StrCat("wallet/", id, " ", frozen ? "freeze" : "unfreeze", " at ",
                     wallet.vendor, ": ", VendorFreezeOutcomeName(r.outcome),
                     r.reason.empty() ? "" : ": ", r.reason, " (", reason, ")");
    if (absl::Status logged = audit_->Append(event); !logged.ok()) {
      // Warden's own freeze is recorded; say that this step's record is not.
      absl::StrAppend(&r.reason, r.reason.empty() ? "" : "; ",
                      "not in the audit trail: ", logged.message());
    }
    out->vendor_results.push_back(std::move(r));
  }
}

const char* VendorFreezeOutcomeName(VendorFreezeResult::Outcome outcome) {
  switch (outcome) {
    case VendorFreezeResult::Outcome::kDone:
      return "done";
    case VendorFreezeResult::Outcome::kUnsupported:
      return "unsupported";
    case VendorFreezeResult::Outcome::kFailed:
      return "failed";
    case VendorFreezeResult::Outcome::kOwnerApproval:
      return "owner approval";
  }
  return "unknown";
}

absl::StatusOr<FreezeOutcome> Engine::DecommissionAgent(
    const std::string& org_id, const std::string& agent_id,
    const std::string& reason, const std::string& actor) {
  WARDEN_ASSIGN_OR_RETURN(std::shared_ptr<const Policy> policy,
                          ResolvePolicy(org_id));
  auto agent = policy->agents.find(agent_id);
  if (agent == policy->agents.end()) {
    return FieldError(absl::StatusCode::kNotFound, "agent_id",
                      absl::StrCat("unknown agent ", Quote(agent_id),
                                   " in org ", policy->org.id));
  }
  // Wallets first, then the agent: each step alone already stops spend.
  FreezeOutcome total;
  for (const std::string& wallet : agent->second.wallet_ids) {
    WARDEN_ASSIGN_OR_RETURN(FreezeOutcome w,
                            Freeze(*policy, absl::StrCat("wallet/", wallet),
                                   reason, actor, /*decommission=*/true));
    total.holds_voided += w.holds_voided;
    WARDEN_RETURN_IF_ERROR(
        RetireAddress(*policy, policy->wallets.at(wallet), reason, actor));
  }
  WARDEN_ASSIGN_OR_RETURN(
      FreezeOutcome a, Freeze(*policy, absl::StrCat("agent/", agent_id), reason,
                              actor, /*decommission=*/true));
  total.scope = a.scope;
  total.wallets_frozen = a.wallets_frozen;
  total.holds_voided += a.holds_voided;
  FreezeAtVendors(*policy, agent->second.wallet_ids, true, reason, actor,
                  &total);
  return total;
}

absl::StatusOr<FreezeOutcome> Engine::UnfreezeScope(const std::string& org_id,
                                                    const std::string& scope,
                                                    const std::string& reason,
                                                    const std::string& actor) {
  WARDEN_ASSIGN_OR_RETURN(std::shared_ptr<const Policy> policy,
                          ResolvePolicy(org_id));
  WARDEN_ASSIGN_OR_RETURN(std::vector<std::string> wallets,
                          WalletsUnder(*policy, scope));
  const std::string& org = policy->org.id;
  absl::Status st = freezes_->Unfreeze(org, scope);
  if (absl::IsNotFound(st)) {
    // Not frozen durably: clear a flag an earlier unfreeze may have left
    // when it failed between its two steps, so that a retry repairs it.
    (void)budgets_->SetFrozen(org, scope, false);
  }
  if (!st.ok()) {
    return absl::Status(st.code(), absl::StrCat("scope: ", st.message()));
  }
  WARDEN_RETURN_IF_ERROR(budgets_->SetFrozen(org, scope, false));
  AuditEvent event;
  event.type = AuditEvent::Type::kScopeUnfrozen;
  event.time = clock_->Now();
  event.org_id = org;
  event.actor = actor;
  event.scope = scope;
  event.reason = reason;
  WARDEN_RETURN_IF_ERROR(audit_->Append(event));
  FreezeOutcome out{scope, static_cast<int64_t>(wallets.size()), 0};
  // At the vendors, only the wallets no other freeze still covers.
  WARDEN_ASSIGN_OR_RETURN(std::vector<FrozenScope> still, freezes_->List(org));
  std::vector<std::string> lift;
  for (const std::string& w : wallets) {
    bool covered = false;
    for (const FrozenScope& f : still) {
      absl::StatusOr<std::vector<std::string>> under =
          WalletsUnder(*policy, f.scope);
      covered = covered ||
                (under.ok() &&
                 std::find(under->begin(), under->end(), w) != under->end());
    }
    if (!covered) lift.push_back(w);
  }
  FreezeAtVendors(*policy, lift, false, reason, actor, &out);
  return out;
}

absl::Status Engine::SyncFrozen() {
  WARDEN_ASSIGN_OR_RETURN(std::vector<std::string> orgs, config_->Orgs());
  for (const std::string& org : orgs) {
    WARDEN_ASSIGN_OR_RETURN(std::vector<FrozenScope> frozen,
                            freezes_->List(org));
    for (const FrozenScope& f : frozen) {
      WARDEN_RETURN_IF_ERROR(budgets_->SetFrozen(org, f.scope, true));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> Engine::SweepExpired() {
  WARDEN_ASSIGN_OR_RETURN(std::vector<std::string> orgs, config_->Orgs());
  size_t total = 0;
  for (const std::string& org : orgs) {
    WARDEN_ASSIGN_OR_RETURN(
        std::vector<Authorization> expired,
        budgets_->ExpireDue(org, clock_->Now(), kExpireBatchMax));
    for (const Authorization& a : expired) {
      WARDEN_RETURN_IF_ERROR(AuditTransition(
          AuditEvent::Type::kAuthorizationExpired, a, "system"));
      if (a.decision == Decision::kPendingApproval) {
        Notify("approval.expired", a, "system",
               absl::StrCat(a.id, " expired with ", a.Approvals(), " of ",
                            a.approvals_required,
                            " approvals; its reservation is released"));
      }
    }
    total += expired.size();
  }
  return total;
}

}  // namespace warden
