#include "governance/anomalies.h"

#include <algorithm>
#include <utility>

#include "absl/numeric/int128.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace warden::anomaly {
namespace {

constexpr absl::Duration kDay = absl::Hours(24);
// The volume spike's baseline: the 7 days before the last 24 hours.
constexpr int64_t kBaselineDays = 7;

Interval Rolling(absl::Duration length, absl::Time now) {
  return {now - length, absl::InfiniteFuture()};
}

eval::TierChoice Escalation(OnViolation on, const ApprovalTiers* approvers,
                            std::string why) {
  const bool approve = on == OnViolation::kApprove;
  return {approve ? Tier::kApproval : Tier::kNotify,
          approve ? approvers : nullptr, std::move(why)};
}

// The per-tx cap a split stays under: the strictest that bounds the
// agent's spends of this asset on this chain whichever wallet it uses (its
// own, its departments', the org's, the chain's and the asset's), else
// the spending wallet's; none: the split detector has nothing to compare
// with.
std::optional<UsdMicros> PerTxCap(const Policy& policy, const Agent& agent,
                                  const Wallet& wallet,
                                  const std::string& asset) {
  std::vector<const AgentRules*> rules = {&agent.rules, &policy.org.rules};
  for (const Department* d : DepartmentChain(policy, agent.department)) {
    rules.push_back(&d->rules);
  }
  if (auto it = policy.org.chain_rules.find(wallet.chain);
      it != policy.org.chain_rules.end()) {
    rules.push_back(&it->second);
  }
  if (auto it = policy.org.asset_rules.find(asset);
      it != policy.org.asset_rules.end()) {
    rules.push_back(&it->second);
  }
  std::optional<UsdMicros> cap;
  for (const AgentRules* r : rules) {
    if (r->per_tx_max_usd && (!cap || *r->per_tx_max_usd < *cap)) {
      cap = r->per_tx_max_usd;
    }
  }
  return cap ? cap : wallet.rules.per_tx_max_usd;
}

// At most this many wallets are named in a split's reason.
constexpr size_t kMaxWalletsNamed = 8;

}  // namespace

std::string NewDestinationsScope(const std::string& agent_id) {
  return absl::StrCat("agent/", agent_id, "/new_destinations");
}

absl::Duration LongestLookback(const Anomalies& anomalies) {
  absl::Duration longest = absl::ZeroDuration();
  if (anomalies.split) longest = std::max(longest, anomalies.split->within);
  if (anomalies.volume_spike) longest = std::max(longest, 8 * kDay);
  if (anomalies.new_destinations) {
    longest = std::max(
        {longest, anomalies.new_destinations->within, kNewDestinationLookback});
  }
  return longest;
}

