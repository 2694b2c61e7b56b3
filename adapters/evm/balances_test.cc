#include "adapters/evm/balances.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "governance/policy.h"
#include "gtest/gtest.h"

namespace warden::evm {
namespace {

constexpr char kHolder[] = "0x00000000000000000000000000000000000000AB";
constexpr char kToken[] = "0x00000000000000000000000000000000000000cd";

// Answers each call with `result` and keeps what was asked.
class NodeStub final : public http::HttpTransport {
 public:
  explicit NodeStub(std::string result) : result_(std::move(result)) {}
  absl::StatusOr<http::HttpResponse> Do(const http::HttpRequest& request,
                                        absl::Duration) override {
    *asked_ = nlohmann::json::parse(request.body);
    return http::HttpResponse{
        .status = 200,
        .body =
            nlohmann::json{{"jsonrpc", "2.0"}, {"id", 1}, {"result", result_}}
                .dump()};
  }
  std::shared_ptr<nlohmann::json> asked_ = std::make_shared<nlohmann::json>();

 private:
  std::string result_;
};

struct Probe {
  absl::StatusOr<absl::uint128> balance;
  nlohmann::json asked;
};

Probe Read(const std::string& result, const std::string& token) {
  auto stub = std::make_unique<NodeStub>(result);
  std::shared_ptr<nlohmann::json> asked = stub->asked_;
  std::map<std::string, std::unique_ptr<JsonRpcClient>> nodes;
  nodes["base"] = std::make_unique<JsonRpcClient>(
      "http://node.example/", absl::Seconds(1), std::move(stub));
  NodeBalances balances(std::move(nodes));
  absl::StatusOr<absl::uint128> b = balances.Balance("base", kHolder, token);
  return {b, *asked};
}

TEST(NodeBalancesTest, NativeBalanceIsEthGetBalance) {
  Probe p = Read("0x2386f26fc10000", kNativeAsset);
  ASSERT_TRUE(p.balance.ok()) << p.balance.status();
  EXPECT_EQ(*p.balance, absl::uint128(10'000'000'000'000'000));
  EXPECT_EQ(p.asked["method"], "eth_getBalance");
  EXPECT_EQ(p.asked["params"],
            nlohmann::json::array(
                {"0x00000000000000000000000000000000000000ab", "latest"}));
}

TEST(NodeBalancesTest, TokenBalanceIsBalanceOf) {
  Probe p = Read("0x" + std::string(56, '0') + "05f5e100", kToken);
  ASSERT_TRUE(p.balance.ok()) << p.balance.status();
  EXPECT_EQ(*p.balance, absl::uint128(100'000'000));
  EXPECT_EQ(p.asked["method"], "eth_call");
  EXPECT_EQ(p.asked["params"][0]["to"], kToken);
  EXPECT_EQ(p.asked["params"][0]["data"],
            "0x70a08231" + std::string(62, '0') + "ab");
}

TEST(NodeBalancesTest, WordsBeyond128BitsSaturateAndJunkIsRefused) {
  EXPECT_EQ(*ParseUint256Word("0x" + std::string(64, 'f')), absl::Uint128Max());
  EXPECT_EQ(*ParseUint256Word("0x" + std::string(64, '0')), 0);
  EXPECT_EQ(*ParseUint256Word("0x" + std::string(32, 'F')), absl::Uint128Max());
  for (const char* bad : {"", "0x", "12", "0xzz", "0x1 "}) {
    EXPECT_EQ(ParseUint256Word(bad).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
  EXPECT_FALSE(ParseUint256Word("0x" + std::string(65, '1')).ok());
  EXPECT_FALSE(ParseUint256Word(nlohmann::json(7)).ok());
}

TEST(NodeBalancesTest, NoNodeIsNotFound) {
  NodeBalances none({});
  absl::StatusOr<absl::uint128> b = none.Balance("base", kHolder, kNativeAsset);
  EXPECT_EQ(b.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(b.status().message(), ::testing::HasSubstr("no node for chain "
                                                         "base"));
}

}  // namespace
}  // namespace warden::evm
