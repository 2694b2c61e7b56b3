#include "governance/audit_event.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace warden {

AuditEvent AuditEvent::ForAuthorization(Type type, absl::Time time,
                                        std::string actor, Authorization a) {
  AuditEvent e;
  e.type = type;
  e.time = time;
  e.org_id = a.org_id;
  e.actor = std::move(actor);
  e.authorization = std::move(a);
  return e;
}

AuditEvent AuditEvent::ForScope(Type type, absl::Time time, std::string org_id,
                                std::string actor, std::string scope,
                                std::string reason, bool decommissioned) {
  AuditEvent e;
  e.type = type;
  e.time = time;
  e.org_id = std::move(org_id);
  e.actor = std::move(actor);
  e.scope = std::move(scope);
  e.reason = std::move(reason);
  e.decommissioned = decommissioned;
  return e;
}

AuditEvent AuditEvent::ForReason(Type type, absl::Time time, std::string org_id,
                                 std::string actor, std::string reason) {
  return ForScope(type, time, std::move(org_id), std::move(actor), "",
                  std::move(reason));
}

AuditEvent AuditEvent::ForVendorFreeze(absl::Time time, std::string org_id,
                                       std::string actor,
                                       const std::string& wallet_id,
                                       std::string reason,
                                       std::optional<bool> vendor_frozen,
                                       std::string vendor_restore) {
  AuditEvent e =
      ForScope(Type::kVendorFreeze, time, std::move(org_id), std::move(actor),
               "wallet/" + wallet_id, std::move(reason));
  e.vendor_frozen = vendor_frozen;
  e.vendor_restore = std::move(vendor_restore);
  return e;
}

AuditEvent AuditEvent::ForBundle(absl::Time time, std::string org_id,
                                 std::string actor, int64_t version,
                                 std::vector<std::string> diff) {
  AuditEvent e;
  e.type = Type::kBundleApplied;
  e.time = time;
  e.org_id = std::move(org_id);
  e.actor = std::move(actor);
  e.policy_version = version;
  e.diff = std::move(diff);
  return e;
}

}  // namespace warden
