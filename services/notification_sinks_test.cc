#include "services/notification_sinks.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/webhook_receiver.h"

namespace warden {
namespace {

using testing::WebhookReceiver;

constexpr char kSecret[] = "whsec_test";

Notification Example(const std::string& event = "approval.requested") {
  Notification n;
  n.id = "nt_1";
  n.event = event;
  n.time = absl::Now();
  n.org_id = "acme";
  n.actor = "agent/agent_a";
  n.message = "needs 2 approvals";
  n.authorization.id = "az_1";
  n.authorization.org_id = "acme";
  n.authorization.amount = 350;
  return n;
}

WebhookOptions Options(const std::string& url) {
  WebhookOptions o;
  o.url = url;
  o.secret = kSecret;
  o.initial_backoff = absl::Milliseconds(10);
  return o;
}

// Waits (bounded) until `done` holds.
template <typename Fn>
bool Eventually(Fn done) {
  for (int i = 0; i < 500; ++i) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return done();
}

TEST(WebhookSinkTest, DeliversSignedNotifications) {
  WebhookReceiver receiver;
  auto sink = WebhookNotificationSink::Create(Options(receiver.url()));
  ASSERT_TRUE(sink.ok()) << sink.status();
  (*sink)->Notify(Example());
  ASSERT_TRUE(Eventually([&] { return (*sink)->stats().delivered == 1; }));
  const WebhookReceiver::Request r = receiver.requests().at(0);
  EXPECT_EQ(r.event, "approval.requested");
  EXPECT_EQ(r.delivery, "nt_1");
  const nlohmann::json body = nlohmann::json::parse(r.body);
  EXPECT_EQ(body["event"], "approval.requested");
  EXPECT_EQ(body["authorization"]["id"], "az_1");
  EXPECT_EQ(body["authorization"]["amount"], "350");

  EXPECT_TRUE(VerifyWebhookSignature(kSecret, r.signature, r.body, absl::Now(),
                                     absl::Minutes(5)));
  // A wrong secret, an altered body or an old timestamp is detectable.
  EXPECT_FALSE(VerifyWebhookSignature("other", r.signature, r.body, absl::Now(),
                                      absl::Minutes(5)));
  std::string altered = r.body;
  altered.replace(altered.find("350"), 3, "999");
  EXPECT_FALSE(VerifyWebhookSignature(kSecret, r.signature, altered,
                                      absl::Now(), absl::Minutes(5)));
  EXPECT_FALSE(VerifyWebhookSignature(kSecret, r.signature, r.body,
                                      absl::Now() + absl::Hours(1),
                                      absl::Minutes(5)));
  EXPECT_FALSE(VerifyWebhookSignature(kSecret, "garbage", r.body, absl::Now(),
                                      absl::Minutes(5)));
}

TEST(WebhookSinkTest, RetriesServerErrorsWithBackoff) {
  WebhookReceiver receiver({503, 500});
  auto sink = WebhookNotificationSink::Create(Options(receiver.url()));
  ASSERT_TRUE(sink.ok());
  (*sink)->Notify(Example());
  ASSERT_TRUE(Eventually([&] { return (*sink)->stats().delivered == 1; }));
  EXPECT_EQ((*sink)->stats().retries, 2);
  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 3u);
  // The same delivery id each time, so the receiver can de-duplicate.
  EXPECT_EQ(requests[0].delivery, requests[2].delivery);
}

TEST(WebhookSinkTest, HonoursRetryAfter) {
  WebhookReceiver receiver({429});
  auto sink = WebhookNotificationSink::Create(Options(receiver.url()));
  ASSERT_TRUE(sink.ok());
  (*sink)->Notify(Example());
  ASSERT_TRUE(Eventually([&] { return (*sink)->stats().delivered == 1; }));
  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_GE(requests[1].at - requests[0].at, absl::Milliseconds(950));
}

TEST(WebhookSinkTest, ClientErrorsAreFinal) {
  WebhookReceiver receiver({400});
  auto sink = WebhookNotificationSink::Create(Options(receiver.url()));
  ASSERT_TRUE(sink.ok());
  (*sink)->Notify(Example());
  ASSERT_TRUE(Eventually([&] { return (*sink)->stats().failed == 1; }));
  EXPECT_EQ(receiver.requests().size(), 1u);
}

TEST(WebhookSinkTest, GivesUpAfterMaxAttempts) {
  // Nothing listens on this port once the receiver is gone.
  std::string url;
  { url = WebhookReceiver().url(); }
  WebhookOptions o = Options(url);
  o.max_attempts = 3;
  auto sink = WebhookNotificationSink::Create(o);
  ASSERT_TRUE(sink.ok());
  (*sink)->Notify(Example());
  ASSERT_TRUE(Eventually([&] { return (*sink)->stats().failed == 1; }));
  EXPECT_EQ((*sink)->stats().retries, 2);
}

TEST(WebhookSinkTest, QueueIsBounded) {
  WebhookReceiver receiver({}, absl::Milliseconds(300));
  WebhookOptions o = Options(receiver.url());
  o.max_queue = 2;
  auto sink = WebhookNotificationSink::Create(o);
  ASSERT_TRUE(sink.ok());
  for (int i = 0; i < 10; ++i) (*sink)->Notify(Example());
  // At most one in flight and two queued; the rest were dropped at once.
  EXPECT_GE((*sink)->stats().dropped, 7);
}

TEST(WebhookSinkTest, RejectsBadOptions) {
  WebhookOptions o = Options("ftp://example.com/hook");
  EXPECT_EQ(WebhookNotificationSink::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = Options("http://127.0.0.1:1/hook");
  o.secret.clear();
  EXPECT_EQ(WebhookNotificationSink::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace warden
