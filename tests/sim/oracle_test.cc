#include "tests/sim/oracle.h"

#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "governance/bundle.h"
#include "governance/memory/memory_budget_store.h"
#include "governance/money.h"
#include "governance/usage_buckets.h"
#include "gtest/gtest.h"
#include "tests/sim/adversarial.h"
#include "tests/sim/sim_policy.h"
#include "tests/sim/wide.h"

namespace warden::sim {
namespace {

using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::IsEmpty;

constexpr absl::Time kNow = absl::FromUnixSeconds(2208988800);

// Agent a0 (department d0) with one wallet and $10 a rolling day; USDC at $1.
SimPolicy TenDollarPolicy() {
  SimPolicy p;
  p.departments = {{"d0", {}, std::nullopt}};
  SimAgent a;
  a.id = "a0";
  a.department = "d0";
  a.limits = {{"daily", true, 10'000'000, "rolling:24h"}};
  a.wallets = {"w0"};
  p.agents = {a};
  p.wallets = {{"w0", "a0", "base"}};
  p.assets = {{"USDC", 6, SimPrice{1, 0}}};
  return p;
}

AuthorizeInput Spend(int64_t micros, const std::string& key = "") {
  AuthorizeInput in;
  in.org_id = "sim";
  in.agent_id = "a0";
  in.wallet_id = "w0";
  in.asset = "USDC";
  in.amount = absl::StrCat(micros);  // USDC: base units are micro-dollars.
  in.idempotency_key = key;
  return in;
}

// The answer a correct engine gives to Spend(micros) when it allows it.
AuthorizeOutput Allowed(const std::string& id, int64_t micros,
                        const std::string& key = "") {
  Authorization a;
  a.id = id;
  a.org_id = "sim";
  a.department_id = "d0";
  a.agent_id = "a0";
  a.wallet_id = "w0";
  a.asset = "USDC";
  a.amount = static_cast<uint64_t>(micros);
  a.amount_usd = micros;
  a.idempotency_key = key;
  a.decision = Decision::kAllow;
  a.status = AuthorizationStatus::kHeld;
  a.policy_version = 1;
  a.created_at = kNow;
  a.hold_expires_at = kNow + absl::Minutes(15);
  return {a, false};
}

class OracleTest : public ::testing::Test {
 protected:
  OracleTest()
      : oracle_({"memory", &usage::CountedFrom, std::nullopt}, &store_) {
    oracle_.BeginStep(0);
    oracle_.OnInitialBundle(TenDollarPolicy(), ApplyResult{"sim", 1, true, {}});
    oracle_.BeginStep(1);
  }

