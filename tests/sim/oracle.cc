#include "tests/sim/oracle.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "governance/audit_codec.h"
#include "governance/explain.h"
#include "governance/window.h"

namespace warden::sim {
namespace {

bool Admits(Decision d) {
  return d == Decision::kAllow || d == Decision::kDelayed ||
         d == Decision::kPendingApproval;
}

// The oracle's own copies of the charging rules (authorization.h), so that
// a change there is checked, not repeated.
bool Charges(const Authorization& a) {
  return a.status == AuthorizationStatus::kHeld ||
         a.status == AuthorizationStatus::kSettled ||
         (a.status == AuthorizationStatus::kExpired && a.expired_counted);
}
int64_t ChargedUsd(const Authorization& a) {
  return a.status == AuthorizationStatus::kSettled ? a.settled_usd
                                                   : a.amount_usd;
}
// The decision as the engine must present it at `now`.
Decision Presented(const Authorization& a, absl::Time now) {
  if (a.decision == Decision::kDelayed &&
      a.status == AuthorizationStatus::kHeld && now >= a.release_at) {
    return Decision::kAllow;
  }
  return a.decision;
}

std::string Time(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

std::string Micros(absl::int128 v) {
  const bool negative = v < 0;
  absl::uint128 m = negative ? absl::uint128(-(v + 1)) + 1 : absl::uint128(v);
  std::string frac = Wide(m % 1'000'000).ToString();
  frac.insert(0, 6 - frac.size(), '0');
  return absl::StrCat(negative ? "-$" : "$", Wide(m / 1'000'000).ToString(),
                      ".", frac);
}

// The wire's USD decimal ("1498.00", "-0.5") or count, in the limit's unit.
std::optional<int64_t> ParseSpent(const std::string& s, bool usd) {
  int64_t v = 0;
  if (!usd) {
    if (!absl::SimpleAtoi(s, &v)) return std::nullopt;
    return v;
  }
  const size_t point = s.find('.');
  const std::string whole = s.substr(0, point);
  std::string frac = point == std::string::npos ? "" : s.substr(point + 1);
  if (frac.size() > 6) return std::nullopt;
  frac.append(6 - frac.size(), '0');
  int64_t w = 0, f = 0;
  if (!absl::SimpleAtoi(whole, &w) || !absl::SimpleAtoi(frac, &f)) {
    return std::nullopt;
  }
  const bool negative = !whole.empty() && whole[0] == '-';
  return w * 1'000'000 + (negative ? -f : f);
}

// ceil(amount * usd / held): the value of a partial settlement, found by
// bisection so that no wide division is needed. amount <= held.
int64_t SettledUsd(absl::uint128 amount, int64_t usd, absl::uint128 held) {
  const Wide target = Wide(amount) * Wide(absl::uint128(usd));
  if (target.IsZero()) return 0;
  int64_t lo = 0, hi = usd;  // q * held >= target for q = hi, not for lo.
  for (int i = 0; i < 70 && hi - lo > 1; ++i) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (Wide(absl::uint128(mid)) * Wide(held) >= target) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  return hi;
}

bool SameRequest(const AuthorizeInput& first, const AuthorizeInput& retry) {
  return first.agent_id == retry.agent_id &&
         first.wallet_id == retry.wallet_id && first.asset == retry.asset &&
         ParseAmountText(first.amount) == ParseAmountText(retry.amount) &&
         first.destination == retry.destination;
}

bool IsPrincipal(const std::string& p) {
  const size_t slash = p.find('/');
  if (slash == std::string::npos) return false;
  const std::string kind = p.substr(0, slash), id = p.substr(slash + 1);
  if ((kind != "agent" && kind != "user") || id.empty() || id.size() > 64) {
    return false;
  }
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
  });
}

bool Contains(const std::vector<std::string>& path, const std::string& scope) {
  return std::find(path.begin(), path.end(), scope) != path.end();
}

absl::Duration MaxLength(const std::string& spec) {
  absl::StatusOr<Window> w = ParseWindow(spec);
  return w.ok() ? w->MaxLength() : absl::ZeroDuration();
}

// 0 instant, 1 notify, 2 delay, 3 approval (policy.h's Tier order); a
// decision tells only instant-or-notify, delay and approval apart.
int DecisionTier(Decision d) {
  return d == Decision::kPendingApproval ? 3 : d == Decision::kDelayed ? 2 : 1;
}
int DecisionLevel(int tier) { return tier <= 1 ? 1 : tier; }

}  // namespace

std::string DiffRecords(const Authorization& want, const Authorization& got) {
  std::vector<std::string> d;
  // Compares first and formats only a difference: this runs for every
  // record after every step.
  auto diff = [&](const char* what, const auto& w, const auto& g,
                  const auto& format) {
    if (!(w == g)) {
      d.push_back(
          absl::StrCat(what, " ", format(w), " (oracle) != ", format(g)));
    }
  };
  const auto text = [](const std::string& v) { return v; };
  const auto number = [](int64_t v) { return absl::StrCat(v); };
  const auto units = [](absl::uint128 v) { return AmountText(v); };
  const auto status = [](AuthorizationStatus v) {
    return std::string(StatusName(v));
  };
  const auto decision = [](Decision v) { return std::string(DecisionName(v)); };
  diff("status", want.status, got.status, status);
  diff("decision", want.decision, got.decision, decision);
  diff("agent", want.agent_id, got.agent_id, text);
  diff("wallet", want.wallet_id, got.wallet_id, text);
  diff("amount", want.amount, got.amount, units);
  diff("amount_usd", want.amount_usd, got.amount_usd, number);
  diff("created_at", want.created_at, got.created_at, Time);
  diff("idempotency_key", want.idempotency_key, got.idempotency_key, text);
  if (want.status == AuthorizationStatus::kSettled ||
      got.status == AuthorizationStatus::kSettled) {
    diff("settled_amount", want.settled_amount, got.settled_amount,
         [](const std::optional<absl::uint128>& v) {
           return v ? AmountText(*v) : std::string("-");
         });
    diff("settled_usd", want.settled_usd, got.settled_usd, number);
    diff("tx_hash", want.tx_hash, got.tx_hash, text);
  }
  if (want.status == AuthorizationStatus::kExpired) {
    diff("expired_counted", want.expired_counted, got.expired_counted,
         [](bool v) { return std::string(v ? "1" : "0"); });
  }
  if (want.status != AuthorizationStatus::kDenied) {
    diff("hold_expires_at", want.hold_expires_at, got.hold_expires_at, Time);
    diff("on_expiry", want.on_expiry, got.on_expiry, [](ExpiredHolds v) {
      return std::string(v == ExpiredHolds::kCount ? "count" : "release");
    });
  }
  diff("votes", static_cast<int64_t>(want.votes.size()),
       static_cast<int64_t>(got.votes.size()), number);
  diff("approvals", int64_t{want.Approvals()}, int64_t{got.Approvals()},
       number);
  return absl::StrJoin(d, "; ");
}

namespace {

// Whether `got` differs from `want` only in the votes of a record that
// needs no approvals (a DELAYED one, whose rejection cancels it).
bool OnlyDelayedVotesDiffer(const Authorization& want,
                            const Authorization& got) {
  Authorization with_votes = got;
  with_votes.votes = want.votes;
  return want.approvals_required == 0 && want.votes != got.votes &&
         DiffRecords(want, with_votes).empty();
}

}  // namespace

Oracle::Oracle(StoreTraits traits, BudgetStore* store)
    : traits_(std::move(traits)), store_(store), zone_(absl::UTCTimeZone()) {}

void Oracle::BeginStep(int step) {
  step_ = step;
  changed_.clear();
  to_check_.clear();
  decided_.clear();
  expected_events_.clear();
}

void Oracle::Fail(const std::string& invariant, const std::string& message) {
  findings_.push_back({step_, invariant, message});
}

