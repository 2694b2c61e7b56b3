#include "tests/sim/sim_policy.h"

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/sim/wide.h"

namespace warden::sim {

std::string SimWallet::Address() const {
  return absl::StrCat("0x", absl::BytesToHexString(id));
}
namespace {

const std::vector<std::string>& Windows() {
  static const auto* windows = new std::vector<std::string>{
      "rolling:90s",     "rolling:10m",  "rolling:1h",    "rolling:2h",
      "rolling:3h",      "rolling:24h",  "rolling:72h",   "rolling:7d",
      "rolling:30d",     "calendar:day", "calendar:week", "calendar:month",
      "calendar:quarter"};
  return *windows;
}

// Zones with DST, with 30- and 45-minute offsets, and far from UTC, so that
// calendar windows start at odd instants.
const std::vector<std::string>& TimeZones() {
  static const auto* zones = new std::vector<std::string>{"UTC",
                                                          "America/New_York",
                                                          "Asia/Kathmandu",
                                                          "Pacific/Chatham",
                                                          "Australia/Lord_Howe",
                                                          "Pacific/Kiritimati"};
  return *zones;
}

// `scale` widens ordinary caps of the scopes many agents share.
int64_t RandomCap(Chooser& c, bool usd, int scale = 1) {
  if (!usd) return c.OneIn(5) ? 1 : c.Between(1, 20 * scale);
  // Mostly caps that a few ordinary spends fill; sometimes the bounds.
  if (c.OneIn(4)) return AdversarialUsdMicros(c, c.OneIn(8));
  return c.Between(10, 5000) * scale * 1'000'000;
}

SimLimit RandomLimit(Chooser& c, const std::vector<SimLimit>& existing,
                     int scale = 1) {
  SimLimit l;
  for (int i = 0; i < 100; ++i) {
    l.name = absl::StrCat("l", c.Below(100));
    const bool taken =
        std::any_of(existing.begin(), existing.end(),
                    [&](const SimLimit& e) { return e.name == l.name; });
    if (!taken) break;
  }
  l.usd = !c.OneIn(4);
  l.cap = RandomCap(c, l.usd, scale);
  l.window = c.Pick(Windows());
  return l;
}

std::vector<SimLimit> RandomLimits(Chooser& c, int max, int scale) {
  std::vector<SimLimit> limits;
  for (int64_t n = c.Between(0, max); n > 0; --n) {
    SimLimit l = RandomLimit(c, limits, scale);
    if (std::none_of(limits.begin(), limits.end(),
                     [&](const SimLimit& e) { return e.name == l.name; })) {
      limits.push_back(std::move(l));
    }
  }
  return limits;
}

// One or two limits, for a scope the bundle lists only with some.
void AddLimits(Chooser& c, int scale, std::vector<SimLimit>* limits) {
  *limits = RandomLimits(c, 2, scale);
  if (limits->empty()) limits->push_back(RandomLimit(c, {}, scale));
}

int64_t RandomThreshold(Chooser& c) {
  if (c.OneIn(5)) return AdversarialUsdMicros(c, false);
  return c.Between(1, 2000) * 1'000'000;
}

// Tiers for one scope: `approvers` are the principals it may list.
SimApprovals RandomApprovals(Chooser& c,
                             const std::vector<std::string>& approvers) {
  SimApprovals a;
  if (c.OneIn(2)) a.per_tx.notify = RandomThreshold(c);
  if (c.OneIn(2)) {
    a.per_tx.delay = RandomThreshold(c);
    a.delay_s = c.Between(1, 3600);
  }
  if (c.OneIn(3) || (!a.per_tx.notify && !a.per_tx.delay)) {
    a.per_tx.approval = RandomThreshold(c);
  }
  if (c.OneIn(3)) {
    a.cumulative_window = c.Pick(Windows());
    if (c.OneIn(2)) a.cumulative.notify = RandomThreshold(c);
    if (c.OneIn(2)) a.cumulative.approval = RandomThreshold(c);
    if (c.OneIn(3)) {
      a.cumulative.delay = RandomThreshold(c);
      if (a.delay_s == 0) a.delay_s = c.Between(1, 3600);
    }
  }
  a.approvers = approvers;
  const bool any_agent = std::find(approvers.begin(), approvers.end(),
                                   "second_agent") != approvers.end();
  a.approvals_required = static_cast<int>(
      c.Between(1, any_agent ? 3 : static_cast<int64_t>(approvers.size())));
  a.approval_timeout_s = c.Between(60, 4 * 3600);
  return a;
}

std::string Quote(const std::string& s) { return absl::StrCat("\"", s, "\""); }

void AppendLimits(const std::vector<SimLimit>& limits,
                  const std::string& indent, std::string* out,
                  const std::string& key = "limits") {
  absl::StrAppend(out, indent, key, ":");
  if (limits.empty()) {
    absl::StrAppend(out, " []\n");
    return;
  }
  absl::StrAppend(out, "\n");
  for (const SimLimit& l : limits) {
    absl::StrAppend(out, indent, "  - {name: ", Quote(l.name), ", ",
                    l.usd ? "usd: " : "count: ",
                    Quote(l.usd ? UsdText(l.cap) : absl::StrCat(l.cap)),
                    ", window: ", Quote(l.window), "}\n");
  }
}

void AppendThresholds(const SimThresholds& t, const std::string& indent,
                      std::string* out) {
  if (t.notify) {
    absl::StrAppend(out, indent,
                    "notify_above_usd: ", Quote(UsdText(*t.notify)), "\n");
  }
  if (t.delay) {
    absl::StrAppend(out, indent, "delay_above_usd: ", Quote(UsdText(*t.delay)),
                    "\n");
  }
  if (t.approval) {
    absl::StrAppend(out, indent,
                    "approval_above_usd: ", Quote(UsdText(*t.approval)), "\n");
  }
}

void AppendApprovals(const std::optional<SimApprovals>& a,
                     const std::string& indent, std::string* out) {
  if (!a) return;
  absl::StrAppend(out, indent, "approvals:\n");
  const std::string in = indent + "  ";
  AppendThresholds(a->per_tx, in, out);
  if (a->delay_s > 0) {
    absl::StrAppend(out, in, "delay: ", Quote(absl::StrCat(a->delay_s, "s")),
                    "\n");
  }
  std::vector<std::string> quoted;
  for (const std::string& p : a->approvers) quoted.push_back(Quote(p));
  absl::StrAppend(out, in, "approvers: [", absl::StrJoin(quoted, ", "), "]\n");
  absl::StrAppend(out, in, "approvals_required: ",
                  Quote(absl::StrCat(a->approvals_required)), "\n");
  absl::StrAppend(out, in, "approval_timeout: ",
                  Quote(absl::StrCat(a->approval_timeout_s, "s")), "\n");
  if (!a->cumulative_window.empty()) {
    absl::StrAppend(out, in, "cumulative:\n", in,
                    "  window: ", Quote(a->cumulative_window), "\n");
    AppendThresholds(a->cumulative, in + "  ", out);
  }
}

// Tier thresholds need approvers or a delay; keep each config valid.
void NormalizeApprovals(std::optional<SimApprovals>* a) {
  if (!*a) return;
  const bool delays = (*a)->per_tx.delay || (*a)->cumulative.delay;
  if (delays && (*a)->delay_s <= 0) (*a)->delay_s = 60;
  if ((*a)->cumulative_window.empty()) (*a)->cumulative = {};
}

// Every list of limits of `p` (const or not, as `p` is).
template <typename Policy>
auto LimitLists(Policy& p) {
  std::vector<decltype(&p.org_limits)> out = {&p.org_limits,
                                              &p.destination_limits};
  for (auto& [chain, limits] : p.chain_limits) out.push_back(&limits);
  for (auto& [asset, limits] : p.asset_limits) out.push_back(&limits);
  for (auto& d : p.departments) out.push_back(&d.limits);
  for (auto& a : p.agents) {
    out.push_back(&a.limits);
    out.push_back(&a.destination_limits);
  }
  for (auto& w : p.wallets) out.push_back(&w.limits);
  return out;
}

// Calls `fn` on a pointer to every cap and cumulative approval threshold
// of `p` (const or not, as `p` is).
template <typename Policy, typename Fn>
void ForEachCap(Policy& p, const Fn& fn) {
  for (auto* limits : LimitLists(p)) {
    for (auto& l : *limits) fn(&l.cap);
  }
  auto tiers = [&](auto& a) {
    if (!a || a->cumulative_window.empty()) return;
    for (auto* t : {&a->cumulative.notify, &a->cumulative.delay,
                    &a->cumulative.approval}) {
      if (*t) fn(&**t);
    }
  };
  for (auto& d : p.departments) tiers(d.approvals);
  for (auto& a : p.agents) tiers(a.approvals);
}

}  // namespace

const SimAgent* SimPolicy::FindAgent(const std::string& id) const {
  for (const SimAgent& a : agents) {
    if (a.id == id) return &a;
  }
  return nullptr;
}

const SimDepartment* SimPolicy::FindDepartment(const std::string& id) const {
  for (const SimDepartment& d : departments) {
    if (d.id == id) return &d;
  }
  return nullptr;
}

const SimWallet* SimPolicy::FindWallet(const std::string& id) const {
  for (const SimWallet& w : wallets) {
    if (w.id == id) return &w;
  }
  return nullptr;
}

const SimAsset* SimPolicy::FindAsset(const std::string& symbol) const {
  for (const SimAsset& a : assets) {
    if (a.symbol == symbol) return &a;
  }
  return nullptr;
}

std::vector<SimPolicy::PathScope> SimPolicy::PathOf(
    const SimAgent& agent, const SimWallet& wallet, const std::string& asset,
    const std::string& destination) const {
  std::vector<PathScope> path = {{absl::StrCat("org/", org_id), &org_limits}};
  std::vector<const SimDepartment*> depts;
  for (const SimDepartment* d = FindDepartment(agent.department); d != nullptr;
       d = d->parent.empty() ? nullptr : FindDepartment(d->parent)) {
    depts.insert(depts.begin(), d);
  }
  for (const SimDepartment* d : depts) {
    path.push_back({absl::StrCat("department/", d->id), &d->limits});
  }
  path.push_back({absl::StrCat("agent/", agent.id), &agent.limits});
  path.push_back({absl::StrCat("wallet/", wallet.id), &wallet.limits});
  if (auto it = chain_limits.find(wallet.chain); it != chain_limits.end()) {
    path.push_back({absl::StrCat("chain/", wallet.chain), &it->second});
  }
  if (auto it = asset_limits.find(asset); it != asset_limits.end()) {
    path.push_back({absl::StrCat("asset/", asset), &it->second});
  }
  if (!destination.empty()) {
    path.push_back(
        {absl::StrCat("destination/", destination), &destination_limits});
    if (!agent.destination_limits.empty()) {
      path.push_back(
          {absl::StrCat("agent/", agent.id, "/destination/", destination),
           &agent.destination_limits});
    }
  }
  return path;
}

std::vector<const std::vector<SimLimit>*> SimPolicy::AllLimits() const {
  return LimitLists(*this);
}

std::string SimPolicy::UnusablePrice() const {
  for (const SimAsset& a : assets) {
    if (a.PriceUnusable()) {
      return absl::StrCat(a.symbol, " price_usd \"", a.price->Text(),
                          "\" with ", a.decimals, " decimals");
    }
  }
  return "";
}

std::string SimPolicy::CapBeyond(int64_t largest) const {
  std::string found;
  ForEachCap(*this, [&](const int64_t* cap) {
    if (*cap > largest && found.empty()) {
      found = absl::StrCat("a cap of ", *cap, " (the store compares up to ",
                           largest, ")");
    }
  });
  return found;
}

void SimPolicy::ClampCaps(int64_t largest) {
  ForEachCap(*this, [&](int64_t* cap) { *cap = std::min(*cap, largest); });
}

std::string SimPolicy::ToYaml() const {
  std::string out;
  absl::StrAppend(
      &out, "org:\n  id: ", Quote(org_id), "\n  timezone: ", Quote(timezone),
      "\n  expired_holds: ", Quote(expired_count ? "count" : "release"),
      "\n  hold_ttl: ", Quote(absl::StrCat(hold_ttl_s, "s")), "\n");
  AppendLimits(org_limits, "  ", &out);
  for (const auto& [key, limits] :
       {std::make_pair("chain_limits", &chain_limits),
        std::make_pair("asset_limits", &asset_limits)}) {
    if (limits->empty()) continue;
    absl::StrAppend(&out, "  ", key, ":\n");
    for (const auto& [name, list] : *limits) {
      AppendLimits(list, "    ", &out, name);
    }
  }
  if (!destination_limits.empty()) {
    AppendLimits(destination_limits, "  ", &out, "destination_limits");
  }
  absl::StrAppend(&out, "departments:\n");
  for (const SimDepartment& d : departments) {
    absl::StrAppend(&out, "  - id: ", Quote(d.id), "\n");
    if (!d.parent.empty()) {
      absl::StrAppend(&out, "    parent: ", Quote(d.parent), "\n");
    }
    AppendLimits(d.limits, "    ", &out);
    AppendApprovals(d.approvals, "    ", &out);
  }
  absl::StrAppend(&out, "agents:\n");
  for (const SimAgent& a : agents) {
    absl::StrAppend(&out, "  - id: ", Quote(a.id),
                    "\n    department: ", Quote(a.department), "\n");
    AppendLimits(a.limits, "    ", &out);
    if (!a.destination_limits.empty()) {
      AppendLimits(a.destination_limits, "    ", &out, "destination_limits");
    }
    if (a.per_tx_max) {
      absl::StrAppend(&out, "    rules: {per_tx_max_usd: ",
                      Quote(UsdText(*a.per_tx_max)), "}\n");
    }
    AppendApprovals(a.approvals, "    ", &out);
    absl::StrAppend(&out, "    wallets:\n");
    for (const std::string& wid : a.wallets) {
      const SimWallet* w = FindWallet(wid);
      absl::StrAppend(
          &out, "      - id: ", Quote(w->id),
          "\n        vendor: \"local\"\n        chain: ", Quote(w->chain),
          "\n        address: \"", w->Address(), "\"\n");
      if (!w->limits.empty()) AppendLimits(w->limits, "        ", &out);
    }
  }
  absl::StrAppend(&out, "assets:\n");
  for (const SimAsset& a : assets) {
    absl::StrAppend(&out, "  - {symbol: ", Quote(a.symbol),
                    ", decimals: ", Quote(absl::StrCat(a.decimals)));
    if (a.price) absl::StrAppend(&out, ", price_usd: ", Quote(a.price->Text()));
    absl::StrAppend(&out, "}\n");
  }
  return out;
}

std::vector<std::string> AllScopes(const SimPolicy& p) {
  std::vector<std::string> out = {absl::StrCat("org/", p.org_id)};
  for (const SimDepartment& d : p.departments) {
    out.push_back(absl::StrCat("department/", d.id));
  }
  for (const SimAgent& a : p.agents)
    out.push_back(absl::StrCat("agent/", a.id));
  for (const SimWallet& w : p.wallets) {
    out.push_back(absl::StrCat("wallet/", w.id));
  }
  return out;
}

SimPolicy RandomPolicy(Chooser& c, bool allow_invalid) {
  SimPolicy p;
  p.timezone = c.OneIn(2) ? "UTC" : c.Pick(TimeZones());
  p.expired_count = !c.OneIn(3);
  p.hold_ttl_s = c.Pick(std::vector<int64_t>{60, 900, 900, 3600, 86400});
  // An org's ceiling is wider than a department's, which is wider than an
  // agent's (caps are random either way, so any of them may bind).
  p.org_limits = RandomLimits(c, 2, 8);
  // d0 and d1 belong to the division div, whose limits bind them both;
  // d2 stands beside it.
  for (const char* d : {"d0", "d1", "d2"}) {
    p.departments.push_back({d, RandomLimits(c, 2, 3), std::nullopt,
                             d == std::string("d2") ? "" : "div"});
  }
  p.departments.push_back({"div", RandomLimits(c, 2, 5), std::nullopt});
  for (const char* chain : {"base", "ethereum", "arbitrum", "polygon"}) {
    if (c.OneIn(3)) AddLimits(c, 4, &p.chain_limits[chain]);
  }
  if (c.OneIn(3)) p.destination_limits = RandomLimits(c, 2, 2);
  // Several agents share d0's limits; several wallets share an agent's.
  const std::vector<std::pair<std::string, std::string>> agents = {
      {"a0", "d0"}, {"a1", "d0"}, {"a2", "d0"},
      {"a3", "d1"}, {"a4", "d1"}, {"a5", "d2"}};
  const std::vector<std::vector<std::pair<std::string, std::string>>> wallets =
      {{{"w0a", "base"}, {"w0b", "ethereum"}, {"w0c", "arbitrum"}},
       {{"w1a", "base"}, {"w1b", "polygon"}},
       {{"w2a", "base"}},
       {{"w3a", "ethereum"}, {"w3b", "base"}},
       {{"w4a", "base"}},
       {{"w5a", "arbitrum"}}};
  for (size_t i = 0; i < agents.size(); ++i) {
    SimAgent a;
    a.id = agents[i].first;
    a.department = agents[i].second;
    a.limits = RandomLimits(c, 2, 1);
    if (c.OneIn(4)) a.per_tx_max = RandomThreshold(c);
    if (c.OneIn(4)) a.destination_limits = RandomLimits(c, 2, 1);
    for (const auto& [wid, chain] : wallets[i]) {
      a.wallets.push_back(wid);
      p.wallets.push_back(
          {wid, a.id, chain,
           c.OneIn(2) ? RandomLimits(c, 2, 1) : std::vector<SimLimit>{}});
    }
    p.agents.push_back(std::move(a));
  }
  // Approval tiers: a0 (second agents of d0 and two users), d0 (one user),
  // a3 (the other agent of d1).
  if (!c.OneIn(4)) {
    p.agents[0].approvals =
        RandomApprovals(c, {"user/alice", "user/bob", "second_agent"});
  }
  if (c.OneIn(2))
    p.departments[0].approvals = RandomApprovals(c, {"user/carol"});
  if (c.OneIn(2)) {
    p.agents[3].approvals = RandomApprovals(c, {"agent/a4", "user/alice"});
  }
  for (const char* symbol : {"USDC", "ETH", "WHOLE", "DUST", "ODD"}) {
    SimAsset a;
    a.symbol = symbol;
    if (a.symbol == "USDC" && !c.OneIn(4)) {
      a.decimals = 6;
      a.price = SimPrice{1, 0};
    } else if (a.symbol == "ETH" && !c.OneIn(4)) {
      a.decimals = 18;
      a.price = SimPrice{3000123456789012, 12};
    } else if (a.symbol == "WHOLE" && !c.OneIn(4)) {
      // No decimals: a price's mantissa is scaled up by 10^6 (the widest
      // intermediate), and sometimes it is huge.
      a.decimals = 0;
      a.price = AdversarialPrice(c, allow_invalid && c.OneIn(4));
    } else {
      a.decimals = AdversarialDecimals(c);
      a.price = AdversarialPrice(c, allow_invalid && c.OneIn(4));
    }
    // A valid policy's prices are all usable; bounded retries, then $1.
    for (int i = 0; !allow_invalid && a.PriceUnusable() && i < 8; ++i) {
      a.price = AdversarialPrice(c, false);
    }
    if (!allow_invalid && a.PriceUnusable()) a.price = SimPrice{1, 0};
    p.assets.push_back(std::move(a));
  }
  for (const SimAsset& a : p.assets) {
    if (c.OneIn(4)) AddLimits(c, 3, &p.asset_limits[a.symbol]);
  }
  p.assets.push_back({"NOPRICE", 6, std::nullopt});
  return p;
}

std::string MutatePolicy(Chooser& c, const UsedFn& used, SimPolicy* p) {
  // Every limit list with its scope (for a per-destination list, the scope
  // of one destination), for picking one; `scale` widens caps of the scopes
  // many spends share.
  struct Slot {
    std::string scope;
    std::vector<SimLimit>* limits;
    int scale;
  };
  std::vector<Slot> slots = {
      {absl::StrCat("org/", p->org_id), &p->org_limits, 3}};
  for (SimDepartment& d : p->departments) {
    slots.push_back({absl::StrCat("department/", d.id), &d.limits, 2});
  }
  for (SimAgent& a : p->agents) {
    slots.push_back({absl::StrCat("agent/", a.id), &a.limits, 1});
    slots.push_back(
        {absl::StrCat("agent/", a.id, "/destination/", c.Pick(p->destinations)),
         &a.destination_limits, 1});
  }
  for (SimWallet& w : p->wallets) {
    slots.push_back({absl::StrCat("wallet/", w.id), &w.limits, 1});
  }
  // Lists for chains and assets without limits yet, dropped below if they
  // stay empty.
  for (const char* chain : {"base", "ethereum", "arbitrum", "polygon"}) {
    slots.push_back(
        {absl::StrCat("chain/", chain), &p->chain_limits[chain], 2});
  }
  for (const SimAsset& a : p->assets) {
    if (!a.price) continue;
    slots.push_back(
        {absl::StrCat("asset/", a.symbol), &p->asset_limits[a.symbol], 2});
  }
  slots.push_back({absl::StrCat("destination/", c.Pick(p->destinations)),
                   &p->destination_limits, 1});
  std::vector<std::string> what;
  for (int64_t n = c.Between(1, 3); n > 0; --n) {
    Slot& slot = slots[c.Below(slots.size())];
    const std::string where = absl::StrCat(slot.scope, " ");
    switch (c.Below(16)) {
      case 0:
      case 1:
      case 2:
      case 3:
      case 4: {
        if (slot.limits->empty()) break;
        SimLimit& l = (*slot.limits)[c.Below(slot.limits->size())];
        const int64_t u = used(slot.scope, l);
        const int64_t before = l.cap;
        switch (c.Below(6)) {
          case 0:
            l.cap = l.cap > kInt64Max / 2 ? kInt64Max : l.cap * 2;
            break;
          case 1:
            l.cap = std::max<int64_t>(1, l.cap / 2);
            break;
          case 2:  // Just below, at or just above what is spent already.
          case 3:
          case 4:
            l.cap =
                std::max<int64_t>(1, u == kInt64Max ? u : u + c.Between(-1, 1));
            break;
          default:
            l.cap = RandomCap(c, l.usd, slot.scale);
        }
        what.push_back(absl::StrCat(where, l.name, " cap ", before, "->", l.cap,
                                    " (used ", u, ")"));
        break;
      }
      case 5:
      case 15:
        if (slot.limits->size() < 3) {
          slot.limits->push_back(RandomLimit(c, *slot.limits, slot.scale));
          const SimLimit& l = slot.limits->back();
          if (std::count_if(
                  slot.limits->begin(), slot.limits->end(),
                  [&](const SimLimit& e) { return e.name == l.name; }) > 1) {
            slot.limits->pop_back();
            break;
          }
          what.push_back(
              absl::StrCat(where, "+", l.name, " ", l.cap, " ", l.window));
        }
        break;
      case 6:
        if (!slot.limits->empty()) {
          const size_t i = c.Below(slot.limits->size());
          what.push_back(absl::StrCat(where, "-", (*slot.limits)[i].name));
          slot.limits->erase(slot.limits->begin() + static_cast<long>(i));
        }
        break;
      case 7:
        if (!slot.limits->empty()) {
          SimLimit& l = (*slot.limits)[c.Below(slot.limits->size())];
          l.window = c.Pick(Windows());
          what.push_back(absl::StrCat(where, l.name, " window ", l.window));
        }
        break;
      case 8:
      case 9: {
        SimAsset& a = p->assets[c.Below(p->assets.size() - 1)];  // Not NOPRICE.
        if (c.OneIn(3)) {
          a.decimals = AdversarialDecimals(c);
        } else {
          a.price = AdversarialPrice(c, /*allow_zero=*/c.OneIn(3));
        }
        what.push_back(absl::StrCat(a.symbol, " decimals ", a.decimals,
                                    " price ", a.price->Text()));
        break;
      }
      case 10:
        p->expired_count = !p->expired_count;
        what.push_back(absl::StrCat("expired_holds ",
                                    p->expired_count ? "count" : "release"));
        break;
      case 11:
        p->hold_ttl_s =
            c.Pick(std::vector<int64_t>{1, 60, 900, 3600, 86400, 7 * 86400});
        what.push_back(absl::StrCat("hold_ttl ", p->hold_ttl_s, "s"));
        break;
      case 12: {
        const int which = static_cast<int>(c.Below(3));
        if (which == 0) {
          p->agents[0].approvals =
              c.OneIn(4) ? std::nullopt
                         : std::optional<SimApprovals>(RandomApprovals(
                               c, {"user/alice", "user/bob", "second_agent"}));
        } else if (which == 1) {
          p->departments[0].approvals =
              c.OneIn(3) ? std::nullopt
                         : std::optional<SimApprovals>(
                               RandomApprovals(c, {"user/carol"}));
        } else {
          p->agents[3].approvals =
              c.OneIn(3) ? std::nullopt
                         : std::optional<SimApprovals>(
                               RandomApprovals(c, {"agent/a4", "user/alice"}));
        }
        what.push_back(absl::StrCat("tiers of ", which == 0   ? "a0"
                                                 : which == 1 ? "d0"
                                                              : "a3"));
        break;
      }
      case 13: {
        SimAgent& a = p->agents[c.Below(p->agents.size())];
        a.per_tx_max = c.OneIn(2) ? std::nullopt
                                  : std::optional<int64_t>(RandomThreshold(c));
        what.push_back(absl::StrCat(a.id, " per_tx_max ",
                                    a.per_tx_max ? *a.per_tx_max : -1));
        break;
      }
      case 14:
        // A time zone change moves every calendar window.
        if (c.OneIn(3)) {
          p->timezone = c.Pick(TimeZones());
          what.push_back(absl::StrCat("timezone ", p->timezone));
        }
        break;
      default:
        break;
    }
  }
  std::erase_if(p->chain_limits,
                [](const auto& e) { return e.second.empty(); });
  std::erase_if(p->asset_limits,
                [](const auto& e) { return e.second.empty(); });
  NormalizeApprovals(&p->agents[0].approvals);
  NormalizeApprovals(&p->agents[3].approvals);
  NormalizeApprovals(&p->departments[0].approvals);
  return absl::StrJoin(what, "; ");
}

}  // namespace warden::sim
