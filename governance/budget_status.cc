#include "governance/budget_status.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "governance/quote.h"
#include "governance/status_macros.h"
#include "governance/usage_buckets.h"

namespace warden {
namespace {

// Scopes and their limits, in the order they are shown.
class ScopeList {
 public:
  explicit ScopeList(const Policy& policy) : policy_(policy) {}

  void Add(std::string scope, const std::vector<Limit>& limits) {
    for (const Limit& l : limits) entries_.push_back({scope, &l});
  }
  void AddWallet(const Wallet& w) {
    Add(absl::StrCat("wallet/", w.id), w.limits);
  }
  void AddAgent(const Agent& a, bool below) {
    Add(absl::StrCat("agent/", a.id), a.limits);
    if (!below) return;
    for (const std::string& w : a.wallet_ids) {
      if (auto it = policy_.wallets.find(w); it != policy_.wallets.end()) {
        AddWallet(it->second);
      }
    }
  }
  // The department, then with `below` each department directly under it
  // (and theirs), then its own agents.
  void AddDepartment(const Department& d, bool below) {
    Add(absl::StrCat("department/", d.id), d.limits);
    if (!below) return;
    for (const auto& [id, child] : policy_.departments) {
      if (child.parent == d.id) AddDepartment(child, below);
    }
    for (const auto& [id, agent] : policy_.agents) {
      if (agent.department == d.id) AddAgent(agent, below);
    }
  }

  struct Entry {
    std::string scope;
    const Limit* limit;
  };
  const std::vector<Entry>& entries() const { return entries_; }

 private:
  const Policy& policy_;
  std::vector<Entry> entries_;
};

absl::Status NotInPolicy(absl::string_view scope) {
  return absl::NotFoundError(
      absl::StrCat("scope: ", Quote(scope), " is not in the policy in force"));
}

}  // namespace

double LimitStatus::Utilization() const {
  const int64_t cap = limit.kind == Limit::Kind::kUsd ? limit.usd : limit.count;
  if (cap <= 0) return 1.0;
  return static_cast<double>(used) / static_cast<double>(cap);
}

absl::StatusOr<BudgetReport> BudgetStatus(const Policy& policy,
                                          BudgetStore& store,
                                          const std::string& scope, bool below,
                                          absl::Time now) {
  const size_t slash = scope.find('/');
  if (slash == std::string::npos || slash + 1 == scope.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("scope: must be org/<id>, department/<id>, agent/<id> or "
                     "wallet/<id>, not ",
                     Quote(scope)));
  }
  const std::string kind = scope.substr(0, slash);
  const std::string id = scope.substr(slash + 1);
  ScopeList list(policy);
  if (kind == "org") {
    if (id != policy.org.id) return NotInPolicy(scope);
    list.Add(scope, policy.org.limits);
    if (below) {
      for (const auto& [chain, limits] : policy.org.chain_limits) {
        list.Add(absl::StrCat("chain/", chain), limits);
      }
      for (const auto& [asset, limits] : policy.org.asset_limits) {
        list.Add(absl::StrCat("asset/", asset), limits);
      }
      for (const auto& [d, dept] : policy.departments) {
        if (dept.parent.empty()) list.AddDepartment(dept, below);
      }
    }
  } else if (kind == "department") {
    auto it = policy.departments.find(id);
    if (it == policy.departments.end()) return NotInPolicy(scope);
    list.AddDepartment(it->second, below);
  } else if (kind == "agent") {
    auto it = policy.agents.find(id);
    if (it == policy.agents.end()) return NotInPolicy(scope);
    list.AddAgent(it->second, below);
  } else if (kind == "wallet") {
    auto it = policy.wallets.find(id);
    if (it == policy.wallets.end()) return NotInPolicy(scope);
    list.AddWallet(it->second);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("scope: unknown kind ", Quote(kind),
                     "; must be org, department, agent or wallet"));
  }

  BudgetReport report{.org_id = policy.org.id, .as_of = now};
  std::vector<UsageQuery> queries;
  std::vector<LimitStatus>& out = report.limits;
  for (const ScopeList::Entry& e : list.entries()) {
    LimitStatus s;
    s.scope = e.scope;
    s.limit = *e.limit;
    s.interval = WindowAt(e.limit->window, now, policy.org.timezone);
    queries.push_back(
        {.scope = e.scope,
         .kind = e.limit->kind,
         .interval = s.interval,
         .calendar = e.limit->window.kind == Window::Kind::kCalendar});
    out.push_back(std::move(s));
  }
  if (queries.empty()) return report;
  WARDEN_ASSIGN_OR_RETURN(std::vector<UsageBreakdown> got,
                          store.Breakdown(policy.org.id, queries, now));
  if (got.size() != out.size()) {
    return absl::InternalError("budget store answered the wrong count");
  }
  for (size_t i = 0; i < out.size(); ++i) {
    LimitStatus& s = out[i];
    const UsageBreakdown& b = got[i];
    const int64_t cap =
        s.limit.kind == Limit::Kind::kUsd ? s.limit.usd : s.limit.count;
    s.used = b.used;
    // What the holds read is part of `used`; a clamp keeps a hold created
    // within the second the window starts from making settled negative.
    s.pending = std::min(b.pending, s.used);
    s.held = std::min(b.held, s.used - s.pending);
    s.settled = s.used - s.pending - s.held;
    s.remaining = std::max<int64_t>(0, cap - s.used);
    if (queries[i].calendar) {
      if (s.used > 0) s.rolls_off_at = s.interval.end;
    } else if (b.oldest) {
      // The oldest bucket leaves once the window's start passes its end.
      s.rolls_off_at =
          b.oldest->end + s.limit.window.length + usage::kClockSkewAllowance;
    }
  }
  return report;
}

}  // namespace warden
