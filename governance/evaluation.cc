#include "governance/evaluation.h"

#include <algorithm>
#include <optional>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "governance/anomalies.h"
#include "governance/explain.h"
#include "governance/money.h"
#include "governance/quote.h"
#include "governance/x402.h"

namespace warden::eval {
namespace {

// The scopes of the agent's path that set tiers, departments first (the
// top one first), with their index in ScopePath (org, departments, agent,
// wallet, ...).
std::vector<std::tuple<int, std::string, const ApprovalTiers*>> TierScopes(
    const Policy& policy, const Agent& agent) {
  std::vector<std::tuple<int, std::string, const ApprovalTiers*>> out;
  int index = 1;
  for (const Department* dept : DepartmentChain(policy, agent.department)) {
    if (dept->approvals) {
      out.emplace_back(index, absl::StrCat("department/", dept->id),
                       &*dept->approvals);
    }
    ++index;
  }
  if (agent.approvals) {
    out.emplace_back(index, absl::StrCat("agent/", agent.id),
                     &*agent.approvals);
  }
  return out;
}

// Whether department `dept` is `ancestor` or below it.
bool InDepartment(const Policy& p, const std::string& dept,
                  const std::string& ancestor) {
  for (const Department* d : DepartmentChain(p, dept)) {
    if (d->id == ancestor) return true;
  }
  return false;
}

constexpr Tier kTiersStrictestFirst[] = {Tier::kApproval, Tier::kDelay,
                                         Tier::kNotify};

// The amount of an approval in whole tokens ("1000.5 TOK"), or
// "an unlimited amount".
std::string ApprovedText(const abi::Call& call) {
  if (call.unlimited) return "an unlimited amount";
  if (!call.amount.FitsIn128() || call.asset == nullptr) {
    return "more than 2^128-1 base units";
  }
  return absl::StrCat(FormatTokenAmount(call.amount.low, call.asset->decimals),
                      " ", call.token);
}

// The USD value of an approval, if its asset is priced and it fits.
std::optional<UsdMicros> ApprovedUsd(const abi::Call& call) {
  if (call.asset == nullptr || !call.asset->price_usd ||
      !call.amount.FitsIn128()) {
    return std::nullopt;
  }
  absl::StatusOr<UsdMicros> usd = ValueInUsdMicros(
      call.amount.low, call.asset->decimals, *call.asset->price_usd);
  return usd.ok() ? std::optional<UsdMicros>(*usd) : std::nullopt;
}

// Why an approval breaks the agent's approved_spenders, if it does.
std::optional<std::pair<const char*, std::string>> ApprovalProblem(
    const abi::Call& call, const AgentRules& rules, const std::string& who) {
  if (call.asset == nullptr) {
    return std::make_pair("APPROVAL_NOT_ALLOWED",
                          absl::StrCat("Permit2 approval of token ", call.token,
                                       ", which is not declared under assets"));
  }
  const SpenderRule* rule = nullptr;
  for (const SpenderRule& r : rules.approved_spenders) {
    if (r.spender == call.counterparty &&
        (!r.asset || *r.asset == call.token) && (rule == nullptr || r.asset)) {
      rule = &r;  // One naming the token beats one for any token.
    }
  }
  const std::string what = absl::StrCat(call.method, " of ", ApprovedText(call),
                                        " to spender ", call.counterparty);
  if (rule == nullptr) {
    return std::make_pair("APPROVAL_NOT_ALLOWED",
                          absl::StrCat(what, ": the spender is not in ", who,
                                       "'s approved_spenders"));
  }
  if (rule->unlimited) return std::nullopt;
  if (call.increase) {
    return std::make_pair(
        "APPROVAL_NOT_ALLOWED",
        absl::StrCat(what,
                     ": increaseAllowance adds to an allowance Warden "
                     "cannot see; use approve, whose amount is the whole "
                     "allowance"));
  }
  if (call.unlimited) {
    return std::make_pair(
        "APPROVAL_UNLIMITED",
        absl::StrCat(what, ": ", who,
                     "'s approved_spenders allow no unlimited approval to "
                     "it"));
  }
  if (rule->max_units &&
      (!call.amount.FitsIn128() || call.amount.low > *rule->max_units)) {
    return std::make_pair(
        "APPROVAL_OVER_CAP",
        absl::StrCat(what, " exceeds its cap of ",
                     FormatTokenAmount(*rule->max_units, call.asset->decimals),
                     " ", call.token));
  }
  if (rule->max_usd) {
    std::optional<UsdMicros> usd = ApprovedUsd(call);
    if (!usd || *usd > *rule->max_usd) {
      return std::make_pair(
          "APPROVAL_OVER_CAP",
          absl::StrCat(what,
                       usd ? absl::StrCat(" (", FormatUsd(*usd), ")")
                           : std::string(" (no USD value: unpriced or too "
                                         "large)"),
                       " exceeds its cap of ", FormatUsd(*rule->max_usd)));
    }
  }
  return std::nullopt;
}

}  // namespace

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

std::optional<Violation> DrainViolation(const Authorization& a,
                                        const Agent& agent,
                                        const WalletBalance& balance,
                                        int decimals) {
  const std::optional<int>& percent = agent.rules.drain_all_percent;
  if (!percent || a.amount == 0) return std::nullopt;
  const std::string guard =
      absl::StrCat("agent ", agent.id, "'s drain_all ", *percent, "%");
  if (!balance.units) {
    // A line that only notifies does not let through what it could not
    // check: the violation is then named so that nothing escalates it.
    auto what = agent.rules.on_violation.find("drain_all");
    const bool notify_only = what != agent.rules.on_violation.end() &&
                             what->second == OnViolation::kNotify;
    return RuleViolation(
        a, "DRAIN_ALL", notify_only ? "drain_all_unread" : "drain_all",
        absl::StrCat("wallet ", a.wallet_id, "'s ", a.asset, " balance on ",
                     a.chain, " could not be read (", balance.error, "), so ",
                     guard, " cannot rule out a drain",
                     notify_only ? " (and notify does not allow what was not "
                                   "checked)"
                                 : ""));
  }
  // percent% of the balance, rounded up, without overflow: percent is at
  // most 100, so neither product can wrap.
  const absl::uint128 units = *balance.units;
  const absl::uint128 rest = units % 100 * *percent;
  const absl::uint128 line =
      units / 100 * *percent + rest / 100 + (rest % 100 != 0 ? 1 : 0);
  if (a.amount < line) return std::nullopt;
  return RuleViolation(
      a, "DRAIN_ALL", "drain_all",
      absl::StrCat(FormatTokenAmount(a.amount, decimals), " ", a.asset,
                   " is at least ", *percent, "% of wallet ", a.wallet_id,
                   "'s balance of ", FormatTokenAmount(units, decimals), " ",
                   a.asset, " on ", a.chain, " (", guard, ")"));
}

const MethodRule* AllowedMethod(const Agent& agent, const std::string& chain,
                                const abi::Call& call) {
  for (const ContractRule& c : agent.rules.contracts) {
    if (c.chain != chain || c.address != call.contract) continue;
    for (const MethodRule& m : c.methods) {
      if (m.selector == call.selector) return &m;
    }
  }
  return nullptr;
}

std::string Exposure(const abi::Call& call) {
  std::optional<UsdMicros> usd = ApprovedUsd(call);
  return absl::StrCat(
      "spender ", call.counterparty, " may move up to ", ApprovedText(call),
      usd ? absl::StrCat(" (", FormatUsd(*usd), ")") : "", " from the wallet");
}

std::vector<Violation> CheckRules(const Authorization& a, const Agent& agent,
                                  const Policy& policy, bool priced,
                                  absl::Time now, const abi::Call* call) {
  std::vector<Violation> out;
  const AgentRules& rules = agent.rules;
  const std::string who = absl::StrCat("agent ", agent.id);
  // An asset with a live feed that gave no price is PRICE_STALE, which the
  // engine says with the feed's reason.
  const auto asset = policy.assets.find(a.asset);
  if (!priced && (asset == policy.assets.end() ||
                  asset->second.feed.kind == PriceFeed::Kind::kFixed)) {
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
  // Under `default: deny` an absent list allows nothing, and the
  // violation names the rule "default", which no on_violation escalates.
  const bool default_deny = policy.org.default_deny;
  auto by_default = [&] {
    return absl::StrCat(" and org ", policy.org.id, " denies by default");
  };
  auto check_list = [&](const std::optional<std::vector<std::string>>& list,
                        const std::string& item, const char* code,
                        const char* rule, const char* noun) {
    if (list ? std::find(list->begin(), list->end(), item) != list->end()
             : !default_deny) {
      return;
    }
    out.push_back(RuleViolation(
        a, code, list ? rule : "default",
        list ? absl::StrCat(noun, " ", item, " is not in ", who, "'s allowed ",
                            rule, " ", ListText(*list))
             : absl::StrCat(noun, " ", item, ": ", who, " has no ", rule,
                            " list", by_default())));
  };
  check_list(rules.chains, a.chain, "CHAIN_NOT_ALLOWED", "chains", "chain");
  check_list(rules.assets, a.asset, "ASSET_NOT_ALLOWED", "assets", "asset");
  if (default_deny && std::none_of(agent.limits.begin(), agent.limits.end(),
                                   [](const Limit& l) {
                                     return l.kind == Limit::Kind::kUsd;
                                   })) {
    out.push_back(RuleViolation(
        a, "NO_LIMIT", "default",
        absl::StrCat(who, " has no USD limit of its own", by_default())));
  }
  // The org's, every department's above the agent and the agent's
  // schedules must all allow the time of the decision.
  std::vector<std::pair<std::string, const std::optional<Schedule>*>> owners = {
      {absl::StrCat("org/", policy.org.id), &policy.org.schedule}};
  for (const Department* dept : DepartmentChain(policy, agent.department)) {
    owners.emplace_back(absl::StrCat("department/", dept->id), &dept->schedule);
  }
  owners.emplace_back(absl::StrCat("agent/", agent.id), &rules.schedule);
  for (const auto& [scope, owned] : owners) {
    const std::optional<Schedule>& schedule = *owned;
    if (!schedule || schedule->Allows(now, policy.org.timezone)) continue;
    Violation v = RuleViolation(
        a, "OUTSIDE_SCHEDULE", "schedule",
        absl::StrCat(WallClock(now, policy.org.timezone), " is outside ",
                     ScopeLabel(scope), "'s schedule ", schedule->Describe()));
    v.scope = scope;
    out.push_back(std::move(v));
  }
  using Kind = abi::Call::Kind;
  if (call != nullptr && call->kind == Kind::kApproval) {
    if (auto problem = ApprovalProblem(*call, rules, who)) {
      out.push_back(RuleViolation(a, problem->first, "approved_spenders",
                                  std::move(problem->second)));
    }
  }
  if (call != nullptr && call->kind == Kind::kOther) {
    const bool listed =
        std::any_of(rules.contracts.begin(), rules.contracts.end(),
                    [&](const ContractRule& c) {
                      return c.chain == a.chain && c.address == call->contract;
                    });
    const MethodRule* method = AllowedMethod(agent, a.chain, *call);
    if (!listed) {
      out.push_back(RuleViolation(
          a, "CONTRACT_NOT_ALLOWED", "contracts",
          absl::StrCat("contract ", call->contract, " on ", a.chain,
                       " is not in ", who,
                       "'s contracts (a call is denied unless a rule allows "
                       "it)")));
    } else if (method == nullptr) {
      out.push_back(RuleViolation(
          a, "METHOD_NOT_ALLOWED", "contracts",
          absl::StrCat("method ", call->method, " of contract ", call->contract,
                       " is not allowed for ", who)));
    } else {
      for (const ArgCondition& c : method->where) {
        if (std::optional<std::string> why = abi::Unmet(c, call->calldata)) {
          out.push_back(
              RuleViolation(a, "ARGUMENT_NOT_ALLOWED", "contracts",
                            absl::StrCat(method->signature, " on ",
                                         call->contract, ": ", *why)));
        }
      }
    }
  }
  // Per-destination limits count only what names its destination.
  if (a.destination.empty() && (!policy.org.destination_limits.empty() ||
                                !agent.destination_limits.empty())) {
    out.push_back(RuleViolation(
        a, "DESTINATION_REQUIRED", "destination_limits",
        absl::StrCat(policy.org.destination_limits.empty()
                         ? who
                         : absl::StrCat("org ", policy.org.id),
                     " has per-destination limits: name the destination")));
  }
  const std::string destination = NormalizeDestination(a.destination);
  // A call's counterparty other than a token's recipient is governed by
  // the rules above, not the destination allowlist.
  if (rules.destinations_allow &&
      (call == nullptr || call->kind == Kind::kTokenTransfer) &&
      std::find(rules.destinations_allow->begin(),
                rules.destinations_allow->end(),
                destination) == rules.destinations_allow->end()) {
    out.push_back(RuleViolation(
        a, "DESTINATION_NOT_ALLOWED", "destinations_allow",
        absl::StrCat("destination ", Quote(a.destination), " is not in ", who,
                     "'s destination allowlist")));
  }
  // An x402 payment's host: the agent's x402_domains must allow it, and
  // with no list on the agent's path x402 payments are off.
  std::string x402_host;
  if (!a.x402_resource.empty()) {
    x402_host = x402::ResourceHost("resource", a.x402_resource).value_or("");
    const std::vector<const Department*> depts =
        DepartmentChain(policy, agent.department);
    const bool any_list =
        rules.x402_domains || policy.org.rules.x402_domains ||
        std::any_of(depts.begin(), depts.end(), [](const Department* d) {
          return d->rules.x402_domains.has_value();
        });
    if (!any_list) {
      out.push_back(RuleViolation(
          a, "X402_DOMAIN_NOT_ALLOWED", "x402_domains",
          absl::StrCat("x402 payment to ", Quote(x402_host), ": no rules on ",
                       who,
                       "'s path set x402_domains, so x402 payments are "
                       "off")));
    } else if (rules.x402_domains &&
               !x402::HostListed(*rules.x402_domains, x402_host)) {
      out.push_back(RuleViolation(
          a, "X402_DOMAIN_NOT_ALLOWED", "x402_domains",
          absl::StrCat("x402 payment to ", Quote(x402_host), ": not in ", who,
                       "'s x402_domains ", ListText(*rules.x402_domains))));
    }
  }
  // The caps and lists of the org, of the spend's chain and asset, of
  // every department above the agent and of the wallet bind it too (their
  // violations are theirs, so no agent on_violation escalates them).
  std::vector<std::pair<std::string, const AgentRules*>> scoped = {
      {absl::StrCat("org/", policy.org.id), &policy.org.rules}};
  if (auto it = policy.org.chain_rules.find(a.chain);
      it != policy.org.chain_rules.end()) {
    scoped.emplace_back(absl::StrCat("chain/", a.chain), &it->second);
  }
  if (auto it = policy.org.asset_rules.find(a.asset);
      it != policy.org.asset_rules.end()) {
    scoped.emplace_back(absl::StrCat("asset/", a.asset), &it->second);
  }
  for (const Department* dept : DepartmentChain(policy, agent.department)) {
    scoped.emplace_back(absl::StrCat("department/", dept->id), &dept->rules);
  }
  if (auto it = policy.wallets.find(a.wallet_id); it != policy.wallets.end()) {
    scoped.emplace_back(absl::StrCat("wallet/", a.wallet_id),
                        &it->second.rules);
  }
  for (const auto& [scope, r] : scoped) {
    const std::string label = ScopeLabel(scope);
    auto add = [&, &scope = scope](const char* code, const char* rule,
                                   std::string message) {
      Violation v = RuleViolation(a, code, rule, std::move(message));
      v.scope = scope;
      out.push_back(std::move(v));
    };
    if (priced && r->per_tx_max_usd && a.amount_usd > *r->per_tx_max_usd) {
      add("PER_TX_MAX", "per_tx_max_usd",
          absl::StrCat(FormatUsd(a.amount_usd), " exceeds ", label,
                       " per_tx_max_usd ", FormatUsd(*r->per_tx_max_usd)));
      out.back().limit_usd = *r->per_tx_max_usd;
    }
    auto listed = [](const std::optional<std::vector<std::string>>& list,
                     const std::string& item) {
      return !list ||
             std::find(list->begin(), list->end(), item) != list->end();
    };
    if (!listed(r->chains, a.chain)) {
      add("CHAIN_NOT_ALLOWED", "chains",
          absl::StrCat("chain ", a.chain, " is not in ", label,
                       "'s allowed chains ", ListText(*r->chains)));
    }
    if (!listed(r->assets, a.asset)) {
      add("ASSET_NOT_ALLOWED", "assets",
          absl::StrCat("asset ", a.asset, " is not in ", label,
                       "'s allowed assets ", ListText(*r->assets)));
    }
    if ((call == nullptr || call->kind == Kind::kTokenTransfer) &&
        !listed(r->destinations_allow, destination)) {
      add("DESTINATION_NOT_ALLOWED", "destinations_allow",
          absl::StrCat("destination ", Quote(a.destination), " is not in ",
                       label, "'s destination allowlist"));
    }
    if (!a.x402_resource.empty() && r->x402_domains &&
        !x402::HostListed(*r->x402_domains, x402_host)) {
      add("X402_DOMAIN_NOT_ALLOWED", "x402_domains",
          absl::StrCat("x402 payment to ", Quote(x402_host), ": not in ", label,
                       "'s x402_domains ", ListText(*r->x402_domains)));
    }
  }
  // Deny lists: the org's (top-level and in its rules), every department's
  // above the agent and the agent's; the first that names it says so.
  scoped.emplace_back(absl::StrCat("agent/", agent.id), &rules);
  std::vector<std::pair<std::string, const std::vector<std::string>*>> denies =
      {{scoped[0].first, &policy.org.destinations_deny}};
  for (const auto& [scope, r] : scoped) {
    denies.emplace_back(scope, &r->destinations_deny);
  }
  for (const auto& [scope, list] : denies) {
    if (destination.empty() ||
        std::none_of(list->begin(), list->end(), [&](const std::string& d) {
          return NormalizeDestination(d) == destination;
        })) {
      continue;
    }
    Violation v = RuleViolation(
        a, "DESTINATION_DENIED", "destinations_deny",
        absl::StrCat("destination ", Quote(a.destination), " is on ",
                     ScopeLabel(scope), "'s denylist"));
    v.scope = scope;
    out.push_back(std::move(v));
    break;
  }
  return out;
}

PathLimits CollectLimits(const Policy& policy, const Agent& agent,
                         const Wallet& wallet, const std::string& asset,
                         const std::string& destination, absl::Time now) {
  PathLimits out;
  const ApprovalTiers* approvers =
      EscalationApprovers(agent, &policy.departments.at(agent.department));
  auto add = [&](std::string scope, const std::vector<Limit>& limits,
                 int child) {
    const int index = static_cast<int>(out.scopes.size());
    out.scopes.push_back(std::move(scope));
    for (const Limit& limit : limits) {
      LimitCheck c;
      c.scope_index = index;
      c.child_index = child;
      c.limit_name = limit.name;
      c.kind = limit.kind;
      c.cap = limit.kind == Limit::Kind::kUsd ? limit.usd : limit.count;
      c.interval = WindowAt(limit.window, now, policy.org.timezone);
      c.calendar = limit.window.kind == Window::Kind::kCalendar;
      out.longest = std::max(out.longest, limit.window.MaxLength());
      if (limit.on_violation != OnViolation::kDeny) {
        const bool approve = limit.on_violation == OnViolation::kApprove;
        out.escalations.push_back({approve ? Tier::kApproval : Tier::kNotify,
                                   approve ? approvers : nullptr,
                                   out.scopes[index], std::move(c), &limit});
        continue;
      }
      out.checks.push_back(std::move(c));
      out.limits.push_back(&limit);
    }
    return index;
  };
  // The chain from the org down: each scope's child is the next.
  const std::vector<const Department*> depts =
      DepartmentChain(policy, agent.department);
  add(absl::StrCat("org/", policy.org.id), policy.org.limits, 1);
  for (const Department* dept : depts) {
    add(absl::StrCat("department/", dept->id), dept->limits,
        static_cast<int>(out.scopes.size()) + 1);
  }
  const int agent_index = static_cast<int>(out.scopes.size());
  add(absl::StrCat("agent/", agent.id), agent.limits, agent_index + 1);
  add(absl::StrCat("wallet/", wallet.id), wallet.limits, /*child=*/-1);
  // Scopes across the chain, charged only while a limit counts in them:
  // the chain, the asset, and the agent's destination. Their usage is not
  // split by a scope below (an agent's own usage is not its share of a
  // chain's), so their refusals give no breakdown.
  if (auto it = policy.org.chain_limits.find(wallet.chain);
      it != policy.org.chain_limits.end()) {
    add(absl::StrCat("chain/", wallet.chain), it->second, /*child=*/-1);
  }
  if (auto it = policy.org.asset_limits.find(asset);
      it != policy.org.asset_limits.end()) {
    add(absl::StrCat("asset/", asset), it->second, /*child=*/-1);
  }
  const std::string to = NormalizeDestination(destination);
  // The destination's scope is on every path that names one: its freeze is
  // the org's denylist, and its usage what the org sent there.
  if (!to.empty()) {
    add(absl::StrCat("destination/", to), policy.org.destination_limits,
        /*child=*/-1);
  }
  if (!to.empty() &&
      (!agent.destination_limits.empty() || agent.rules.new_address ||
       policy.org.anomalies.new_destinations)) {
    const int index = add(absl::StrCat("agent/", agent.id, "/destination/", to),
                          agent.destination_limits, /*child=*/-1);
    // A new address: nothing paid to it by the agent in the window.
    if (const std::optional<Window>& w = agent.rules.new_address) {
      const bool approve =
          agent.rules.on_violation.at("new_address") == OnViolation::kApprove;
      LimitCheck c;
      c.scope_index = index;
      c.limit_name = "new_address";
      c.kind = Limit::Kind::kCount;
      c.cap = -1;
      c.interval = WindowAt(*w, now, policy.org.timezone);
      c.calendar = w->kind == Window::Kind::kCalendar;
      out.escalations.push_back({approve ? Tier::kApproval : Tier::kNotify,
                                 approve ? approvers : nullptr,
                                 out.scopes[index], std::move(c),
                                 /*limit=*/nullptr, &*w});
      out.longest = std::max(out.longest, w->MaxLength());
    }
  }
  // So do the anomaly detectors.
  out.longest =
      std::max(out.longest, anomaly::LongestLookback(policy.org.anomalies));
  // A cumulative tier threshold counts over its window too.
  for (const auto& [index, scope, tiers] : TierScopes(policy, agent)) {
    if (tiers->window) {
      out.longest = std::max(out.longest, tiers->window->MaxLength());
    }
  }
  return out;
}

std::vector<Violation> RefusalViolations(const ReserveResult& result,
                                         const PathLimits& path,
                                         const Authorization& a,
                                         const Policy& policy) {
  std::vector<Violation> out;
  if (result.outcome == ReserveResult::Outcome::kFrozen) {
    // A frozen destination is one on the org's denylist.
    const bool denied = result.frozen_scope.rfind("destination/", 0) == 0;
    Violation v =
        denied ? RuleViolation(
                     a, "DESTINATION_DENIED", "denylist",
                     absl::StrCat("destination ", Quote(a.destination),
                                  " is on org ", policy.org.id, "'s denylist"))
               : RuleViolation(a, "SCOPE_FROZEN", "frozen",
                               absl::StrCat(ScopeLabel(result.frozen_scope),
                                            " is frozen"));
    v.scope =
        denied ? absl::StrCat("org/", policy.org.id) : result.frozen_scope;
    out.push_back(std::move(v));
  }
  const std::vector<std::string>& scopes = path.scopes;
  for (const LimitUsage& usage : result.exceeded) {
    const LimitCheck& check = path.checks[usage.limit_index];
    out.push_back(LimitViolation(
        scopes[check.scope_index],
        check.child_index < 0 ? std::string() : scopes[check.child_index],
        check, path.limits[usage.limit_index]->window, usage,
        check.kind == Limit::Kind::kUsd ? a.amount_usd : 1, policy));
  }
  return out;
}

bool Stricter(const TierChoice& x, const TierChoice& y) {
  if (x.tier != y.tier) return x.tier > y.tier;
  if (x.tier == Tier::kApproval) {
    return x.config->approvals_required > y.config->approvals_required;
  }
  if (x.tier == Tier::kDelay) return x.config->delay > y.config->delay;
  return false;
}

std::optional<TierChoice> Escalate(std::vector<Violation>* violations,
                                   const Agent& agent, const Policy& policy) {
  if (violations->empty() || agent.rules.on_violation.empty()) {
    return std::nullopt;
  }
  const std::string scope = absl::StrCat("agent/", agent.id);
  auto escalation = [&](const Violation& v) {
    auto it = agent.rules.on_violation.find(v.limit);
    return v.scope != scope || it == agent.rules.on_violation.end()
               ? OnViolation::kDeny
               : it->second;
  };
  if (std::any_of(violations->begin(), violations->end(),
                  [&](const Violation& v) {
                    return escalation(v) == OnViolation::kDeny;
                  })) {
    return std::nullopt;
  }
  std::vector<std::string> approve, notify;
  for (const Violation& v : *violations) {
    (escalation(v) == OnViolation::kApprove ? approve : notify)
        .push_back(v.message);
  }
  violations->clear();
  if (!approve.empty()) {
    return TierChoice{
        Tier::kApproval,
        EscalationApprovers(agent, &policy.departments.at(agent.department)),
        absl::StrCat(absl::StrJoin(approve, "; "), " (agent ", agent.id,
                     "'s on_violation: approve)")};
  }
  return TierChoice{Tier::kNotify, nullptr,
                    absl::StrCat(absl::StrJoin(notify, "; "), " (agent ",
                                 agent.id, "'s on_violation: notify)")};
}

TierChoice WithEscalation(TierChoice t,
                          const std::optional<TierChoice>& escalated) {
  if (!escalated) return t;
  TierChoice out = Stricter(t, *escalated) ? t : *escalated;
  const TierChoice& other = Stricter(t, *escalated) ? *escalated : t;
  if (other.tier != Tier::kInstant) absl::StrAppend(&out.why, "; ", other.why);
  return out;
}

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
      c.child_index = index + 1;
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
  if (t.new_address != nullptr) {
    const std::string& scope = t.scope;  // "agent/<id>/destination/<to>"
    const size_t to = scope.find("/destination/");
    return {t.tier, t.config,
            absl::StrCat(
                "a first payment by agent ", scope.substr(6, to - 6), " to ",
                scope.substr(to + 13), " in its ", t.new_address->Describe(),
                " (new_address, ", "on_violation: ",
                t.tier == Tier::kApproval ? "approve" : "notify", ")")};
  }
  if (t.limit != nullptr) {
    const Limit::Kind kind = t.limit->kind;
    const int64_t requested = kind == Limit::Kind::kUsd ? amount : 1;
    return {
        t.tier, t.config,
        absl::StrCat(t.limit->window.Describe(),
                     kind == Limit::Kind::kUsd ? " spend " : " count ",
                     SumText(kind, used, 0), " + ", SumText(kind, requested, 0),
                     " = ", SumText(kind, used, requested), " passes ",
                     ScopeLabel(t.scope), " ", t.limit->name, " ",
                     SumText(kind, t.check.cap, 0), " (on_violation: ",
                     t.tier == Tier::kApproval ? "approve" : "notify", ")")};
  }
  return {t.tier, t.config,
          absl::StrCat(t.config->window->Describe(), " spend ", FormatUsd(used),
                       " + ", FormatUsd(amount), " = ",
                       SumText(Limit::Kind::kUsd, used, amount), " is above ",
                       ScopeLabel(t.scope), " cumulative ", TierName(t.tier),
                       "_above_usd ", FormatUsd(t.check.cap))};
}

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
        (kind == "department" &&
         InDepartment(p, p.agents.at(w.agent_id).department, id));
    if (under) wallets.push_back(wid);
  }
  // A destination (the denylist) covers no wallet; the caller checked the
  // address.
  const bool exists = kind == "destination" ||
                      (kind == "org" && id == p.org.id) ||
                      (kind == "department" && p.departments.contains(id)) ||
                      (kind == "agent" && p.agents.contains(id)) ||
                      (kind == "wallet" && p.wallets.contains(id));
  if (!exists) {
    return absl::NotFoundError(
        absl::StrCat("scope: no ", scope, " in org ", p.org.id,
                     " (use org/, department/, agent/, wallet/ or "
                     "destination/)"));
  }
  return wallets;
}

}  // namespace warden::eval