absl::StatusOr<Detection> Detect(const Policy& policy, const Agent& agent,
                                 const Wallet& wallet, const Authorization& a,
                                 absl::Time now, UsageReader read) {
  Detection out;
  const Anomalies& rules = policy.org.anomalies;
  // Zero-value spends too: a $0 transfer to an address makes it a paid
  // destination, so it must count as a new one.
  if (!rules.Any()) return out;
  const std::string agent_scope = absl::StrCat("agent/", agent.id);
  const ApprovalTiers* approvers =
      EscalationApprovers(agent, &policy.departments.at(agent.department));
  std::vector<UsageQuery> q;
  // Each detector's first query, or -1 when it is not checked.
  int split_at = -1, spike_at = -1, fresh_at = -1;
  std::vector<const Wallet*> wallets;
  const std::optional<UsdMicros> cap = PerTxCap(policy, agent, wallet, a.asset);
  if (rules.split && cap) {
    split_at = static_cast<int>(q.size());
    const Interval in = Rolling(rules.split->within, now);
    q.push_back({.scope = agent_scope, .interval = in});
    q.push_back(
        {.scope = agent_scope, .kind = Limit::Kind::kCount, .interval = in});
    for (const auto& [id, w] : policy.wallets) {
      if (w.agent_id != agent.id) continue;
      wallets.push_back(&w);
      q.push_back({.scope = absl::StrCat("wallet/", id), .interval = in});
    }
  }
  if (rules.volume_spike) {
    spike_at = static_cast<int>(q.size());
    q.push_back({.scope = agent_scope, .interval = Rolling(kDay, now)});
    q.push_back({.scope = agent_scope,
                 .interval = Rolling((kBaselineDays + 1) * kDay, now)});
  }
  const std::string to = NormalizeDestination(a.destination);
  if (rules.new_destinations && !to.empty()) {
    fresh_at = static_cast<int>(q.size());
    q.push_back({.scope = absl::StrCat(agent_scope, "/destination/", to),
                 .kind = Limit::Kind::kCount,
                 .interval = Rolling(kNewDestinationLookback, now)});
    q.push_back({.scope = NewDestinationsScope(agent.id),
                 .kind = Limit::Kind::kCount,
                 .interval = Rolling(rules.new_destinations->within, now)});
  }
  if (q.empty()) return out;
  absl::StatusOr<std::vector<int64_t>> used = read(q);
  if (!used.ok()) return used.status();
  if (used->size() != q.size()) {
    return absl::InternalError("anomalies: the store answered another count");
  }
  const std::vector<int64_t>& u = *used;
  const std::string who = absl::StrCat("agent ", agent.id);

  if (split_at >= 0) {
    const Anomalies::Split& s = *rules.split;
    const int64_t spends = SaturatingAdd(u[split_at + 1], 1);
    const UsdMicros total = SaturatingAdd(u[split_at], a.amount_usd);
    std::vector<std::string> parts;
    size_t spenders = 0;
    for (size_t i = 0; i < wallets.size(); ++i) {
      int64_t spent = u[split_at + 2 + i];
      if (wallets[i]->id == wallet.id) {
        spent = SaturatingAdd(spent, a.amount_usd);
      }
      if (spent <= 0) continue;
      // The reason stays short however many wallets took part.
      if (++spenders <= kMaxWalletsNamed) {
        parts.push_back(absl::StrCat(
            wallets[i]->id, " (", wallets[i]->vendor, ") ", FormatUsd(spent),
            wallets[i]->id == wallet.id ? " with this one" : ""));
      }
    }
    if (spenders > kMaxWalletsNamed) {
      parts.push_back(
          absl::StrCat("and ", spenders - kMaxWalletsNamed, " more wallets"));
    }
    if (spends >= s.spends && total > *cap && spenders >= 2) {
      out.findings.push_back(
          {"SPLIT_ACROSS_WALLETS",
           Escalation(
               s.on, approvers,
               absl::StrCat(
                   "possible split across wallets: ", who, "'s ", spends,
                   " spends within ", absl::FormatDuration(s.within), " from ",
                   absl::StrJoin(parts, ", "), " come to ", FormatUsd(total),
                   ", over the per-tx cap of ", FormatUsd(*cap),
                   " (anomalies.split, on: ", OnViolationName(s.on), ")"))});
    }
  }
  if (spike_at >= 0) {
    const Anomalies::VolumeSpike& v = *rules.volume_spike;
    const int64_t day = SaturatingAdd(u[spike_at], a.amount_usd);
    const int64_t before = std::max<int64_t>(0, u[spike_at + 1] - u[spike_at]);
    // day > times * before / 7, in 128 bits.
    if (before > 0 &&
        absl::int128(day) * kBaselineDays > absl::int128(v.times) * before) {
      out.findings.push_back(
          {"VOLUME_SPIKE",
           Escalation(
               v.on, approvers,
               absl::StrCat("volume spike: ", who, " spent ", FormatUsd(day),
                            " in the last 24h with this one, over ", v.times,
                            "x its daily average of ",
                            FormatUsd(before / kBaselineDays),
                            " in the 7 days before (anomalies.volume_spike, "
                            "on: ",
                            OnViolationName(v.on), ")"))});
    }
  }
  if (fresh_at >= 0 && u[fresh_at] == 0) {
    const Anomalies::NewDestinations& n = *rules.new_destinations;
    out.new_destination = true;
    const int64_t fresh = SaturatingAdd(u[fresh_at + 1], 1);
    if (fresh > n.count) {
      out.findings.push_back(
          {"NEW_DESTINATIONS",
           Escalation(
               n.on, approvers,
               absl::StrCat("new-destination burst: ", who, "'s payment to ",
                            to, " makes ", fresh, " new destinations within ",
                            absl::FormatDuration(n.within), ", over ", n.count,
                            " (anomalies.new_destinations, on: ",
                            OnViolationName(n.on), ")"))});
    }
  }
  return out;
}

}  // namespace warden::anomaly
