#ifndef WARDEN_SERVICES_NOTIFICATION_SINKS_H_
#define WARDEN_SERVICES_NOTIFICATION_SINKS_H_

#include <cstdint>
#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "governance/notification.h"

namespace warden {

// Logs each notification as one line.
class LogNotificationSink final : public NotificationSink {
 public:
  void Notify(const Notification& n) override;
};

// Hands each notification to every sink in turn.
class FanoutNotificationSink final : public NotificationSink {
 public:
  explicit FanoutNotificationSink(std::vector<NotificationSink*> sinks)
      : sinks_(std::move(sinks)) {}
  void Notify(const Notification& n) override {
    for (NotificationSink* s : sinks_) s->Notify(n);
  }

 private:
  const std::vector<NotificationSink*> sinks_;
};

struct WebhookOptions {
  // http:// or https:// URL that receives each notification as a POST.
  std::string url;
  // Key of the HMAC-SHA256 signature; required.
  std::string secret;
  // Send SlackBody instead of the notification's JSON (the signature and
  // headers stay).
  bool slack = false;
  // Notifications waiting for delivery; when full, the oldest is dropped.
  size_t max_queue = 10000;
  // Attempts per notification, the first included.
  int max_attempts = 6;
  absl::Duration initial_backoff = absl::Milliseconds(500);
  absl::Duration max_backoff = absl::Seconds(30);
  absl::Duration request_timeout = absl::Seconds(5);
  // How long the destructor keeps delivering what is queued (one attempt
  // each) before it gives up on the rest.
  absl::Duration drain_timeout = absl::Seconds(2);
};

// The signature header's value for `body` sent at `unix_seconds`:
// "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>". Receivers
// recompute it, compare in constant time and reject old timestamps.
std::string WebhookSignature(const std::string& secret, int64_t unix_seconds,
                             const std::string& body);
// Whether `header` (the X-Warden-Signature value) signs `body` with
// `secret`, at most `tolerance` away from `now`.
bool VerifyWebhookSignature(const std::string& secret,
                            const std::string& header, const std::string& body,
                            absl::Time now, absl::Duration tolerance);

// A Slack-compatible incoming-webhook body for `n`: {"text": "..."} with
// its event, org and message.
std::string SlackBody(const Notification& n);

// POSTs each notification, as JSON (EncodeNotification, or SlackBody), to a URL
// with headers X-Warden-Event, X-Warden-Delivery (the notification id, for
// de-duplication) and X-Warden-Signature. A worker thread delivers from a
// bounded queue, so Notify never blocks on the network. Connection errors,
// timeouts, 429 and 5xx are retried with exponential backoff (honouring
// Retry-After); other answers are final.
class WebhookNotificationSink final : public NotificationSink {
 public:
  // INVALID_ARGUMENT for a URL that is not http(s) or an empty secret.
  static absl::StatusOr<std::unique_ptr<WebhookNotificationSink>> Create(
      WebhookOptions options);
  ~WebhookNotificationSink() override;

  void Notify(const Notification& n) override;

  struct Stats {
    int64_t delivered = 0;
    int64_t failed = 0;   // Gave up after the last attempt, or a final no.
    int64_t dropped = 0;  // Pushed out of a full queue.
    int64_t retries = 0;
  };
  Stats stats() const;

 private:
  struct Pending {
    std::string id;
    std::string event;
    std::string body;
  };
  // What one attempt learned.
  struct Attempt {
    bool delivered = false;
    bool retryable = false;
    absl::Duration retry_after;  // From the Retry-After header, if any.
    std::string error;
  };

  explicit WebhookNotificationSink(WebhookOptions options);
  void Run();
  Attempt Post(const Pending& p) const;

  const WebhookOptions options_;
  mutable absl::Mutex mu_;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  Stats stats_ ABSL_GUARDED_BY(mu_);
  std::thread worker_;
};

}  // namespace warden

#endif  // WARDEN_SERVICES_NOTIFICATION_SINKS_H_
