#ifndef WARDEN_GOVERNANCE_AUDIT_EVENT_H_
#define WARDEN_GOVERNANCE_AUDIT_EVENT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "governance/authorization.h"

namespace warden {

// One entry of the audit trail.
struct AuditEvent {
  enum class Type {
    kAuthorizationDecided,  // Authorize answered (allow, deny or pending).
    kAuthorizationSettled,
    kAuthorizationVoided,
    kAuthorizationExpired,
    // An approver approved or rejected (the record carries the vote; a
    // quorum turns it into an allow, a rejection voids it).
    kAuthorizationVoted,
    kBundleApplied,
    kScopeFrozen,  // FreezeScope, or DecommissionAgent (decommissioned).
    kScopeUnfrozen,
    // A call refused for want of a valid credential or role; `reason` says
    // what was asked and why it was refused, `actor` who asked from where.
    kAccessDenied,
    // An API token created or revoked; `reason` names the token, its
    // principal and roles.
    kTokenCreated,
    kTokenRevoked,
    // A SubmitTransaction operation changed state; `reason` names the
    // operation, its authorization, the new state, the tx hash and any
    // error (an UNKNOWN send among them).
    kOperationUpdated,
    // FreezeScope, DecommissionAgent or UnfreezeScope reached a wallet's
    // vendor; `reason` names the wallet, the vendor and the outcome (done,
    // unsupported or failed with why).
    kVendorFreeze,
    // Reconciliation found a vendor transaction Warden never authorized
    // (shadow spend) or one Warden authorized but has not settled (a
    // missing settlement); `reason` says which, with the wallet, tx hash,
    // amount and authorization.
    kReconcileFinding,
    // A four-eyes policy change was requested, approved, rejected,
    // superseded or expired; `reason` names the change, its author, its
    // base version, the votes and what it loosens.
    kPolicyChange,
    // An apply whose bundle.applied record was written but which did not
    // take effect (another replica put the same version in force first):
    // `reason` says so, and that record stands void.
    kBundleNotApplied,
  };
  Type type = Type::kAuthorizationDecided;
  absl::Time time;
  std::string org_id;
  std::string actor;  // Who caused it: a principal, or "system".
  // The record after the event, for authorization events.
  std::optional<Authorization> authorization;
  // For kBundleApplied: the new version and what changed.
  int64_t policy_version = 0;
  std::vector<std::string> diff;
  // For kScopeFrozen / kScopeUnfrozen (scope and reason), and the access
  // and token events (reason).
  std::string scope;
  std::string reason;
  bool decommissioned = false;
  // For kVendorFreeze (`scope` is then "wallet/<id>"): set when the vendor
  // call succeeded, true for a freeze and false for an unfreeze, with what
  // a freeze must restore (VendorFreeze::restore). Replayed by embedded
  // mode to rebuild its record of wallets frozen at their vendors.
  std::optional<bool> vendor_frozen;
  std::string vendor_restore;

  // The events the engine writes, each with the fields its type carries.
  // An authorization event: the record as it is after `type`.
  static AuditEvent ForAuthorization(Type type, absl::Time time,
                                     std::string actor, Authorization a);
  // kScopeFrozen or kScopeUnfrozen.
  static AuditEvent ForScope(Type type, absl::Time time, std::string org_id,
                             std::string actor, std::string scope,
                             std::string reason, bool decommissioned = false);
  // An event that carries a reason only: kAccessDenied, kTokenCreated,
  // kTokenRevoked, kOperationUpdated, kReconcileFinding, kPolicyChange,
  // kBundleNotApplied.
  static AuditEvent ForReason(Type type, absl::Time time, std::string org_id,
                              std::string actor, std::string reason);
  // kVendorFreeze for `wallet_id`, with the vendor call's outcome.
  static AuditEvent ForVendorFreeze(absl::Time time, std::string org_id,
                                    std::string actor,
                                    const std::string& wallet_id,
                                    std::string reason,
                                    std::optional<bool> vendor_frozen,
                                    std::string vendor_restore);
  // kBundleApplied.
  static AuditEvent ForBundle(absl::Time time, std::string org_id,
                              std::string actor, int64_t version,
                              std::vector<std::string> diff);

  friend bool operator==(const AuditEvent&, const AuditEvent&) = default;
};

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_AUDIT_EVENT_H_
