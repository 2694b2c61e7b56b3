#include "governance/policy.h"

#include <algorithm>
#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace warden {

const char* OnViolationName(OnViolation on) {
  switch (on) {
    case OnViolation::kDeny:
      return "deny";
    case OnViolation::kApprove:
      return "approve";
    case OnViolation::kNotify:
      return "notify";
  }
  return "deny";
}

std::string NormalizeDestination(const std::string& destination) {
  if (destination.size() > 2 && destination[0] == '0' &&
      (destination[1] == 'x' || destination[1] == 'X')) {
    return absl::AsciiStrToLower(destination);
  }
  return destination;
}

std::string PriceFeed::Describe() const {
  switch (kind) {
    case Kind::kChainlink:
      return absl::StrCat("chainlink ", chain, " ", aggregator);
    case Kind::kFile:
      return absl::StrCat("price file signed by ", public_key);
    case Kind::kFixed:
      break;
  }
  return "fixed";
}

std::vector<const char*> Anomalies::Approving() const {
  std::vector<const char*> out;
  auto approve = [](const auto& d) {
    return d && d->on == OnViolation::kApprove;
  };
  if (approve(split)) out.push_back("split");
  if (approve(volume_spike)) out.push_back("volume_spike");
  if (approve(new_destinations)) out.push_back("new_destinations");
  return out;
}

std::vector<const Department*> DepartmentChain(const Policy& policy,
                                               const std::string& department) {
  std::vector<const Department*> chain;
  for (std::string id = department;
       !id.empty() && chain.size() <= kMaxDepartmentDepth;) {
    auto it = policy.departments.find(id);
    if (it == policy.departments.end()) break;
    chain.push_back(&it->second);
    id = it->second.parent;
  }
  std::reverse(chain.begin(), chain.end());
  return chain;
}

const ApprovalTiers* EscalationApprovers(const Agent& agent,
                                         const Department* department) {
  if (agent.approvals && !agent.approvals->approvers.empty()) {
    return &*agent.approvals;
  }
  if (department != nullptr && department->approvals &&
      !department->approvals->approvers.empty()) {
    return &*department->approvals;
  }
  return nullptr;
}

std::string RetiredAddressScope(const std::string& chain,
                                const std::string& address) {
  return absl::StrCat("address/", chain, ":", NormalizeDestination(address));
}

std::optional<UsdMicros> TierThresholds::Of(Tier tier) const {
  switch (tier) {
    case Tier::kNotify:
      return notify_above_usd;
    case Tier::kDelay:
      return delay_above_usd;
    case Tier::kApproval:
      return approval_above_usd;
    case Tier::kInstant:
      break;
  }
  return std::nullopt;
}

bool IsValidId(absl::string_view id) {
  bool ok = !id.empty() && id.size() <= 64;
  for (char c : id) {
    ok = ok && (absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
                c == '_' || c == '-' || c == '.');
  }
  return ok;
}

const char* TierName(Tier tier) {
  switch (tier) {
    case Tier::kNotify:
      return "notify";
    case Tier::kDelay:
      return "delay";
    case Tier::kApproval:
      return "approval";
    case Tier::kInstant:
      break;
  }
  return "instant";
}

}  // namespace warden
