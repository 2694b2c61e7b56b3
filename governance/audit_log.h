#ifndef WARDEN_GOVERNANCE_AUDIT_LOG_H_
#define WARDEN_GOVERNANCE_AUDIT_LOG_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
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

  // Appends `event` and calls `done` once with the outcome when it is
  // durable: on the log's own thread if it batches (returning before), or
  // before returning (by default, with Append's outcome; and a refusal);
  // never under a lock of the log's, so the caller must not hold one that
  // `done` takes.
  virtual void AppendAsync(const AuditEvent& event,
                           std::function<void(absl::Status)> done) {
    done(Append(event));
  }

  // Whether the trail holds the decision of `authorization_id` (its
  // authorization.decided record), asked before a same-key retry replays a
  // record that another process may still be writing: kInFlight while an
  // append made at `created_at` may still land, kNever once it cannot (its
  // writer failed or died, and its hold is owed a release). A log that only
  // this process writes says kRecorded: the engine knows what it has in
  // flight.
  enum class Recording { kRecorded, kInFlight, kNever };
  virtual absl::StatusOr<Recording> Recorded(
      const std::string& org_id, const std::string& authorization_id,
      absl::Time created_at) {
    (void)org_id;
    (void)authorization_id;
    (void)created_at;
    return Recording::kRecorded;
  }

  // How long after an append, made by any process writing this log, it has
  // landed or never will, measured on one clock (Recorded, comparing
  // replicas' clocks, allows them to differ on top). Zero for a log only
  // this process writes.
  virtual absl::Duration LandingBound() const { return absl::ZeroDuration(); }

  // Returns once every append made before it has called back (a server
  // stopping calls it before it destroys what the callbacks reach).
  virtual void Drain() {}
};

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_AUDIT_LOG_H_
