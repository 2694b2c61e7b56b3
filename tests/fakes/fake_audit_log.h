#ifndef WARDEN_TESTS_FAKES_FAKE_AUDIT_LOG_H_
#define WARDEN_TESTS_FAKES_FAKE_AUDIT_LOG_H_

#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "governance/audit_log.h"

namespace warden {

// An in-memory AuditLog whose appends can be made to fail, for tests of
// what the engine does when the audit trail is unavailable.
class FakeAuditLog final : public AuditLog {
 public:
  absl::Status Append(const AuditEvent& event) override {
    absl::MutexLock lock(&mu_);
    if (!fail_with_.ok()) return fail_with_;
    events_.push_back(event);
    return absl::OkStatus();
  }

  // Every later Append fails with `status` (OK to heal).
  void FailWith(absl::Status status) {
    absl::MutexLock lock(&mu_);
    fail_with_ = std::move(status);
  }

  std::vector<AuditEvent> events() const {
    absl::MutexLock lock(&mu_);
    return events_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<AuditEvent> events_ ABSL_GUARDED_BY(mu_);
  absl::Status fail_with_ ABSL_GUARDED_BY(mu_);
};

}  // namespace warden

#endif  // WARDEN_TESTS_FAKES_FAKE_AUDIT_LOG_H_
