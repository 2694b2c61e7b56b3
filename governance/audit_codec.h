#ifndef WARDEN_GOVERNANCE_AUDIT_CODEC_H_
#define WARDEN_GOVERNANCE_AUDIT_CODEC_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "governance/audit_event.h"
#include "governance/authorization.h"

// How the audit trail is written: the JSON encoding of its events and of
// the records stored outside the process (Redis, Postgres, the audit file).
namespace warden {

// "authorization.decided", "bundle.applied", ...: an event's type as the
// trail writes it.
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

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_AUDIT_CODEC_H_
