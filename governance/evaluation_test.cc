// The evaluation unit on its own: rules, limits, tiers and refusals as
// functions of a parsed policy and a request, with no store and no clock.
#include "governance/evaluation.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "governance/bundle.h"
#include "gtest/gtest.h"

namespace warden::eval {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr const char* kBundle = R"(
org:
  id: acme
  timezone: America/New_York
  hold_ttl: 10m
  limits: [{name: monthly, usd: "50000", window: "calendar:month"}]
  destinations_deny: ["0x000000000000000000000000000000000000dEaD"]
departments:
  - id: eng
    limits: [{name: daily_budget, usd: "2000", window: "calendar:day"}]
    approvals:
      approval_above_usd: "800"
      approvers: [user/carol]
      approvals_required: 1
  - id: ops
agents:
  - id: agent_a
    department: eng
    limits:
      - {name: daily_max, usd: "1000", window: "rolling:24h"}
      - {name: tx_per_hour, count: 5, window: "rolling:1h"}
    approvals:
      notify_above_usd: "10"
      delay_above_usd: "100"
      delay: 15m
      approval_above_usd: "500"
      approvers: [user/alice, second_agent]
      approvals_required: 2
      cumulative: {window: "calendar:day", delay_above_usd: "300"}
    wallets:
      - {id: wallet_1, vendor: local, chain: base, address: "0x01"}
  - id: agent_b
    department: eng
    rules:
      per_tx_max_usd: "200"
      chains: [base]
      assets: [USDC]
      destinations_allow: ["0xAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"]
    wallets:
      - {id: wallet_2, vendor: local, chain: ethereum, address: "0x02"}
  - id: agent_o
    department: ops
    wallets:
      - {id: wallet_3, vendor: local, chain: base, address: "0x03"}
assets:
  - {symbol: USDC, decimals: 6, price_usd: "1"}
  - {symbol: ETH, decimals: 18, price_usd: "3000"}
)";

constexpr int64_t kDollar = 1'000'000;

void ReplaceFirst(std::string* text, const std::string& from,
                  const std::string& to) {
  const size_t at = text->find(from);
  ASSERT_NE(at, std::string::npos) << from;
  text->replace(at, from.size(), to);
}

class EvaluationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<Policy> p = ParseBundle(kBundle);
    ASSERT_TRUE(p.ok()) << p.status();
    policy_ = *std::move(p);
  }

  Authorization Spend(const std::string& agent, const std::string& wallet,
                      int64_t dollars, const std::string& asset = "USDC",
                      const std::string& destination = "") const {
    Authorization a;
    a.id = "az_1";
    a.org_id = "acme";
    a.agent_id = agent;
    a.department_id = policy_.agents.at(agent).department;
    a.wallet_id = wallet;
    a.chain = policy_.wallets.at(wallet).chain;
    a.asset = asset;
    a.destination = destination;
    a.amount_usd = dollars * kDollar;
    a.created_at = now_;
    return a;
  }

  std::vector<std::string> Codes(const std::vector<Violation>& v) const {
    std::vector<std::string> out;
    for (const Violation& x : v) out.push_back(x.code);
    return out;
  }

  Policy policy_;
  // 2026-05-01 12:00 in New York.
  const absl::Time now_ = absl::FromUnixSeconds(1777651200);
};

TEST_F(EvaluationTest, AnAgentWithoutRulesBreaksNone) {
  const Authorization a = Spend("agent_a", "wallet_1", 5000);
  EXPECT_THAT(CheckRules(a, policy_.agents.at("agent_a"), policy_, true, now_),
              IsEmpty());
}

TEST_F(EvaluationTest, EveryBrokenRuleIsReported) {
  // Over per_tx_max, on ethereum (only base), in ETH (only USDC), to a
  // destination off the allowlist.
  const Authorization a = Spend("agent_b", "wallet_2", 300, "ETH", "0x1234");
  const std::vector<Violation> v =
      CheckRules(a, policy_.agents.at("agent_b"), policy_, true, now_);
  EXPECT_THAT(Codes(v),
              ElementsAre("PER_TX_MAX", "CHAIN_NOT_ALLOWED",
                          "ASSET_NOT_ALLOWED", "DESTINATION_NOT_ALLOWED"));
  EXPECT_EQ(v[0].limit_usd, 200 * kDollar);
  EXPECT_EQ(v[0].scope, "agent/agent_b");
  EXPECT_THAT(v[1].message, HasSubstr("[base]"));
}

