#include "governance/policy_change.h"

#include <algorithm>
#include <map>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "governance/clock.h"
#include "governance/money.h"
#include "nlohmann/json.hpp"

namespace warden {
namespace {

template <typename T>
bool Contains(const std::vector<T>& v, const T& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

std::string DescribeLimit(const Limit& l) {
  return l.kind == Limit::Kind::kUsd
             ? absl::StrCat("usd ", FormatUsdDecimal(l.usd), " per ",
                            l.window.spec)
             : absl::StrCat("count ", l.count, " per ", l.window.spec);
}

// Deny, then approve, then notify: each lets more through than the last.
bool Softer(OnViolation after, OnViolation before) {
  return static_cast<int>(after) > static_cast<int>(before);
}

class Checker {
 public:
  std::vector<std::string> lines;

  void Add(const std::string& path, const std::string& what) {
    lines.push_back(absl::StrCat(path, ": ", what));
  }

  void Limits(const std::string& path, const std::vector<Limit>& before,
              const std::vector<Limit>& after) {
    for (const Limit& b : before) {
      const std::string p = absl::StrCat(path, ".", b.name);
      auto a = std::find_if(after.begin(), after.end(),
                            [&](const Limit& l) { return l.name == b.name; });
      if (a == after.end()) {
        Add(p, absl::StrCat("removed (was ", DescribeLimit(b), ")"));
        continue;
      }
      const bool usd = b.kind == Limit::Kind::kUsd;
      if (a->kind != b.kind || !(a->window == b.window) ||
          (usd ? a->usd > b.usd : a->count > b.count)) {
        Add(p,
            absl::StrCat("from ", DescribeLimit(b), " to ", DescribeLimit(*a)));
      }
      if (Softer(a->on_violation, b.on_violation)) {
        Add(p,
            absl::StrCat("on_violation from ", OnViolationName(b.on_violation),
                         " to ", OnViolationName(a->on_violation)));
      }
    }
  }

  // A USD cap: raised or removed loosens.
  void Cap(const std::string& path, const std::optional<UsdMicros>& before,
           const std::optional<UsdMicros>& after) {
    if (!before) return;
    if (!after) {
      Add(path, absl::StrCat("removed (was ", FormatUsdDecimal(*before), ")"));
    } else if (*after > *before) {
      Add(path, absl::StrCat("raised from ", FormatUsdDecimal(*before), " to ",
                             FormatUsdDecimal(*after)));
    }
  }

  // An allow list (unset: anything): dropped or given new items loosens.
  void AllowList(const std::string& path,
                 const std::optional<std::vector<std::string>>& before,
                 const std::optional<std::vector<std::string>>& after) {
    if (!before) return;
    if (!after) {
      Add(path, "removed: now allows any");
      return;
    }
    for (const std::string& x : *after) {
      if (!Contains(*before, x)) Add(path, absl::StrCat("allows ", x));
    }
  }

  // Unlike the lists above, an absent x402_domains is not "any": x402
  // payments need a list somewhere on the path. A new list, a new entry,
  // and a list removed (the host another list allows is no longer narrowed
  // by this one) may each allow a payment refused before.
  void X402Domains(const std::string& path,
                   const std::optional<std::vector<std::string>>& before,
                   const std::optional<std::vector<std::string>>& after) {
    if (!after) {
      if (before) Add(path, "removed: no longer narrows other lists");
      return;
    }
    for (const std::string& x : *after) {
      if (!before || !Contains(*before, x)) {
        Add(path, absl::StrCat("allows x402 payments to ", x));
      }
    }
  }

  void ScheduleOf(const std::string& path,
                  const std::optional<Schedule>& before,
                  const std::optional<Schedule>& after) {
    if (!before) return;
    if (!after) {
      Add(path, absl::StrCat("removed (was ", before->Describe(), ")"));
    } else if (after->Describe() != before->Describe()) {
      Add(path,
          absl::StrCat("from ", before->Describe(), " to ", after->Describe()));
    }
  }

  void Rules(const std::string& path, const AgentRules& b,
             const AgentRules& a) {
    Cap(path + ".per_tx_max_usd", b.per_tx_max_usd, a.per_tx_max_usd);
    AllowList(path + ".chains", b.chains, a.chains);
    AllowList(path + ".assets", b.assets, a.assets);
    AllowList(path + ".destinations_allow", b.destinations_allow,
              a.destinations_allow);
    X402Domains(path + ".x402_domains", b.x402_domains, a.x402_domains);
    for (const std::string& d : b.destinations_deny) {
      if (!Contains(a.destinations_deny, d)) {
        Add(path + ".destinations_deny", absl::StrCat("no longer denies ", d));
      }
    }
    ScheduleOf(path + ".schedule", b.schedule, a.schedule);
    for (const ContractRule& c : a.contracts) {
      for (const MethodRule& m : c.methods) {
        if (!AllowedBefore(b, c, m)) {
          Add(path + ".contracts",
              absl::StrCat("allows ", c.chain, ":", c.address, " ", m.signature,
                           Where(m)));
        }
      }
    }
    for (const SpenderRule& s : a.approved_spenders) {
      if (std::none_of(
              b.approved_spenders.begin(), b.approved_spenders.end(),
              [&](const SpenderRule& was) { return AtMost(s, was); })) {
        Add(path + ".approved_spenders",
            absl::StrCat("allows approvals to ", s.spender, " of ",
                         s.asset.value_or("any token"),
                         s.unlimited ? " without limit" : ""));
      }
    }
    if (b.new_address &&
        (!a.new_address || !(*a.new_address == *b.new_address))) {
      Add(path + ".new_address",
          absl::StrCat("from ", b.new_address->spec, " to ",
                       a.new_address ? a.new_address->spec : "none"));
    }
    if (b.drain_all_percent &&
        (!a.drain_all_percent || *a.drain_all_percent > *b.drain_all_percent)) {
      Add(path + ".drain_all",
          absl::StrCat("from ", *b.drain_all_percent, "% to ",
                       a.drain_all_percent
                           ? absl::StrCat(*a.drain_all_percent, "%")
                           : "none"));
    }
    for (const auto& [rule, what] : a.on_violation) {
      auto was = b.on_violation.find(rule);
      const OnViolation before =
          was == b.on_violation.end() ? OnViolation::kDeny : was->second;
      if (Softer(what, before)) {
        Add(absl::StrCat(path, ".on_violation.", rule),
            absl::StrCat("from ", OnViolationName(before), " to ",
                         OnViolationName(what)));
      }
    }
  }

  void Thresholds(const std::string& path, const TierThresholds& b,
                  const TierThresholds& a) {
    for (Tier tier : {Tier::kNotify, Tier::kDelay, Tier::kApproval}) {
      Cap(absl::StrCat(path, ".", TierName(tier), "_above_usd"), b.Of(tier),
          a.Of(tier));
    }
  }

  void Tiers(const std::string& path, const std::optional<ApprovalTiers>& b,
             const std::optional<ApprovalTiers>& a) {
    if (!b) return;
    const std::string p = path + ".approvals";
    if (!a) {
      Add(p, "removed");
      return;
    }
    Thresholds(p, b->per_tx, a->per_tx);
    if (b->window) {
      if (!a->window || !(*a->window == *b->window)) {
        Add(p + ".cumulative.window",
            absl::StrCat("from ", b->window->spec, " to ",
                         a->window ? a->window->spec : "none"));
      } else {
        Thresholds(p + ".cumulative", b->cumulative, a->cumulative);
      }
    }
    if (a->delay < b->delay) {
      Add(p + ".delay",
          absl::StrCat("shortened from ", absl::FormatDuration(b->delay),
                       " to ", absl::FormatDuration(a->delay)));
    }
    for (const std::string& who : a->approvers) {
      if (!Contains(b->approvers, who)) {
        Add(p + ".approvers", absl::StrCat("adds ", who));
      }
    }
    if (a->approvals_required < b->approvals_required) {
      Add(p + ".approvals_required",
          absl::StrCat("from ", b->approvals_required, " to ",
                       a->approvals_required));
    }
  }

 private:
  static std::string Where(const MethodRule& m) {
    std::vector<std::string> where;
    for (const ArgCondition& w : m.where) where.push_back(w.text);
    return where.empty() ? ""
                         : absl::StrCat(" where ", absl::StrJoin(where, "; "));
  }

  // Whether `before` allowed method `m` of contract `c` on the same terms.
  static bool AllowedBefore(const AgentRules& before, const ContractRule& c,
                            const MethodRule& m) {
    for (const ContractRule& was : before.contracts) {
      if (was.chain != c.chain || was.address != c.address) continue;
      for (const MethodRule& wm : was.methods) {
        if (wm.selector == m.selector && Where(wm) == Where(m)) return true;
      }
    }
    return false;
  }

  // Whether spender rule `s` allows no more than `was` did.
  static bool AtMost(const SpenderRule& s, const SpenderRule& was) {
    if (s.spender != was.spender || s.asset != was.asset) return false;
    if (was.unlimited) return true;
    if (s.unlimited) return false;
    if (was.max_units &&
        (!s.max_units || *s.max_units > *was.max_units || s.max_usd)) {
      return false;
    }
    if (was.max_usd &&
        (!s.max_usd || *s.max_usd > *was.max_usd || s.max_units)) {
      return false;
    }
    return true;
  }
};

template <typename V>
const V* Find(const std::map<std::string, V>& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? nullptr : &it->second;
}

// Whether `after` values a whole token below `before` (spends then count
// for less); an unset price denies every spend of the asset.
bool Cheaper(const std::optional<Price>& before,
             const std::optional<Price>& after, int decimals) {
  if (!after) return false;
  if (!before) return true;
  if (*after == *before) return false;
  absl::uint128 one = 1;
  for (int i = 0; i < decimals; ++i) one *= 10;
  absl::StatusOr<UsdMicros> b = ValueInUsdMicros(one, decimals, *before);
  absl::StatusOr<UsdMicros> a = ValueInUsdMicros(one, decimals, *after);
  return !a.ok() || !b.ok() || *a <= *b;
}

constexpr std::pair<const char*, PolicyChange::State> kStates[] = {
    {"pending", PolicyChange::State::kPending},
    {"applied", PolicyChange::State::kApplied},
    {"rejected", PolicyChange::State::kRejected},
    {"superseded", PolicyChange::State::kSuperseded},
    {"expired", PolicyChange::State::kExpired}};

}  // namespace

const char* PolicyChangeStateName(PolicyChange::State state) {
  return kStates[static_cast<int>(state)].first;
}

std::string EncodePolicyChange(const PolicyChange& c) {
  nlohmann::json j = {
      {"id", c.id},
      {"org_id", c.org_id},
      {"yaml", c.yaml},
      {"base_version", c.base_version},
      {"diff", c.diff},
      {"loosenings", c.loosenings},
      {"author", c.author},
      {"requested_at", Rfc3339(c.requested_at)},
      {"expires_at", Rfc3339(c.expires_at)},
      {"approvals_required", c.rule.approvals_required},
      {"approvers", c.rule.approvers},
      {"expires_after_s", absl::ToInt64Seconds(c.rule.expires_after)},
      {"approvals", c.approvals},
      {"state", PolicyChangeStateName(c.state)},
      {"closed_by", c.closed_by},
      {"closed_at", Rfc3339(c.closed_at)},
      {"close_reason", c.close_reason},
      {"revision", c.revision}};
  return j.dump();
}

absl::StatusOr<PolicyChange> DecodePolicyChange(absl::string_view json) {
  const nlohmann::json j =
      nlohmann::json::parse(json.begin(), json.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::DataLossError("policy change: not a JSON object");
  }
  PolicyChange c;
  try {
    auto time = [&](const char* key) {
      absl::Time t;
      std::string err;
      if (!absl::ParseTime(absl::RFC3339_full, j.at(key).get<std::string>(), &t,
                           &err)) {
        throw std::invalid_argument(absl::StrCat(key, ": ", err));
      }
      return t;
    };
    c.id = j.at("id").get<std::string>();
    c.org_id = j.at("org_id").get<std::string>();
    c.yaml = j.at("yaml").get<std::string>();
    c.base_version = j.at("base_version").get<int64_t>();
    c.diff = j.at("diff").get<std::vector<std::string>>();
    c.loosenings = j.at("loosenings").get<std::vector<std::string>>();
    c.author = j.at("author").get<std::string>();
    c.requested_at = time("requested_at");
    c.expires_at = time("expires_at");
    c.rule.approvals_required = j.at("approvals_required").get<int>();
    c.rule.approvers = j.at("approvers").get<std::vector<std::string>>();
    c.rule.expires_after =
        absl::Seconds(j.at("expires_after_s").get<int64_t>());
    c.approvals = j.at("approvals").get<std::vector<std::string>>();
    const std::string state = j.at("state").get<std::string>();
    auto it = std::find_if(std::begin(kStates), std::end(kStates),
                           [&](const auto& s) { return state == s.first; });
    if (it == std::end(kStates)) {
      throw std::invalid_argument(absl::StrCat("state: unknown ", state));
    }
    c.state = it->second;
    c.closed_by = j.at("closed_by").get<std::string>();
    c.closed_at = time("closed_at");
    c.close_reason = j.at("close_reason").get<std::string>();
    c.revision = j.at("revision").get<int64_t>();
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat("policy change: ", e.what()));
  }
  return c;
}

std::vector<std::string> Loosenings(const Policy& before, const Policy& after) {
  Checker c;
  const Org& bo = before.org;
  const Org& ao = after.org;
  if (bo.timezone_name != ao.timezone_name) {
    c.Add("org.timezone",
          absl::StrCat("from ", bo.timezone_name, " to ", ao.timezone_name,
                       " (shifts every calendar window)"));
  }
  if (bo.expired_holds == ExpiredHolds::kCount &&
      ao.expired_holds == ExpiredHolds::kRelease) {
    c.Add("org.expired_holds", "from count to release");
  }
  if (ao.hold_ttl < bo.hold_ttl) {
    c.Add("org.hold_ttl",
          absl::StrCat("shortened from ", absl::FormatDuration(bo.hold_ttl),
                       " to ", absl::FormatDuration(ao.hold_ttl)));
  }
  if (bo.default_deny && !ao.default_deny) {
    c.Add("org.default", "from deny to allow");
  }
  if (const std::optional<PolicyChangeRule>& b = bo.policy_changes) {
    const std::optional<PolicyChangeRule>& a = ao.policy_changes;
    if (!a) {
      c.Add("org.policy_changes", "removed: changes would apply at once");
    } else {
      if (a->approvals_required < b->approvals_required) {
        c.Add("org.policy_changes.approvals_required",
              absl::StrCat("from ", b->approvals_required, " to ",
                           a->approvals_required));
      }
      for (const std::string& who : a->approvers) {
        if (!Contains(b->approvers, who)) {
          c.Add("org.policy_changes.approvers", absl::StrCat("adds ", who));
        }
      }
      if (a->expires_after > b->expires_after) {
        c.Add("org.policy_changes.expires_after",
              absl::StrCat("lengthened from ",
                           absl::FormatDuration(b->expires_after), " to ",
                           absl::FormatDuration(a->expires_after)));
      }
    }
  }
  // An anomaly detector removed, made less sensitive or only notifying.
  auto detector = [&](const char* name, bool had, bool has, bool softer,
                      bool notifies) {
    const std::string p = absl::StrCat("org.anomalies.", name);
    if (had && !has) {
      c.Add(p, "removed");
    } else if (had && softer) {
      c.Add(p, "less sensitive");
    } else if (had && notifies) {
      c.Add(p + ".on", "from approve to notify");
    }
  };
  const Anomalies& ba = bo.anomalies;
  const Anomalies& aa = ao.anomalies;
  auto to_notify = [](OnViolation was, OnViolation now) {
    return was == OnViolation::kApprove && now == OnViolation::kNotify;
  };
  detector("split", ba.split.has_value(), aa.split.has_value(),
           ba.split && aa.split &&
               (aa.split->spends > ba.split->spends ||
                aa.split->within < ba.split->within),
           ba.split && aa.split && to_notify(ba.split->on, aa.split->on));
  detector("volume_spike", ba.volume_spike.has_value(),
           aa.volume_spike.has_value(),
           ba.volume_spike && aa.volume_spike &&
               aa.volume_spike->times > ba.volume_spike->times,
           ba.volume_spike && aa.volume_spike &&
               to_notify(ba.volume_spike->on, aa.volume_spike->on));
  detector("new_destinations", ba.new_destinations.has_value(),
           aa.new_destinations.has_value(),
           ba.new_destinations && aa.new_destinations &&
               (aa.new_destinations->count > ba.new_destinations->count ||
                aa.new_destinations->within < ba.new_destinations->within),
           ba.new_destinations && aa.new_destinations &&
               to_notify(ba.new_destinations->on, aa.new_destinations->on));
  c.Limits("org.limits", bo.limits, ao.limits);
  static const std::vector<Limit> kNone;
  for (const auto& [chain, limits] : bo.chain_limits) {
    const auto* now = Find(ao.chain_limits, chain);
    c.Limits(absl::StrCat("org.chain_limits.", chain), limits,
             now ? *now : kNone);
  }
  for (const auto& [asset, limits] : bo.asset_limits) {
    const auto* now = Find(ao.asset_limits, asset);
    c.Limits(absl::StrCat("org.asset_limits.", asset), limits,
             now ? *now : kNone);
  }
  c.Limits("org.destination_limits", bo.destination_limits,
           ao.destination_limits);
  for (const std::string& d : bo.destinations_deny) {
    if (!Contains(ao.destinations_deny, d)) {
      c.Add("org.destinations_deny", absl::StrCat("no longer denies ", d));
    }
  }
  c.Rules("org.rules", bo.rules, ao.rules);
  static const AgentRules kNoRules;
  for (const auto& [chain, rules] : bo.chain_rules) {
    const AgentRules* now = Find(ao.chain_rules, chain);
    c.Rules(absl::StrCat("org.chain_rules.", chain), rules,
            now ? *now : kNoRules);
  }
  for (const auto& [asset, rules] : bo.asset_rules) {
    const AgentRules* now = Find(ao.asset_rules, asset);
    c.Rules(absl::StrCat("org.asset_rules.", asset), rules,
            now ? *now : kNoRules);
  }
  c.ScheduleOf("org.schedule", bo.schedule, ao.schedule);

  // A department, agent, wallet or asset that goes away can spend nothing.
  for (const auto& [id, d] : after.departments) {
    const Department* was = Find(before.departments, id);
    if (was == nullptr) continue;  // Its agents are new or moved: see below.
    const std::string p = absl::StrCat("departments.", id);
    if (was->parent != d.parent) {
      c.Add(p + ".parent",
            absl::StrCat("from ", was->parent.empty() ? "the org" : was->parent,
                         " to ", d.parent.empty() ? "the org" : d.parent));
    }
    c.Limits(p + ".limits", was->limits, d.limits);
    c.Rules(p + ".rules", was->rules, d.rules);
    c.Tiers(p, was->approvals, d.approvals);
    c.ScheduleOf(p + ".schedule", was->schedule, d.schedule);
  }
  for (const auto& [id, ag] : after.agents) {
    const std::string p = absl::StrCat("agents.", id);
    const Agent* was = Find(before.agents, id);
    if (was == nullptr) {
      c.Add(p, absl::StrCat("added, in department ", ag.department));
      continue;
    }
    if (was->department != ag.department) {
      c.Add(p + ".department", absl::StrCat("moved from ", was->department,
                                            " to ", ag.department));
    }
    c.Limits(p + ".limits", was->limits, ag.limits);
    c.Limits(p + ".destination_limits", was->destination_limits,
             ag.destination_limits);
    c.Rules(p + ".rules", was->rules, ag.rules);
    c.Tiers(p, was->approvals, ag.approvals);
  }
  for (const auto& [id, w] : after.wallets) {
    const std::string p = absl::StrCat("wallets.", id);
    const Wallet* was = Find(before.wallets, id);
    if (was == nullptr) {
      c.Add(p, absl::StrCat("added, for agent ", w.agent_id));
      continue;
    }
    if (was->agent_id != w.agent_id || was->vendor != w.vendor ||
        was->chain != w.chain || was->address != w.address ||
        was->vendor_id != w.vendor_id) {
      c.Add(p, absl::StrCat("now agent ", w.agent_id, "'s ", w.vendor,
                            " wallet on ", w.chain, " at ", w.address));
    }
    c.Limits(p + ".limits", was->limits, w.limits);
    c.Rules(p + ".rules", was->rules, w.rules);
  }
  for (const auto& [symbol, asset] : after.assets) {
    const std::string p = absl::StrCat("assets.", symbol);
    const Asset* was = Find(before.assets, symbol);
    if (was == nullptr) {
      c.Add(p, "added");
      continue;
    }
    if (was->decimals != asset.decimals) {
      c.Add(p + ".decimals",
            absl::StrCat("from ", was->decimals, " to ", asset.decimals));
    } else if (asset.feed.Describe() != was->feed.Describe()) {
      // Another source may price lower: a loosening whichever it is.
      c.Add(p + ".price", absl::StrCat("source from ", was->feed.Describe(),
                                       " to ", asset.feed.Describe()));
    } else if (asset.feed.max_age > was->feed.max_age) {
      c.Add(p + ".price.max_age",
            absl::StrCat("from ", absl::FormatDuration(was->feed.max_age),
                         " to ", absl::FormatDuration(asset.feed.max_age)));
    } else if (Cheaper(was->price_usd, asset.price_usd, asset.decimals)) {
      c.Add(
          p + ".price_usd",
          absl::StrCat("from ",
                       was->price_usd ? FormatPrice(*was->price_usd) : "unset",
                       " to ", FormatPrice(*asset.price_usd)));
    }
    for (const auto& [chain, where] : asset.chains) {
      const std::string* had = Find(was->chains, chain);
      if (had == nullptr || *had != where) {
        c.Add(p + ".chains", absl::StrCat("adds ", chain, " ", where));
      }
    }
  }
  return c.lines;
}

}  // namespace warden
