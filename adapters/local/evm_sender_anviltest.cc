// The local signer against a real node: anvil (Foundry), from the npm
// package @foundry-rs/anvil-linux-amd64 that deploy/dev/install-tools.sh
// installs into .tools/. A transfer lands and moves exactly its value; 20
// concurrent sends from one wallet land with 20 consecutive nonces; a node
// of another chain is refused.

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "adapters/local/evm_sender.h"
#include "gmock/gmock.h"
#include "governance/keccak.h"
#include "gtest/gtest.h"
#include "tests/support/anvil_node.h"

namespace warden::evm {
namespace {

constexpr uint64_t kChainId = 31337;

class AnvilTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<testing::AnvilNode>> node =
        testing::AnvilNode::Start(kChainId);
    ASSERT_TRUE(node.ok()) << node.status();
    anvil_ = *std::move(node);
    url_ = anvil_->url();
    absl::StatusOr<PrivateKey> key =
        PrivateKey::FromBytes(absl::HexStringToBytes(testing::kAnvilDevKey));
    ASSERT_TRUE(key.ok());
    key_ = std::make_unique<PrivateKey>(*std::move(key));
  }

  std::unique_ptr<JsonRpcClient> Rpc() {
    return std::make_unique<JsonRpcClient>(url_, absl::Seconds(10));
  }
  // Whether the transaction is mined successfully, polling (bounded) while
  // anvil mines it.
  static bool Mined(EvmSender& sender, const Hash& h) {
    for (int i = 0; i < 100; ++i) {
      absl::StatusOr<std::optional<bool>> st = sender.ReceiptStatus(h);
      if (!st.ok()) return false;
      if (st->has_value()) return **st;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return false;
  }

  absl::uint128 Balance(const Address& a) {
    absl::StatusOr<absl::uint128> b = anvil_->Balance(Hex(a));
    EXPECT_TRUE(b.ok()) << b.status();
    return b.value_or(0);
  }

  std::string url_;
  std::unique_ptr<testing::AnvilNode> anvil_;
  std::unique_ptr<PrivateKey> key_;
};

// Keccak-256 agrees with the node's own (web3_sha3) at every padding
// boundary of the 136-byte rate: empty, one block less one, one, one plus
// one, two blocks, and longer inputs, where padding bugs hide.
TEST_F(AnvilTest, Keccak256AgreesWithTheNode) {
  for (size_t n : {0, 1, 31, 135, 136, 137, 271, 272, 273, 1000}) {
    std::string data(n, '\0');
    for (size_t i = 0; i < n; ++i) data[i] = static_cast<char>(i * 7 + 3);
    absl::StatusOr<nlohmann::json> node = anvil_->Call(
        "web3_sha3",
        nlohmann::json::array({"0x" + absl::BytesToHexString(data)}));
    ASSERT_TRUE(node.ok()) << node.status();
    const std::array<uint8_t, 32> ours = Keccak256(data);
    EXPECT_EQ(*node, "0x" + absl::BytesToHexString(absl::string_view(
                                reinterpret_cast<const char*>(ours.data()),
                                ours.size())))
        << n << " bytes";
  }
}

TEST_F(AnvilTest, TransferLandsWithExactlyItsValue) {
  absl::StatusOr<std::unique_ptr<EvmSender>> sender =
      EvmSender::Create(key_.get(), kChainId, Rpc());
  ASSERT_TRUE(sender.ok()) << sender.status();
  const Address to = PrivateKey::Generate().address();
  const absl::uint128 wei = absl::uint128(1'234'567'890'123'456'789ULL);
  absl::StatusOr<EvmSender::Sent> sent = (*sender)->Send(to, wei, "");
  ASSERT_TRUE(sent.ok()) << sent.status();
  EXPECT_EQ(sent->nonce, 0u);
  EXPECT_TRUE(Mined(**sender, sent->tx_hash));
  EXPECT_EQ(Balance(to), wei);
}

TEST_F(AnvilTest, ConcurrentSendsGetConsecutiveNonces) {
  absl::StatusOr<std::unique_ptr<EvmSender>> sender =
      EvmSender::Create(key_.get(), kChainId, Rpc());
  ASSERT_TRUE(sender.ok()) << sender.status();
  const Address to = PrivateKey::Generate().address();
  absl::Mutex mu;
  std::vector<uint64_t> nonces;
  std::vector<Hash> hashes;
  std::vector<std::thread> threads;
  const absl::Time start = absl::Now();
  for (int i = 0; i < 20; ++i) {
    threads.emplace_back([&] {
      absl::StatusOr<EvmSender::Sent> s = (*sender)->Send(to, 1000, "");
      ASSERT_TRUE(s.ok()) << s.status();
      absl::MutexLock lock(&mu);
      nonces.push_back(s->nonce);
      hashes.push_back(s->tx_hash);
    });
  }
  for (std::thread& t : threads) t.join();
  const absl::Duration took = absl::Now() - start;
  ASSERT_EQ(nonces.size(), 20u);
  std::sort(nonces.begin(), nonces.end());
  for (uint64_t i = 0; i < 20; ++i) EXPECT_EQ(nonces[i], i);
  for (const Hash& h : hashes) EXPECT_TRUE(Mined(**sender, h));
  EXPECT_EQ(Balance(to), absl::uint128(20 * 1000));
  std::printf("20 concurrent signed sends from one wallet in %s (%.0f/s)\n",
              absl::FormatDuration(took).c_str(),
              20 / absl::ToDoubleSeconds(took));
}

TEST_F(AnvilTest, WrongChainIsRefused) {
  absl::StatusOr<std::unique_ptr<EvmSender>> sender =
      EvmSender::Create(key_.get(), 8453, Rpc());
  EXPECT_EQ(sender.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(sender.status().message(), ::testing::HasSubstr("31337"));
}

TEST_F(AnvilTest, NodeDownIsUnavailable) {
  absl::StatusOr<std::unique_ptr<EvmSender>> sender =
      EvmSender::Create(key_.get(), kChainId, Rpc());
  ASSERT_TRUE(sender.ok());
  anvil_.reset();  // Kills the node.
  absl::StatusOr<EvmSender::Sent> sent =
      (*sender)->Send(PrivateKey::Generate().address(), 1, "");
  EXPECT_EQ(sent.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace warden::evm
