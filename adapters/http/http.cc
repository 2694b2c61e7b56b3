#include "adapters/http/http.h"

#include <curl/curl.h>

#include <algorithm>
#include <memory>
#include <mutex>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace warden::http {
namespace {

// Answers are small; refuse to buffer one without bound (curl then fails
// the transfer with a write error).
constexpr size_t kMaxBody = 16u << 20;

size_t AppendBody(char* data, size_t size, size_t n, void* out) {
  auto* body = static_cast<std::string*>(out);
  if (body->size() + size * n > kMaxBody) return 0;
  body->append(data, size * n);
  return size * n;
}

size_t ReadHeader(char* data, size_t size, size_t n, void* out) {
  absl::string_view line(data, size * n);
  const size_t colon = line.find(':');
  if (colon != absl::string_view::npos) {
    (*static_cast<std::map<std::string, std::string>*>(
        out))[absl::AsciiStrToLower(line.substr(0, colon))] =
        std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
  }
  return size * n;
}

}  // namespace

// scheme://host[:port] of a URL: no userinfo, path, query or fragment,
// which often carry an API key (JSON-RPC node URLs, basic auth).
std::string UrlOrigin(absl::string_view url) {
  absl::string_view scheme;
  if (const size_t sep = url.find("://"); sep != absl::string_view::npos) {
    scheme = url.substr(0, sep);
    url.remove_prefix(sep + 3);
  }
  url = url.substr(0, url.find_first_of("/?#"));
  if (const size_t at = url.rfind('@'); at != absl::string_view::npos) {
    url.remove_prefix(at + 1);
  }
  return scheme.empty() ? std::string(url) : absl::StrCat(scheme, "://", url);
}

CurlTransport::CurlTransport() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

absl::StatusOr<HttpResponse> CurlTransport::Do(const HttpRequest& request,
                                               absl::Duration timeout) {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(),
                                                           &curl_easy_cleanup);
  if (curl == nullptr) return absl::UnavailableError("curl_easy_init failed");
  curl_slist* raw_headers = nullptr;
  for (const auto& [name, value] : request.headers) {
    raw_headers =
        curl_slist_append(raw_headers, absl::StrCat(name, ": ", value).c_str());
  }
  // No "Expect: 100-continue" round trip.
  raw_headers = curl_slist_append(raw_headers, "Expect:");
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers(
      raw_headers, &curl_slist_free_all);
  HttpResponse out;
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  if (request.method != "GET") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(timeout)));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "warden/1");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &AppendBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &out.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &ReadHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &out.headers);
  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    long sent = 0;
    curl_easy_getinfo(c, CURLINFO_REQUEST_SIZE, &sent);
    // Only the origin: the rest of the URL may hold a secret.
    const std::string what =
        absl::StrCat(request.method, " ", UrlOrigin(request.url), ": ",
                     curl_easy_strerror(rc));
    if (sent == 0) return absl::UnavailableError(what);
    if (rc == CURLE_OPERATION_TIMEDOUT) {
      return absl::DeadlineExceededError(what);
    }
    return absl::UnknownError(what);
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  out.status = static_cast<int>(status);
  return out;
}

absl::StatusOr<HttpResponse> ActionRecorder::Do(const HttpRequest& request,
                                                absl::Duration timeout) {
  absl::StatusOr<HttpResponse> r = inner_.Do(request, timeout);
  if (r.ok() ? r->status >= 500 : !absl::IsUnavailable(r.status())) {
    may_have_acted_ = true;
  }
  return r;
}

bool IsRetryableStatus(int status) {
  return status == 429 || status == 500 || status == 502 || status == 503 ||
         status == 504;
}

absl::Duration RetryAfter(const HttpResponse& response, absl::Time now) {
  auto it = response.headers.find("retry-after");
  if (it == response.headers.end()) return absl::ZeroDuration();
  int64_t seconds = 0;
  if (absl::SimpleAtoi(it->second, &seconds)) {
    return absl::Seconds(std::max<int64_t>(seconds, 0));
  }
  absl::Time when;
  std::string err;
  if (absl::ParseTime("%a, %d %b %Y %H:%M:%S GMT", it->second,
                      absl::UTCTimeZone(), &when, &err)) {
    return std::max(when - now, absl::ZeroDuration());
  }
  return absl::ZeroDuration();
}

absl::StatusOr<HttpResponse> SendWithRetries(
    HttpTransport& transport,
    const std::function<absl::StatusOr<HttpRequest>()>& build, Replay replay,
    const RetryPolicy& policy) {
  absl::BitGen jitter;
  absl::Duration backoff = policy.initial_backoff;
  for (int attempt = 1;; ++attempt) {
    absl::StatusOr<HttpRequest> request = build();
    if (!request.ok()) return request.status();
    absl::StatusOr<HttpResponse> r = transport.Do(*request, policy.timeout);
    absl::Duration wait = absl::ZeroDuration();
    bool retry = false;
    if (r.ok()) {
      retry = IsRetryableStatus(r->status) &&
              (replay == Replay::kSafe || r->status == 429);
      wait = RetryAfter(*r, absl::Now());
      if (wait > policy.max_retry_after) retry = false;
    } else {
      retry = absl::IsUnavailable(r.status()) || replay == Replay::kSafe;
    }
    if (!retry || attempt >= policy.max_attempts) return r;
    // Full jitter on the exponential step, but never sooner than the
    // vendor asked.
    wait = std::max(wait, absl::Uniform(jitter, 0.5, 1.0) *
                              std::min(backoff, policy.max_backoff));
    absl::SleepFor(wait);
    backoff *= 2;
  }
}

std::string PercentEncode(absl::string_view s) {
  std::string out;
  for (char c : s) {
    if (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out.push_back(c);
    } else {
      absl::StrAppend(&out, "%",
                      absl::AsciiStrToUpper(
                          absl::BytesToHexString(absl::string_view(&c, 1))));
    }
  }
  return out;
}

}  // namespace warden::http
