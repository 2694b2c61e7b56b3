#ifndef WARDEN_ADAPTERS_HTTP_HTTP_H_
#define WARDEN_ADAPTERS_HTTP_HTTP_H_

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace warden::http {

struct HttpRequest {
  std::string method;  // "GET", "POST", "PUT", "PATCH", "DELETE".
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // Names lowercased.
  std::string body;
};

// One HTTP exchange, no retries. Errors say whether the request may have
// reached the vendor:
//   UNAVAILABLE        it never left (DNS, connection refused, TLS setup);
//   DEADLINE_EXCEEDED  it left and no full answer came in time;
//   UNKNOWN            it left and the connection broke.
// Any answer, whatever its status, is OK. Thread-safe.
class HttpTransport {
 public:
  HttpTransport() = default;
  HttpTransport(const HttpTransport&) = delete;
  HttpTransport& operator=(const HttpTransport&) = delete;
  virtual ~HttpTransport() = default;
  virtual absl::StatusOr<HttpResponse> Do(const HttpRequest& request,
                                          absl::Duration timeout) = 0;
};

// scheme://host[:port] of a URL: no userinfo, path, query or fragment,
// which often carry an API key (JSON-RPC node URLs, basic auth). What errors
// and logs may quote of a URL.
std::string UrlOrigin(absl::string_view url);

// HttpTransport over libcurl (http and https only). Answers over 16 MiB
// are refused (UNKNOWN: the request left).
class CurlTransport final : public HttpTransport {
 public:
  CurlTransport();  // Initializes libcurl once per process.
  absl::StatusOr<HttpResponse> Do(const HttpRequest& request,
                                  absl::Duration timeout) override;
};

// Wraps a transport for one logical call and notes whether any attempt
// may have been acted on without an answer saying how: it left and got no
// answer, or got a 5xx. (A send whose attempts all failed is then UNKNOWN,
// not "nothing sent".) Not thread-safe: one per call.
class ActionRecorder final : public HttpTransport {
 public:
  explicit ActionRecorder(HttpTransport& inner) : inner_(inner) {}
  absl::StatusOr<HttpResponse> Do(const HttpRequest& request,
                                  absl::Duration timeout) override;
  bool may_have_acted() const { return may_have_acted_; }

 private:
  HttpTransport& inner_;
  bool may_have_acted_ = false;
};

// Whether a request may be sent again when its fate is unknown.
enum class Replay {
  // A read, or a write the vendor deduplicates by an idempotency key sent
  // with every attempt: any retryable failure is retried.
  kSafe,
  // A write without an idempotency key: retried only when the vendor
  // cannot have acted on it (it never left, or 429: refused unread).
  kUnsafe,
};

struct RetryPolicy {
  int max_attempts = 4;
  absl::Duration timeout = absl::Seconds(10);  // Per attempt.
  absl::Duration initial_backoff = absl::Milliseconds(200);
  absl::Duration max_backoff = absl::Seconds(5);
  // A Retry-After longer than this ends the retries (the 429 is returned).
  absl::Duration max_retry_after = absl::Seconds(30);
};

// Sends `build()`'s request until it gets an answer that is not worth
// retrying, or attempts run out. `build` runs before every attempt, so
// short-lived signatures (JWTs) are fresh. Retried: 429 (after its
// Retry-After, in seconds or an HTTP date, when given), 500, 502, 503, 504
// and transport errors, as `replay` allows; waits grow exponentially with
// jitter. Returns the last answer (any status) or the last transport
// error; an error from `build` is returned at once.
absl::StatusOr<HttpResponse> SendWithRetries(
    HttpTransport& transport,
    const std::function<absl::StatusOr<HttpRequest>()>& build, Replay replay,
    const RetryPolicy& policy);

// Whether an answer's status is one SendWithRetries retries.
bool IsRetryableStatus(int status);

// 200 to 299.
inline bool Is2xx(int status) { return status >= 200 && status < 300; }

// For a URL path segment or query value: RFC 3986 unreserved characters
// pass; everything else is %XX (upper-case hex).
std::string PercentEncode(absl::string_view s);

// How long a response asks to wait (Retry-After, seconds or HTTP date);
// zero when it does not say.
absl::Duration RetryAfter(const HttpResponse& response, absl::Time now);

}  // namespace warden::http

#endif  // WARDEN_ADAPTERS_HTTP_HTTP_H_