TEST_F(EvaluationTest, TheAllowlistComparesAddressesWithoutCase) {
  const Authorization a = Spend("agent_b", "wallet_2", 10, "USDC",
                                "0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  EXPECT_THAT(
      Codes(CheckRules(a, policy_.agents.at("agent_b"), policy_, true, now_)),
      ElementsAre("CHAIN_NOT_ALLOWED"));
}

TEST_F(EvaluationTest, TheOrgDenyListAppliesToEveryAgent) {
  const Authorization a = Spend("agent_a", "wallet_1", 1, "USDC",
                                "0x000000000000000000000000000000000000DEAD");
  const std::vector<Violation> v =
      CheckRules(a, policy_.agents.at("agent_a"), policy_, true, now_);
  ASSERT_THAT(v, SizeIs(1));
  EXPECT_EQ(v[0].code, "DESTINATION_DENIED");
  EXPECT_EQ(v[0].scope, "org/acme");
}

TEST_F(EvaluationTest, AnUnpricedSpendSkipsOnlyThePerTransactionCap) {
  // Unpriced: no per-tx check on a value that does not exist; the other
  // rules still apply (no destination is not an allowlisted one).
  const Authorization a = Spend("agent_b", "wallet_2", 1000, "USDC");
  EXPECT_THAT(
      Codes(CheckRules(a, policy_.agents.at("agent_b"), policy_, false, now_)),
      ElementsAre("PRICE_UNAVAILABLE", "CHAIN_NOT_ALLOWED",
                  "DESTINATION_NOT_ALLOWED"));
}

// Schedules on every scope of the path, in the org's zone; each one that
// does not allow the time of the decision is a violation of its scope.
TEST_F(EvaluationTest, SchedulesOfEveryScopeOnThePath) {
  std::string yaml = kBundle;
  ReplaceFirst(&yaml, "  hold_ttl: 10m",
               "  hold_ttl: 10m\n  schedule: {days: [mon-fri]}");
  ReplaceFirst(&yaml, "  - id: ops",
               "  - id: ops\n    schedule: {hours: \"09:00-17:00\"}");
  ReplaceFirst(&yaml, "      per_tx_max_usd: \"200\"",
               "      per_tx_max_usd: \"200\"\n"
               "      schedule: {days: [fri], hours: \"22:00-06:00\"}");
  absl::StatusOr<Policy> p = ParseBundle(yaml);
  ASSERT_TRUE(p.ok()) << p.status();
  auto codes_at = [&](const std::string& agent, const std::string& wallet,
                      absl::CivilMinute local) {
    const absl::Time t = absl::FromCivil(local, p->org.timezone);
    return CheckRules(Spend(agent, wallet, 1), p->agents.at(agent), *p, true,
                      t);
  };
  // Friday 2026-05-01 12:00 New York: agent_o's department is open.
  EXPECT_THAT(
      codes_at("agent_o", "wallet_3", absl::CivilMinute(2026, 5, 1, 12, 0)),
      IsEmpty());
  // 17:00: past ops' hours.
  std::vector<Violation> v =
      codes_at("agent_o", "wallet_3", absl::CivilMinute(2026, 5, 1, 17, 0));
  ASSERT_THAT(v, SizeIs(1));
  EXPECT_EQ(v[0].code, "OUTSIDE_SCHEDULE");
  EXPECT_EQ(v[0].scope, "department/ops");
  EXPECT_EQ(v[0].message,
            "Friday 2026-05-01 17:00 America/New_York is outside department "
            "ops's schedule every day 09:00-17:00");
  // Saturday 10:00: the org is closed too.
  EXPECT_THAT(Codes(codes_at("agent_o", "wallet_3",
                             absl::CivilMinute(2026, 5, 2, 10, 0))),
              ElementsAre("OUTSIDE_SCHEDULE"));
  EXPECT_THAT(
      codes_at("agent_o", "wallet_3", absl::CivilMinute(2026, 5, 2, 10, 0))[0]
          .scope,
      "org/acme");
  // agent_b (chain and destination rules aside): only Friday nights, and
  // the org only on weekdays, so Saturday 01:00 breaks the org's.
  auto schedule_scopes = [&](absl::CivilMinute local) {
    std::vector<std::string> out;
    for (const Violation& x : codes_at("agent_b", "wallet_2", local)) {
      if (x.code == "OUTSIDE_SCHEDULE") out.push_back(x.scope);
    }
    return out;
  };
  EXPECT_THAT(schedule_scopes(absl::CivilMinute(2026, 5, 1, 23, 0)), IsEmpty());
  EXPECT_THAT(schedule_scopes(absl::CivilMinute(2026, 5, 2, 1, 0)),
              ElementsAre("org/acme"));
  EXPECT_THAT(schedule_scopes(absl::CivilMinute(2026, 5, 1, 21, 59)),
              ElementsAre("agent/agent_b"));
}

