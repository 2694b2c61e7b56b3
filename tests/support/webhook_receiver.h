#ifndef WARDEN_TESTS_SUPPORT_WEBHOOK_RECEIVER_H_
#define WARDEN_TESTS_SUPPORT_WEBHOOK_RECEIVER_H_

#include <httplib.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace warden::testing {

// A webhook receiver on loopback that records each request and answers with
// the status codes it is given, then 200.
class WebhookReceiver {
 public:
  struct Request {
    std::string body;
    std::string event, delivery, signature;
    absl::Time at;
  };

  explicit WebhookReceiver(std::vector<int> statuses = {},
                           absl::Duration delay = absl::ZeroDuration())
      : statuses_(std::move(statuses)) {
    server_.Post("/hook", [this, delay](const httplib::Request& req,
                                        httplib::Response& res) {
      absl::SleepFor(delay);
      absl::MutexLock lock(&mu_);
      requests_.push_back({req.body, req.get_header_value("X-Warden-Event"),
                           req.get_header_value("X-Warden-Delivery"),
                           req.get_header_value("X-Warden-Signature"),
                           absl::Now()});
      const size_t i = requests_.size() - 1;
      res.status = i < statuses_.size() ? statuses_[i] : 200;
      if (res.status == 429) res.set_header("Retry-After", "1");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() before the loop runs would leave it running.
    for (int i = 0; i < 500 && !server_.is_running(); ++i) {
      absl::SleepFor(absl::Milliseconds(2));
    }
  }
  ~WebhookReceiver() {
    server_.stop();
    thread_.join();
  }

  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/hook";
  }
  std::vector<Request> requests() {
    absl::MutexLock lock(&mu_);
    return requests_;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  const std::vector<int> statuses_;
  absl::Mutex mu_;
  std::vector<Request> requests_ ABSL_GUARDED_BY(mu_);
};

}  // namespace warden::testing

#endif  // WARDEN_TESTS_SUPPORT_WEBHOOK_RECEIVER_H_