bool Oracle::ExpectError(const absl::Status& got, absl::StatusCode code,
                         const std::string& invariant,
                         const std::string& what) {
  if (got.code() == code) return true;
  Fail(invariant,
       absl::StrCat(what, ": expected ", absl::StatusCodeToString(code),
                    ", got ", got.ok() ? "OK" : got.ToString()));
  return !got.ok();
}

// ---------------------------------------------------------------- policy

void Oracle::OnInitialBundle(const SimPolicy& p,
                             const absl::StatusOr<ApplyResult>& r) {
  if (!r.ok()) {
    Fail("bundle",
         absl::StrCat("the first bundle was refused: ", r.status().ToString()));
    return;
  }
  policy_ = p;
  absl::LoadTimeZone(p.timezone, &zone_);
  policy_version_ = r->version;
  expected_events_.insert({AuditEvent::Type::kBundleApplied, ""});
  for (const std::string& s : AllScopes(p)) scopes_[s];
}

void Oracle::OnApplyBundle(const SimPolicy& next,
                           const absl::StatusOr<ApplyResult>& r) {
  std::string which = next.UnusablePrice();
  if (which.empty() && traits_.max_exact_micros) {
    which = next.CapBeyond(*traits_.max_exact_micros);
  }
  if (!which.empty()) {
    // A price of zero values any amount at $0, one too large to value
    // amounts exactly cannot be compared with any limit, and a cap above
    // what the store compares exactly would fail every spend under it.
    if (r.ok()) {
      Fail("bundle",
           absl::StrCat("a bundle with ", which, " was applied (version ",
                        r->version, "); it must be refused"));
    } else {
      ExpectError(r.status(), absl::StatusCode::kInvalidArgument, "bundle",
                  absl::StrCat("a bundle with ", which));
      return;
    }
  } else if (!r.ok()) {
    Fail("bundle",
         absl::StrCat("a valid bundle was refused: ", r.status().ToString()));
    return;
  }
  policy_ = next;
  absl::LoadTimeZone(next.timezone, &zone_);
  if (r->changed) {
    policy_version_ = r->version;
    expected_events_.insert({AuditEvent::Type::kBundleApplied, ""});
  }
}

LimitCheck Oracle::CheckFor(const SimLimit& limit, absl::Time now) const {
  LimitCheck c;
  c.limit_name = limit.name;
  c.kind = limit.usd ? Limit::Kind::kUsd : Limit::Kind::kCount;
  c.cap = limit.cap;
  const absl::StatusOr<Window> w = ParseWindow(limit.window);
  c.interval = WindowAt(*w, now, zone_);
  c.calendar = w->kind == Window::Kind::kCalendar;
  return c;
}

std::vector<SimPolicy::PathScope> Oracle::PathOf(
    const AuthorizeInput& in) const {
  const SimAgent* agent = policy_.FindAgent(in.agent_id);
  const SimWallet* wallet = policy_.FindWallet(in.wallet_id);
  if (agent == nullptr || wallet == nullptr) return {};
  return policy_.PathOf(*agent, *wallet, in.asset, in.destination);
}

std::vector<Oracle::PathLimit> Oracle::PathLimits(const AuthorizeInput& in,
                                                  absl::Time now) const {
  std::vector<PathLimit> out;
  for (const SimPolicy::PathScope& s : PathOf(in)) {
    for (const SimLimit& l : *s.limits) {
      out.push_back({s.scope, l, CheckFor(l, now)});
    }
  }
  return out;
}

absl::int128 Oracle::Usage(const std::string& scope, const LimitCheck& check,
                           absl::Time from, Counting counting, absl::Time now,
                           bool to_future) const {
  absl::int128 used = 0;
  for (const Record& r : records_) {
    const Authorization& a = r.a;
    const bool inside = a.created_at >= from &&
                        (to_future || a.created_at < check.interval.end);
    if ((counting != Counting::kAll && r.lost) || !Charges(a) ||
        !Contains(r.path, scope) || !inside) {
      continue;
    }
    used += check.kind == Limit::Kind::kUsd ? ChargedUsd(a) : 1;
  }
  return used;
}

int64_t Oracle::Used(const std::string& scope, const SimLimit& limit,
                     absl::Time now) const {
  const LimitCheck c = CheckFor(limit, now);
  const absl::int128 u = Usage(scope, c, c.interval.start, Counting::kAll, now);
  return u > kInt64Max ? kInt64Max : static_cast<int64_t>(u);
}

std::vector<int64_t> Oracle::Boundaries(const AuthorizeInput& in,
                                        absl::Time now) const {
  std::vector<int64_t> out;
  const SimAgent* agent = policy_.FindAgent(in.agent_id);
  if (agent == nullptr) return out;
  for (const PathLimit& pl : PathLimits(in, now)) {
    if (!pl.limit.usd) continue;
    const absl::int128 left =
        absl::int128(pl.limit.cap) -
        Usage(pl.scope, pl.check, pl.check.interval.start, Counting::kAll, now);
    out.push_back(left < 0 ? 0 : static_cast<int64_t>(left));
  }
  if (agent->per_tx_max) out.push_back(*agent->per_tx_max);
  const SimDepartment* dept = policy_.FindDepartment(agent->department);
  for (const std::optional<SimApprovals>* t :
       {&dept->approvals, &agent->approvals}) {
    if (!t->has_value()) continue;
    for (const std::optional<int64_t>& v :
         {(*t)->per_tx.notify, (*t)->per_tx.delay, (*t)->per_tx.approval}) {
      if (v) out.push_back(*v);
    }
  }
  return out;
}

int Oracle::PerTxTier(const SimAgent& agent, int64_t usd) const {
  const SimDepartment* dept = policy_.FindDepartment(agent.department);
  int tier = 0;
  for (const std::optional<SimApprovals>* t :
       {&dept->approvals, &agent.approvals}) {
    if (!t->has_value()) continue;
    const SimThresholds& p = (*t)->per_tx;
    if (p.approval && usd > *p.approval) tier = std::max(tier, 3);
    if (p.delay && usd > *p.delay) tier = std::max(tier, 2);
    if (p.notify && usd > *p.notify) tier = std::max(tier, 1);
  }
  return tier;
}

int Oracle::TierOf(const SimAgent& agent, int64_t usd, absl::Time now,
                   Counting counting, bool store_bound,
                   bool* beyond_int64) const {
  const SimDepartment* dept = policy_.FindDepartment(agent.department);
  const std::pair<std::string, const std::optional<SimApprovals>*> configs[] = {
      {absl::StrCat("department/", agent.department), &dept->approvals},
      {absl::StrCat("agent/", agent.id), &agent.approvals}};
  // A cumulative threshold counts as passed when the window's spend plus
  // this one exceeds it, measured as the store measures a limit.
  const int per_tx = PerTxTier(agent, usd);
  int tier = per_tx;
  for (const auto& [scope, t] : configs) {
    if (!t->has_value() || (*t)->cumulative_window.empty()) continue;
    const SimThresholds& cum = (*t)->cumulative;
    const std::pair<int, std::optional<int64_t>> levels[] = {
        {3, cum.approval}, {2, cum.delay}, {1, cum.notify}};
    for (const auto& [level, above] : levels) {
      if (!above || level <= per_tx) continue;
      const SimLimit as_limit{"cumulative", true, *above,
                              (*t)->cumulative_window};
      const LimitCheck c = CheckFor(as_limit, now);
      const absl::Time from =
          store_bound ? traits_.counted_from(c, now) : c.interval.start;
      const absl::int128 sum =
          Usage(scope, c, from, counting, now, store_bound) + usd;
      if (sum > *above) tier = std::max(tier, level);
      if (beyond_int64 != nullptr && sum > kInt64Max) *beyond_int64 = true;
    }
  }
  return tier;
}