// `default: deny`: no chains or assets list allows nothing, and an agent
// needs a USD limit of its own.
TEST_F(EvaluationTest, DefaultDeny) {
  std::string yaml = kBundle;
  ReplaceFirst(&yaml, "  hold_ttl: 10m", "  hold_ttl: 10m\n  default: deny");
  absl::StatusOr<Policy> p = ParseBundle(yaml);
  ASSERT_TRUE(p.ok()) << p.status();
  // agent_a: limits, no lists.
  std::vector<Violation> v = CheckRules(
      Spend("agent_a", "wallet_1", 1), p->agents.at("agent_a"), *p, true, now_);
  EXPECT_THAT(Codes(v), ElementsAre("CHAIN_NOT_ALLOWED", "ASSET_NOT_ALLOWED"));
  EXPECT_EQ(v[0].message,
            "chain base: agent agent_a has no chains list and org acme denies "
            "by default");
  // agent_b: lists that allow it, but no limit of its own.
  v = CheckRules(Spend("agent_b", "wallet_2", 1, "USDC",
                       "0xAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
                 p->agents.at("agent_b"), *p, true, now_);
  EXPECT_THAT(Codes(v), ElementsAre("CHAIN_NOT_ALLOWED", "NO_LIMIT"));
  EXPECT_EQ(v[1].message,
            "agent agent_b has no USD limit of its own and org acme denies by "
            "default");
  // Default deny's refusals never escalate: agent_c names assets (and
  // escalates them) but no chains.
  ReplaceFirst(&yaml, "  - id: agent_o",
               "  - id: agent_c\n    department: eng\n    limits: [{usd: "
               "\"5\", window: \"rolling:1h\"}]\n    rules: {assets: [ETH], "
               "on_violation: {assets: notify}}\n    approvals: {approvers: "
               "[user/x]}\n    wallets: [{id: wallet_c, vendor: local, chain: "
               "base, address: \"0x0c\"}]\n  - id: agent_o");
  p = ParseBundle(yaml);
  ASSERT_TRUE(p.ok()) << p.status();
  Authorization c = Spend("agent_a", "wallet_1", 1);
  c.agent_id = "agent_c";
  c.wallet_id = "wallet_c";
  v = CheckRules(c, p->agents.at("agent_c"), *p, true, now_);
  ASSERT_THAT(Codes(v), ElementsAre("CHAIN_NOT_ALLOWED", "ASSET_NOT_ALLOWED"));
  EXPECT_FALSE(Escalate(&v, p->agents.at("agent_c"), *p).has_value());
  EXPECT_THAT(v, SizeIs(2));
  // With a chains list the asset rule escalates as written.
  ReplaceFirst(&yaml, "rules: {assets: [ETH],",
               "rules: {chains: [base], assets: [ETH],");
  p = ParseBundle(yaml);
  ASSERT_TRUE(p.ok()) << p.status();
  v = CheckRules(c, p->agents.at("agent_c"), *p, true, now_);
  std::optional<TierChoice> escalated =
      Escalate(&v, p->agents.at("agent_c"), *p);
  ASSERT_TRUE(escalated.has_value());
  EXPECT_EQ(escalated->tier, Tier::kNotify);
  EXPECT_THAT(v, IsEmpty());
  // Combined with a stricter tier, both reasons stay.
  const ApprovalTiers tiers;
  const TierChoice delay{Tier::kDelay, &tiers, "$300.00 is above a threshold"};
  const TierChoice both = WithEscalation(delay, escalated);
  EXPECT_EQ(both.tier, Tier::kDelay);
  EXPECT_EQ(both.why,
            absl::StrCat("$300.00 is above a threshold; ", escalated->why));
  EXPECT_EQ(WithEscalation(TierChoice{}, escalated).why, escalated->why);
  // Without default deny the same agents break nothing of this.
  EXPECT_THAT(CheckRules(Spend("agent_a", "wallet_1", 1),
                         policy_.agents.at("agent_a"), policy_, true, now_),
              IsEmpty());
}

// The drain_all line is "at least N% of the balance", rounded up, with no
// overflow at the top of uint128; an unread balance fails closed.
TEST_F(EvaluationTest, DrainAll) {
  Agent agent = policy_.agents.at("agent_a");
  Authorization a = Spend("agent_a", "wallet_1", 1);
  auto drains = [&](absl::uint128 amount, absl::uint128 balance) {
    a.amount = amount;
    return DrainViolation(a, agent, WalletBalance{balance, ""}, 6).has_value();
  };
  EXPECT_FALSE(drains(1000, 10)) << "no guard line set";
  agent.rules.drain_all_percent = 95;
  EXPECT_FALSE(drains(9, 10)) << "90% is under 95%";
  EXPECT_TRUE(drains(10, 10));
  EXPECT_FALSE(drains(949, 1000));
  EXPECT_TRUE(drains(950, 1000));
  EXPECT_TRUE(drains(11, 10)) << "more than it holds";
  EXPECT_TRUE(drains(1, 0)) << "anything from an empty wallet";
  const absl::uint128 max = absl::Uint128Max();
  EXPECT_FALSE(drains(max / 100 * 94, max));
  EXPECT_TRUE(drains(max - 1, max));
  agent.rules.drain_all_percent = 100;
  EXPECT_FALSE(drains(max - 1, max));
  EXPECT_TRUE(drains(max, max));
  a.amount = 0;  // A call that moves nothing of the asset.
  EXPECT_FALSE(DrainViolation(a, agent, WalletBalance{0, ""}, 6).has_value());

  agent.rules.drain_all_percent = 90;
  a.amount = 95'000'000;
  std::optional<Violation> v =
      DrainViolation(a, agent, WalletBalance{100'000'000, ""}, 6);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->code, "DRAIN_ALL");
  EXPECT_EQ(v->limit, "drain_all");
  EXPECT_EQ(v->message,
            "95 USDC is at least 90% of wallet wallet_1's balance of 100 USDC "
            "on base (agent agent_a's drain_all 90%)");
  v = DrainViolation(a, agent, WalletBalance{std::nullopt, "node timed out"},
                     6);
  ASSERT_TRUE(v.has_value());
  EXPECT_THAT(v->message,
              HasSubstr("balance on base could not be read (node timed out)"));
}

