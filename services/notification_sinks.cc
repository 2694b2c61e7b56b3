#include "services/notification_sinks.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <mutex>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace warden {
namespace {

std::string HexHmacSha256(const std::string& key, const std::string& data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac,
       &len);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(mac), len));
}

size_t DiscardBody(char*, size_t size, size_t n, void*) { return size * n; }

// Collects the Retry-After header (seconds) of a response.
size_t ReadHeader(char* data, size_t size, size_t n, void* out) {
  absl::string_view line(data, size * n);
  constexpr absl::string_view kName = "retry-after:";
  if (line.size() > kName.size() &&
      absl::AsciiStrToLower(line.substr(0, kName.size())) == kName) {
    int64_t seconds = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(kName.size())),
                         &seconds) &&
        seconds >= 0) {
      *static_cast<absl::Duration*>(out) = absl::Seconds(seconds);
    }
  }
  return size * n;
}

}  // namespace

void LogNotificationSink::Notify(const Notification& n) {
  spdlog::info("notification {} org={} authorization={} actor={}: {}", n.event,
               n.org_id, n.authorization.id, n.actor, n.message);
}

std::string WebhookSignature(const std::string& secret, int64_t unix_seconds,
                             const std::string& body) {
  return absl::StrCat(
      "t=", unix_seconds,
      ",v1=", HexHmacSha256(secret, absl::StrCat(unix_seconds, ".", body)));
}

bool VerifyWebhookSignature(const std::string& secret,
                            const std::string& header, const std::string& body,
                            absl::Time now, absl::Duration tolerance) {
  int64_t t = 0;
  std::string given;
  for (absl::string_view part : absl::StrSplit(header, ',')) {
    if (absl::ConsumePrefix(&part, "t=")) {
      if (!absl::SimpleAtoi(part, &t)) return false;
    } else if (absl::ConsumePrefix(&part, "v1=")) {
      given = std::string(part);
    }
  }
  if (given.empty() ||
      absl::AbsDuration(now - absl::FromUnixSeconds(t)) > tolerance) {
    return false;
  }
  const std::string expected =
      HexHmacSha256(secret, absl::StrCat(t, ".", body));
  return given.size() == expected.size() &&
         CRYPTO_memcmp(given.data(), expected.data(), given.size()) == 0;
}

absl::StatusOr<std::unique_ptr<WebhookNotificationSink>>
WebhookNotificationSink::Create(WebhookOptions options) {
  if (!absl::StartsWith(options.url, "http://") &&
      !absl::StartsWith(options.url, "https://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("webhook url: \"", options.url,
                     "\" must start with http:// or https://"));
  }
  if (options.secret.empty()) {
    return absl::InvalidArgumentError(
        "webhook secret: is required (it keys the HMAC-SHA256 signature)");
  }
  if (options.max_queue == 0 || options.max_attempts < 1) {
    return absl::InvalidArgumentError(
        "webhook: max_queue and max_attempts must be at least 1");
  }
  static std::once_flag curl_once;
  std::call_once(curl_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  return std::unique_ptr<WebhookNotificationSink>(
      new WebhookNotificationSink(std::move(options)));
}

WebhookNotificationSink::WebhookNotificationSink(WebhookOptions options)
    : options_(std::move(options)), worker_([this] { Run(); }) {}

WebhookNotificationSink::~WebhookNotificationSink() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  worker_.join();
}

std::string SlackBody(const Notification& n) {
  std::string text =
      absl::StrCat("Warden ", n.event, " (org ", n.org_id, "): ", n.message);
  if (n.folded > 0) {
    absl::StrAppend(&text, " (and ", n.folded,
                    " more like it in the last minute)");
  }
  return nlohmann::json{{"text", text}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void WebhookNotificationSink::Notify(const Notification& n) {
  Pending p{n.id, n.event,
            options_.slack ? SlackBody(n) : EncodeNotification(n)};
  absl::MutexLock lock(&mu_);
  if (stopping_) {
    ++stats_.dropped;
    return;
  }
  if (queue_.size() >= options_.max_queue) {
    queue_.pop_front();
    // Logged at the first drop and every 1,000th after it.
    if (stats_.dropped++ % 1000 == 0) {
      spdlog::warn(
          "webhook queue full ({}): dropping the oldest notifications, {} so "
          "far",
          options_.max_queue, stats_.dropped);
    }
  }
  queue_.push_back(std::move(p));
}

WebhookNotificationSink::Stats WebhookNotificationSink::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void WebhookNotificationSink::Run() {
  absl::BitGen jitter;
  absl::Time drain_deadline = absl::InfiniteFuture();
  while (true) {
    Pending p;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](WebhookNotificationSink* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(
               s->mu_) { return s->stopping_ || !s->queue_.empty(); },
          this));
      if (stopping_ && drain_deadline == absl::InfiniteFuture()) {
        drain_deadline = absl::Now() + options_.drain_timeout;
      }
      if (queue_.empty()) return;
      if (absl::Now() >= drain_deadline) {
        stats_.failed += static_cast<int64_t>(queue_.size());
        spdlog::warn("webhook: {} notifications undelivered at shutdown",
                     queue_.size());
        queue_.clear();
        return;
      }
      p = std::move(queue_.front());
      queue_.pop_front();
    }
    absl::Duration backoff = options_.initial_backoff;
    for (int attempt = 1;; ++attempt) {
      const Attempt r = Post(p);
      absl::MutexLock lock(&mu_);
      if (r.delivered) {
        ++stats_.delivered;
        break;
      }
      // While draining, one attempt each.
      if (!r.retryable || attempt >= options_.max_attempts || stopping_) {
        ++stats_.failed;
        spdlog::warn("webhook: gave up on {} {} after {} attempt(s): {}",
                     p.event, p.id, attempt, r.error);
        break;
      }
      ++stats_.retries;
      // Full jitter on the exponential step, but never sooner than the
      // receiver asked.
      absl::Duration wait =
          std::max(r.retry_after, absl::Uniform(jitter, 0.5, 1.0) *
                                      std::min(backoff, options_.max_backoff));
      wait = std::min(wait, options_.max_backoff);
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), wait);
      backoff *= 2;
    }
  }
}

WebhookNotificationSink::Attempt WebhookNotificationSink::Post(
    const Pending& p) const {
  Attempt out;
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    out.retryable = true;
    out.error = "curl_easy_init failed";
    return out;
  }
  const std::string signature = WebhookSignature(
      options_.secret, absl::ToUnixSeconds(absl::Now()), p.body);
  curl_slist* headers = nullptr;
  for (const std::string& h :
       {std::string("Content-Type: application/json"),
        absl::StrCat("X-Warden-Event: ", p.event),
        absl::StrCat("X-Warden-Delivery: ", p.id),
        absl::StrCat("X-Warden-Signature: ", signature)}) {
    headers = curl_slist_append(headers, h.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_URL, options_.url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, p.body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                   static_cast<curl_off_t>(p.body.size()));
  curl_easy_setopt(
      curl, CURLOPT_TIMEOUT_MS,
      static_cast<long>(absl::ToInt64Milliseconds(options_.request_timeout)));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "warden-webhook/1");
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &DiscardBody);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &ReadHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &out.retry_after);
  const CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  if (rc == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) {
    out.retryable = true;
    out.error = curl_easy_strerror(rc);
  } else if (status >= 200 && status < 300) {
    out.delivered = true;
  } else {
    out.retryable = status == 429 || status >= 500;
    out.error = absl::StrCat("HTTP ", status);
  }
  return out;
}

}  // namespace warden
