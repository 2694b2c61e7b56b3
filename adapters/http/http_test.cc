#include "adapters/http/http.h"

#include <atomic>
#include <memory>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "tests/support/redis_server.h"

namespace warden::http {
namespace {

// A loopback server whose answers the test scripts; counts requests.
class Server {
 public:
  explicit Server(httplib::Server::Handler handler) {
    port_ = testing::FreeLoopbackPort().value_or(0);
    server_.Post("/", [this, handler](const httplib::Request& req,
                                      httplib::Response& res) {
      ++requests_;
      handler(req, res);
    });
    server_.bind_to_port("127.0.0.1", port_);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    for (int i = 0; i < 500 && !server_.is_running(); ++i) {
      absl::SleepFor(absl::Milliseconds(2));
    }
  }
  ~Server() {
    server_.stop();
    thread_.join();
  }
  std::string url() const {
    return absl::StrCat("http://127.0.0.1:", port_, "/");
  }
  int requests() const { return requests_; }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::atomic<int> requests_{0};
  std::thread thread_;
};

RetryPolicy Fast() {
  return {.max_attempts = 4,
          .timeout = absl::Milliseconds(500),
          .initial_backoff = absl::Milliseconds(10),
          .max_backoff = absl::Milliseconds(50),
          .max_retry_after = absl::Seconds(5)};
}

absl::StatusOr<HttpResponse> Post(const std::string& url, Replay replay,
                                  RetryPolicy policy = Fast()) {
  CurlTransport transport;
  return SendWithRetries(
      transport,
      [&]() -> absl::StatusOr<HttpRequest> {
        return HttpRequest{"POST", url, {{"Content-Type", "text/plain"}}, "hi"};
      },
      replay, policy);
}

TEST(VendorHttpTest, RetriesA500OnlyWhenReplayIsSafe) {
  std::atomic<int> n{0};
  Server s([&](const httplib::Request&, httplib::Response& res) {
    res.status = ++n < 3 ? 500 : 200;
    res.set_content("ok", "text/plain");
  });
  absl::StatusOr<HttpResponse> r = Post(s.url(), Replay::kSafe);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "ok");
  EXPECT_EQ(s.requests(), 3);

  n = 0;
  r = Post(s.url(), Replay::kUnsafe);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 500);  // Might have been acted on: not sent again.
  EXPECT_EQ(s.requests(), 4);
}

TEST(VendorHttpTest, HonoursRetryAfterEvenWhenUnsafe) {
  std::atomic<int> n{0};
  Server s([&](const httplib::Request&, httplib::Response& res) {
    if (++n == 1) {
      res.status = 429;
      res.set_header("Retry-After", "1");
      return;
    }
    res.status = 200;
  });
  const absl::Time start = absl::Now();
  absl::StatusOr<HttpResponse> r = Post(s.url(), Replay::kUnsafe);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  EXPECT_GE(absl::Now() - start, absl::Seconds(1));
  EXPECT_EQ(s.requests(), 2);
}

TEST(VendorHttpTest, ARetryAfterBeyondTheLimitEndsTheRetries) {
  Server s([&](const httplib::Request&, httplib::Response& res) {
    res.status = 429;
    res.set_header("Retry-After", "3600");
  });
  absl::StatusOr<HttpResponse> r = Post(s.url(), Replay::kSafe);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 429);
  EXPECT_EQ(s.requests(), 1);
}

TEST(VendorHttpTest, GivesUpAfterMaxAttempts) {
  Server s([&](const httplib::Request&, httplib::Response& res) {
    res.status = 503;
  });
  absl::StatusOr<HttpResponse> r = Post(s.url(), Replay::kSafe);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(s.requests(), Fast().max_attempts);
}

TEST(VendorHttpTest, ANonRetryableAnswerIsReturnedAtOnce) {
  Server s([&](const httplib::Request&, httplib::Response& res) {
    res.status = 401;
  });
  absl::StatusOr<HttpResponse> r = Post(s.url(), Replay::kSafe);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(s.requests(), 1);
}

TEST(VendorHttpTest, TransportErrorsSayWhetherTheRequestLeft) {
  // Nothing listens: it never left, so even an unsafe request is retried.
  const int port = testing::FreeLoopbackPort().value_or(1);
  absl::StatusOr<HttpResponse> refused =
      Post(absl::StrCat("http://127.0.0.1:", port, "/"), Replay::kUnsafe);
  EXPECT_TRUE(absl::IsUnavailable(refused.status())) << refused.status();

  // Too slow: it left, so an unsafe request is not sent again.
  Server slow([&](const httplib::Request&, httplib::Response& res) {
    absl::SleepFor(absl::Seconds(1));
    res.status = 200;
  });
  absl::StatusOr<HttpResponse> r = Post(slow.url(), Replay::kUnsafe);
  EXPECT_TRUE(absl::IsDeadlineExceeded(r.status())) << r.status();
  EXPECT_EQ(slow.requests(), 1);
  r = Post(slow.url(), Replay::kSafe);
  EXPECT_TRUE(absl::IsDeadlineExceeded(r.status())) << r.status();
  EXPECT_EQ(slow.requests(), 1 + Fast().max_attempts);
}

// A node URL often carries an API key in its path, query or userinfo: a
// transport error names the method and origin only.
TEST(VendorHttpTest, TransportErrorsDoNotQuoteTheUrlsSecrets) {
  const int port = testing::FreeLoopbackPort().value_or(1);
  CurlTransport transport;
  absl::StatusOr<HttpResponse> r =
      transport.Do({"POST",
                    absl::StrCat("http://user:hunter2@127.0.0.1:", port,
                                 "/secret-key?token=abc#frag"),
                    {},
                    "{}"},
                   absl::Seconds(2));
  ASSERT_FALSE(r.ok());
  const std::string message(r.status().message());
  EXPECT_TRUE(absl::StrContains(
      message, absl::StrCat("POST http://127.0.0.1:", port, ": ")))
      << message;
  for (const char* secret : {"secret-key", "abc", "hunter2", "user", "frag"}) {
    EXPECT_FALSE(absl::StrContains(message, secret)) << message;
  }

  r = transport.Do(
      {"GET", absl::StrCat("http://127.0.0.1:", port, "/secret-key?token=abc")},
      absl::Seconds(2));
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(absl::StrContains(r.status().message(), "secret-key"))
      << r.status();
  EXPECT_FALSE(absl::StrContains(r.status().message(), "abc")) << r.status();
}

TEST(VendorHttpTest, RetryAfterReadsSecondsAndDates) {
  HttpResponse r;
  EXPECT_EQ(RetryAfter(r, absl::Now()), absl::ZeroDuration());
  // A std::string, not a literal: GCC 12 at -O3 flags a literal assigned
  // to a map entry with a false -Wrestrict (GCC bug 105651).
  r.headers["retry-after"] = std::string("7");
  EXPECT_EQ(RetryAfter(r, absl::Now()), absl::Seconds(7));
  r.headers["retry-after"] = "Wed, 21 Oct 2015 07:28:00 GMT";
  absl::Time now = absl::FromUnixSeconds(1445412470);  // 10 s before.
  EXPECT_EQ(RetryAfter(r, now), absl::Seconds(10));
  r.headers["retry-after"] = "soon";
  EXPECT_EQ(RetryAfter(r, now), absl::ZeroDuration());
}

}  // namespace
}  // namespace warden::http