TEST_F(EvaluationTest, LimitsAreCollectedFromTheOrgDownWithTheirWindows) {
  const PathLimits path =
      CollectLimits(policy_, policy_.agents.at("agent_a"),
                    policy_.wallets.at("wallet_1"), "USDC", "", now_);
  ASSERT_THAT(path.checks, SizeIs(4));
  EXPECT_EQ(path.checks[0].limit_name, "monthly");
  EXPECT_EQ(path.checks[0].scope_index, 0);
  EXPECT_TRUE(path.checks[0].calendar);
  EXPECT_EQ(path.checks[1].limit_name, "daily_budget");
  EXPECT_EQ(path.checks[1].scope_index, 1);
  EXPECT_EQ(path.checks[2].limit_name, "daily_max");
  EXPECT_EQ(path.checks[2].scope_index, 2);
  EXPECT_FALSE(path.checks[2].calendar);
  EXPECT_EQ(path.checks[2].interval.start, now_ - absl::Hours(24));
  EXPECT_EQ(path.checks[3].kind, Limit::Kind::kCount);
  EXPECT_EQ(path.checks[3].cap, 5);
  // The New York calendar day that holds noon on May 1st.
  const absl::TimeZone ny = policy_.org.timezone;
  EXPECT_EQ(path.checks[1].interval.start,
            absl::FromCivil(absl::CivilDay(2026, 5, 1), ny));
  EXPECT_EQ(path.checks[1].interval.end,
            absl::FromCivil(absl::CivilDay(2026, 5, 2), ny));
  // The longest window (a month of up to 31 days), for retention.
  EXPECT_GE(path.longest, absl::Hours(24 * 31));
  ASSERT_THAT(path.limits, SizeIs(4));
  EXPECT_EQ(path.limits[2]->name, "daily_max");
}

