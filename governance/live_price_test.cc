// Live prices in the engine: a fresh reading values the spend (and is
// recorded with its source and time); a stale, unreadable, future-dated or
// unusable one denies with PRICE_STALE, never falling back to another
// price. The bundle's grammar for price sources.
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "governance/bundle.h"
#include "governance/engine.h"
#include "governance/memory/memory_budget_store.h"
#include "governance/memory/memory_config_store.h"
#include "governance/memory/memory_freeze_store.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_audit_log.h"

namespace warden {
namespace {

using ::testing::HasSubstr;

constexpr char kAggregator[] = "0x71041dddad3595f9ced3dccfbe3d1f4b0a16bb70";
constexpr char kKey[] =
    "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c";

const std::string kBundle = absl::StrCat(R"(
org: {id: acme}
departments: [{id: eng}]
agents:
  - id: bot
    department: eng
    limits: [{name: daily, usd: "10500", window: "rolling:24h"}]
    wallets: [{id: w, vendor: local, chain: base,
               address: "0x0000000000000000000000000000000000000001"}]
assets:
  - {symbol: USDC, decimals: 6, price_usd: "1"}
  - symbol: ETH
    decimals: 18
    price: {source: chainlink, chain: base, aggregator: ")",
                                         kAggregator, R"(", max_age: 1h}
  - symbol: WBTC
    decimals: 8
    price: {source: file, public_key: ")",
                                         kKey, R"(", max_age: 10m}
)");

// Answers each feed with what the test sets, counting the reads.
class FakePrices final : public PriceSource {
 public:
  absl::StatusOr<PriceReading> Read(const std::string& asset,
                                    const PriceFeed& feed) override {
    ++reads;
    last_feed = feed;
    return answer;
  }
  absl::StatusOr<PriceReading> answer = absl::UnknownError("unset");
  PriceFeed last_feed;
  int reads = 0;
};

class LivePriceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(engine_.ApplyBundle(kBundle, false, "test").ok());
  }

  Authorization Spend(const std::string& asset, const std::string& amount) {
    AuthorizeInput in{.agent_id = "bot",
                      .wallet_id = "w",
                      .asset = asset,
                      .amount = amount,
                      .actor = "test"};
    absl::StatusOr<AuthorizeOutput> out = engine_.Authorize(in);
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? out->authorization : Authorization{};
  }

  void Answer(const char* price, absl::Duration age) {
    prices_.answer =
        PriceReading{.price = *ParsePrice(price), .updated_at = now_ - age};
  }