  MemoryBudgetStore store_;
  Oracle oracle_;
};

// Two holds that together fit the cap pass.
TEST_F(OracleTest, AcceptsAdmissionsWithinTheCap) {
  oracle_.OnAuthorize(Spend(6'000'000), kNow, true, Allowed("az_1", 6'000'000));
  oracle_.OnAuthorize(Spend(4'000'000), kNow, true, Allowed("az_2", 4'000'000));
  EXPECT_THAT(oracle_.findings(), IsEmpty());
}

// An ALLOW that takes a limit past its cap is an over-admission.
TEST_F(OracleTest, FlagsAdmissionPastTheCap) {
  oracle_.OnAuthorize(Spend(6'000'000), kNow, true, Allowed("az_1", 6'000'000));
  oracle_.OnAuthorize(Spend(4'000'001), kNow, true, Allowed("az_2", 4'000'001));
  EXPECT_THAT(oracle_.findings(),
              ElementsAre(Field(&Finding::invariant, "over-admission")));
}

// The int64 wrap of MemoryBudgetStore::Reserve: a huge valid amount after a
// small one must not pass, however the sum is computed.
TEST_F(OracleTest, FlagsAdmissionWhoseSumWrapsInt64) {
  oracle_.OnAuthorize(Spend(1), kNow, true, Allowed("az_1", 1));
  oracle_.OnAuthorize(Spend(kInt64Max), kNow, true, Allowed("az_2", kInt64Max));
  EXPECT_THAT(oracle_.findings(),
              ElementsAre(Field(&Finding::invariant, "over-admission")));
}

// A replay that answers ALLOW for a hold a freeze voided breaks exactly-once.
TEST_F(OracleTest, FlagsReplayedAllowOfAVoidedHold) {
  oracle_.OnAuthorize(Spend(1'000'000, "k1"), kNow, true,
                      Allowed("az_1", 1'000'000, "k1"));
  oracle_.OnFreeze("wallet/w0", false, kNow, true,
                   FreezeOutcome{"wallet/w0", 1, 1, {}});
  ASSERT_THAT(oracle_.findings(), IsEmpty());
  AuthorizeOutput replay = Allowed("az_1", 1'000'000, "k1");
  replay.replayed = true;
  replay.authorization.status = AuthorizationStatus::kVoided;
  oracle_.OnAuthorize(Spend(1'000'000, "k1"), kNow, true, replay);
  EXPECT_THAT(oracle_.findings(),
              ElementsAre(Field(&Finding::invariant, "exactly-once")));
}

// A replay that answers the voided record as it is now passes.
TEST_F(OracleTest, AcceptsReplayOfAVoidedHoldAsItIsNow) {
  oracle_.OnAuthorize(Spend(1'000'000, "k1"), kNow, true,
                      Allowed("az_1", 1'000'000, "k1"));
  oracle_.OnVoid("az_1", kNow, true, [] {
    Authorization a = Allowed("az_1", 1'000'000, "k1").authorization;
    a.status = AuthorizationStatus::kVoided;
    return a;
  }());
  AuthorizeOutput replay = Allowed("az_1", 1'000'000, "k1");
  replay.replayed = true;
  replay.authorization.status = AuthorizationStatus::kVoided;
  replay.authorization.decision = Decision::kDeny;
  oracle_.OnAuthorize(Spend(1'000'000, "k1"), kNow, true, replay);
  EXPECT_THAT(oracle_.findings(), IsEmpty());
}

// A different request under a used key must be refused, not answered.
TEST_F(OracleTest, FlagsDifferentRequestAnsweredUnderAUsedKey) {
  oracle_.OnAuthorize(Spend(1'000'000, "k1"), kNow, true,
                      Allowed("az_1", 1'000'000, "k1"));
  AuthorizeOutput replay = Allowed("az_1", 1'000'000, "k1");
  replay.replayed = true;
  oracle_.OnAuthorize(Spend(2'000'000, "k1"), kNow, true, replay);
  EXPECT_THAT(oracle_.findings(),
              ElementsAre(Field(&Finding::invariant, "exactly-once")));
}

// After FreezeScope returns, an ALLOW under the scope breaks the kill switch.
TEST_F(OracleTest, FlagsAllowUnderAFrozenScope) {
  oracle_.OnFreeze("agent/a0", false, kNow, true,
                   FreezeOutcome{"agent/a0", 1, 0, {}});
  oracle_.OnAuthorize(Spend(1), kNow, true, Allowed("az_1", 1));
  EXPECT_THAT(oracle_.findings(),
              ElementsAre(Field(&Finding::invariant, "kill-switch")));
}

// A denial that no rule, freeze or limit explains is flagged.
TEST_F(OracleTest, FlagsSpuriousDenial) {
  AuthorizeOutput deny = Allowed("az_1", 1);
  deny.authorization.decision = Decision::kDeny;
  deny.authorization.status = AuthorizationStatus::kDenied;
  oracle_.OnAuthorize(Spend(1), kNow, true, deny);
  EXPECT_THAT(oracle_.findings(),
              ElementsAre(Field(&Finding::invariant, "decision")));
}

// A valuation that wrapped (1,000 whole tokens worth ~$0) is flagged.
TEST_F(OracleTest, FlagsValuationThatWrapped) {
  SimPolicy p = TenDollarPolicy();
  p.assets.push_back({"HUGE", 0, SimPrice{absl::uint128(1) << 100, 0}});
  oracle_.OnApplyBundle(p, ApplyResult{"sim", 2, true, {}});
  AuthorizeInput in = Spend(0);
  in.asset = "HUGE";
  in.amount = "1000";
  AuthorizeOutput out = Allowed("az_1", 0);
  out.authorization.asset = "HUGE";
  out.authorization.amount = 1000;
  out.authorization.policy_version = 2;
  oracle_.OnAuthorize(in, kNow, true, out);
  EXPECT_THAT(oracle_.findings(),
              ElementsAre(Field(&Finding::invariant, "valuation")));
}

// A bundle whose price cannot value amounts (micro-dollars per base unit
// past 128 bits) must be refused.
TEST_F(OracleTest, FlagsUnrepresentablePriceBundleApplied) {
  SimPolicy p = TenDollarPolicy();
  p.assets.push_back({"HUGE", 0, SimPrice{absl::uint128(1) << 122, 0}});
  EXPECT_THAT(p.UnusablePrice(), ::testing::HasSubstr("HUGE"));
  oracle_.OnApplyBundle(p, ApplyResult{"sim", 2, true, {}});
  EXPECT_THAT(oracle_.findings(),
              ElementsAre(Field(&Finding::invariant, "bundle")));
}

// A bundle that prices an asset at zero must be refused.
TEST_F(OracleTest, FlagsZeroPriceBundleApplied) {
  SimPolicy p = TenDollarPolicy();
  p.assets.push_back({"FREE", 6, SimPrice{0, 12}});
  oracle_.OnApplyBundle(p, ApplyResult{"sim", 2, true, {}});
  EXPECT_THAT(oracle_.findings(),
              ElementsAre(Field(&Finding::invariant, "bundle")));
}

// The test's own valuation agrees with money.cc on ordinary prices.
TEST(AdversarialTest, ExactValuationMatchesMoneyOnOrdinaryPrices) {
  const SimAsset eth{"ETH", 18, SimPrice{3000123456789012, 12}};
  const SimAsset usdc{"USDC", 6, SimPrice{1, 0}};
  for (const auto& [asset, amount] :
       std::vector<std::pair<SimAsset, absl::uint128>>{
           {eth, absl::uint128(1'000'000'000'000'000'000ull)},
           {eth, 1},
           {usdc, 1234567},
           {usdc, absl::uint128(kInt64Max)}}) {
    const absl::StatusOr<UsdMicros> money =
        ValueInUsdMicros(amount, asset.decimals,
                         Price{asset.price->mantissa, asset.price->scale});
    ASSERT_TRUE(money.ok()) << money.status();
    EXPECT_EQ(ExactUsdMicrosInt64(amount, asset), *money) << asset.symbol;
  }
  // 1 ETH at $3000.123456789012 is 3000123456.789012 micros, rounded up.
  EXPECT_EQ(
      ExactUsdMicrosInt64(absl::uint128(1'000'000'000'000'000'000ull), eth),
      3'000'123'457);
}

// Boundary amounts value at most the target, and one more base unit above.
TEST(AdversarialTest, LargestAmountValuedAtMostIsTheBoundary) {
  const SimAsset eth{"ETH", 18, SimPrice{3000123456789012, 12}};
  for (int64_t target : {int64_t{0}, int64_t{1}, int64_t{999'999},
                         int64_t{1'000'000'000}, kInt64Max}) {
    const absl::uint128 a = LargestAmountValuedAtMost(eth, target);
    EXPECT_LE(ExactUsdMicros(a, 18, *eth.price), Wide(absl::uint128(target)));
    EXPECT_GT(ExactUsdMicros(a + 1, 18, *eth.price),
              Wide(absl::uint128(target)));
  }
  // At a price of zero everything is worth nothing.
  EXPECT_EQ(LargestAmountValuedAtMost({"FREE", 6, SimPrice{0, 0}}, 0),
            absl::Uint128Max());
}

// Wide agrees with uint128 where both fit, and prints decimals.
TEST(AdversarialTest, WideArithmetic) {
  Wide w = Wide(absl::uint128(123456789)) * Wide(absl::uint128(1000000007));
  EXPECT_EQ(w.ToString(), "123456789864197523");
  EXPECT_EQ(w.DivSmall(10), 3u);
  EXPECT_EQ(Wide(absl::Uint128Max()).ToString(),
            "340282366920938463463374607431768211455");
  EXPECT_TRUE(Wide(absl::uint128(kInt64Max)).FitsInt64());
  EXPECT_FALSE(Wide(absl::uint128(kInt64Max) + 1).FitsInt64());
}

// A fuzzer's bytes become choices, and an exhausted input reads as zeros.
TEST(AdversarialTest, ByteChooserReadsBytes) {
  const uint8_t bytes[] = {7, 200};
  ByteChooser c(bytes, sizeof(bytes));
  EXPECT_EQ(c.Below(10), 7u);
  EXPECT_EQ(c.Below(256), 200u);
  EXPECT_EQ(c.Below(10), 0u);
  EXPECT_EQ(c.consumed(), 2u);
}

// Prices and USD amounts are written with their exact scale.
TEST(SimPolicyTest, DecimalTextKeepsItsScale) {
  EXPECT_EQ((SimPrice{3000123456789012, 12}).Text(), "3000.123456789012");
  EXPECT_EQ((SimPrice{1, 12}).Text(), "0.000000000001");
  EXPECT_EQ((SimPrice{0, 12}).Text(), "0.000000000000");
  EXPECT_EQ(UsdText(1), "0.000001");
  EXPECT_EQ(UsdText(kInt64Max), "9223372036854.775807");
}

// Random and mutated policies are bundles the parser accepts (save a zero
// price or an unrepresentable one, which it must refuse), and between them
// they put limits on every kind of scope.
TEST(SimPolicyTest, RandomPoliciesAreValidBundles) {
  std::set<std::string> limited;  // Kinds of scope with a limit somewhere.
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    SeededChooser c(seed);
    SimPolicy p = RandomPolicy(c, /*allow_invalid=*/false);
    absl::StatusOr<Policy> parsed = ParseBundle(p.ToYaml());
    ASSERT_TRUE(parsed.ok())
        << "seed " << seed << ": " << parsed.status() << "\n"
        << p.ToYaml();
    EXPECT_EQ(parsed->departments.at("d0").parent, "div");
    for (const SimAgent& a : p.agents) {
      const SimWallet& w = *p.FindWallet(a.wallets[0]);
      for (const SimPolicy::PathScope& s :
           p.PathOf(a, w, "USDC", p.destinations[0])) {
        if (s.limits->empty()) continue;
        // "agent/a0/destination/0x..." counts as its own kind.
        const size_t slash = s.scope.find('/');
        limited.insert(s.scope.find("/destination/") != std::string::npos
                           ? "agent destination"
                       : s.scope == "department/div"
                           ? "division"
                           : s.scope.substr(0, slash));
      }
    }
    for (int i = 0; i < 10; ++i) {
      MutatePolicy(
          c, [](const std::string&, const SimLimit&) { return 5; }, &p);
      if (!p.UnusablePrice().empty()) continue;
      parsed = ParseBundle(p.ToYaml());
      ASSERT_TRUE(parsed.ok()) << "seed " << seed << " mutation " << i << ": "
                               << parsed.status() << "\n"
                               << p.ToYaml();
    }
  }
  EXPECT_THAT(limited,
              ::testing::IsSupersetOf({"org", "division", "department", "agent",
                                       "wallet", "chain", "asset",
                                       "destination", "agent destination"}));
}

}  // namespace
}  // namespace warden::sim