TEST_F(EvaluationTest, TheStrictestPerTransactionTierWins) {
  const Agent& agent = policy_.agents.at("agent_a");
  EXPECT_EQ(
      PerTransactionTier(Spend("agent_a", "wallet_1", 5), policy_, agent).tier,
      Tier::kInstant);
  EXPECT_EQ(
      PerTransactionTier(Spend("agent_a", "wallet_1", 50), policy_, agent).tier,
      Tier::kNotify);
  const TierChoice delay =
      PerTransactionTier(Spend("agent_a", "wallet_1", 150), policy_, agent);
  EXPECT_EQ(delay.tier, Tier::kDelay);
  EXPECT_THAT(delay.why, HasSubstr("agent agent_a delay_above_usd $100.00"));
  // $900 passes both the agent's ($500, two approvals) and the
  // department's ($800, one) approval thresholds: two approvals is the
  // stricter of the two.
  const TierChoice approval =
      PerTransactionTier(Spend("agent_a", "wallet_1", 900), policy_, agent);
  EXPECT_EQ(approval.tier, Tier::kApproval);
  EXPECT_EQ(approval.config->approvals_required, 2);
}

TEST_F(EvaluationTest, StricterComparesTierThenApprovalsThenDelay) {
  ApprovalTiers one, two, short_delay, long_delay;
  one.approvals_required = 1;
  two.approvals_required = 2;
  short_delay.delay = absl::Minutes(5);
  long_delay.delay = absl::Minutes(50);
  const TierChoice instant;
  EXPECT_TRUE(Stricter({Tier::kNotify, &one, ""}, instant));
  EXPECT_FALSE(Stricter(instant, {Tier::kNotify, &one, ""}));
  EXPECT_TRUE(
      Stricter({Tier::kApproval, &two, ""}, {Tier::kApproval, &one, ""}));
  EXPECT_TRUE(Stricter({Tier::kDelay, &long_delay, ""},
                       {Tier::kDelay, &short_delay, ""}));
  EXPECT_FALSE(Stricter({Tier::kDelay, &short_delay, ""},
                        {Tier::kDelay, &short_delay, ""}));
}

TEST_F(EvaluationTest, OnlyCumulativeTiersAboveTheCurrentOneAreChecked) {
  const Agent& agent = policy_.agents.at("agent_a");
  const std::vector<TierCheck> from_instant =
      CumulativeTierChecks(policy_, agent, Tier::kInstant, now_);
  ASSERT_THAT(from_instant, SizeIs(1));
  EXPECT_EQ(from_instant[0].tier, Tier::kDelay);
  EXPECT_EQ(from_instant[0].check.cap, 300 * kDollar);
  EXPECT_EQ(from_instant[0].check.scope_index, 2);
  EXPECT_TRUE(from_instant[0].check.calendar);
  EXPECT_THAT(CumulativeTierChecks(policy_, agent, Tier::kDelay, now_),
              IsEmpty());
  const TierChoice crossed =
      CrossedTier(from_instant[0], 250 * kDollar, 60 * kDollar);
  EXPECT_EQ(crossed.tier, Tier::kDelay);
  EXPECT_THAT(crossed.why, HasSubstr("$250.00 + $60.00 = $310.00"));
}

TEST_F(EvaluationTest, EachTierShapesTheRecord) {
  const Agent& agent = policy_.agents.at("agent_a");
  Authorization allow = Spend("agent_a", "wallet_1", 5);
  ApplyTier(PerTransactionTier(allow, policy_, agent), policy_.org, 4, now_,
            &allow);
  EXPECT_EQ(allow.decision, Decision::kAllow);
  EXPECT_EQ(allow.status, AuthorizationStatus::kHeld);
  EXPECT_EQ(allow.hold_expires_at, now_ + absl::Minutes(10));

  Authorization delayed = Spend("agent_a", "wallet_1", 150);
  ApplyTier(PerTransactionTier(delayed, policy_, agent), policy_.org, 4, now_,
            &delayed);
  EXPECT_EQ(delayed.decision, Decision::kDelayed);
  EXPECT_EQ(delayed.release_at, now_ + absl::Minutes(15));
  EXPECT_EQ(delayed.hold_expires_at, now_ + absl::Minutes(25));
  EXPECT_THAT(delayed.reason, HasSubstr("allowed at 2026-05-01T16:15:00Z"));

  Authorization pending = Spend("agent_a", "wallet_1", 900);
  ApplyTier(PerTransactionTier(pending, policy_, agent), policy_.org, 4, now_,
            &pending);
  EXPECT_EQ(pending.decision, Decision::kPendingApproval);
  EXPECT_EQ(pending.approvals_required, 2);
  EXPECT_THAT(pending.approvers, ElementsAre("user/alice", "second_agent"));
  // An approval that never comes frees its budget.
  EXPECT_EQ(pending.on_expiry, ExpiredHolds::kRelease);
  EXPECT_EQ(pending.hold_expires_at, now_ + absl::Hours(1));
}

