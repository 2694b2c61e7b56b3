#include "adapters/local/json_rpc.h"

#include <curl/curl.h>

#include <mutex>

#include "absl/numeric/int128.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace warden::evm {
namespace {

size_t Collect(char* data, size_t size, size_t n, void* out) {
  auto* body = static_cast<std::string*>(out);
  // A node's answer is small; refuse to buffer without bound.
  if (body->size() + size * n > (16u << 20)) return 0;
  body->append(data, size * n);
  return size * n;
}

}  // namespace

JsonRpcClient::JsonRpcClient(std::string url, absl::Duration timeout)
    : url_(std::move(url)), timeout_(timeout) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

absl::StatusOr<nlohmann::json> JsonRpcClient::Call(
    const std::string& method, const nlohmann::json& params) {
  const std::string request = nlohmann::json{
      {"jsonrpc", "2.0"},
      {"id", next_id_.fetch_add(1)},
      {"method", method},
      {"params", params}}.dump();
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return absl::UnavailableError("curl_easy_init failed");
  std::string body;
  curl_slist* headers =
      curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(curl, CURLOPT_URL, url_.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                   static_cast<curl_off_t>(request.size()));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(timeout_)));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  const CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  long sent_bytes = 0;  // Of the request; 0 if it never left.
  curl_easy_getinfo(curl, CURLINFO_REQUEST_SIZE, &sent_bytes);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK && sent_bytes == 0) {
    // Not connected (refused, unresolved, a TLS handshake or connect
    // timeout): the request never left.
    return absl::UnavailableError(
        absl::StrCat(method, " to ", url_, ": ", curl_easy_strerror(rc)));
  }
  if (rc == CURLE_OPERATION_TIMEDOUT) {
    return absl::DeadlineExceededError(
        absl::StrCat(method, " to ", url_, ": timed out"));
  }
  if (rc != CURLE_OK) {
    // Connected, so the request may have been read.
    return absl::UnknownError(
        absl::StrCat(method, " to ", url_, ": ", curl_easy_strerror(rc)));
  }
  const nlohmann::json reply =
      nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!reply.is_object()) {
    return absl::UnknownError(absl::StrCat(method, " to ", url_, ": HTTP ",
                                           status, ", not JSON-RPC"));
  }
  if (auto e = reply.find("error"); e != reply.end() && e->is_object()) {
    return absl::FailedPreconditionError(
        absl::StrCat(method, ": ", e->value("message", std::string("error")),
                     " (code ", e->value("code", 0), ")"));
  }
  if (!reply.contains("result")) {
    return absl::UnknownError(
        absl::StrCat(method, " to ", url_, ": no result"));
  }
  return reply["result"];
}

std::string Quantity(absl::uint128 value) {
  if (value == 0) return "0x0";
  std::string hex;
  while (value != 0) {
    hex.insert(hex.begin(),
               "0123456789abcdef"[absl::Uint128Low64(value) & 0xf]);
    value >>= 4;
  }
  return "0x" + hex;
}

absl::StatusOr<absl::uint128> ParseQuantity(const nlohmann::json& value) {
  if (!value.is_string()) {
    return absl::InvalidArgumentError("quantity: not a string");
  }
  const std::string s = value.get<std::string>();
  if (s.size() < 3 || s.size() > 34 || s[0] != '0' || s[1] != 'x') {
    return absl::InvalidArgumentError(
        absl::StrCat("quantity: \"", s.substr(0, 40), "\" is not 0x-hex"));
  }
  absl::uint128 out = 0;
  for (size_t i = 2; i < s.size(); ++i) {
    const char c = s[i];
    int digit = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
    if (digit < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("quantity: \"", s, "\" is not 0x-hex"));
    }
    out = (out << 4) | digit;
  }
  return out;
}

}  // namespace warden::evm
