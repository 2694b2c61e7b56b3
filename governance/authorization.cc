#include "governance/authorization.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace warden {

const char* DecisionName(Decision d) {
  switch (d) {
    case Decision::kAllow:
      return "ALLOW";
    case Decision::kDeny:
      return "DENY";
    case Decision::kPendingApproval:
      return "PENDING_APPROVAL";
    case Decision::kDelayed:
      return "DELAYED";
    case Decision::kUnspecified:
      break;
  }
  return "UNSPECIFIED";
}

const char* StatusName(AuthorizationStatus s) {
  switch (s) {
    case AuthorizationStatus::kHeld:
      return "HELD";
    case AuthorizationStatus::kSettled:
      return "SETTLED";
    case AuthorizationStatus::kVoided:
      return "VOIDED";
    case AuthorizationStatus::kExpired:
      return "EXPIRED";
    case AuthorizationStatus::kDenied:
      return "DENIED";
  }
  return "UNKNOWN";
}

bool ParseStatusName(absl::string_view name, AuthorizationStatus* out) {
  for (AuthorizationStatus s :
       {AuthorizationStatus::kHeld, AuthorizationStatus::kSettled,
        AuthorizationStatus::kVoided, AuthorizationStatus::kExpired,
        AuthorizationStatus::kDenied}) {
    if (name == StatusName(s)) {
      *out = s;
      return true;
    }
  }
  return false;
}

bool Authorization::Charges() const {
  return status == AuthorizationStatus::kHeld ||
         status == AuthorizationStatus::kSettled ||
         (status == AuthorizationStatus::kExpired && expired_counted);
}

UsdMicros Authorization::ChargedUsd() const {
  if (!Charges()) return 0;
  return status == AuthorizationStatus::kSettled ? settled_usd : amount_usd;
}

Decision Authorization::DecisionAt(absl::Time now) const {
  if (decision == Decision::kDelayed && status == AuthorizationStatus::kHeld &&
      now >= release_at) {
    return Decision::kAllow;
  }
  return decision;
}

int Authorization::Approvals() const {
  return static_cast<int>(
      std::count_if(votes.begin(), votes.end(),
                    [](const ApprovalVote& v) { return v.approve; }));
}

std::vector<std::string> ScopePath(const Authorization& a) {
  if (!a.scope_path.empty()) return a.scope_path;
  return {absl::StrCat("org/", a.org_id),
          absl::StrCat("department/", a.department_id),
          absl::StrCat("agent/", a.agent_id),
          absl::StrCat("wallet/", a.wallet_id)};
}

bool OnScopePath(const Authorization& a, absl::string_view scope) {
  if (!a.scope_path.empty()) {
    return std::find(a.scope_path.begin(), a.scope_path.end(), scope) !=
           a.scope_path.end();
  }
  const size_t slash = scope.find('/');
  if (slash == absl::string_view::npos) return false;
  const absl::string_view kind = scope.substr(0, slash);
  const absl::string_view id = scope.substr(slash + 1);
  return (kind == "org" && id == a.org_id) ||
         (kind == "department" && id == a.department_id) ||
         (kind == "agent" && id == a.agent_id) ||
         (kind == "wallet" && id == a.wallet_id);
}

bool IsValidTraceparent(absl::string_view v) {
  if (v.size() != 55 || v[2] != '-' || v[35] != '-' || v[52] != '-') {
    return false;
  }
  auto hex = [&](size_t from, size_t n) {
    bool nonzero = false;
    for (size_t i = from; i < from + n; ++i) {
      const char c = v[i];
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return -1;
      nonzero |= c != '0';
    }
    return nonzero ? 1 : 0;
  };
  return hex(0, 2) >= 0 && v.substr(0, 2) != "ff" && hex(3, 32) == 1 &&
         hex(36, 16) == 1 && hex(53, 2) >= 0;
}

}  // namespace warden
