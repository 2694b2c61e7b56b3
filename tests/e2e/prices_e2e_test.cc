// Live prices through a real wardend: ETH priced by a Chainlink-style
// aggregator deployed on anvil (adapters/evm/testdata/PriceAggregator.sol),
// WBTC by a price file signed with `wardenctl prices sign`. A fresh price
// values spends and moves with the aggregator's answer; a stale answer, a
// stopped node and a forged file each deny with PRICE_STALE.
#include <signal.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "adapters/evm/testdata/price_aggregator.h"
#include "gmock/gmock.h"
#include "governance/keccak.h"
#include "gtest/gtest.h"
#include "tests/support/anvil_node.h"
#include "tests/support/subprocess.h"
#include "tests/support/wardend_process.h"

namespace warden {
namespace {

using testing::AnvilNode;
using ::testing::HasSubstr;
using testing::RunCommand;
using testing::TempDir;
using testing::WardendProcess;

// One ABI word, for a non-negative value.
std::string Word(int64_t v) {
  std::string hex(64, '0');
  for (int i = 63; i >= 0 && v != 0; --i, v >>= 4) {
    hex[i] = "0123456789abcdef"[v & 15];
  }
  return hex;
}

std::string Selector(const std::string& signature) {
  const std::array<uint8_t, 32> h = Keccak256(signature);
  return absl::StrCat("0x", absl::BytesToHexString(absl::string_view(
                                reinterpret_cast<const char*>(h.data()), 4)));
}

class PricesE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto anvil = AnvilNode::Start();
    ASSERT_TRUE(anvil.ok()) << anvil.status();
    anvil_ = anvil->release();
  }
  static void TearDownTestSuite() {
    delete anvil_;
    anvil_ = nullptr;
  }

