#include "governance/explain.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace warden {

std::string ListText(const std::vector<std::string>& items) {
  return absl::StrCat("[", absl::StrJoin(items, ", "), "]");
}

std::string FormatInstant(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}
namespace {

std::string Figure(Limit::Kind kind, int64_t value) {
  return kind == Limit::Kind::kUsd ? FormatUsd(value) : absl::StrCat(value);
}

std::string WireFigure(Limit::Kind kind, int64_t value) {
  return kind == Limit::Kind::kUsd ? FormatUsdDecimal(value)
                                   : absl::StrCat(value);
}

// "agent/<id>" (not one of its destinations).
bool IsAgentScope(const std::string& scope) {
  return scope.rfind("agent/", 0) == 0 &&
         scope.find('/', 6) == std::string::npos;
}

std::string ChildLabel(const std::string& child, const Policy& policy) {
  const size_t slash = child.find('/');
  const std::string id = child.substr(slash + 1);
  if (child.rfind("wallet/", 0) == 0) {
    auto it = policy.wallets.find(id);
    if (it != policy.wallets.end()) {
      return absl::StrCat(id, " on ", it->second.chain);
    }
  }
  return id;
}

}  // namespace

std::string SumText(Limit::Kind kind, int64_t used, int64_t requested) {
  const int64_t total = SaturatingAdd(used, requested);
  if (total == std::numeric_limits<int64_t>::max() && used > 0 &&
      requested > 0) {
    return absl::StrCat("more than ", Figure(kind, total));
  }
  return Figure(kind, total);
}

std::string ScopeLabel(const std::string& scope) {
  // "agent/<id>/destination/<address>": what the agent sends to one
  // address.
  if (const size_t to = scope.find("/destination/");
      to != std::string::npos && scope.rfind("agent/", 0) == 0) {
    return absl::StrCat("agent ", scope.substr(6, to - 6), " to ",
                        scope.substr(to + 13));
  }
  std::string label = scope;
  const size_t slash = label.find('/');
  if (slash != std::string::npos) label[slash] = ' ';
  return label;
}

Violation LimitViolation(const std::string& scope, const std::string& child,
                         const LimitCheck& check, const Window& window,
                         const LimitUsage& usage, int64_t requested,
                         const Policy& policy) {
  const Limit::Kind kind = check.kind;
  Violation v;
  v.code = kind == Limit::Kind::kUsd ? "BUDGET_EXCEEDED" : "COUNT_EXCEEDED";
  v.scope = scope;
  v.limit = check.limit_name;
  if (kind == Limit::Kind::kUsd) {
    v.limit_usd = check.cap;
  } else {
    v.limit_count = check.cap;
  }
  v.window = window.spec;
  v.spent = WireFigure(kind, usage.used);
  v.requested = WireFigure(kind, requested);
  v.remaining = WireFigure(kind, std::max<int64_t>(0, check.cap - usage.used));

  std::vector<std::string> parts;
  if (usage.child_used > 0) {
    parts.push_back(absl::StrCat(ChildLabel(child, policy), " ",
                                 Figure(kind, usage.child_used)));
  }
  if (!child.empty() && usage.used > usage.child_used) {
    parts.push_back(absl::StrCat("other ", child.substr(0, child.find('/')),
                                 "s ",
                                 Figure(kind, usage.used - usage.child_used)));
  }
  const int64_t pending = std::min(usage.pending, usage.used);
  if (pending > 0) {
    v.pending = WireFigure(kind, pending);
    parts.push_back(
        absl::StrCat("of which ", Figure(kind, pending), " pending approval"));
  }
  const std::string breakdown =
      parts.empty() ? "" : absl::StrCat(" (", absl::StrJoin(parts, ", "), ")");
  v.message = absl::StrCat(
      window.Describe(), kind == Limit::Kind::kUsd ? " spend " : " count ",
      Figure(kind, usage.used), breakdown, " + ", Figure(kind, requested),
      " = ", SumText(kind, usage.used, requested), " exceeds ",
      // The sentence opens with the agent's name; its own limits need only
      // "agent".
      IsAgentScope(scope) ? "agent" : ScopeLabel(scope), " ", check.limit_name,
      " ", Figure(kind, check.cap));
  return v;
}

std::string DenyReason(const Authorization& a,
                       std::vector<Violation>* violations) {
  const size_t total = violations->size();
  if (total > kMaxViolations) violations->resize(kMaxViolations);
  std::vector<std::string> messages;
  for (const Violation& v : *violations) messages.push_back(v.message);
  if (total > kMaxViolations) {
    messages.push_back(
        absl::StrCat("and ", total - kMaxViolations, " more violations"));
  }
  return absl::StrCat("DENY agent ", a.agent_id, ": ",
                      absl::StrJoin(messages, "; "));
}

std::string AllowReason(const Authorization& a, size_t limit_count) {
  return absl::StrCat("ALLOW agent ", a.agent_id, ": ", FormatUsd(a.amount_usd),
                      " from ", a.wallet_id, " on ", a.chain, " is within ",
                      limit_count == 1
                          ? "its 1 limit"
                          : absl::StrCat("its ", limit_count, " limits"));
}

}  // namespace warden