  const absl::Time now_ = absl::FromUnixSeconds(1'777'651'200);
  ManualClock clock_{now_};
  MemoryConfigStore config_;
  MemoryBudgetStore budgets_;
  FakeAuditLog audit_;
  MemoryFreezeStore freezes_;
  FakePrices prices_;
  Engine engine_{&config_,  &budgets_, &audit_,
                 &freezes_, &clock_,   EngineHooks{.prices = &prices_}};
};

TEST_F(LivePriceTest, AFreshPriceValuesTheSpendAndIsRecorded) {
  Answer("3012.5", absl::Minutes(59));
  const Authorization a = Spend("ETH", "2000000000000000000");  // 2 ETH.
  EXPECT_EQ(a.decision, Decision::kAllow) << a.reason;
  EXPECT_EQ(a.amount_usd, 6'025'000'000);
  EXPECT_EQ(a.price_usd, "3012.5");
  EXPECT_EQ(a.price_source, absl::StrCat("chainlink base ", kAggregator));
  EXPECT_EQ(a.price_at, now_ - absl::Minutes(59));
  EXPECT_EQ(prices_.last_feed.kind, PriceFeed::Kind::kChainlink);
  // The record in the trail says the same.
  ASSERT_FALSE(audit_.events().empty());
  ASSERT_TRUE(audit_.events().back().authorization.has_value());
  EXPECT_EQ(audit_.events().back().authorization->price_source, a.price_source);
  // The price moved: the next spend is valued at the new one, and the
  // limit counts both.
  Answer("4000", absl::Seconds(5));
  const Authorization b = Spend("ETH", "1000000000000000000");
  EXPECT_EQ(b.decision, Decision::kAllow) << b.reason;
  EXPECT_EQ(b.amount_usd, 4'000'000'000);
  EXPECT_EQ(Spend("ETH", "1000000000000000000").decision, Decision::kDeny);
  // A fixed price is the bundle's, with no source read.
  const int reads = prices_.reads;
  const Authorization c = Spend("USDC", "1000000");
  EXPECT_EQ(c.decision, Decision::kAllow) << c.reason;
  EXPECT_EQ(c.price_source, "");
  EXPECT_EQ(prices_.reads, reads);
}

TEST_F(LivePriceTest, AStalePriceDeniesNamingTheSourceAndItsAge) {
  Answer("3000", absl::Hours(2) + absl::Seconds(1));
  const Authorization a = Spend("ETH", "1000000000000000");
  EXPECT_EQ(a.decision, Decision::kDeny);
  ASSERT_EQ(a.violations.size(), 1u);
  EXPECT_EQ(a.violations[0].code, "PRICE_STALE");
  EXPECT_THAT(a.reason, HasSubstr(absl::StrCat("chainlink base ", kAggregator,
                                               " is 2h1s old")));
  EXPECT_THAT(a.reason, HasSubstr("over its max_age of 1h"));
  EXPECT_EQ(a.amount_usd, 0);
  EXPECT_EQ(a.price_usd, "");
  // max_age is the bundle's per asset: the file's is 10 minutes.
  Answer("97000", absl::Minutes(11));
  const Authorization b = Spend("WBTC", "100000000");
  EXPECT_EQ(b.decision, Decision::kDeny);
  EXPECT_THAT(b.reason, HasSubstr("price file signed by"));
  EXPECT_THAT(b.reason, HasSubstr("11m old"));
}

TEST_F(LivePriceTest, AnUnreadableOrImplausiblePriceDenies) {
  prices_.answer = absl::UnavailableError("connection refused");
  Authorization a = Spend("ETH", "1000");
  EXPECT_EQ(a.decision, Decision::kDeny);
  EXPECT_EQ(a.violations.at(0).code, "PRICE_STALE");
  EXPECT_THAT(a.reason, HasSubstr("could not be read: connection refused"));

  Answer("3000", -absl::Minutes(2));  // Updated "in two minutes".
  a = Spend("ETH", "1000");
  EXPECT_EQ(a.decision, Decision::kDeny);
  EXPECT_THAT(a.reason, HasSubstr("in the future"));

  // A price a bundle could not hold (0 would make every amount free) is
  // refused as the bundle's would be.
  prices_.answer = PriceReading{.price = {}, .updated_at = now_};
  a = Spend("ETH", "1000");
  EXPECT_EQ(a.decision, Decision::kDeny);
  EXPECT_EQ(a.violations.at(0).code, "PRICE_STALE");

  // No source at all: the same, never the last price seen.
  Engine without{&config_, &budgets_, &audit_, &freezes_, &clock_};
  AuthorizeInput in{.agent_id = "bot",
                    .wallet_id = "w",
                    .asset = "ETH",
                    .amount = "1000",
                    .actor = "test"};
  absl::StatusOr<AuthorizeOutput> out = without.Authorize(in);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->authorization.decision, Decision::kDeny);
  EXPECT_THAT(out->authorization.reason, HasSubstr("reads no live prices"));
}

// An approval allows a held spend at the value it was held at: refused once
// the price it was valued at is older than max_age.
TEST_F(LivePriceTest, AnApprovalIsRefusedOnceTheHoldsPriceIsStale) {
  ASSERT_TRUE(
      engine_
          .ApplyBundle(absl::StrReplaceAll(
                           kBundle, {{"    department: eng\n",
                                      "    department: eng\n    approvals: "
                                      "{approval_above_usd: \"1000\", "
                                      "approvers: [user/cfo]}\n"}}),
                       false, "test")
          .ok());
  Answer("3000", absl::Minutes(30));
  const Authorization held = Spend("ETH", "1000000000000000000");
  ASSERT_EQ(held.decision, Decision::kPendingApproval) << held.reason;
  clock_.Advance(absl::Minutes(31));  // The price is now 61 minutes old.
  absl::StatusOr<VoteOutput> vote =
      engine_.Approve({.authorization_id = held.id, .approver = "user/cfo"});
  EXPECT_EQ(vote.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(vote.status().message(), HasSubstr("1h1m old"));
  // Rejecting it still works.
  EXPECT_TRUE(
      engine_.Reject({.authorization_id = held.id, .approver = "user/cfo"})
          .ok());
}

TEST(PriceFeedBundleTest, SourcesAndTheirErrors) {
  absl::StatusOr<Policy> p = ParseBundle(kBundle);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->assets.at("ETH").feed.max_age, absl::Hours(1));
  EXPECT_EQ(p->assets.at("WBTC").feed.public_key, kKey);
  EXPECT_FALSE(p->assets.at("ETH").price_usd.has_value());

  auto error_of = [](const std::string& asset) {
    absl::StatusOr<Policy> bad = ParseBundle(
        absl::StrCat("org: {id: acme}\nassets:\n  - ", asset, "\n"));
    return bad.ok() ? std::string("accepted")
                    : std::string(bad.status().message());
  };
  EXPECT_THAT(error_of(R"({symbol: E, decimals: 2, price_usd: "1",
                           price: {source: fixed, usd: "1"}})"),
              HasSubstr("assets[0].price: give price_usd"));
  EXPECT_THAT(error_of(R"({symbol: E, decimals: 2,
                           price: {source: fixed, usd: "2.5"}})"),
              "accepted");
  EXPECT_THAT(error_of(R"({symbol: E, decimals: 2, price: {source: fixed}})"),
              HasSubstr("assets[0].price.usd: is required"));
  EXPECT_THAT(error_of(R"({symbol: E, decimals: 2, price: {source: oracle}})"),
              HasSubstr("assets[0].price.source: \"oracle\" must be fixed"));
  EXPECT_THAT(error_of(R"({symbol: E, decimals: 2, price: "3000"})"),
              HasSubstr("assets[0].price: must be a mapping"));
  EXPECT_THAT(error_of(R"({symbol: E, decimals: 2,
                           price: {source: chainlink, chain: base,
                                   aggregator: "0x1"}})"),
              HasSubstr("assets[0].price.aggregator: \"0x1\" is not an EVM"));
  EXPECT_THAT(error_of(absl::StrCat(R"({symbol: E, decimals: 2,
                           price: {source: chainlink, chain: base,
                                   aggregator: ")",
                                    kAggregator, R"("}})")),
              HasSubstr("assets[0].price.max_age: is required"));
  EXPECT_THAT(error_of(absl::StrCat(R"({symbol: E, decimals: 2,
                           price: {source: chainlink, chain: base,
                                   aggregator: ")",
                                    kAggregator, R"(", max_age: 30d}})")),
              HasSubstr("assets[0].price.max_age: must be at most 7d"));
  for (const char* age : {"0s", "-1h", "9223372036854775808s", "[1h]"}) {
    EXPECT_THAT(
        error_of(absl::StrCat(R"({symbol: E, decimals: 2,
                           price: {source: chainlink, chain: base,
                                   aggregator: ")",
                              kAggregator, R"(", max_age: )", age, "}}")),
        HasSubstr("assets[0].price.max_age"))
        << age;
  }
  EXPECT_THAT(error_of(R"({symbol: E, decimals: 2,
                           price: {source: file, public_key: "abc",
                                   max_age: 1h}})"),
              HasSubstr("assets[0].price.public_key: must be an Ed25519"));
  EXPECT_THAT(error_of(absl::StrCat(R"({symbol: E, decimals: 2,
                           price: {source: file, max_age: 1h, public_key: ")",
                                    std::string(64, '0'), R"("}})")),
              HasSubstr("not a point of small order"));
  EXPECT_THAT(error_of(R"({symbol: E, decimals: 2,
                           price: {source: file, max_age: 1h, usd: "1"}})"),
              HasSubstr("assets[0].price.usd: unknown key"));
}

}  // namespace
}  // namespace warden
