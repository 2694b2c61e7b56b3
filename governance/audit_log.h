#ifndef WARDEN_GOVERNANCE_AUDIT_LOG_H_
#define WARDEN_GOVERNANCE_AUDIT_LOG_H_

#include "absl/status/status.h"
#include "governance/audit_event.h"

namespace warden {

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