TEST_F(EvaluationTest, WhoMayApprove) {
  Authorization a = Spend("agent_a", "wallet_1", 900);
  a.approvers = {"user/alice", "second_agent"};
  EXPECT_TRUE(MayApprove(a, "user/alice", policy_));
  EXPECT_FALSE(MayApprove(a, "user/mallory", policy_));
  // second_agent: another agent of the same department, never the
  // requester, never an agent of another department.
  EXPECT_TRUE(MayApprove(a, "agent/agent_b", policy_));
  EXPECT_FALSE(MayApprove(a, "agent/agent_a", policy_));
  EXPECT_FALSE(MayApprove(a, "agent/agent_o", policy_));
  EXPECT_FALSE(MayApprove(a, "agent/nobody", policy_));
  a.approvers = {"user/alice"};
  EXPECT_FALSE(MayApprove(a, "agent/agent_b", policy_));
}

TEST_F(EvaluationTest, WalletsUnderEachKindOfScope) {
  EXPECT_THAT(*WalletsUnder(policy_, "org/acme"),
              ElementsAre("wallet_1", "wallet_2", "wallet_3"));
  EXPECT_THAT(*WalletsUnder(policy_, "department/eng"),
              ElementsAre("wallet_1", "wallet_2"));
  EXPECT_THAT(*WalletsUnder(policy_, "agent/agent_o"), ElementsAre("wallet_3"));
  EXPECT_THAT(*WalletsUnder(policy_, "wallet/wallet_2"),
              ElementsAre("wallet_2"));
  for (const char* missing : {"org/other", "department/none", "agent/none",
                              "wallet/none", "team/x", "agent_a", ""}) {
    absl::StatusOr<std::vector<std::string>> w = WalletsUnder(policy_, missing);
    EXPECT_TRUE(absl::IsNotFound(w.status())) << missing;
  }
}

TEST_F(EvaluationTest, ARefusalNamesTheFrozenScopeAndEachExceededLimit) {
  const Authorization a = Spend("agent_a", "wallet_1", 700);
  const PathLimits path =
      CollectLimits(policy_, policy_.agents.at("agent_a"),
                    policy_.wallets.at("wallet_1"), "USDC", "", now_);
  ReserveResult frozen;
  frozen.outcome = ReserveResult::Outcome::kFrozen;
  frozen.frozen_scope = "department/eng";
  const std::vector<Violation> f = RefusalViolations(frozen, path, a, policy_);
  ASSERT_THAT(f, SizeIs(1));
  EXPECT_EQ(f[0].code, "SCOPE_FROZEN");
  EXPECT_EQ(f[0].scope, "department/eng");

  // daily_max (index 2) holds $600, $400 of it through wallet_1 and $200
  // awaiting approval.
  ReserveResult over;
  over.outcome = ReserveResult::Outcome::kOverLimit;
  over.exceeded = {LimitUsage{2, 600 * kDollar, 400 * kDollar, 200 * kDollar}};
  const std::vector<Violation> v = RefusalViolations(over, path, a, policy_);
  ASSERT_THAT(v, SizeIs(1));
  EXPECT_EQ(v[0].scope, "agent/agent_a");
  EXPECT_EQ(v[0].limit, "daily_max");
  EXPECT_EQ(v[0].pending, "200.00");
  EXPECT_THAT(v[0].message, HasSubstr("$600.00"));
  EXPECT_THAT(v[0].message,
              HasSubstr("(wallet_1 on base $400.00, other wallets $200.00, of "
                        "which $200.00 pending approval)"));
}