absl::Duration Oracle::Retention() const {
  // As RecordRetention (engine.h) documents it: the longest window of any
  // limit or cumulative tier, plus the longest wait before a hold's TTL
  // starts, plus the hold TTL and the idempotency retention.
  absl::Duration longest;
  for (const std::vector<SimLimit>* limits : policy_.AllLimits()) {
    for (const SimLimit& l : *limits) {
      longest = std::max(longest, MaxLength(l.window));
    }
  }
  absl::Duration wait;
  auto waits = [&](const std::optional<SimApprovals>& t) {
    if (t) {
      wait = std::max({wait, absl::Seconds(t->delay_s),
                       absl::Seconds(t->approval_timeout_s)});
      if (!t->cumulative_window.empty()) {
        longest = std::max(longest, MaxLength(t->cumulative_window));
      }
    }
  };
  for (const SimDepartment& d : policy_.departments) waits(d.approvals);
  for (const SimAgent& a : policy_.agents) waits(a.approvals);
  return longest + wait + absl::Seconds(policy_.hold_ttl_s) +
         kIdempotencyRetention;
}

// ---------------------------------------------------------------- records

Oracle::Record* Oracle::Find(const std::string& id) {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &records_[it->second];
}

std::string Oracle::Label(const Record& r) const {
  return absl::StrCat("#", r.index, " (", r.a.agent_id, "/", r.a.wallet_id, " ",
                      r.a.asset, " ", Micros(r.a.amount_usd), " ",
                      DecisionName(r.a.decision), " ", StatusName(r.a.status),
                      ")");
}

bool Oracle::DayBeyondExact(const AuthorizeInput& in, absl::Time now,
                            int64_t usd) const {
  const int64_t day = absl::ToUnixSeconds(now) / 86400;
  for (const SimPolicy::PathScope& s : PathOf(in)) {
    absl::int128 sum = usd;
    for (const Record& r : records_) {
      const Authorization& a = r.a;
      if (!r.lost && Charges(a) && Contains(r.path, s.scope) &&
          absl::ToUnixSeconds(a.created_at) / 86400 == day) {
        sum += ChargedUsd(a);
      }
    }
    if (sum > *traits_.max_exact_micros) return true;
  }
  return false;
}

bool Oracle::MayBeGone(const Record& r, absl::Time now) const {
  // A HELD record stays until it is swept, whatever its retention. A sweep
  // drops records by its own time, which a later step's clock may be
  // behind (it can step back within the skew allowance).
  return r.gone || (r.a.status != AuthorizationStatus::kHeld &&
                    std::max(now, latest_sweep_) >= r.retain_until);
}

absl::Time Oracle::RetainUntil(
    const Authorization& a,
    const std::vector<SimPolicy::PathScope>& path) const {
  // engine.cc: max(now + the longest window on the path, the hold's end
  // plus the hold TTL) plus the idempotency retention. (A denial's
  // retain_until is computed from the hold it would have been, later than
  // this; the lower bound is what matters.)
  absl::Duration longest;
  for (const SimPolicy::PathScope& s : path) {
    for (const SimLimit& l : *s.limits) {
      longest = std::max(longest, MaxLength(l.window));
    }
  }
  return std::max(a.created_at + longest,
                  a.hold_expires_at + absl::Seconds(policy_.hold_ttl_s)) +
         kIdempotencyRetention;
}

