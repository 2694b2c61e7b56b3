#ifndef WARDEN_TESTS_FAKES_RECORDING_SINK_H_
#define WARDEN_TESTS_FAKES_RECORDING_SINK_H_

#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "governance/notification.h"

namespace warden {

// Remembers every notification, in order.
class RecordingSink final : public NotificationSink {
 public:
  void Notify(const Notification& n) override {
    absl::MutexLock lock(&mu_);
    notifications_.push_back(n);
  }
  // Their events.
  std::vector<std::string> events() {
    absl::MutexLock lock(&mu_);
    std::vector<std::string> out;
    for (const Notification& n : notifications_) out.push_back(n.event);
    return out;
  }
  std::vector<Notification> notifications() {
    absl::MutexLock lock(&mu_);
    return notifications_;
  }

 private:
  absl::Mutex mu_;
  std::vector<Notification> notifications_ ABSL_GUARDED_BY(mu_);
};

}  // namespace warden

#endif  // WARDEN_TESTS_FAKES_RECORDING_SINK_H_
