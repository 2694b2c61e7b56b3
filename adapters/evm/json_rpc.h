#ifndef WARDEN_ADAPTERS_EVM_JSON_RPC_H_
#define WARDEN_ADAPTERS_EVM_JSON_RPC_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "adapters/http/http.h"
#include "nlohmann/json.hpp"

namespace warden::evm {

// A JSON-RPC 2.0 client for an Ethereum node over HTTP(S), through the
// vendors' HTTP transport (libcurl). Each call is one POST with a timeout;
// nothing is retried here, since whether a retry is safe depends on the
// method. Errors never quote the URL beyond its origin: node providers put
// API keys in the path. Thread-safe.
class JsonRpcClient {
 public:
  JsonRpcClient(std::string url, absl::Duration timeout);
  // Over `transport` instead of libcurl (tests).
  JsonRpcClient(std::string url, absl::Duration timeout,
                std::unique_ptr<http::HttpTransport> transport);

  // The call's `result`. UNAVAILABLE when the node could not be reached
  // (the call did not take effect); DEADLINE_EXCEEDED on a timeout and
  // UNKNOWN for a connection that broke or an answer that is not JSON-RPC
  // (either way the call may have taken effect); FAILED_PRECONDITION with
  // the node's message and code for a JSON-RPC error.
  absl::StatusOr<nlohmann::json> Call(const std::string& method,
                                      const nlohmann::json& params);

 private:
  const std::string url_;
  const absl::Duration timeout_;
  const std::unique_ptr<http::HttpTransport> transport_;
  std::atomic<int64_t> next_id_{1};
};

// "0x1a" <-> 26, for the node's quantities.
std::string Quantity(absl::uint128 value);
absl::StatusOr<absl::uint128> ParseQuantity(const nlohmann::json& value);

}  // namespace warden::evm

#endif  // WARDEN_ADAPTERS_EVM_JSON_RPC_H_