std::optional<size_t> Oracle::KeyRecord(const std::string& agent,
                                        const std::string& key) const {
  auto it = keys_.find({agent, key});
  if (it == keys_.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

size_t Oracle::AddRecord(const AuthorizeInput& in, const Authorization& a) {
  const size_t i = records_.size();
  Record r;
  r.index = static_cast<int>(i);
  r.a = a;
  r.request = in;
  const std::vector<SimPolicy::PathScope> path = PathOf(in);
  for (const SimPolicy::PathScope& s : path) r.path.push_back(s.scope);
  r.retain_until = RetainUntil(a, path);
  records_.push_back(std::move(r));
  by_id_[a.id] = i;
  if (!in.idempotency_key.empty()) {
    const auto key = std::make_pair(in.agent_id, in.idempotency_key);
    std::vector<size_t>& v = keys_[key];
    if (v.empty()) key_order_.push_back(key);
    v.push_back(i);
  }
  changed_.insert(i);
  to_check_.insert(i);
  decided_.insert(a.id);
  return i;
}

void Oracle::Resync(size_t i) {
  absl::StatusOr<Authorization> got =
      store_->Get(policy_.org_id, records_[i].a.id);
  if (got.ok()) records_[i].a = *got;
}

// ---------------------------------------------------------------- Authorize

void Oracle::OnAuthorize(const AuthorizeInput& in, absl::Time now,
                         bool store_up,
                         const absl::StatusOr<AuthorizeOutput>& out) {
  const std::string what = absl::StrCat(
      "Authorize ", in.agent_id, "/", in.wallet_id, " ", in.asset, " \"",
      in.amount.substr(0, 48), "\"",
      in.idempotency_key.empty() ? ""
                                 : absl::StrCat(" key ", in.idempotency_key));
  const SimAgent* agent = policy_.FindAgent(in.agent_id);
  const SimWallet* wallet = policy_.FindWallet(in.wallet_id);
  // Input the engine must refuse before anything else.
  if (agent == nullptr || wallet == nullptr) {
    ExpectError(out.status(), absl::StatusCode::kNotFound, "decision", what);
    return;
  }
  if (wallet->agent != agent->id) {
    ExpectError(out.status(), absl::StatusCode::kInvalidArgument, "decision",
                what);
    return;
  }
  const std::optional<absl::uint128> amount = ParseAmountText(in.amount);
  if (!amount || *amount == 0 ||
      in.idempotency_key.size() > kMaxIdempotencyKeyBytes) {
    ExpectError(out.status(), absl::StatusCode::kInvalidArgument, "decision",
                what);
    return;
  }
  const SimAsset* asset = policy_.FindAsset(in.asset);
  const bool priced = asset != nullptr && asset->price.has_value();
  int64_t usd = 0;
  if (priced) {
    const std::optional<int64_t> exact = ExactUsdMicrosInt64(*amount, *asset);
    if (!exact) {
      const std::string why = absl::StrCat(
          what, ": ", in.asset, " (decimals ", asset->decimals, ", price ",
          asset->price->Text(), ") is worth $",
          ExactUsdMicros(*amount, asset->decimals, *asset->price).ToString(),
          " micro-dollars, beyond int64: the amount must be refused");
      if (out.ok()) {
        Fail("valuation",
             absl::StrCat(why, "; the engine valued it at ",
                          Micros(out->authorization.amount_usd),
                          " and answered ",
                          DecisionName(out->authorization.decision)));
        if (!out->replayed && !Find(out->authorization.id)) {
          AddRecord(in, out->authorization);
        }
      } else {
        ExpectError(out.status(), absl::StatusCode::kInvalidArgument,
                    "valuation", why);
      }
      return;
    }
    usd = *exact;
  }
  if (!store_up) {
    if (out.ok()) {
      Fail("fail-closed",
           absl::StrCat(what, ": the budget store is down, yet ",
                        DecisionName(out->authorization.decision)));
      if (!out->replayed && !Find(out->authorization.id)) {
        AddRecord(in, out->authorization);
      }
      return;
    }
    ExpectError(out.status(), absl::StatusCode::kUnavailable, "fail-closed",
                what);
    return;
  }
  const bool rule_ok =
      priced && !(agent->per_tx_max && usd > *agent->per_tx_max) &&
      !(in.destination.empty() && policy_.NeedsDestination(*agent));
  if (traits_.max_exact_micros) {
    // Redis refuses amounts its Lua doubles cannot compare exactly (and
    // bundles with such caps: OnApplyBundle).
    const int64_t max = *traits_.max_exact_micros;
    if (usd > max) {
      if (!out.ok() && absl::IsInvalidArgument(out.status())) return;
      Fail("decision",
           absl::StrCat(what, ": beyond the Redis store's exact range (",
                        Micros(max), "), expected INVALID_ARGUMENT, got ",
                        out.ok() ? DecisionName(out->authorization.decision)
                                 : out.status().ToString()));
      if (out.ok() && !out->replayed && !Find(out->authorization.id)) {
        AddRecord(in, out->authorization);
      }
      return;
    }
  }
  if (!in.idempotency_key.empty()) {
    auto it = keys_.find({in.agent_id, in.idempotency_key});
    std::vector<size_t> live_candidates;
    bool may_forget = true;
    if (it != keys_.end()) {
      for (size_t i : it->second) {
        if (records_[i].gone) continue;
        live_candidates.push_back(i);
        may_forget = may_forget && MayBeGone(records_[i], now);
      }
    }
    if (!live_candidates.empty()) {
      const Record& first = records_[live_candidates.back()];
      const bool fresh = out.ok() && !out->replayed;
      if (!(fresh && may_forget)) {
        if (!SameRequest(first.request, in)) {
          if (out.ok()) {
            Fail("exactly-once",
                 absl::StrCat(what, ": the key was first used for ",
                              Label(first),
                              " with another request; expected "
                              "FAILED_PRECONDITION, got ",
                              out->replayed ? "a replay" : "a new decision"));
            if (fresh) AddRecord(in, out->authorization);
          } else {
            ExpectError(out.status(), absl::StatusCode::kFailedPrecondition,
                        "exactly-once", what);
          }
          return;
        }
        if (!out.ok()) {
          Fail("exactly-once",
               absl::StrCat(what, ": a retry of ", Label(first),
                            " failed: ", out.status().ToString()));
          return;
        }
        if (out->replayed) {
          const Record* r = nullptr;
          for (size_t i : live_candidates) {
            if (records_[i].a.id == out->authorization.id) r = &records_[i];
          }
          if (r == nullptr) {
            Fail("exactly-once",
                 absl::StrCat(what, ": replayed ", out->authorization.id,
                              ", not the record first stored under the key, ",
                              Label(first)));
            return;
          }
          Replayed(in, now, *r, *out);
          return;
        }
        Fail("exactly-once",
             absl::StrCat(what, ": a retry of ", Label(first),
                          " was decided afresh (charged twice)"));
      }
    }
  }
  if (!out.ok() && traits_.max_exact_micros &&
      absl::IsFailedPrecondition(out.status()) && rule_ok &&
      DayBeyondExact(in, now, usd)) {
    return;  // Redis keeps a scope's UTC day exactly up to its bound only.
  }
  if (!out.ok()) {
    Fail("decision", absl::StrCat(what, ": expected a decision, got ",
                                  out.status().ToString()));
    return;
  }
  if (out->replayed) {
    Fail("exactly-once",
         absl::StrCat(what, ": answered as a replay of ", out->authorization.id,
                      " for a key the oracle never saw used"));
    return;
  }
  OnFreshDecision(in, now, *agent, asset, *amount, out->authorization);
}

void Oracle::Replayed(const AuthorizeInput& in, absl::Time now, const Record& r,
                      const AuthorizeOutput& out) {
  const Authorization& a = out.authorization;
  to_check_.insert(static_cast<size_t>(r.index));
  const std::string what =
      absl::StrCat("retry of ", Label(r), " with key ", in.idempotency_key);
  if (a.status != r.a.status) {
    Fail("exactly-once",
         absl::StrCat(what, ": answered status ", StatusName(a.status),
                      ", the record is ", StatusName(r.a.status)));
  }
  if (Admits(a.decision) && !Live(r, now)) {
    // A HELD hold past its expiry that no sweep has moved yet is told apart:
    // its status is still HELD, only the clock says it is over.
    const bool unswept = r.a.status == AuthorizationStatus::kHeld;
    const std::string state =
        unswept ? absl::StrCat("HELD, but its hold expired at ",
                               Time(r.a.hold_expires_at), " (not swept yet)")
                : StatusName(r.a.status);
    Fail(unswept ? "exactly-once-expired" : "exactly-once",
         absl::StrCat(what, ": answered ", DecisionName(a.decision),
                      " (replayed) for a hold that is not live: it is ", state,
                      "; a replay must answer the authorization as it is now"));
  }
}

void Oracle::OnFreshDecision(const AuthorizeInput& in, absl::Time now,
                             const SimAgent& agent, const SimAsset* asset,
                             absl::uint128 amount, const Authorization& a) {
  const bool priced = asset != nullptr && asset->price.has_value();
  const std::string what =
      absl::StrCat("Authorize #", records_.size(), " ", in.agent_id, "/",
                   in.wallet_id, " ", AmountText(amount), " ", in.asset, " = ",
                   Micros(a.amount_usd), " -> ", DecisionName(a.decision));
  if (a.agent_id != agent.id || a.wallet_id != in.wallet_id ||
      a.amount != amount || a.asset != in.asset || a.created_at != now ||
      a.idempotency_key != in.idempotency_key ||
      a.policy_version != policy_version_) {
    Fail("decision",
         absl::StrCat(what, ": the record does not match the request (agent ",
                      a.agent_id, ", wallet ", a.wallet_id, ", amount ",
                      AmountText(a.amount), ", created ", Time(a.created_at),
                      ", policy v", a.policy_version, " vs v", policy_version_,
                      ")"));
  }
  int64_t usd = 0;
  if (priced) {
    usd = *ExactUsdMicrosInt64(amount, *asset);
    if (a.amount_usd != usd) {
      Fail("valuation",
           absl::StrCat(what, ": ", AmountText(amount), " base units of ",
                        in.asset, " (decimals ", asset->decimals, ", price ",
                        asset->price->Text(), ") are worth ", Micros(usd),
                        " rounded up; the engine valued them at ",
                        Micros(a.amount_usd)));
    }
  }
  std::set<std::string> codes;
  for (const Violation& v : a.violations) codes.insert(v.code);
  std::set<std::string> rule_codes;
  if (!priced) rule_codes.insert("PRICE_UNAVAILABLE");
  if (priced && agent.per_tx_max && usd > *agent.per_tx_max) {
    rule_codes.insert("PER_TX_MAX");
  }
  if (in.destination.empty() && policy_.NeedsDestination(agent)) {
    rule_codes.insert("DESTINATION_REQUIRED");
  }
  if (!rule_codes.empty()) {
    AddRecord(in, a);
    if (a.decision != Decision::kDeny || codes != rule_codes) {
      Fail("decision",
           absl::StrCat(what, ": expected a DENY for {",
                        absl::StrJoin(rule_codes, ","), "}, got violations {",
                        absl::StrJoin(codes, ","), "}"));
    }
    if (a.decision == Decision::kDeny) ++denied_;
    return;
  }
  // The spend abides by the rules: frozen scopes, limits and tiers decide.
  std::vector<std::string> path;
  for (const SimPolicy::PathScope& s : PathOf(in)) path.push_back(s.scope);
  if (ScopePath(a) != path) {
    Fail("decision",
         absl::StrCat(what, ": charged {", absl::StrJoin(ScopePath(a), ", "),
                      "}, the path is {", absl::StrJoin(path, ", "), "}"));
  }
  std::vector<std::string> frozen_yes, frozen_maybe;
  for (const std::string& s : path) {
    const auto it = scopes_.find(s);
    if (it == scopes_.end()) continue;
    const Enforced e = it->second.enforced;
    if (e == Enforced::kYes) frozen_yes.push_back(s);
    if (e == Enforced::kMaybe) frozen_maybe.push_back(s);
  }
  // Measured before the new record enters the ledger: `exact` over the
  // exact window, `sure` without the records the store may have dropped by
  // retention, and `store_min`..`store_max` as the store may count them.
  struct Measured {
    PathLimit pl;
    absl::int128 exact, sure, store_min, store_max;
    int64_t req;
  };
  std::vector<Measured> limits;
  for (PathLimit& pl : PathLimits(in, now)) {
    const absl::Time start = pl.check.interval.start;
    const absl::Time from = traits_.counted_from(pl.check, now);
    Measured m{pl, 0, 0, 0, 0, pl.limit.usd ? a.amount_usd : 1};
    m.exact = Usage(pl.scope, pl.check, start, Counting::kAll, now);
    m.sure = Usage(pl.scope, pl.check, start, Counting::kSure, now);
    m.store_min = Usage(pl.scope, pl.check, from, Counting::kSure, now);
    m.store_max = Usage(pl.scope, pl.check, from, Counting::kKept, now,
                        /*to_future=*/true);
    limits.push_back(std::move(m));
  }
  bool tier_beyond_int64 = false;
  const int tier_exact = TierOf(agent, a.amount_usd, now, Counting::kAll, false,
                                &tier_beyond_int64);
  const int tier_lo = TierOf(agent, a.amount_usd, now, Counting::kSure, false);
  const int tier_hi = TierOf(agent, a.amount_usd, now, Counting::kKept, true);
  AddRecord(in, a);

  auto describe = [&](const Measured& m, const absl::int128& used) {
    const bool u = m.pl.limit.usd;
    return absl::StrCat(
        m.pl.scope, " ", m.pl.limit.name, " (", m.pl.limit.window, ", cap ",
        u ? Micros(m.pl.limit.cap) : absl::StrCat(m.pl.limit.cap), "): used ",
        u ? Micros(used) : Wide(absl::uint128(used)).ToString(), " + ",
        u ? Micros(m.req) : absl::StrCat(m.req));
  };
  if (Admits(a.decision)) {
    ++admitted_;
    if (a.status != AuthorizationStatus::kHeld) {
      Fail("decision",
           absl::StrCat(what, " but status ", StatusName(a.status)));
    }
    for (const std::string& s : frozen_yes) {
      Fail("kill-switch", absl::StrCat(what, " although ", s,
                                       " is frozen (FreezeScope returned)"));
    }
    for (const Measured& m : limits) {
      if (m.sure + m.req > m.pl.limit.cap) {
        Fail("over-admission",
             absl::StrCat(what, ": ", describe(m, m.sure), " exceeds the cap",
                          m.sure + m.req > kInt64Max
                              ? " (the sum is beyond int64: wrapped, it "
                                "looks small)"
                              : ""));
      } else if (m.exact + m.req > m.pl.limit.cap) {
        Fail("retention",
             absl::StrCat(what, ": ", describe(m, m.exact),
                          " exceeds the cap, counting spends a rebuild did "
                          "not restore: they were past the retention then, "
                          "set when the window was shorter or the limit "
                          "did not exist"));
      }
    }
    const int t = DecisionTier(a.decision);
    if (t < DecisionLevel(tier_lo) || t > DecisionLevel(tier_hi)) {
      Fail("decision",
           absl::StrCat(what, ": tier expected between ", tier_lo, " and ",
                        tier_hi, " (0 instant, 1 notify, 2 delay, 3 approval)",
                        tier_beyond_int64
                            ? "; a cumulative spend plus this one is beyond "
                              "int64"
                            : ""));
    } else if (t < DecisionLevel(tier_exact)) {
      Fail("retention",
           absl::StrCat(what, ": the exact ledger puts it in tier ", tier_exact,
                        " (2 delay, 3 approval): a cumulative "
                        "threshold's window counts spends a rebuild did not "
                        "restore (past the retention then, set when the "
                        "window was shorter or did not exist)"));
    }
    const absl::Duration ttl = absl::Seconds(policy_.hold_ttl_s);
    const ExpiredHolds org_expiry =
        policy_.expired_count ? ExpiredHolds::kCount : ExpiredHolds::kRelease;
    if (a.decision == Decision::kAllow &&
        (a.hold_expires_at != now + ttl || a.on_expiry != org_expiry)) {
      Fail("decision",
           absl::StrCat(what, ": hold expires ", Time(a.hold_expires_at),
                        ", expected ", Time(now + ttl),
                        " with the org's "
                        "expired_holds"));
    }
    if (a.decision == Decision::kDelayed &&
        (a.release_at <= now || a.hold_expires_at != a.release_at + ttl)) {
      Fail("decision", absl::StrCat(what, ": release ", Time(a.release_at),
                                    ", hold expiry ", Time(a.hold_expires_at)));
    }
    if (a.decision == Decision::kPendingApproval &&
        (a.hold_expires_at <= now || a.on_expiry != ExpiredHolds::kRelease ||
         a.approvers.empty() || a.approvals_required < 1)) {
      Fail("decision", absl::StrCat(what,
                                    ": a pending approval needs a "
                                    "future deadline, release on expiry and "
                                    "approvers"));
    }
    return;
  }
  ++denied_;
  if (a.status != AuthorizationStatus::kDenied) {
    Fail("decision", absl::StrCat(what, " but status ", StatusName(a.status)));
  }
  bool explained = false;
  for (const Violation& v : a.violations) {
    if (v.code == "SCOPE_FROZEN") {
      const auto it = scopes_.find(v.scope);
      if (it == scopes_.end() || !Contains(path, v.scope) ||
          it->second.enforced == Enforced::kNo) {
        Fail("decision", absl::StrCat(what, ": denied because ", v.scope,
                                      " is frozen, but it is not"));
      }
      explained = true;
    }
  }
  if (explained) return;
  if (!frozen_yes.empty()) {
    Fail("decision", absl::StrCat(what, ": not denied as frozen although ",
                                  frozen_yes[0], " is"));
  }
  std::set<std::pair<std::string, std::string>> reported;
  for (const Violation& v : a.violations) {
    if (v.code != "BUDGET_EXCEEDED" && v.code != "COUNT_EXCEEDED") {
      Fail("decision", absl::StrCat(what, ": unexpected violation ", v.code));
      continue;
    }
    reported.insert({v.scope, v.limit});
    const Measured* m = nullptr;
    for (const Measured& l : limits) {
      if (l.pl.scope == v.scope && l.pl.limit.name == v.limit) m = &l;
    }
    if (m == nullptr) {
      Fail("decision", absl::StrCat(what, ": denied by ", v.scope, " ", v.limit,
                                    ", which is not a limit on the path"));
      continue;
    }
    explained = true;
    if (!(m->store_max + m->req > m->pl.limit.cap)) {
      Fail("decision",
           absl::StrCat(what, ": denied by ", describe(*m, m->store_max),
                        " although that fits (spurious denial)"));
    }
    const std::optional<int64_t> spent = ParseSpent(v.spent, m->pl.limit.usd);
    // Redis sums in Lua doubles, exact up to its bound only; past it the
    // sum is over any cap it accepts anyway, and only the figure is off.
    const bool inexact =
        traits_.max_exact_micros && m->store_max > *traits_.max_exact_micros;
    // Sums saturate at int64's largest value (the figure then reads it).
    const absl::int128 low = std::min(m->store_min, absl::int128(kInt64Max));
    const absl::int128 high = std::min(m->store_max, absl::int128(kInt64Max));
    if (!inexact &&
        (!spent || absl::int128(*spent) < low || absl::int128(*spent) > high)) {
      // Name what the ledger counts, so that the odd one out can be found.
      std::vector<std::string> counted;
      const absl::Time from = traits_.counted_from(m->pl.check, now);
      for (const Record& r : records_) {
        if (r.lost || !Charges(r.a) || !Contains(r.path, m->pl.scope) ||
            r.a.created_at < from || r.a.id == a.id) {
          continue;
        }
        if (counted.size() == 8) counted.push_back("...");
        if (counted.size() > 8) break;
        counted.push_back(absl::StrCat("#", r.index, " ",
                                       Micros(ChargedUsd(r.a)), " at ",
                                       Time(r.a.created_at)));
      }
      Fail("ledger",
           absl::StrCat(
               what, ": the store counts ", v.spent, " spent on ", v.scope, " ",
               v.limit, " (", m->pl.limit.window, " from ", Time(from), " to ",
               Time(m->pl.check.interval.end), "), the ledger ",
               m->pl.limit.usd ? Micros(m->store_max)
                               : Wide(absl::uint128(m->store_max)).ToString(),
               m->store_max > kInt64Max ? " (beyond int64)" : "", ": ",
               absl::StrJoin(counted, ", ")));
    }
  }
  // A decision lists at most kMaxViolations; its reason counts the rest.
  const bool truncated = a.violations.size() == kMaxViolations &&
                         absl::StrContains(a.reason, " more violations");
  for (const Measured& m : limits) {
    if (m.store_min + m.req > m.pl.limit.cap && !truncated &&
        !reported.contains({m.pl.scope, m.pl.limit.name})) {
      std::vector<std::string> named;
      for (const auto& [scope, limit] : reported) {
        named.push_back(absl::StrCat(scope, " ", limit));
      }
      Fail("decision",
           absl::StrCat(what, ": ", describe(m, m.store_min),
                        " exceeds the cap but is not reported (reported: ",
                        absl::StrJoin(named, ", "), ")",
                        m.store_min + m.req > kInt64Max
                            ? " (used + requested is beyond int64)"
                            : ""));
    }
  }
  if (!explained && frozen_maybe.empty()) {
    Fail("decision", absl::StrCat(what,
                                  ": no rule, frozen scope or exceeded "
                                  "limit explains the denial"));
  }
}

// ---------------------------------------------------------------- transitions

void Oracle::OnSettle(const SettleInput& in, absl::Time now, bool store_up,
                      const absl::StatusOr<Authorization>& out) {
  Record* r = Find(in.authorization_id);
  const std::string what =
      absl::StrCat("Settle ", r ? Label(*r) : in.authorization_id, " amount \"",
                   in.amount.substr(0, 48), "\" tx ", in.tx_hash);
  // The engine reads the record from the store before anything else.
  if (!store_up) {
    ExpectError(out.status(), absl::StatusCode::kUnavailable, "fail-closed",
                what);
    return;
  }
  if (r == nullptr) {
    ExpectError(out.status(), absl::StatusCode::kNotFound, "decision", what);
    return;
  }
  const size_t i = static_cast<size_t>(r->index);
  to_check_.insert(i);
  if (r->gone || (MayBeGone(*r, now) && absl::IsNotFound(out.status()))) {
    r->gone = true;
    ExpectError(out.status(), absl::StatusCode::kNotFound, "ledger", what);
    return;
  }
  Authorization& a = r->a;
  if (a.status == AuthorizationStatus::kHeld &&
      (a.decision == Decision::kPendingApproval ||
       Presented(a, now) == Decision::kDelayed)) {
    ExpectError(out.status(), absl::StatusCode::kFailedPrecondition, "decision",
                what);
    return;
  }
  absl::uint128 amount = a.amount;
  if (!in.amount.empty()) {
    const std::optional<absl::uint128> parsed = ParseAmountText(in.amount);
    if (!parsed || *parsed > a.amount) {
      ExpectError(out.status(), absl::StatusCode::kInvalidArgument, "decision",
                  what);
      return;
    }
    amount = *parsed;
  }
  const int64_t usd = SettledUsd(amount, a.amount_usd, a.amount);
  const bool retry = a.status == AuthorizationStatus::kSettled &&
                     a.settled_amount == amount && a.tx_hash == in.tx_hash;
  if (!retry) {
    if (a.status != AuthorizationStatus::kHeld || now >= a.hold_expires_at) {
      ExpectError(out.status(), absl::StatusCode::kFailedPrecondition,
                  "decision", what);
      return;
    }
    a.status = AuthorizationStatus::kSettled;
    a.settled_amount = amount;
    a.settled_usd = usd;
    a.tx_hash = in.tx_hash;
    changed_.insert(i);
  }
  r->last_tx_hash = in.tx_hash;
  if (!out.ok()) {
    Fail("decision", absl::StrCat(what, ": expected ", retry ? "a retry " : "",
                                  "OK, got ", out.status().ToString()));
    Resync(i);
    return;
  }
  if (const std::string d = DiffRecords(a, *out); !d.empty()) {
    Fail("ledger", absl::StrCat(what, ": answered ", d));
  }
}

void Oracle::OnVoid(const std::string& id, absl::Time now, bool store_up,
                    const absl::StatusOr<Authorization>& out) {
  Record* r = Find(id);
  const std::string what = absl::StrCat("Void ", r ? Label(*r) : id);
  // The engine reads the record from the store before anything else.
  if (!store_up) {
    ExpectError(out.status(), absl::StatusCode::kUnavailable, "fail-closed",
                what);
    return;
  }
  if (r == nullptr) {
    ExpectError(out.status(), absl::StatusCode::kNotFound, "decision", what);
    return;
  }
  const size_t i = static_cast<size_t>(r->index);
  to_check_.insert(i);
  if (r->gone || (MayBeGone(*r, now) && absl::IsNotFound(out.status()))) {
    r->gone = true;
    ExpectError(out.status(), absl::StatusCode::kNotFound, "ledger", what);
    return;
  }
  Authorization& a = r->a;
  if (a.status != AuthorizationStatus::kVoided) {
    if (a.status != AuthorizationStatus::kHeld || now >= a.hold_expires_at) {
      ExpectError(out.status(), absl::StatusCode::kFailedPrecondition,
                  "decision", what);
      return;
    }
    a.status = AuthorizationStatus::kVoided;
    changed_.insert(i);
  }
  if (!out.ok()) {
    Fail("decision",
         absl::StrCat(what, ": expected OK, got ", out.status().ToString()));
    Resync(i);
    return;
  }
  if (const std::string d = DiffRecords(a, *out); !d.empty()) {
    Fail("ledger", absl::StrCat(what, ": answered ", d));
  }
}

void Oracle::OnVote(const VoteInput& in, bool approve, absl::Time now,
                    bool store_up, const absl::StatusOr<VoteOutput>& out) {
  Record* r = Find(in.authorization_id);
  const std::string what = absl::StrCat(approve ? "Approve " : "Reject ",
                                        r ? Label(*r) : in.authorization_id,
                                        " by \"", in.approver, "\"");
  if (!IsPrincipal(in.approver)) {
    ExpectError(out.status(), absl::StatusCode::kInvalidArgument, "decision",
                what);
    return;
  }
  // The engine reads the record from the store before anything else.
  if (!store_up) {
    ExpectError(out.status(), absl::StatusCode::kUnavailable, "fail-closed",
                what);
    return;
  }
  if (r == nullptr) {
    ExpectError(out.status(), absl::StatusCode::kNotFound, "decision", what);
    return;
  }
  const size_t i = static_cast<size_t>(r->index);
  to_check_.insert(i);
  if (r->gone || (MayBeGone(*r, now) && absl::IsNotFound(out.status()))) {
    r->gone = true;
    ExpectError(out.status(), absl::StatusCode::kNotFound, "ledger", what);
    return;
  }
  Authorization& a = r->a;
  const Decision presented = Presented(a, now);
  if (a.status != AuthorizationStatus::kHeld ||
      (presented != Decision::kPendingApproval &&
       presented != Decision::kDelayed)) {
    ExpectError(out.status(), absl::StatusCode::kFailedPrecondition, "decision",
                what);
    return;
  }
  if (in.approver == absl::StrCat("agent/", a.agent_id)) {
    ExpectError(out.status(), absl::StatusCode::kPermissionDenied, "decision",
                what);
    return;
  }
  if (presented == Decision::kDelayed) {
    if (approve) {
      ExpectError(out.status(), absl::StatusCode::kFailedPrecondition,
                  "decision", what);
      return;
    }
  } else {
    bool may = std::find(a.approvers.begin(), a.approvers.end(), in.approver) !=
               a.approvers.end();
    if (!may &&
        std::find(a.approvers.begin(), a.approvers.end(), "second_agent") !=
            a.approvers.end() &&
        in.approver.rfind("agent/", 0) == 0) {
      const SimAgent* other = policy_.FindAgent(in.approver.substr(6));
      may = other != nullptr && other->id != a.agent_id &&
            other->department == a.department_id;
    }
    if (!may) {
      ExpectError(out.status(), absl::StatusCode::kPermissionDenied, "decision",
                  what);
      return;
    }
  }
  if (now >= a.hold_expires_at) {
    ExpectError(out.status(), absl::StatusCode::kFailedPrecondition, "decision",
                what);
    return;
  }
  const bool already = std::any_of(
      a.votes.begin(), a.votes.end(),
      [&](const ApprovalVote& v) { return v.approver == in.approver; });
  if (!already) {
    a.votes.push_back({in.approver, approve, in.comment, now});
    if (!approve) {
      a.status = AuthorizationStatus::kVoided;
    } else if (a.decision == Decision::kPendingApproval &&
               a.Approvals() >= a.approvals_required) {
      a.decision = Decision::kAllow;
      a.hold_expires_at = now + absl::Seconds(policy_.hold_ttl_s);
      a.on_expiry =
          policy_.expired_count ? ExpiredHolds::kCount : ExpiredHolds::kRelease;
    }
    changed_.insert(i);
  }
  if (!out.ok()) {
    Fail("decision",
         absl::StrCat(what, ": expected OK, got ", out.status().ToString()));
    Resync(i);
    return;
  }
  if (out->counted == already) {
    Fail("decision", absl::StrCat(what, ": counted = ", out->counted));
  }
  if (const std::string d = DiffRecords(a, out->authorization); !d.empty()) {
    // The answer presents the decision; compare the rest.
    Authorization presented_want = a;
    presented_want.decision = Presented(a, now);
    if (const std::string d2 = DiffRecords(presented_want, out->authorization);
        !d2.empty()) {
      Fail("ledger", absl::StrCat(what, ": answered ", d2));
    }
  }
}

void Oracle::OnSweep(absl::Time now, bool store_up,
                     const absl::StatusOr<size_t>& out) {
  if (!store_up) {
    ExpectError(out.status(), absl::StatusCode::kUnavailable, "fail-closed",
                "SweepExpired");
    return;
  }
  latest_sweep_ = std::max(latest_sweep_, now);
  std::vector<size_t> due;
  for (Record& r : records_) {
    if (!r.gone && r.a.status == AuthorizationStatus::kHeld &&
        r.a.hold_expires_at <= now) {
      due.push_back(static_cast<size_t>(r.index));
    }
  }
  if (!out.ok()) {
    Fail("decision",
         absl::StrCat("SweepExpired failed: ", out.status().ToString()));
    return;
  }
  if (due.size() > kExpireBatchMax) {
    // One sweep moves at most kExpireBatchMax; which ones is the store's
    // choice, so learn them from it.
    for (size_t i : due) {
      Resync(i);
      changed_.insert(i);
      to_check_.insert(i);
    }
    return;
  }
  if (*out != due.size()) {
    Fail("ledger", absl::StrCat("SweepExpired expired ", *out,
                                " holds, the "
                                "ledger has ",
                                due.size(), " due"));
  }
  for (size_t i : due) {
    Authorization& a = records_[i].a;
    a.status = AuthorizationStatus::kExpired;
    a.expired_counted = a.on_expiry == ExpiredHolds::kCount;
    changed_.insert(i);
    to_check_.insert(i);
  }
}

void Oracle::OnFreeze(const std::string& scope, bool decommission,
                      absl::Time now, bool store_up,
                      const absl::StatusOr<FreezeOutcome>& out) {
  const std::string what =
      absl::StrCat(decommission ? "DecommissionAgent " : "FreezeScope ", scope);
  std::vector<std::string> frozen;
  const std::vector<std::string> all = AllScopes(policy_);
  if (decommission) {
    const SimAgent* agent = policy_.FindAgent(scope.substr(6));
    if (agent == nullptr) {
      ExpectError(out.status(), absl::StatusCode::kNotFound, "decision", what);
      return;
    }
    for (const std::string& w : agent->wallets) {
      frozen.push_back(absl::StrCat("wallet/", w));
      // Its address is retired with it: a record, never a spend scope.
      if (const SimWallet* sw = policy_.FindWallet(w); sw != nullptr) {
        expected_events_.insert(
            {AuditEvent::Type::kScopeFrozen,
             RetiredAddressScope(sw->chain, sw->Address())});
      }
    }
  } else if (std::find(all.begin(), all.end(), scope) == all.end()) {
    ExpectError(out.status(), absl::StatusCode::kNotFound, "decision", what);
    return;
  }
  frozen.push_back(scope);
  if (!store_up) {
    // Durable first, then the store's flag, which failed: the store may or
    // may not enforce it. (The simulator decommissions only with the store
    // up, as it could not tell how far a failed one got.)
    ScopeState& st = scopes_[scope];
    st.durable = true;
    if (st.enforced != Enforced::kYes) st.enforced = Enforced::kMaybe;
    ExpectError(out.status(), absl::StatusCode::kUnavailable, "fail-closed",
                what);
    return;
  }
  int64_t voided = 0;
  for (const std::string& s : frozen) {
    ScopeState& st = scopes_[s];
    st.durable = true;
    st.decommissioned = st.decommissioned || decommission;
    st.enforced = Enforced::kYes;
    expected_events_.insert({AuditEvent::Type::kScopeFrozen, s});
    for (Record& r : records_) {
      if (Live(r, now) && Contains(r.path, s)) {
        r.a.status = AuthorizationStatus::kVoided;
        changed_.insert(static_cast<size_t>(r.index));
        to_check_.insert(static_cast<size_t>(r.index));
        ++voided;
      }
    }
  }
  if (!out.ok()) {
    Fail("kill-switch",
         absl::StrCat(what, " failed: ", out.status().ToString()));
    return;
  }
  if (out->holds_voided != voided) {
    Fail("kill-switch",
         absl::StrCat(what, " voided ", out->holds_voided, " holds; ", voided,
                      " were live under it"));
  }
}

void Oracle::OnUnfreeze(const std::string& scope, bool store_up,
                        const absl::StatusOr<FreezeOutcome>& out) {
  const std::string what = absl::StrCat("UnfreezeScope ", scope);
  const std::vector<std::string> all = AllScopes(policy_);
  if (std::find(all.begin(), all.end(), scope) == all.end()) {
    ExpectError(out.status(), absl::StatusCode::kNotFound, "decision", what);
    return;
  }
  ScopeState& st = scopes_[scope];
  if (!st.durable) {
    ExpectError(out.status(), absl::StatusCode::kNotFound, "decision", what);
    return;
  }
  if (st.decommissioned) {
    ExpectError(out.status(), absl::StatusCode::kFailedPrecondition, "decision",
                what);
    return;
  }
  st.durable = false;
  if (!store_up) {
    st.enforced = Enforced::kMaybe;
    ExpectError(out.status(), absl::StatusCode::kUnavailable, "fail-closed",
                what);
    return;
  }
  st.enforced = Enforced::kNo;
  expected_events_.insert({AuditEvent::Type::kScopeUnfrozen, scope});
  if (!out.ok()) {
    Fail("decision", absl::StrCat(what, " failed: ", out.status().ToString()));
  }
}

void Oracle::OnGet(const std::string& id, absl::Time now, bool store_up,
                   const absl::StatusOr<Authorization>& out) {
  Record* r = Find(id);
  const std::string what = absl::StrCat("Get ", r ? Label(*r) : id);
  // The engine reads the record from the store before anything else.
  if (!store_up) {
    ExpectError(out.status(), absl::StatusCode::kUnavailable, "fail-closed",
                what);
    return;
  }
  if (r == nullptr) {
    ExpectError(out.status(), absl::StatusCode::kNotFound, "decision", what);
    return;
  }
  if (r->gone || (MayBeGone(*r, now) && absl::IsNotFound(out.status()))) {
    r->gone = true;
    ExpectError(out.status(), absl::StatusCode::kNotFound, "ledger", what);
    return;
  }
  if (!out.ok()) {
    Fail("ledger", absl::StrCat(what, ": ", out.status().ToString()));
    return;
  }
  Authorization want = r->a;
  want.decision = Presented(r->a, now);
  if (const std::string d = DiffRecords(want, *out); !d.empty()) {
    Fail("ledger", absl::StrCat(what, ": ", d));
  }
}

void Oracle::OnListPending(
    absl::Time now, bool store_up,
    const absl::StatusOr<std::vector<Authorization>>& out) {
  if (!store_up) {
    ExpectError(out.status(), absl::StatusCode::kUnavailable, "fail-closed",
                "ListPendingApprovals");
    return;
  }
  if (!out.ok()) {
    Fail("decision",
         absl::StrCat("ListPendingApprovals: ", out.status().ToString()));
    return;
  }
  std::set<std::string> want, got;
  for (const Record& r : records_) {
    const Decision p = Presented(r.a, now);
    if (Live(r, now) &&
        (p == Decision::kPendingApproval || p == Decision::kDelayed)) {
      want.insert(absl::StrCat("#", r.index));
    }
  }
  for (const Authorization& a : *out) {
    const Record* r = Find(a.id);
    got.insert(r ? absl::StrCat("#", r->index) : a.id);
  }
  if (want != got) {
    Fail("ledger",
         absl::StrCat("ListPendingApprovals: {", absl::StrJoin(got, ","),
                      "}, the ledger has {", absl::StrJoin(want, ","), "}"));
  }
}

void Oracle::OnRebuild(absl::Time now, const absl::StatusOr<size_t>& restored) {
  if (!restored.ok()) {
    Fail("decision", absl::StrCat("rebuilding the store failed: ",
                                  restored.status().ToString()));
    return;
  }
  const absl::Time since = now - Retention();
  size_t expected = 0;
  for (Record& r : records_) {
    // The trail holds every record; those recent enough come back in their
    // last recorded state, the others are gone.
    r.gone = r.a.created_at < since;
    r.lost = r.gone;
    if (!r.gone) {
      ++expected;
      r.retain_until = r.a.created_at + Retention();
      to_check_.insert(static_cast<size_t>(r.index));
    }
  }
  if (*restored != expected) {
    Fail("ledger", absl::StrCat("the rebuild restored ", *restored,
                                " records; the trail has ", expected,
                                " created since ", Time(since)));
  }
  for (auto& [scope, st] : scopes_) {
    st.enforced = st.durable ? Enforced::kYes : Enforced::kNo;
  }
  // A key reused after its first record was dropped (retention) may name
  // two restored records: the store must answer with the newest, as it did
  // before the rebuild, which the replay checks see (KeyRecord).
}

// ---------------------------------------------------------------- checks

void Oracle::CheckAudit(const std::vector<TrailEvent>& events) {
  std::set<size_t> seen;
  std::map<std::string, int> decided;
  auto expected = expected_events_;
  for (const TrailEvent& te : events) {
    const AuditEvent& e = te.event;
    const std::string at = absl::StrCat("audit seq ", te.seq, " (",
                                        AuditEventTypeName(e.type), ")");
    if (e.authorization) {
      const Authorization& ea = *e.authorization;
      Record* r = Find(ea.id);
      if (r == nullptr) {
        Fail("audit", absl::StrCat(at, ": ", ea.id,
                                   " is no authorization the engine answered"));
        continue;
      }
      if (const std::string d = DiffRecords(r->a, ea); !d.empty()) {
        Fail(OnlyDelayedVotesDiffer(r->a, ea) ? "audit-vote" : "audit",
             absl::StrCat(at, " for ", Label(*r),
                          " disagrees with the ledger: ", d,
                          OnlyDelayedVotesDiffer(r->a, ea)
                              ? " (the record of a rejected DELAYED spend "
                                "lost the vote: who cancelled it)"
                              : ""));
      }
      seen.insert(static_cast<size_t>(r->index));
      if (e.type == AuditEvent::Type::kAuthorizationDecided) ++decided[ea.id];
      continue;
    }
    const std::string scope =
        e.type == AuditEvent::Type::kBundleApplied ? "" : e.scope;
    auto it = expected.find({e.type, scope});
    if (it == expected.end()) {
      Fail("audit", absl::StrCat(at, " ", e.scope, ": not expected"));
    } else {
      expected.erase(it);
    }
  }
  for (size_t i : changed_) {
    if (!seen.contains(i)) {
      Fail("audit", absl::StrCat(Label(records_[i]),
                                 " changed but no audit record says so"));
    }
  }
  for (const std::string& id : decided_) {
    if (decided[id] != 1) {
      Fail("audit", absl::StrCat(Label(*Find(id)), " has ", decided[id],
                                 " authorization.decided records, not 1"));
    }
  }
  for (const auto& [type, scope] : expected) {
    Fail("audit",
         absl::StrCat("no ", AuditEventTypeName(type), " record ", scope));
  }
}

void Oracle::CheckStore(absl::Time now, bool full) {
  std::vector<size_t> check;
  if (full) {
    check.resize(records_.size());
    for (size_t i = 0; i < check.size(); ++i) check[i] = i;
  } else {
    std::set<size_t> some = to_check_;
    some.insert(changed_.begin(), changed_.end());
    // A rotating sample, so that every record is compared now and then
    // without a store round trip per record per step (on Redis, the
    // sample's round trips cost about as much as the step itself).
    constexpr size_t kSample = 4;
    for (size_t n = 0; n < kSample && !records_.empty(); ++n) {
      some.insert(sample_cursor_++ % records_.size());
    }
    check.assign(some.begin(), some.end());
  }
  int64_t held = 0;
  for (const Record& r : records_) {
    if (!r.gone && r.a.status == AuthorizationStatus::kHeld) ++held;
  }
  for (size_t i : check) {
    Record& r = records_[i];
    if (r.gone) continue;
    absl::StatusOr<Authorization> got = store_->Get(policy_.org_id, r.a.id);
    if (absl::IsNotFound(got.status())) {
      if (MayBeGone(r, now)) {
        r.gone = true;
      } else {
        Fail("ledger", absl::StrCat(Label(r), " is missing from the store"));
      }
      continue;
    }
    if (!got.ok()) {
      Fail("ledger",
           absl::StrCat("Get ", Label(r), ": ", got.status().ToString()));
      continue;
    }
    if (const std::string d = DiffRecords(r.a, *got); !d.empty()) {
      // A rebuild restores what the trail recorded; the trail lost the vote.
      Fail(OnlyDelayedVotesDiffer(r.a, *got) ? "audit-vote" : "ledger",
           absl::StrCat(Label(r), " in the store: ", d));
      r.a = *got;
    }
  }
  absl::StatusOr<int64_t> counted = store_->CountHeld(policy_.org_id);
  if (!counted.ok()) {
    Fail("count-held",
         absl::StrCat("CountHeld: ", counted.status().ToString()));
  } else if (*counted != held) {
    Fail("count-held", absl::StrCat("CountHeld answers ", *counted,
                                    "; the ledger has ", held, " HELD"));
  }
}

}  // namespace warden::sim
