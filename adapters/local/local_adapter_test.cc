#include "adapters/local/local_adapter.h"

#include <atomic>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "adapters/evm/evm.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "tests/support/wardend_process.h"

namespace warden {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(ParseChainRpcTest, KnownChainsAndExplicitIds) {
  absl::StatusOr<EvmChain> base =
      ParseChainRpc("base=https://base.example/v2/KEY");
  ASSERT_TRUE(base.ok()) << base.status();
  EXPECT_EQ(base->name, "base");
  EXPECT_EQ(base->chain_id, 8453u);
  EXPECT_EQ(base->rpc_url, "https://base.example/v2/KEY");
  absl::StatusOr<EvmChain> custom =
      ParseChainRpc("mychain:777=http://127.0.0.1:8545");
  ASSERT_TRUE(custom.ok()) << custom.status();
  EXPECT_EQ(custom->name, "mychain");
  EXPECT_EQ(custom->chain_id, 777u);
}

// Each error names the problem and quotes the URL's origin only: node
// providers keep their API key in the path.
TEST(ParseChainRpcTest, ErrorsNameTheProblemButNotTheKey) {
  for (const auto& [spec, problem] :
       std::vector<std::pair<std::string, std::string>>{
           {"https://mainnet.infura.io/v3/SECRETKEY", "expected CHAIN=URL"},
           {"eth=https://mainnet.infura.io/v3/SECRETKEY",
            "not in the built-in table"},
           {"eth:x=https://mainnet.infura.io/v3/SECRETKEY",
            "is not a positive number"},
           {"ethereum=wss://mainnet.infura.io/ws/v3/SECRETKEY",
            "must be http:// or https://"}}) {
    const absl::Status st = ParseChainRpc(spec).status();
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << spec;
    EXPECT_THAT(st.message(), HasSubstr(problem)) << spec;
    EXPECT_THAT(st.message(), HasSubstr("mainnet.infura.io")) << spec;
    EXPECT_THAT(st.message(), Not(HasSubstr("SECRETKEY"))) << st;
  }
}

// A node that mines the transaction while Poll looks at it: no receipt and
// not in the pool at the first look (between pool and block), the nonce
// counted as mined, then the receipt. The transaction is confirmed, not
// taken for replaced (which would release the hold of a spend that
// happened).
TEST(LocalAdapterTest, ATransactionMinedWhilePolledIsConfirmed) {
  std::atomic<int> receipts{0};
  httplib::Server node;
  node.Post("/", [&](const httplib::Request& req, httplib::Response& res) {
    const nlohmann::json call = nlohmann::json::parse(req.body);
    const std::string method = call["method"];
    nlohmann::json result = nullptr;
    if (method == "eth_chainId") result = "0x7a69";
    if (method == "eth_getTransactionCount") result = "0x8";
    if (method == "eth_getTransactionReceipt" && receipts++ > 0) {
      result = {{"status", "0x1"}};
    }
    res.set_content(
        nlohmann::json{
            {"jsonrpc", "2.0"}, {"id", call["id"]}, {"result", result}}
            .dump(),
        "application/json");
  });
  const int port = node.bind_to_any_port("127.0.0.1");
  std::thread serving([&] { node.listen_after_bind(); });

  testing::TempDir dir;
  const evm::KdfParams fast{.n = 1024};
  absl::StatusOr<evm::Address> address =
      evm::Keystore::Add(dir.path(), "pw", fast);
  ASSERT_TRUE(address.ok()) << address.status();
  absl::StatusOr<evm::Keystore> keystore =
      evm::Keystore::Open(dir.path(), "pw");
  ASSERT_TRUE(keystore.ok()) << keystore.status();
  LocalAdapter adapter(
      *std::move(keystore),
      {{"anvil", 31337, absl::StrCat("http://127.0.0.1:", port, "/")}},
      absl::Seconds(5));
  Wallet wallet;
  wallet.id = "w";
  wallet.chain = "anvil";
  wallet.address = evm::Hex(*address);
  VendorStatus last;
  last.state = OperationState::kSubmitted;
  last.tx_hash = absl::StrCat("0x", std::string(64, 'a'));
  last.vendor_ref = "nonce:7 raw:0x02";
  absl::StatusOr<VendorStatus> polled = adapter.Poll(wallet, last);
  node.stop();
  serving.join();
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(polled->state, OperationState::kConfirmed) << polled->error;
  EXPECT_EQ(receipts.load(), 2);
}

}  // namespace
}  // namespace warden
