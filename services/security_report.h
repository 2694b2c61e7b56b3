#ifndef WARDEN_SERVICES_SECURITY_REPORT_H_
#define WARDEN_SERVICES_SECURITY_REPORT_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "governance/audit_reader.h"
#include "governance/credentials.h"
#include "governance/policy.h"
#include "governance/policy_change.h"
#include "governance/vendor_freezer.h"

// A baseline check of one org's set-up (AuditService.SecurityReport,
// `wardenctl report security`): what is in force and whether it is what
// was approved, and what needs someone's attention.
namespace warden {

struct SecurityFinding {
  // bundle, policy_changes, agent_without_limits, wallet_freeze,
  // token_expiring, token_unused, admin_token, agent_not_seen, audit_chain.
  std::string kind;
  std::string subject;  // "org/acme", "agent/bot", "wallet/w1", "tok_..."
  std::string detail;   // One sentence.
  bool attention = false;
};

struct SecurityReport {
  std::string org_id;
  int64_t bundle_version = 0;
  std::string bundle_sha256;
  std::vector<SecurityFinding> findings;

  bool NeedsAttention() const;
};

// What the report reads.
struct SecuritySources {
  const Policy* policy = nullptr;     // In force.
  std::vector<PolicyChange> changes;  // The org's, any state.
  std::vector<ApiToken> tokens;       // The org's.
  // The freeze a wallet's vendor offers through this wardend's adapters;
  // nullopt: none (no adapter serves the vendor).
  std::function<std::optional<VendorFreeze::Strength>(const Wallet&)>
      freeze_control;
  // Postgres, or the audit file's index; null: no trail to read.
  AuditReader* reader = nullptr;
  absl::Time now;
};

inline constexpr absl::Duration kTokenExpiryWarning = absl::Hours(24 * 14);
inline constexpr absl::Duration kAgentIdleWarning = absl::Hours(24 * 30);
inline constexpr absl::Duration kTokenIdleWarning = absl::Hours(24 * 30);

SecurityReport BuildSecurityReport(const SecuritySources& sources);

}  // namespace warden

#endif  // WARDEN_SERVICES_SECURITY_REPORT_H_
