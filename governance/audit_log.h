#ifndef WARDEN_GOVERNANCE_AUDIT_LOG_H_
#define WARDEN_GOVERNANCE_AUDIT_LOG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
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

  friend bool operator==(const AuditEvent&, const AuditEvent&) = default;
};

// "authorization.decided", "bundle.applied", ...
const char* AuditEventTypeName(AuditEvent::Type type);

// One JSON object on one line, keys sorted; money and base units as decimal
// strings, times as RFC 3339 UTC with nanoseconds.
std::string EncodeAuditEvent(const AuditEvent& event);

// The largest audit record, in bytes of its encoding. Every field that goes
// into one is bounded (request fields at the API, violations at
// kMaxViolations, bundle diffs at kMaxDiffLines), which keeps the largest
// possible record well below this; an audit log refuses a larger one
// (INTERNAL) rather than let anything grow the trail without bound.
inline constexpr size_t kMaxAuditRecordBytes = 128 << 10;
// EncodeAuditEvent, or INTERNAL past kMaxAuditRecordBytes.
absl::StatusOr<std::string> EncodeBoundedAuditEvent(const AuditEvent& event);
// The inverse of EncodeAuditEvent; INVALID_ARGUMENT naming the bad field.
absl::StatusOr<AuditEvent> DecodeAuditEvent(absl::string_view json);

// `text` with each invalid UTF-8 sequence replaced by U+FFFD. The audit
// trail (and Postgres) take only valid UTF-8; text from outside (a vendor's
// error, a node's message) goes through this before it is recorded.
std::string ValidUtf8(absl::string_view text);

// One authorization as a JSON object, in the same encoding the audit events
// embed. Used wherever a record is stored outside the process.
std::string EncodeAuthorization(const Authorization& a);
absl::StatusOr<Authorization> DecodeAuthorization(absl::string_view json);

// One approval vote as a JSON object, in the same encoding.
std::string EncodeApprovalVote(const ApprovalVote& v);
absl::StatusOr<ApprovalVote> DecodeApprovalVote(absl::string_view json);

// The durable audit trail. Append returns only once the event is durable;
// an error (UNAVAILABLE) means it may not be, and the caller must not report
// the decision it describes. Thread-safe; implementations batch concurrent
// appends into one sync.
class AuditLog {
 public:
  AuditLog() = default;
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;
  virtual ~AuditLog() = default;

  virtual absl::Status Append(const AuditEvent& event) = 0;
};

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_AUDIT_LOG_H_
