#include "adapters/evm/json_rpc.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace warden::evm {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Answers every request with one canned reply, and keeps the request.
class CannedTransport final : public http::HttpTransport {
 public:
  explicit CannedTransport(absl::StatusOr<http::HttpResponse> reply)
      : reply_(std::move(reply)) {}
  absl::StatusOr<http::HttpResponse> Do(const http::HttpRequest& request,
                                        absl::Duration) override {
    last = request;
    return reply_;
  }
  http::HttpRequest last;

 private:
  absl::StatusOr<http::HttpResponse> reply_;
};

absl::StatusOr<nlohmann::json> CallWith(const std::string& body,
                                        int status = 200) {
  JsonRpcClient rpc("http://node.example/v3/KEY", absl::Seconds(1),
                    std::make_unique<CannedTransport>(
                        http::HttpResponse{.status = status, .body = body}));
  return rpc.Call("eth_chainId", nlohmann::json::array());
}

TEST(JsonRpcClientTest, SendsAJsonRpcRequest) {
  auto owned = std::make_unique<CannedTransport>(http::HttpResponse{
      .status = 200, .body = R"({"jsonrpc":"2.0","id":1,"result":"0x7a69"})"});
  CannedTransport* transport = owned.get();
  JsonRpcClient rpc("http://node.example/", absl::Seconds(1), std::move(owned));
  absl::StatusOr<nlohmann::json> r =
      rpc.Call("eth_getBalance", nlohmann::json::array({"0xab", "latest"}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "0x7a69");
  EXPECT_EQ(transport->last.method, "POST");
  const nlohmann::json sent = nlohmann::json::parse(transport->last.body);
  EXPECT_EQ(sent["jsonrpc"], "2.0");
  EXPECT_EQ(sent["method"], "eth_getBalance");
  EXPECT_EQ(sent["params"], nlohmann::json::array({"0xab", "latest"}));
}

TEST(JsonRpcClientTest, NodeErrorsOfAnyShapeAreFailedPreconditions) {
  absl::StatusOr<nlohmann::json> r =
      CallWith(R"({"error":{"code":-32000,"message":"nonce too low"}})");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("nonce too low (code -32000)"));
  // A node answering with odd types is reported, never a crash.
  for (const char* odd :
       {R"({"error":{"code":"x","message":7}})", R"({"error":{"code":null}})",
        R"({"error":{"message":["a"]}})"}) {
    r = CallWith(odd);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << odd;
  }
}

TEST(JsonRpcClientTest, AnswersThatAreNotJsonRpcAreUnknown) {
  for (const char* bad : {"<html>502</html>", "[1,2]", R"({"id":1})", ""}) {
    absl::StatusOr<nlohmann::json> r = CallWith(bad, 502);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnknown) << bad;
    EXPECT_THAT(r.status().message(), Not(HasSubstr("KEY")));
  }
}

// Node providers put their API key in the path: errors name only the origin.
TEST(JsonRpcClientTest, ErrorsNeverQuoteTheUrlPath) {
  JsonRpcClient rpc("http://127.0.0.1:1/v3/SECRETKEY?apikey=SECRET2",
                    absl::Seconds(2));
  absl::StatusOr<nlohmann::json> r =
      rpc.Call("eth_chainId", nlohmann::json::array());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(r.status().message(), HasSubstr("http://127.0.0.1:1"));
  EXPECT_THAT(r.status().message(), Not(HasSubstr("SECRET")));
}

}  // namespace
}  // namespace warden::evm