// x402_domains: off unless a list is set on the path; every list set must
// allow the resource's host; only the agent's own can escalate.
TEST_F(EvaluationTest, X402Domains) {
  auto pay = [&](const Policy& p, const std::string& agent,
                 const std::string& wallet, const std::string& url) {
    Authorization a = Spend(agent, wallet, 1);
    a.x402_resource = url;
    return CheckRules(a, p.agents.at(agent), p, true, now_);
  };
  // No list anywhere: off, and a plain transfer is not concerned.
  std::vector<Violation> v =
      pay(policy_, "agent_o", "wallet_3", "https://api.example.com/x");
  ASSERT_THAT(Codes(v), ElementsAre("X402_DOMAIN_NOT_ALLOWED"));
  EXPECT_EQ(v[0].message,
            "x402 payment to \"api.example.com\": no rules on agent agent_o's "
            "path set x402_domains, so x402 payments are off");
  EXPECT_THAT(CheckRules(Spend("agent_o", "wallet_3", 1),
                         policy_.agents.at("agent_o"), policy_, true, now_),
              IsEmpty());

  std::string yaml = kBundle;
  ReplaceFirst(&yaml, "  - id: ops",
               "  - id: ops\n    rules: {x402_domains: [\"*.Example.com\"]}");
  ReplaceFirst(&yaml, "  - id: agent_o\n    department: ops",
               "  - id: agent_o\n    department: ops\n    rules:\n"
               "      x402_domains: [api.example.com, other.org]\n"
               "      on_violation: {x402_domains: approve}\n"
               "    approvals: {approvers: [user/carol]}");
  absl::StatusOr<Policy> p = ParseBundle(yaml);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_THAT(pay(*p, "agent_o", "wallet_3", "https://API.example.com:8443/x"),
              IsEmpty());
  // Allowed by the department, not by the agent: the agent's violation
  // (which its on_violation escalates).
  v = pay(*p, "agent_o", "wallet_3", "https://b.example.com/x");
  ASSERT_THAT(Codes(v), ElementsAre("X402_DOMAIN_NOT_ALLOWED"));
  EXPECT_EQ(v[0].scope, "agent/agent_o");
  EXPECT_THAT(v[0].message, HasSubstr("not in agent agent_o's x402_domains"));
  // Allowed by the agent, not by the department: the department's, which
  // always denies.
  v = pay(*p, "agent_o", "wallet_3", "https://other.org/x");
  ASSERT_THAT(Codes(v), ElementsAre("X402_DOMAIN_NOT_ALLOWED"));
  EXPECT_EQ(v[0].scope, "department/ops");
  EXPECT_EQ(v[0].message,
            "x402 payment to \"other.org\": not in department ops's "
            "x402_domains [*.example.com]");
  // The department's list turns x402 on for its agents without one.
  ReplaceFirst(&yaml,
               "    rules:\n      x402_domains: [api.example.com, "
               "other.org]\n      on_violation: {x402_domains: "
               "approve}\n",
               "");
  p = ParseBundle(yaml);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_THAT(pay(*p, "agent_o", "wallet_3", "http://x.example.com/"),
              IsEmpty());
}

TEST(X402BundleTest, RefusesBadDomainsAndWhereTheyDoNotBelong) {
  const std::string base = R"(
org: {id: acme}
departments: [{id: eng}]
agents:
  - id: a
    department: eng
    rules: RULES
    wallets: [{id: w, vendor: local, chain: base, address: "0x01"}]
assets: [{symbol: USDC, decimals: 6, price_usd: "1"}]
)";
  auto parse = [&](const std::string& rules) {
    std::string yaml = base;
    yaml.replace(yaml.find("RULES"), 5, rules);
    return ParseBundle(yaml);
  };
  absl::StatusOr<Policy> bad =
      parse("{x402_domains: [\"https://a.com\", \"a.com\", \"*\"]}");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(),
              HasSubstr("agents[0].rules.x402_domains[0]: \"https://a.com\" "
                        "must be a host name"));
  EXPECT_THAT(bad.status().message(),
              HasSubstr("agents[0].rules.x402_domains[2]"));
  EXPECT_FALSE(parse("{x402_domains: a.com}").ok());
  EXPECT_FALSE(parse("{x402_domains: [a.com, a.com]}").ok());  // A duplicate.
  // Not in a wallet's rules.
  std::string yaml = base;
  yaml.replace(yaml.find("RULES"), 5, "{}");
  yaml.replace(yaml.find("address: \"0x01\"}"), 16,
               "address: \"0x01\", rules: {x402_domains: [a.com]}}");
  EXPECT_FALSE(ParseBundle(yaml).ok());
}

}  // namespace
}  // namespace warden::eval
