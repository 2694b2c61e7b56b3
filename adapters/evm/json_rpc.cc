#include "adapters/evm/json_rpc.h"

#include <utility>

#include "absl/numeric/int128.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace warden::evm {

JsonRpcClient::JsonRpcClient(std::string url, absl::Duration timeout)
    : JsonRpcClient(std::move(url), timeout,
                    std::make_unique<http::CurlTransport>()) {}

JsonRpcClient::JsonRpcClient(std::string url, absl::Duration timeout,
                             std::unique_ptr<http::HttpTransport> transport)
    : url_(std::move(url)),
      timeout_(timeout),
      transport_(std::move(transport)) {}

absl::StatusOr<nlohmann::json> JsonRpcClient::Call(
    const std::string& method, const nlohmann::json& params) {
  using nlohmann::json;
  const http::HttpRequest request{
      .method = "POST",
      .url = url_,
      .headers = {{"Content-Type", "application/json"}},
      .body = json{{"jsonrpc", "2.0"},
                   {"id", next_id_.fetch_add(1)},
                   {"method", method},
                   {"params", params}}
                  .dump()};
  absl::StatusOr<http::HttpResponse> answer = transport_->Do(request, timeout_);
  if (!answer.ok()) {
    // The transport's code says whether the request left; its message names
    // only the URL's origin.
    return absl::Status(answer.status().code(),
                        absl::StrCat(method, ": ", answer.status().message()));
  }
  const json reply = json::parse(answer->body, nullptr,
                                 /*allow_exceptions=*/false);
  if (!reply.is_object()) {
    return absl::UnknownError(
        absl::StrCat(method, ": HTTP ", answer->status, ", not JSON-RPC"));
  }
  if (auto e = reply.find("error"); e != reply.end() && e->is_object()) {
    // Whatever the node put in these fields, only their text is quoted, cut
    // at 512 bytes (the adapter registry makes what it returns valid UTF-8).
    const auto message = e->find("message");
    const auto code = e->find("code");
    return absl::FailedPreconditionError(absl::StrCat(
        method, ": ",
        message != e->end() && message->is_string()
            ? message->get<std::string>().substr(0, 512)
            : std::string("error"),
        " (code ", code != e->end() ? code->dump().substr(0, 32) : "none",
        ")"));
  }
  if (!reply.contains("result")) {
    return absl::UnknownError(
        absl::StrCat(method, ": HTTP ", answer->status, ", no result"));
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
  return absl::StrCat("0x", hex);
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
