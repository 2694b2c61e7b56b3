#include "governance/budget_alerts.h"

#include <limits>
#include <utility>

#include "absl/numeric/int128.h"
#include "absl/strings/str_cat.h"
#include "governance/explain.h"
#include "governance/money.h"

namespace warden {
namespace {

std::string Figure(Limit::Kind kind, absl::int128 value) {
  const int64_t v = value > std::numeric_limits<int64_t>::max()
                        ? std::numeric_limits<int64_t>::max()
                        : static_cast<int64_t>(value);
  return kind == Limit::Kind::kUsd ? FormatUsdDecimal(v) : absl::StrCat(v);
}

std::string Text(Limit::Kind kind, int64_t value) {
  return kind == Limit::Kind::kUsd ? FormatUsd(value) : absl::StrCat(value);
}

}  // namespace

std::vector<ThresholdCrossing> CrossedThresholds(
    const Policy& policy, const eval::PathLimits& path,
    const std::vector<int64_t>& used_before, const Authorization& a) {
  std::vector<ThresholdCrossing> out;
  const std::vector<int>& thresholds = policy.org.alert_thresholds;
  if (thresholds.empty() || used_before.size() < path.checks.size()) {
    return out;
  }
  for (size_t i = 0; i < path.checks.size(); ++i) {
    const LimitCheck& check = path.checks[i];
    if (check.cap <= 0) continue;
    const Limit::Kind kind = check.kind;
    const absl::int128 before = used_before[i];
    const absl::int128 spend = kind == Limit::Kind::kUsd ? a.amount_usd : 1;
    const absl::int128 after = before + spend;
    int crossed = 0;
    for (int t : thresholds) {
      const absl::int128 line = absl::int128(check.cap) * t;
      if (before * 100 < line && after * 100 >= line) crossed = t;
    }
    if (crossed == 0) continue;
    ThresholdCrossing c;
    c.percent = crossed;
    Violation& v = c.limit;
    v.code = "BUDGET_THRESHOLD";
    v.scope = path.scopes[check.scope_index];
    v.limit = check.limit_name;
    if (kind == Limit::Kind::kUsd) {
      v.limit_usd = check.cap;
    } else {
      v.limit_count = check.cap;
    }
    v.window = path.limits[i]->window.spec;
    v.spent = Figure(kind, after);
    v.requested = Figure(kind, spend);
    v.remaining = Figure(kind, after >= check.cap ? 0 : check.cap - after);
    v.message =
        absl::StrCat(ScopeLabel(v.scope), " ", v.limit, " passed ", crossed,
                     "%: ", path.limits[i]->window.Describe(), " ",
                     kind == Limit::Kind::kUsd ? "spend " : "count ",
                     Text(kind, static_cast<int64_t>(before)), " + ",
                     Text(kind, static_cast<int64_t>(spend)), " (agent ",
                     a.agent_id, ") of ", Text(kind, check.cap));
    out.push_back(std::move(c));
  }
  return out;
}

bool IsBreach(const Violation& v) {
  return v.code == "BUDGET_EXCEEDED" || v.code == "COUNT_EXCEEDED";
}

std::string BreachThrottle::KeyOf(const Notification& n) {
  const std::string scope = n.limit ? n.limit->scope : "";
  const std::string limit = n.limit ? n.limit->limit : "";
  return absl::StrCat(n.org_id.size(), ":", n.org_id, scope.size(), ":", scope,
                      limit);
}

bool BreachThrottle::Admit(Notification& n) {
  absl::MutexLock lock(&mu_);
  auto it = limits_.find(KeyOf(n));
  if (it == limits_.end()) {
    if (limits_.size() >= max_keys_) {
      // Quiet limits make room; with none, this breach goes out untracked.
      std::vector<Notification> unused;
      FlushLocked(n.time, &unused);
      if (limits_.size() >= max_keys_) return true;
    }
    limits_[KeyOf(n)].sent_at = n.time;
    return true;
  }
  Limit& l = it->second;
  if (n.time - l.sent_at < every_) {
    ++l.held_back;
    l.last = n;
    return false;
  }
  n.folded = l.held_back;
  l.held_back = 0;
  l.sent_at = n.time;
  return true;
}

void BreachThrottle::FlushLocked(absl::Time now,
                                 std::vector<Notification>* out) {
  for (auto it = limits_.begin(); it != limits_.end();) {
    Limit& l = it->second;
    if (now - l.sent_at < every_) {
      ++it;
      continue;
    }
    if (l.held_back == 0) {
      limits_.erase(it++);
      continue;
    }
    Notification n = std::move(l.last);
    n.folded = l.held_back - 1;
    out->push_back(std::move(n));
    l.held_back = 0;
    l.sent_at = now;
    ++it;
  }
}

std::vector<Notification> BreachThrottle::Flush(absl::Time now) {
  std::vector<Notification> out;
  absl::MutexLock lock(&mu_);
  FlushLocked(now, &out);
  return out;
}

}  // namespace warden
