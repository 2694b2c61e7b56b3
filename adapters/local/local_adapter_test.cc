#include "adapters/local/local_adapter.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "adapters/evm/eip3009.h"
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

// x402 payments: refused before anything is held unless this adapter can
// sign for the wallet on that chain; polled at the token, reading its state
// at the very block whose time decides an expiry.
class LocalX402Test : public ::testing::Test {
 protected:
  void SetUp() override {
    node_.Post(
        "/", [this](const httplib::Request& req, httplib::Response& res) {
          const nlohmann::json call = nlohmann::json::parse(req.body);
          const std::string method = call["method"];
          nlohmann::json result = nullptr;
          if (method == "eth_chainId") result = "0x7a69";
          if (method == "eth_blockNumber") result = "0x10";
          if (method == "eth_getBlockByNumber") {
            result = {{"number", "0x11"}, {"timestamp", block_time_}};
          }
          if (method == "eth_call") {
            EXPECT_EQ(call["params"][1], "0x11") << "not read at that block";
            result = state_;
          }
          if (method == "eth_getLogs") {
            result = nlohmann::json::array(
                {{{"transactionHash", "0x" + std::string(64, 'B')}}});
          }
          res.set_content(
              nlohmann::json{
                  {"jsonrpc", "2.0"}, {"id", call["id"]}, {"result", result}}
                  .dump(),
              "application/json");
        });
    const int port = node_.bind_to_any_port("127.0.0.1");
    serving_ = std::thread([this] { node_.listen_after_bind(); });
    absl::StatusOr<evm::Address> address =
        evm::Keystore::Add(dir_.path(), "pw", evm::KdfParams{.n = 1024});
    ASSERT_TRUE(address.ok()) << address.status();
    absl::StatusOr<evm::Keystore> keystore =
        evm::Keystore::Open(dir_.path(), "pw");
    ASSERT_TRUE(keystore.ok()) << keystore.status();
    adapter_ = std::make_unique<LocalAdapter>(
        *std::move(keystore),
        std::vector<EvmChain>{
            {"anvil", 31337, absl::StrCat("http://127.0.0.1:", port, "/")}},
        absl::Seconds(5));
    wallet_.id = "w";
    wallet_.vendor = "local";
    wallet_.chain = "anvil";
    wallet_.address = evm::Hex(*address);
  }
  void TearDown() override {
    node_.stop();
    serving_.join();
  }

  // Signs a payment valid until unix second 1000.
  VendorStatus Signed() {
    TransferIntent intent{
        .operation_id = "op_1",
        .wallet = wallet_,
        .asset = "WUSD",
        .token_contract = "0x5fbdb2315678afecb367f032d93f642f64180aa3",
        .amount = 10000,
        .destination = "0x00000000000000000000000000000000000e4020",
        .x402 = X402Terms{.token_name = "Warden Test USD",
                          .token_version = "2",
                          .chain_id = 31337,
                          .valid_for = absl::Seconds(60)},
        .valid_before = absl::FromUnixSeconds(1000)};
    absl::StatusOr<VendorStatus> sent = adapter_->Send(intent);
    EXPECT_TRUE(sent.ok()) << sent.status();
    return sent.value_or(VendorStatus{});
  }

  httplib::Server node_;
  std::thread serving_;
  testing::TempDir dir_;
  std::unique_ptr<LocalAdapter> adapter_;
  Wallet wallet_;
  std::string block_time_ = "0x3e7";  // 999: before the deadline.
  std::string state_ = "0x" + std::string(64, '0');
};

TEST_F(LocalX402Test, OnlyALocalWalletWithAKeyOnThatChainSigns) {
  EXPECT_TRUE(adapter_->CheckX402(wallet_, 31337).ok());
  EXPECT_THAT(adapter_->CheckX402(wallet_, 8453).message(),
              HasSubstr("chain id 8453 is not wallet w's chain anvil"));
  Wallet other = wallet_;
  other.chain = "base";
  EXPECT_THAT(adapter_->CheckX402(other, 8453).message(),
              HasSubstr("no JSON-RPC endpoint for chain base"));
  other = wallet_;
  other.address = "0x00000000000000000000000000000000000000a1";
  EXPECT_THAT(adapter_->CheckX402(other, 31337).message(),
              HasSubstr("has no key in the keystore"));
}

TEST_F(LocalX402Test, SignedThenPolledUntilUsedOrExpired) {
  const VendorStatus sent = Signed();
  EXPECT_EQ(sent.state, OperationState::kSubmitted);
  EXPECT_TRUE(sent.tx_hash.empty());
  absl::StatusOr<evm::SignedTransferAuthorization> signed_auth =
      evm::DecodeX402Ref(sent.vendor_ref);
  ASSERT_TRUE(signed_auth.ok()) << signed_auth.status();
  EXPECT_EQ(signed_auth->authorization.valid_before, 1000u);
  EXPECT_EQ(signed_auth->from_block, 16u);
  EXPECT_EQ(evm::Hex(signed_auth->authorization.from), wallet_.address);

  // Unused, before its deadline: unchanged.
  absl::StatusOr<VendorStatus> polled = adapter_->Poll(wallet_, sent);
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(polled->state, OperationState::kSubmitted);
  // Unused at a block at its deadline: it can never be used.
  block_time_ = "0x3e8";
  polled = adapter_->Poll(wallet_, sent);
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(polled->state, OperationState::kFailed);
  EXPECT_THAT(polled->error, HasSubstr("expired unused"));
  // Used, at that same block: confirmed with the transaction, never taken
  // for an expiry.
  state_ = "0x" + std::string(63, '0') + "1";
  polled = adapter_->Poll(wallet_, sent);
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(polled->state, OperationState::kConfirmed);
  EXPECT_EQ(polled->tx_hash, "0x" + std::string(64, 'b'));
  // A node answering something else than a bool: unknown, ask again.
  state_ = "0x02";
  EXPECT_TRUE(absl::IsUnavailable(adapter_->Poll(wallet_, sent).status()));
  // A frozen wallet signs nothing.
  ASSERT_TRUE(adapter_->Freeze(wallet_, "test").ok());
  TransferIntent intent;
  intent.wallet = wallet_;
  intent.x402 = X402Terms{.chain_id = 31337};
  EXPECT_THAT(adapter_->Send(intent).status().message(),
              HasSubstr("is frozen"));
}

}  // namespace
}  // namespace warden