  void SetUp() override {
    // An aggregator of 8 decimals answering $3,000.
    auto deployed = anvil_->SendFromDev(
        {{"data", absl::StrCat(evm::testdata::kPriceAggregatorInitCode, Word(8),
                               Word(3000'00000000))},
         {"gas", "0x200000"}});
    ASSERT_TRUE(deployed.ok()) << deployed.status();
    ASSERT_EQ((*deployed)["status"], "0x1");
    aggregator_ = (*deployed)["contractAddress"].get<std::string>();

    key_ = dir_.path() + "/prices.pem";
    auto made = RunCommand(
        {"/usr/bin/openssl", "genpkey", "-algorithm", "ed25519", "-out", key_},
        absl::Seconds(30));
    ASSERT_TRUE(made.ok() && made->exit_code == 0);
    auto printed = Ctl({"prices", "key", "--key", key_});
    ASSERT_EQ(printed.exit_code, 0) << printed.err;
    const std::string public_key = printed.out.substr(0, 64);
    prices_file_ = dir_.path() + "/prices.json";
    ASSERT_EQ(SignPrices(key_, "WBTC=97000.5").exit_code, 0);

    const std::string bundle =
        dir_.Write("bundle.yaml", absl::StrCat(R"(
org: {id: acme}
departments: [{id: eng}]
agents:
  - id: bot
    department: eng
    limits: [{name: daily, usd: "1000000", window: "rolling:24h"}]
    wallets: [{id: w, vendor: local, chain: anvil,
               address: "0x0000000000000000000000000000000000000001"}]
assets:
  - symbol: ETH
    decimals: 18
    price: {source: chainlink, chain: anvil, aggregator: ")",
                                               aggregator_, R"(",
            max_age: 1h}
  - symbol: WBTC
    decimals: 8
    price: {source: file, public_key: ")",
                                               public_key, R"(",
            max_age: 10m}
)"));
    auto w = WardendProcess::Start(
        WARDEND_PATH,
        {"--embedded", "--bundle", bundle, "--audit-file",
         dir_.path() + "/audit.jsonl", "--chain-rpc",
         absl::StrCat("anvil=", anvil_->url()), "--chain-rpc-timeout-ms", "500",
         "--price-file", prices_file_, "--price-refresh-ms", "0"});
    ASSERT_TRUE(w.ok()) << w.status();
    wardend_ = *std::move(w);
  }

  testing::CommandResult Ctl(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {WARDENCTL_PATH};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = RunCommand(argv, absl::Seconds(30));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : testing::CommandResult{};
  }
  testing::CommandResult SignPrices(const std::string& key,
                                    const std::string& price) {
    return Ctl({"prices", "sign", "--key", key, "--out", prices_file_, price});
  }

  void Send(const std::string& data) {
    auto sent = anvil_->SendFromDev({{"to", aggregator_}, {"data", data}});
    ASSERT_TRUE(sent.ok()) << sent.status();
    ASSERT_EQ((*sent)["status"], "0x1");
  }

  v1::Authorization Spend(const std::string& asset, const std::string& amount) {
    v1::AuthorizeRequest req;
    req.set_agent_id("bot");
    req.set_wallet_id("w");
    req.set_asset(asset);
    req.set_amount(amount);
    v1::AuthorizeResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(10));
    grpc::Status s = wardend_->authz().Authorize(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    v1::GetAuthorizationRequest get;
    get.set_authorization_id(resp.authorization_id());
    v1::Authorization a;
    grpc::ClientContext ctx2;
    s = wardend_->authz().GetAuthorization(&ctx2, get, &a);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return a;
  }

  static AnvilNode* anvil_;
  TempDir dir_;
  std::string aggregator_, key_, prices_file_;
  std::unique_ptr<WardendProcess> wardend_;
};

AnvilNode* PricesE2eTest::anvil_ = nullptr;

constexpr char kOneEth[] = "1000000000000000000";

TEST_F(PricesE2eTest, TheAggregatorsAnswerValuesSpendsUntilItIsStale) {
  v1::Authorization a = Spend("ETH", kOneEth);
  EXPECT_EQ(a.decision(), v1::DECISION_ALLOW) << a.reason();
  EXPECT_EQ(a.amount_usd(), "3000.00");
  EXPECT_EQ(a.price_usd(), "3000");
  EXPECT_EQ(a.price_source(), absl::StrCat("chainlink anvil ", aggregator_));
  EXPECT_NEAR(a.price_at().seconds(), absl::ToUnixSeconds(absl::Now()), 120);
  // wardenctl shows where the price came from.
  const testing::CommandResult shown =
      Ctl({"--server", wardend_->address(), "get", a.authorization_id()});
  EXPECT_THAT(shown.out,
              HasSubstr(absl::StrCat("priced at $3000 by chainlink anvil ",
                                     aggregator_)));

  // The answer moves: the next spend is valued at it.
  Send(absl::StrCat(Selector("updateAnswer(int256)"), Word(3512'25000000)));
  a = Spend("ETH", kOneEth);
  EXPECT_EQ(a.decision(), v1::DECISION_ALLOW) << a.reason();
  EXPECT_EQ(a.amount_usd(), "3512.25");

  // An answer two hours old, with max_age 1h: denied, never valued at the
  // last fresh answer.
  const int64_t two_hours_ago = absl::ToUnixSeconds(absl::Now()) - 7200;
  Send(absl::StrCat(Selector("updateRoundData(uint80,int256,uint256,uint256)"),
                    Word(100), Word(3600'00000000), Word(two_hours_ago),
                    Word(two_hours_ago)));
  a = Spend("ETH", kOneEth);
  EXPECT_EQ(a.decision(), v1::DECISION_DENY);
  ASSERT_EQ(a.violations_size(), 1);
  EXPECT_EQ(a.violations(0).code(), "PRICE_STALE");
  EXPECT_THAT(a.reason(), HasSubstr(absl::StrCat("the price of ETH from "
                                                 "chainlink anvil ",
                                                 aggregator_, " is 2h")));
  EXPECT_THAT(a.reason(), HasSubstr("over its max_age of 1h"));
}

TEST_F(PricesE2eTest, AStoppedNodeDeniesAndItsReturnPricesAgain) {
  anvil_->process().Signal(SIGSTOP);
  const absl::Time start = absl::Now();
  v1::Authorization a = Spend("ETH", kOneEth);
  const absl::Duration took = absl::Now() - start;
  anvil_->process().Signal(SIGCONT);
  EXPECT_EQ(a.decision(), v1::DECISION_DENY);
  EXPECT_EQ(a.violations(0).code(), "PRICE_STALE");
  EXPECT_THAT(a.reason(), HasSubstr("could not be read"));
  // Within the node's timeout (500 ms here), not the call's deadline.
  EXPECT_LT(took, absl::Seconds(5));

  a = Spend("ETH", kOneEth);
  EXPECT_EQ(a.decision(), v1::DECISION_ALLOW) << a.reason();
}

TEST_F(PricesE2eTest, TheSignedFilePricesAndAForgedOneIsRefused) {
  v1::Authorization a = Spend("WBTC", "200000000");  // 2 WBTC.
  EXPECT_EQ(a.decision(), v1::DECISION_ALLOW) << a.reason();
  EXPECT_EQ(a.amount_usd(), "194001.00");
  EXPECT_THAT(a.price_source(), HasSubstr("price file signed by"));

  // Whoever can write the file but lacks the key cannot price.
  const std::string other = dir_.path() + "/other.pem";
  auto made = RunCommand(
      {"/usr/bin/openssl", "genpkey", "-algorithm", "ed25519", "-out", other},
      absl::Seconds(30));
  ASSERT_TRUE(made.ok() && made->exit_code == 0);
  ASSERT_EQ(SignPrices(other, "WBTC=1").exit_code, 0);
  a = Spend("WBTC", "200000000");
  EXPECT_EQ(a.decision(), v1::DECISION_DENY);
  EXPECT_EQ(a.violations(0).code(), "PRICE_STALE");
  EXPECT_THAT(a.reason(), HasSubstr("does not verify"));

  // Signed by the key, but taken 11 minutes ago with max_age 10m.
  const std::string at = absl::FormatTime(
      absl::RFC3339_sec, absl::Now() - absl::Minutes(11), absl::UTCTimeZone());
  ASSERT_EQ(Ctl({"prices", "sign", "--key", key_, "--out", prices_file_, "--at",
                 at, "WBTC=97000.5"})
                .exit_code,
            0);
  a = Spend("WBTC", "200000000");
  EXPECT_EQ(a.decision(), v1::DECISION_DENY);
  EXPECT_THAT(a.reason(), HasSubstr("11m"));

  // Bad entries are refused naming them, and the file is left alone.
  testing::CommandResult bad = SignPrices(key_, "WBTC=-3");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("\"WBTC=-3\""));
  EXPECT_EQ(SignPrices(key_, "WBTC").exit_code, 2);
  EXPECT_EQ(SignPrices(key_, "WBTC=0").exit_code, 2);
  a = Spend("WBTC", "200000000");
  EXPECT_THAT(a.reason(), HasSubstr("11m"));
}

}  // namespace
}  // namespace warden
