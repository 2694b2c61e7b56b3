#include "governance/engine.h"

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "governance/bundle.h"
#include "governance/memory/memory_budget_store.h"
#include "governance/memory/memory_config_store.h"
#include "governance/memory/memory_freeze_store.h"
#include "governance/status_macros.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_audit_log.h"
#include "tests/fakes/fault_injecting_budget_store.h"

namespace warden {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

// Small figures so that department and org limits are easy to reach.
constexpr const char* kBundle = R"(
org:
  id: acme
  timezone: America/New_York
  hold_ttl: 10m
  limits:
    - {name: daily_ceiling, usd: "3000", window: "calendar:day"}
  destinations_deny: ["0x000000000000000000000000000000000000dEaD"]
departments:
  - id: eng
    limits: [{name: daily_budget, usd: "2000", window: "calendar:day"}]
  - id: ops
agents:
  - id: agent_a
    department: eng
    limits: [{name: daily_max, usd: "1000", window: "rolling:24h"}]
    wallets:
      - {id: wallet_1, vendor: metamask, chain: base, address: "0x01"}
      - {id: wallet_2, vendor: cdp, chain: ethereum, address: "0x02"}
  - id: agent_c
    department: eng
    limits: [{name: daily_max, usd: "1500", window: "rolling:24h"}]
    wallets:
      - {id: wallet_c, vendor: local, chain: base, address: "0x0c"}
  - id: agent_b
    department: ops
    limits:
      - {name: tx_per_hour, count: 2, window: "rolling:1h"}
    rules:
      per_tx_max_usd: "200"
      chains: [base]
      assets: [USDC]
      destinations_allow:
        - "0xAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        - "So11111111111111111111111111111111111111112"
    wallets:
      - {id: wallet_3, vendor: privy, chain: base, address: "0x03"}
      - {id: wallet_4, vendor: privy, chain: solana, address: "So1"}
  - id: agent_d
    department: ops
    wallets:
      - {id: wallet_d, vendor: local, chain: base, address: "0x0d"}
assets:
  - {symbol: USDC, decimals: 6, price_usd: "1"}
  - {symbol: ETH, decimals: 18, price_usd: "3000"}
  - {symbol: MYST, decimals: 2}
)";

std::string Usdc(int64_t dollars) {
  return std::to_string(dollars * 1'000'000);
}

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(engine_.ApplyBundle(kBundle, false, "test").ok());
  }

  absl::StatusOr<AuthorizeOutput> Spend(const std::string& agent,
                                        const std::string& wallet,
                                        int64_t dollars,
                                        const std::string& key = "",
                                        const std::string& to = "") {
    AuthorizeInput in;
    in.agent_id = agent;
    in.wallet_id = wallet;
    in.asset = "USDC";
    in.amount = Usdc(dollars);
    in.idempotency_key = key;
    in.destination = to;
    in.actor = "test";
    return engine_.Authorize(in);
  }

  Decision DecisionOf(const std::string& agent, const std::string& wallet,
                      int64_t dollars) {
    // agent_b may only pay its allowlisted destination.
    absl::StatusOr<AuthorizeOutput> out = Spend(
        agent, wallet, dollars, "",
        agent == "agent_b" ? "0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" : "");
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? out->authorization.decision : Decision::kUnspecified;
  }

  // 2026-05-01 12:00 in New York.
  ManualClock clock_{absl::FromUnixSeconds(1777651200)};
  MemoryConfigStore config_;
  MemoryBudgetStore memory_;
  FaultInjectingBudgetStore budgets_{&memory_};
  FakeAuditLog audit_;
  MemoryFreezeStore freezes_;
  Engine engine_{&config_, &budgets_, &audit_, &freezes_, &clock_};
};

// The core promise: two wallets together cannot pass the agent's budget, and
// the denial names the figures and how much went through other wallets.
// A rebuild restores every record some window can still count: the
// windows of every scope's limits and of the NEW_ADDRESS look-back, not
// only the org's, departments' and agents' own limits.
TEST(RecordRetentionTest, CoversTheWindowsOfEveryScope) {
  const absl::StatusOr<Policy> base = ParseBundle(kBundle);
  ASSERT_TRUE(base.ok()) << base.status();
  const absl::Duration floor = RecordRetention(*base);
  const std::vector<Limit> long_limit = {
      {.name = "long",
       .kind = Limit::Kind::kCount,
       .count = 1,
       .window = *ParseWindow("rolling:300d")}};
  const std::vector<std::pair<std::string, std::function<void(Policy*)>>>
      cases = {{"wallet",
                [&](Policy* p) { p->wallets["wallet_1"].limits = long_limit; }},
               {"chain",
                [&](Policy* p) { p->org.chain_limits["base"] = long_limit; }},
               {"asset",
                [&](Policy* p) { p->org.asset_limits["USDC"] = long_limit; }},
               {"org destination",
                [&](Policy* p) { p->org.destination_limits = long_limit; }},
               {"agent destination",
                [&](Policy* p) {
                  p->agents["agent_a"].destination_limits = long_limit;
                }},
               {"new_address", [&](Policy* p) {
                  p->agents["agent_a"].rules.new_address = long_limit[0].window;
                }}};
  for (const auto& [name, set] : cases) {
    Policy p = *base;
    set(&p);
    EXPECT_GE(RecordRetention(p), absl::Hours(300 * 24)) << name;
    EXPECT_GT(RecordRetention(p), floor) << name;
  }
}

// OnScopePath agrees with ScopePath for plain and listed paths, and takes
// no prefix or id for a match.
TEST(OnScopePathTest, AgreesWithScopePath) {
  Authorization a;
  a.org_id = "acme";
  a.department_id = "eng";
  a.agent_id = "bot";
  a.wallet_id = "w1";
  for (const std::string& s : ScopePath(a)) EXPECT_TRUE(OnScopePath(a, s));
  for (const char* s : {"org/eng", "agent/w1", "wallet/", "org", "org/acm",
                        "department/eng/x", "chain/base", ""}) {
    EXPECT_FALSE(OnScopePath(a, s)) << s;
  }
  a.scope_path = {"org/acme",  "department/div", "department/eng",
                  "agent/bot", "wallet/w1",      "chain/base"};
  EXPECT_TRUE(OnScopePath(a, "department/div"));
  EXPECT_TRUE(OnScopePath(a, "chain/base"));
  EXPECT_FALSE(OnScopePath(a, "chain/ethereum"));
}

TEST_F(EngineTest, CrossWalletDenyExplainsItself) {
  absl::StatusOr<AuthorizeOutput> first = Spend("agent_a", "wallet_1", 999);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->authorization.decision, Decision::kAllow);
  EXPECT_EQ(first->authorization.status, AuthorizationStatus::kHeld);

  absl::StatusOr<AuthorizeOutput> second = Spend("agent_a", "wallet_2", 499);
  ASSERT_TRUE(second.ok()) << second.status();
  const Authorization& a = second->authorization;
  EXPECT_EQ(a.decision, Decision::kDeny);
  EXPECT_EQ(a.reason,
            "DENY agent agent_a: rolling 24h spend $999.00 (other wallets "
            "$999.00) + $499.00 = $1,498.00 exceeds agent daily_max "
            "$1,000.00");
  ASSERT_THAT(a.violations, SizeIs(1));
  const Violation& v = a.violations[0];
  EXPECT_EQ(v.code, "BUDGET_EXCEEDED");
  EXPECT_EQ(v.scope, "agent/agent_a");
  EXPECT_EQ(v.limit, "daily_max");
  EXPECT_EQ(*v.limit_usd, 1000 * kMicrosPerUsd);
  EXPECT_EQ(v.window, "rolling:24h");
  EXPECT_EQ(v.spent, "999.00");
  EXPECT_EQ(v.requested, "499.00");
  EXPECT_EQ(v.remaining, "1.00");
  // Within the remaining dollar it is still allowed.
  EXPECT_EQ(DecisionOf("agent_a", "wallet_2", 1), Decision::kAllow);
}

// A department budget denies across its agents, naming the requester's
// share and the others'.
TEST_F(EngineTest, DepartmentBudgetAcrossAgents) {
  EXPECT_EQ(DecisionOf("agent_a", "wallet_1", 900), Decision::kAllow);
  EXPECT_EQ(DecisionOf("agent_c", "wallet_c", 1000), Decision::kAllow);
  absl::StatusOr<AuthorizeOutput> out = Spend("agent_c", "wallet_c", 200);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->authorization.decision, Decision::kDeny);
  EXPECT_EQ(out->authorization.reason,
            "DENY agent agent_c: calendar day spend $1,900.00 (agent_c "
            "$1,000.00, other agents $900.00) + $200.00 = $2,100.00 exceeds "
            "department eng daily_budget $2,000.00");
}

// The org ceiling denies across departments.
TEST_F(EngineTest, OrgCeilingAcrossDepartments) {
  EXPECT_EQ(DecisionOf("agent_a", "wallet_1", 1000), Decision::kAllow);
  EXPECT_EQ(DecisionOf("agent_c", "wallet_c", 900), Decision::kAllow);
  EXPECT_EQ(DecisionOf("agent_d", "wallet_d", 1000), Decision::kAllow);
  absl::StatusOr<AuthorizeOutput> out = Spend("agent_d", "wallet_d", 101);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->authorization.decision, Decision::kDeny);
  ASSERT_THAT(out->authorization.violations, SizeIs(1));
  EXPECT_EQ(out->authorization.violations[0].scope, "org/acme");
  EXPECT_THAT(out->authorization.reason,
              HasSubstr("calendar day spend $2,900.00 (ops $1,000.00, other "
                        "departments $1,900.00) + $101.00 = $3,001.00 exceeds "
                        "org acme daily_ceiling $3,000.00"));
}

// Several limits failing at once are all reported.
TEST_F(EngineTest, EveryExceededLimitIsReported) {
  EXPECT_EQ(DecisionOf("agent_c", "wallet_c", 1500), Decision::kAllow);
  absl::StatusOr<AuthorizeOutput> out = Spend("agent_a", "wallet_1", 1001);
  ASSERT_TRUE(out.ok());
  std::vector<std::string> scopes;
  for (const Violation& v : out->authorization.violations) {
    scopes.push_back(v.scope);
  }
  EXPECT_THAT(scopes, ElementsAre("department/eng", "agent/agent_a"));
}

// A count limit counts transactions, whatever their size.
TEST_F(EngineTest, CountLimit) {
  EXPECT_EQ(DecisionOf("agent_b", "wallet_3", 1), Decision::kAllow);
  EXPECT_EQ(DecisionOf("agent_b", "wallet_3", 1), Decision::kAllow);
  absl::StatusOr<AuthorizeOutput> out =
      Spend("agent_b", "wallet_3", 1, "",
            "0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  ASSERT_TRUE(out.ok());
  ASSERT_THAT(out->authorization.violations, SizeIs(1));
  const Violation& v = out->authorization.violations[0];
  EXPECT_EQ(v.code, "COUNT_EXCEEDED");
  EXPECT_EQ(*v.limit_count, 2);
  EXPECT_EQ(v.spent, "2");
  EXPECT_EQ(v.remaining, "0");
  EXPECT_EQ(v.message,
            "rolling 1h count 2 (wallet_3 on base 2) + 1 = 3 exceeds agent "
            "tx_per_hour 2");
  // Counted up to a minute bucket and the skew allowance longer.
  clock_.Advance(absl::Hours(1) + absl::Seconds(1));
  EXPECT_EQ(DecisionOf("agent_b", "wallet_3", 1), Decision::kDeny);
  clock_.Advance(absl::Seconds(64));
  EXPECT_EQ(DecisionOf("agent_b", "wallet_3", 1), Decision::kAllow);
}

// Rules deny before budgets and reserve nothing.
TEST_F(EngineTest, RuleViolations) {
  auto codes = [&](AuthorizeInput in) {
    in.agent_id = in.agent_id.empty() ? "agent_b" : in.agent_id;
    in.wallet_id = in.wallet_id.empty() ? "wallet_3" : in.wallet_id;
    in.asset = in.asset.empty() ? "USDC" : in.asset;
    in.amount = in.amount.empty() ? Usdc(1) : in.amount;
    in.destination = in.destination.empty()
                         ? "0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                         : in.destination;
    absl::StatusOr<AuthorizeOutput> out = engine_.Authorize(in);
    EXPECT_TRUE(out.ok()) << out.status();
    std::vector<std::string> c;
    for (const Violation& v : out->authorization.violations)
      c.push_back(v.code);
    if (!c.empty()) {
      EXPECT_EQ(out->authorization.status, AuthorizationStatus::kDenied);
    }
    return c;
  };
  EXPECT_THAT(codes({}),
              IsEmpty());  // Matches 0xAAAA...: hex compares caseless.
  EXPECT_THAT(codes({.amount = Usdc(201)}), ElementsAre("PER_TX_MAX"));
  EXPECT_THAT(
      codes({.wallet_id = "wallet_4",
             .destination = "So11111111111111111111111111111111111111112"}),
      ElementsAre("CHAIN_NOT_ALLOWED"));
  EXPECT_THAT(codes({.asset = "ETH", .amount = "1000"}),
              ElementsAre("ASSET_NOT_ALLOWED"));
  EXPECT_THAT(
      codes({.destination = "0xbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}),
      ElementsAre("DESTINATION_NOT_ALLOWED"));
  EXPECT_THAT(
      codes({.agent_id = "agent_d",
             .wallet_id = "wallet_d",
             .destination = "0x000000000000000000000000000000000000dead"}),
      ElementsAre("DESTINATION_DENIED"));
  EXPECT_THAT(
      codes({.agent_id = "agent_d", .wallet_id = "wallet_d", .asset = "MYST"}),
      ElementsAre("PRICE_UNAVAILABLE"));
  EXPECT_THAT(
      codes({.agent_id = "agent_d", .wallet_id = "wallet_d", .asset = "DOGE"}),
      ElementsAre("PRICE_UNAVAILABLE"));
  // Only the first (allowed) spend used any of agent_b's count limit.
  EXPECT_EQ(DecisionOf("agent_b", "wallet_3", 1), Decision::kAllow);
}

// Settle releases the difference; void releases everything.
TEST_F(EngineTest, SettleAndVoidRelease) {
  absl::StatusOr<AuthorizeOutput> held = Spend("agent_a", "wallet_1", 800);
  ASSERT_TRUE(held.ok());
  SettleInput settle{.authorization_id = held->authorization.id,
                     .amount = Usdc(500),
                     .tx_hash = "0xabc"};
  absl::StatusOr<Authorization> settled = engine_.Settle(settle);
  ASSERT_TRUE(settled.ok()) << settled.status();
  EXPECT_EQ(settled->status, AuthorizationStatus::kSettled);
  EXPECT_EQ(settled->settled_usd, 500 * kMicrosPerUsd);
  // A retried settle is harmless.
  EXPECT_TRUE(engine_.Settle(settle).ok());
  EXPECT_EQ(DecisionOf("agent_a", "wallet_2", 501), Decision::kDeny);
  absl::StatusOr<AuthorizeOutput> second = Spend("agent_a", "wallet_2", 500);
  ASSERT_EQ(second->authorization.decision, Decision::kAllow);
  ASSERT_TRUE(engine_.Void("", second->authorization.id, "test").ok());
  EXPECT_EQ(DecisionOf("agent_a", "wallet_2", 500), Decision::kAllow);
}

// Settle refuses more than was held, twice-different settles and voids of
// settled records.
TEST_F(EngineTest, SettleErrors) {
  absl::StatusOr<AuthorizeOutput> held = Spend("agent_a", "wallet_1", 10);
  const std::string id = held->authorization.id;
  absl::StatusOr<Authorization> over =
      engine_.Settle({.authorization_id = id, .amount = Usdc(11)});
  EXPECT_EQ(over.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(over.status().message(),
              HasSubstr("amount: 11000000 exceeds the held amount 10000000"));
  EXPECT_EQ(engine_.Settle({.authorization_id = "az_nope"}).status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(engine_.Settle({.authorization_id = id, .tx_hash = "0x1"}).ok());
  EXPECT_EQ(engine_.Settle({.authorization_id = id, .tx_hash = "0x2"})
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(engine_.Void("", id, "test").status().code(),
            absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<AuthorizeOutput> denied = Spend("agent_a", "wallet_1", 5000);
  EXPECT_EQ(engine_.Settle({.authorization_id = denied->authorization.id})
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
}

// An expired hold counts as spent by default and can no longer be settled.
TEST_F(EngineTest, ExpiredHoldCounts) {
  absl::StatusOr<AuthorizeOutput> held = Spend("agent_a", "wallet_1", 900);
  clock_.Advance(absl::Minutes(10));
  ASSERT_EQ(*engine_.SweepExpired(), 1u);
  EXPECT_EQ(audit_.events().back().type,
            AuditEvent::Type::kAuthorizationExpired);
  absl::StatusOr<Authorization> a = engine_.Get("", held->authorization.id);
  EXPECT_EQ(a->status, AuthorizationStatus::kExpired);
  EXPECT_TRUE(a->expired_counted);
  EXPECT_EQ(DecisionOf("agent_a", "wallet_2", 101), Decision::kDeny);
  absl::StatusOr<Authorization> late =
      engine_.Settle({.authorization_id = held->authorization.id});
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(late.status().message(), HasSubstr("EXPIRED"));
}

// Between the TTL and the sweep, a hold still counts and cannot be settled.
TEST_F(EngineTest, HoldPastTtlBeforeSweep) {
  absl::StatusOr<AuthorizeOutput> held = Spend("agent_a", "wallet_1", 900);
  clock_.Advance(absl::Minutes(10));
  EXPECT_EQ(DecisionOf("agent_a", "wallet_2", 101), Decision::kDeny);
  absl::StatusOr<Authorization> late =
      engine_.Settle({.authorization_id = held->authorization.id});
  EXPECT_THAT(late.status().message(), HasSubstr("hold expired"));
}

// With expired_holds: release, an expired hold frees its budget.
TEST_F(EngineTest, ExpiredHoldReleased) {
  std::string bundle = kBundle;
  bundle.replace(bundle.find("hold_ttl: 10m"), 13,
                 "hold_ttl: 10m\n  expired_holds: release");
  ASSERT_TRUE(engine_.ApplyBundle(bundle, false, "test").ok());
  absl::StatusOr<AuthorizeOutput> held = Spend("agent_a", "wallet_1", 900);
  clock_.Advance(absl::Minutes(11));
  ASSERT_EQ(*engine_.SweepExpired(), 1u);
  EXPECT_FALSE(engine_.Get("", held->authorization.id)->expired_counted);
  EXPECT_EQ(DecisionOf("agent_a", "wallet_2", 1000), Decision::kAllow);
}

// A rolling window frees spend once it is older than `length` plus its
// bucket (10 minutes for 24h) and the skew allowance (5 s), never sooner; a
// calendar day at local midnight.
TEST_F(EngineTest, WindowsMoveWithTheClock) {
  ASSERT_EQ(DecisionOf("agent_a", "wallet_1", 1000), Decision::kAllow);
  clock_.Advance(absl::Hours(24));
  EXPECT_EQ(DecisionOf("agent_a", "wallet_1", 1), Decision::kDeny);
  clock_.Advance(absl::Minutes(10) + absl::Seconds(4));
  EXPECT_EQ(DecisionOf("agent_a", "wallet_1", 1), Decision::kDeny);
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(DecisionOf("agent_a", "wallet_1", 1000), Decision::kAllow);
  // Department: $1,000 at day 2 noon; agent_c tops it up to $2,000.
  EXPECT_EQ(DecisionOf("agent_c", "wallet_c", 1000), Decision::kAllow);
  EXPECT_EQ(DecisionOf("agent_c", "wallet_c", 1), Decision::kDeny);
  // 11:59:59 pm New York time (03:59:59Z next day).
  clock_.Set(absl::FromUnixSeconds(1777651200 + 86400 + 12 * 3600 - 1));
  EXPECT_EQ(DecisionOf("agent_c", "wallet_c", 1), Decision::kDeny);
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(DecisionOf("agent_c", "wallet_c", 1), Decision::kAllow);
}

// The same idempotency key returns the first decision and charges once.
TEST_F(EngineTest, Idempotency) {
  absl::StatusOr<AuthorizeOutput> first =
      Spend("agent_a", "wallet_1", 600, "k1");
  absl::StatusOr<AuthorizeOutput> again =
      Spend("agent_a", "wallet_1", 600, "k1");
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(again->authorization.id, first->authorization.id);
  EXPECT_EQ(again->authorization.decision, Decision::kAllow);
  // Charged once: $400 is still available.
  EXPECT_EQ(DecisionOf("agent_a", "wallet_2", 400), Decision::kAllow);
  // A denial replays as the same denial, even once budget is freed.
  absl::StatusOr<AuthorizeOutput> denied =
      Spend("agent_a", "wallet_1", 600, "k2");
  EXPECT_EQ(denied->authorization.decision, Decision::kDeny);
  ASSERT_TRUE(engine_.Void("", first->authorization.id, "test").ok());
  absl::StatusOr<AuthorizeOutput> replay =
      Spend("agent_a", "wallet_1", 600, "k2");
  EXPECT_EQ(replay->authorization.decision, Decision::kDeny);
  EXPECT_EQ(replay->authorization.id, denied->authorization.id);
  // Keys are per agent.
  EXPECT_FALSE(Spend("agent_c", "wallet_c", 600, "k1")->replayed);
  // Reusing a key for another request is an error, not a silent replay.
  absl::StatusOr<AuthorizeOutput> other =
      Spend("agent_a", "wallet_1", 601, "k1");
  EXPECT_EQ(other.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(other.status().message(), HasSubstr("idempotency_key"));
  // Replays are not audited twice: 1 bundle + 4 decisions + 1 void.
  EXPECT_THAT(audit_.events(), SizeIs(6));
}

// A replay answers the authorization as it is now: once its hold was
// voided by a freeze, settled or expired, never a live ALLOW, and it names
// what happened.
TEST_F(EngineTest, ReplayOfAClosedHoldIsNeverALiveAllow) {
  absl::StatusOr<AuthorizeOutput> first =
      Spend("agent_a", "wallet_1", 100, "frozen-key");
  ASSERT_EQ(first->authorization.decision, Decision::kAllow);
  ASSERT_TRUE(
      engine_.FreezeScope("", "agent/agent_a", "compromised", "admin").ok());
  absl::StatusOr<AuthorizeOutput> replay =
      Spend("agent_a", "wallet_1", 100, "frozen-key");
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_TRUE(replay->replayed);
  const Authorization& a = replay->authorization;
  EXPECT_EQ(a.id, first->authorization.id);
  EXPECT_EQ(a.decision, Decision::kDeny);
  EXPECT_EQ(a.status, AuthorizationStatus::kVoided);
  ASSERT_THAT(a.violations, SizeIs(1));
  EXPECT_EQ(a.violations[0].code, "HOLD_VOIDED");
  EXPECT_THAT(a.reason, HasSubstr("agent/agent_a is frozen: compromised"));
  ASSERT_TRUE(
      engine_.UnfreezeScope("", "agent/agent_a", "cleared", "admin").ok());

  // Settled: a replay would otherwise invite a second signature.
  absl::StatusOr<AuthorizeOutput> paid =
      Spend("agent_a", "wallet_1", 50, "paid-key");
  ASSERT_TRUE(engine_
                  .Settle({.authorization_id = paid->authorization.id,
                           .tx_hash = "0xabc",
                           .actor = "agent"})
                  .ok());
  replay = Spend("agent_a", "wallet_1", 50, "paid-key");
  EXPECT_EQ(replay->authorization.decision, Decision::kDeny);
  EXPECT_EQ(replay->authorization.status, AuthorizationStatus::kSettled);
  EXPECT_EQ(replay->authorization.violations[0].code, "ALREADY_SETTLED");
  EXPECT_THAT(replay->authorization.reason, HasSubstr("tx 0xabc"));

  // Expired, before and after the sweep.
  absl::StatusOr<AuthorizeOutput> lapsed =
      Spend("agent_a", "wallet_1", 10, "lapsed-key");
  clock_.Advance(absl::Minutes(11));
  replay = Spend("agent_a", "wallet_1", 10, "lapsed-key");
  EXPECT_EQ(replay->authorization.decision, Decision::kDeny);
  EXPECT_EQ(replay->authorization.violations[0].code, "HOLD_EXPIRED");
  ASSERT_TRUE(engine_.SweepExpired().ok());
  replay = Spend("agent_a", "wallet_1", 10, "lapsed-key");
  EXPECT_EQ(replay->authorization.status, AuthorizationStatus::kExpired);
  EXPECT_EQ(replay->authorization.decision, Decision::kDeny);

  // A live hold still replays as the ALLOW it is.
  absl::StatusOr<AuthorizeOutput> live =
      Spend("agent_a", "wallet_1", 10, "live-key");
  replay = Spend("agent_a", "wallet_1", 10, "live-key");
  EXPECT_EQ(replay->authorization.decision, Decision::kAllow);
  EXPECT_EQ(replay->authorization.status, AuthorizationStatus::kHeld);
}

// A huge but valid amount after a small one is denied: the sum is checked,
// never wrapped (it was ALLOWED past the limit when it wrapped).
TEST_F(EngineTest, HugeAmountsNeverWrapPastALimit) {
  EXPECT_EQ(DecisionOf("agent_a", "wallet_1", 1), Decision::kAllow);
  // USDC at $1 with 6 decimals: base units are micro-dollars, so these are
  // int64's largest values, which $1 already spent would wrap.
  for (const char* amount :
       {"9223372036854775807", "9223372036854775000", "9222372036854775807"}) {
    AuthorizeInput in{.agent_id = "agent_a",
                      .wallet_id = "wallet_1",
                      .asset = "USDC",
                      .amount = amount,
                      .actor = "test"};
    absl::StatusOr<AuthorizeOutput> out = engine_.Authorize(in);
    ASSERT_TRUE(out.ok()) << amount << ": " << out.status();
    EXPECT_EQ(out->authorization.decision, Decision::kDeny) << amount;
  }
  // Past int64 micro-dollars the value itself is refused, naming the bound.
  AuthorizeInput in{.agent_id = "agent_a",
                    .wallet_id = "wallet_1",
                    .asset = "USDC",
                    .amount = "9223372036854775808",
                    .actor = "test"};
  absl::StatusOr<AuthorizeOutput> out = engine_.Authorize(in);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(out.status().message(),
              HasSubstr("exceeds the largest USD amount"));
}

// Every decision is in the audit log before it is returned.
TEST_F(EngineTest, DecisionsAreAudited) {
  absl::StatusOr<AuthorizeOutput> out = Spend("agent_a", "wallet_1", 5);
  const std::vector<AuditEvent> events = audit_.events();
  ASSERT_THAT(events, SizeIs(2));
  EXPECT_EQ(events[0].type, AuditEvent::Type::kBundleApplied);
  EXPECT_EQ(events[1].type, AuditEvent::Type::kAuthorizationDecided);
  EXPECT_EQ(events[1].authorization->id, out->authorization.id);
  EXPECT_EQ(events[1].actor, "test");
}

// If the audit write fails, the caller gets UNAVAILABLE, nothing stays
// reserved, and a retry with the same key decides afresh.
TEST_F(EngineTest, AuditFailureReleasesAndFailsClosed) {
  audit_.FailWith(absl::UnavailableError("disk full"));
  absl::StatusOr<AuthorizeOutput> out = Spend("agent_a", "wallet_1", 1000, "k");
  EXPECT_EQ(out.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(out.status().message(), HasSubstr("disk full"));
  audit_.FailWith(absl::OkStatus());
  absl::StatusOr<AuthorizeOutput> retry =
      Spend("agent_a", "wallet_1", 1000, "k");
  ASSERT_TRUE(retry.ok());
  EXPECT_FALSE(retry->replayed);
  EXPECT_EQ(retry->authorization.decision, Decision::kAllow);
}

// An Authorize answer that may come from another thread (the engine's
// hold checker): has_value() and the accessors wait for it (10 s at most).
class Reply {
 public:
  void Set(absl::StatusOr<AuthorizeOutput> out) {
    absl::MutexLock lock(&mu_);
    out_ = std::move(out);
  }
  // Whether it has come, without waiting.
  bool Arrived() {
    absl::MutexLock lock(&mu_);
    return out_.has_value();
  }
  bool has_value() {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(
        absl::Condition(
            +[](std::optional<absl::StatusOr<AuthorizeOutput>>* o) {
              return o->has_value();
            },
            &out_),
        absl::Seconds(10));
    return out_.has_value();
  }
  absl::StatusOr<AuthorizeOutput>& operator*() {
    EXPECT_TRUE(has_value()) << "no answer within 10 s";
    absl::MutexLock lock(&mu_);
    if (!out_) out_ = absl::DeadlineExceededError("no answer");
    return *out_;
  }
  absl::StatusOr<AuthorizeOutput>* operator->() { return &**this; }
  void Reset() {
    absl::MutexLock lock(&mu_);
    out_.reset();
  }

 private:
  absl::Mutex mu_;
  std::optional<absl::StatusOr<AuthorizeOutput>> out_ ABSL_GUARDED_BY(mu_);
};

// An audit log that answers later: the decision is answered only once its
// record is durable, and a late failure releases the hold.
class DeferringAuditLog final : public AuditLog {
 public:
  absl::Status Append(const AuditEvent&) override {
    return absl::UnimplementedError("the engine appends asynchronously");
  }
  void AppendAsync(const AuditEvent&,
                   std::function<void(absl::Status)> done) override {
    absl::MutexLock lock(&mu_);
    waiting_.push_back(std::move(done));
  }
  // Answers the oldest append.
  void Answer(absl::Status st) {
    std::function<void(absl::Status)> done;
    {
      absl::MutexLock lock(&mu_);
      ASSERT_FALSE(waiting_.empty());
      done = std::move(waiting_.front());
      waiting_.erase(waiting_.begin());
    }
    done(std::move(st));
  }
  // What Recorded says of any record (as a trail other replicas write).
  void SetRecorded(absl::StatusOr<Recording> recorded) {
    absl::MutexLock lock(&mu_);
    recorded_ = std::move(recorded);
  }
  absl::StatusOr<Recording> Recorded(const std::string&, const std::string&,
                                     absl::Time) override {
    absl::MutexLock lock(&mu_);
    return recorded_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::function<void(absl::Status)>> waiting_ ABSL_GUARDED_BY(mu_);
  absl::StatusOr<Recording> recorded_ ABSL_GUARDED_BY(mu_) =
      Recording::kRecorded;
};

// The engine over a log that answers later (DeferringAuditLog), and a
// second engine on the same stores, as another replica, whose audit log
// answers at once (it applies the bundle and freezes).
class EngineAsyncTest : public ::testing::Test {
 protected:
  EngineAsyncTest()
      : clock_(absl::FromUnixSeconds(1777651200)),
        budgets_(&memory_),
        engine_(&config_, &budgets_, &audit_, &freezes_, &clock_),
        other_(&config_, &budgets_, &other_audit_, &freezes_, &clock_) {}

  void SetUp() override {
    ASSERT_TRUE(other_.ApplyBundle(kBundle, false, "test").ok());
  }

  // agent_a spends `dollars` from wallet_1 with `key`; `answer` gets it.
  void Spend(int64_t dollars, Reply* answer, const std::string& key = "") {
    AuthorizeInput in;
    in.agent_id = "agent_a";
    in.wallet_id = "wallet_1";
    in.asset = "USDC";
    in.amount = Usdc(dollars);
    in.idempotency_key = key;
    in.actor = "test";
    engine_.AuthorizeAsync(in, [answer](absl::StatusOr<AuthorizeOutput> out) {
      answer->Set(std::move(out));
    });
  }

  ManualClock clock_;
  MemoryConfigStore config_;
  MemoryBudgetStore memory_;
  FaultInjectingBudgetStore budgets_;
  DeferringAuditLog audit_;
  MemoryFreezeStore freezes_;
  FakeAuditLog other_audit_;
  Engine engine_;
  Engine other_;
};

TEST_F(EngineAsyncTest, AnswersOnceAuditedAndReleasesOnFailure) {
  Reply first, second, retry;
  Spend(600, &first, "k");
  EXPECT_FALSE(first.Arrived()) << "answered before its record is durable";
  audit_.Answer(absl::OkStatus());
  ASSERT_TRUE(first.has_value() && first->ok());
  EXPECT_EQ((*first)->authorization.decision, Decision::kAllow);
  // Once recorded, the retry is its replay.
  retry.Reset();
  Spend(600, &retry, "k");
  ASSERT_TRUE(retry.has_value() && retry->ok());
  EXPECT_TRUE((*retry)->replayed);
  EXPECT_EQ((*retry)->authorization.id, (*first)->authorization.id);
  // $400 left of agent_a's $1,000: this $400 is held, then its audit fails.
  Spend(400, &second);
  audit_.Answer(absl::UnavailableError("disk full"));
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second->status().message(), HasSubstr("disk full"));
  // Released: the same $400 fits again.
  Reply third;
  Spend(400, &third);
  audit_.Answer(absl::OkStatus());
  ASSERT_TRUE(third.has_value() && third->ok());
  EXPECT_EQ((*third)->authorization.decision, Decision::kAllow);
}

// A retry with the same key while the first request's record is still
// being written is answered with the first request's outcome, never
// before it: a replayed ALLOW once it is durable, UNAVAILABLE when its
// write failed (its hold was released, so an ALLOW would spend what no
// budget counts), and afterwards a fresh decision. A trail written by
// another replica that does not hold the record yet refuses the replay.
TEST_F(EngineAsyncTest, SameKeyRetryWaitsForTheFirstRecord) {
  using Answer = Reply;
  Answer first, retry;
  Spend(600, &first, "k1");
  Spend(600, &retry, "k1");
  EXPECT_FALSE(retry.Arrived()) << "replayed before the first is durable";
  audit_.Answer(absl::OkStatus());
  ASSERT_TRUE(first.has_value() && first->ok());
  ASSERT_TRUE(retry.has_value() && retry->ok()) << retry->status();
  EXPECT_TRUE((*retry)->replayed);
  EXPECT_EQ((*retry)->authorization.id, (*first)->authorization.id);
  EXPECT_EQ((*retry)->authorization.decision, Decision::kAllow);
  // A trail that does not hold it yet (another replica still writing it),
  // or cannot say: no replay.
  using Recording = AuditLog::Recording;
  for (absl::StatusOr<Recording> recorded :
       {absl::StatusOr<Recording>(Recording::kInFlight),
        absl::StatusOr<Recording>(absl::UnavailableError("pg down"))}) {
    audit_.SetRecorded(recorded);
    Answer again;
    Spend(600, &again, "k1");
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(again->status().code(), absl::StatusCode::kUnavailable);
    EXPECT_THAT(again->status().message(),
                HasSubstr("retry with the same key"));
  }
  // One the trail will never hold (its replica died before writing it):
  // its hold is released and the retry decided afresh, charged once.
  audit_.SetRecorded(Recording::kNever);
  Answer afresh;
  Spend(600, &afresh, "k1");
  EXPECT_FALSE(afresh.Arrived()) << "answered before its record is durable";
  audit_.SetRecorded(Recording::kRecorded);
  audit_.Answer(absl::OkStatus());
  ASSERT_TRUE(afresh.has_value() && afresh->ok()) << afresh->status();
  EXPECT_FALSE((*afresh)->replayed);
  EXPECT_NE((*afresh)->authorization.id, (*first)->authorization.id);
  EXPECT_EQ((*afresh)->authorization.decision, Decision::kAllow)
      << "the orphan's $600 was not released";

  // The first's write fails while two retries wait: all three UNAVAILABLE.
  Answer second, retry1, retry2, later;
  Spend(400, &second, "k2");
  Spend(400, &retry1, "k2");
  Spend(400, &retry2, "k2");
  audit_.Answer(absl::UnavailableError("disk full"));
  for (Answer* a : {&second, &retry1, &retry2}) {
    ASSERT_TRUE(a->has_value());
    EXPECT_EQ((*a)->status().code(), absl::StatusCode::kUnavailable)
        << (*a)->status();
  }
  EXPECT_THAT(retry1->status().message(), HasSubstr("disk full"));
  // Released: a later retry decides afresh, and the $400 fits.
  Spend(400, &later, "k2");
  audit_.Answer(absl::OkStatus());
  ASSERT_TRUE(later.has_value() && later->ok()) << later->status();
  EXPECT_FALSE((*later)->replayed);
  EXPECT_EQ((*later)->authorization.decision, Decision::kAllow);
}

// A freeze (from any replica) that voids a hold while its record is being
// written: once recorded, the first request and its waiting retry are
// answered DENY (HOLD_VOIDED), never a live ALLOW that nothing counts.
TEST_F(EngineAsyncTest, HoldVoidedWhileRecordingIsNotAnAllow) {
  Reply first, retry;
  Spend(600, &first, "k");
  Spend(600, &retry, "k");
  absl::StatusOr<FreezeOutcome> frozen =
      other_.FreezeScope("", "agent/agent_a", "looks compromised", "admin");
  ASSERT_TRUE(frozen.ok()) << frozen.status();
  EXPECT_EQ(frozen->holds_voided, 1);
  audit_.Answer(absl::OkStatus());
  for (auto* answer : {&first, &retry}) {
    ASSERT_TRUE(answer->has_value() && (*answer)->ok());
    const Authorization& a = (**answer)->authorization;
    EXPECT_EQ(a.decision, Decision::kDeny);
    EXPECT_EQ(a.status, AuthorizationStatus::kVoided);
    ASSERT_FALSE(a.violations.empty());
    EXPECT_EQ(a.violations[0].code, "HOLD_VOIDED");
  }
}

// A retry that found the first request's record in the store just before
// that record's write failed (and its hold was released) is not answered
// with a replay of it.
TEST_F(EngineAsyncTest, RetryRacingAFailedRecordIsRefused) {
  Reply first, retry;
  Spend(600, &first, "k");
  // The retry finds the record; then the first's write fails.
  budgets_.AfterReserve([&](const ReserveResult& r) {
    if (r.outcome == ReserveResult::Outcome::kDuplicate) {
      audit_.Answer(absl::UnavailableError("disk full"));
    }
  });
  Spend(600, &retry, "k");
  budgets_.AfterReserve(nullptr);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->status().code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE(retry.has_value());
  EXPECT_EQ(retry->status().code(), absl::StatusCode::kUnavailable)
      << "replayed a decision that was undone";
  EXPECT_THAT(retry->status().message(),
              HasSubstr("its audit record could not be written"));
}

// A budget store that cannot be reached fails closed: UNAVAILABLE, never a
// decision, and nothing is audited as decided.
TEST_F(EngineTest, StoreDownFailsClosed) {
  budgets_.FailWith(absl::UnavailableError("redis connect: refused"));
  absl::StatusOr<AuthorizeOutput> out = Spend("agent_a", "wallet_1", 5);
  EXPECT_EQ(out.status(), absl::UnavailableError("redis connect: refused"));
  EXPECT_THAT(audit_.events(), SizeIs(1));  // Only the bundle.
  budgets_.FailWith(absl::OkStatus());
  EXPECT_EQ(DecisionOf("agent_a", "wallet_1", 5), Decision::kAllow);
}

// A frozen scope on the path is a denial that names it, recorded for
// idempotent retries.
TEST_F(EngineTest, FrozenScopeDenies) {
  budgets_.Freeze("department/eng");
  absl::StatusOr<AuthorizeOutput> out = Spend("agent_a", "wallet_1", 5, "k");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->authorization.decision, Decision::kDeny);
  ASSERT_THAT(out->authorization.violations, SizeIs(1));
  EXPECT_EQ(out->authorization.violations[0].code, "SCOPE_FROZEN");
  EXPECT_EQ(out->authorization.violations[0].scope, "department/eng");
  EXPECT_EQ(out->authorization.reason,
            "DENY agent agent_a: department eng is frozen");
  budgets_.Freeze("");
  EXPECT_EQ(Spend("agent_a", "wallet_1", 5, "k")->authorization.decision,
            Decision::kDeny);
  EXPECT_EQ(DecisionOf("agent_a", "wallet_1", 5), Decision::kAllow);
}

// Freezing an agent stops every wallet of it at once, voids its live holds,
// is audited, and unfreezing restores it.
TEST_F(EngineTest, FreezeAgent) {
  absl::StatusOr<AuthorizeOutput> held = Spend("agent_a", "wallet_1", 300);
  ASSERT_EQ(held->authorization.decision, Decision::kAllow);
  absl::StatusOr<FreezeOutcome> frozen =
      engine_.FreezeScope("", "agent/agent_a", "suspicious", "admin");
  ASSERT_TRUE(frozen.ok()) << frozen.status();
  EXPECT_EQ(frozen->wallets_frozen, 2);
  EXPECT_EQ(frozen->holds_voided, 1);
  EXPECT_EQ(engine_.Get("", held->authorization.id)->status,
            AuthorizationStatus::kVoided);
  for (const char* wallet : {"wallet_1", "wallet_2"}) {
    absl::StatusOr<AuthorizeOutput> out = Spend("agent_a", wallet, 1);
    EXPECT_EQ(out->authorization.decision, Decision::kDeny);
    EXPECT_EQ(out->authorization.violations[0].code, "SCOPE_FROZEN");
  }
  EXPECT_EQ(DecisionOf("agent_c", "wallet_c", 1), Decision::kAllow);
  bool audited = false;
  for (const AuditEvent& e : audit_.events()) {
    if (e.type == AuditEvent::Type::kScopeFrozen) {
      audited = e.scope == "agent/agent_a" && e.reason == "suspicious" &&
                e.actor == "admin";
    }
  }
  EXPECT_TRUE(audited);
  ASSERT_TRUE(
      engine_.UnfreezeScope("", "agent/agent_a", "cleared", "admin").ok());
  EXPECT_EQ(DecisionOf("agent_a", "wallet_1", 1), Decision::kAllow);
  EXPECT_EQ(engine_.UnfreezeScope("", "agent/agent_a", "again", "admin")
                .status()
                .code(),
            absl::StatusCode::kNotFound);
}

// Department and org freezes cover every agent under them.
TEST_F(EngineTest, FreezeDepartmentAndOrg) {
  ASSERT_EQ(engine_.FreezeScope("", "department/eng", "audit", "admin")
                ->wallets_frozen,
            3);
  EXPECT_EQ(DecisionOf("agent_a", "wallet_1", 1), Decision::kDeny);
  EXPECT_EQ(DecisionOf("agent_c", "wallet_c", 1), Decision::kDeny);
  EXPECT_EQ(DecisionOf("agent_d", "wallet_d", 1), Decision::kAllow);
  ASSERT_EQ(
      engine_.FreezeScope("", "org/acme", "emergency", "admin")->wallets_frozen,
      6);
  EXPECT_EQ(DecisionOf("agent_d", "wallet_d", 1), Decision::kDeny);
  EXPECT_EQ(
      engine_.FreezeScope("", "wallet/nope", "x", "admin").status().code(),
      absl::StatusCode::kNotFound);
  EXPECT_EQ(engine_.FreezeScope("", "team/x", "x", "admin").status().code(),
            absl::StatusCode::kNotFound);
}

// A decommissioned agent stays frozen, and so do its wallets.
TEST_F(EngineTest, DecommissionIsPermanent) {
  absl::StatusOr<FreezeOutcome> out =
      engine_.DecommissionAgent("", "agent_b", "retired", "admin");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->wallets_frozen, 2);
  for (const char* scope : {"agent/agent_b", "wallet/wallet_3"}) {
    absl::StatusOr<FreezeOutcome> thaw =
        engine_.UnfreezeScope("", scope, "oops", "admin");
    EXPECT_EQ(thaw.status().code(), absl::StatusCode::kFailedPrecondition)
        << scope;
    EXPECT_THAT(thaw.status().message(), HasSubstr("decommissioned"));
  }
  EXPECT_EQ(
      engine_.DecommissionAgent("", "ghost", "x", "admin").status().code(),
      absl::StatusCode::kNotFound);
}

// A decommissioned wallet's address is retired with it: no later bundle may
// give it to another wallet (not even after the retired wallet is dropped),
// while the retired wallet itself may stay.
TEST_F(EngineTest, DecommissionedAddressNeverSpendsAgain) {
  ASSERT_TRUE(
      engine_.DecommissionAgent("", "agent_b", "key leaked", "admin").ok());
  EXPECT_TRUE(
      engine_.ApplyBundle(std::string(kBundle) + "# again\n", false, "test")
          .ok());
  std::string reused = kBundle;
  reused.replace(reused.find("{id: wallet_3, vendor: privy"), 13,
                 "{id: wallet_9");
  absl::StatusOr<ApplyResult> r = engine_.ApplyBundle(reused, true, "test");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(),
              HasSubstr("wallet \"wallet_9\" uses 0x03 on base, the address "
                        "of a decommissioned wallet"));
  // Moved to another agent, with another case: the same key.
  std::string moved = kBundle;
  moved.replace(moved.find("      - {id: wallet_3, vendor: privy, chain: base, "
                           "address: \"0x03\"}\n"),
                std::string("      - {id: wallet_3, vendor: privy, chain: "
                            "base, address: \"0x03\"}\n")
                    .size(),
                "");
  moved.replace(moved.find("address: \"0x0d\"}"), 16,
                "address: \"0x0d\"}\n      - {id: fresh, vendor: local, "
                "chain: base, address: \"0X03\"}");
  EXPECT_EQ(engine_.ApplyBundle(moved, false, "test").status().code(),
            absl::StatusCode::kFailedPrecondition);
}

// Bad requests are errors naming the field, not decisions.
// Records vendor-side freezes; fails for cdp, has no freeze for privy; a
// local wallet's freeze only holds spends for its owner, and says what to
// restore.
class FakeVendorFreezer final : public VendorFreezer {
 public:
  absl::StatusOr<VendorFreeze> Freeze(const Wallet& wallet,
                                      const std::string& reason) override {
    WARDEN_RETURN_IF_ERROR(Refusal(wallet));
    calls.push_back(absl::StrCat("freeze ", wallet.id));
    if (wallet.vendor != "local") return VendorFreeze{};
    return VendorFreeze{.strength = VendorFreeze::Strength::kOwnerApproval,
                        .restore = absl::StrCat("limit of ", wallet.id)};
  }
  absl::Status Unfreeze(const Wallet& wallet, const std::string& restore,
                        const std::string& reason) override {
    WARDEN_RETURN_IF_ERROR(Refusal(wallet));
    calls.push_back(absl::StrCat("unfreeze ", wallet.id,
                                 restore.empty() ? "" : " to ", restore));
    return absl::OkStatus();
  }
  std::vector<std::string> calls;

 private:
  static absl::Status Refusal(const Wallet& wallet) {
    if (wallet.vendor == "cdp") {
      return absl::UnavailableError("vendor API unreachable");
    }
    if (wallet.vendor == "privy") {
      return absl::UnimplementedError("no vendor-side freeze");
    }
    return absl::OkStatus();
  }
};

// The kill switch reaches into the vendors through the hook the wallet
// adapters implement, after Warden's own freeze, and reports what failed.
TEST(EngineVendorFreezeTest, FreezesWalletsAtTheirVendors) {
  ManualClock clock(absl::FromUnixSeconds(1777651200));
  MemoryConfigStore config;
  MemoryBudgetStore budgets;
  FakeAuditLog audit;
  MemoryFreezeStore freezes;
  FakeVendorFreezer vendor;
  Engine engine(&config, &budgets, &audit, &freezes, &clock,
                EngineHooks{.vendor_freezer = &vendor});
  ASSERT_TRUE(engine.ApplyBundle(kBundle, false, "test").ok());

  absl::StatusOr<FreezeOutcome> agent =
      engine.FreezeScope("", "agent/agent_a", "incident", "admin");
  ASSERT_TRUE(agent.ok()) << agent.status();
  ASSERT_EQ(agent->vendor_results.size(), 2u);
  EXPECT_EQ(agent->vendor_results[0].wallet_id, "wallet_1");
  EXPECT_EQ(agent->vendor_results[0].vendor, "metamask");
  EXPECT_EQ(agent->vendor_results[0].outcome,
            VendorFreezeResult::Outcome::kDone);
  EXPECT_EQ(agent->vendor_results[1].wallet_id, "wallet_2");
  EXPECT_EQ(agent->vendor_results[1].outcome,
            VendorFreezeResult::Outcome::kFailed);
  EXPECT_EQ(agent->vendor_results[1].reason, "vendor API unreachable");
  EXPECT_THAT(vendor.calls, ElementsAre("freeze wallet_1"));
  // Each is in the audit trail.
  std::vector<std::string> audited;
  for (const AuditEvent& e : audit.events()) {
    if (e.type == AuditEvent::Type::kVendorFreeze) audited.push_back(e.reason);
  }
  EXPECT_THAT(audited,
              ElementsAre("wallet/wallet_1 freeze at metamask: done (incident)",
                          "wallet/wallet_2 freeze at cdp: failed: vendor API "
                          "unreachable (incident)"));

  // A wallet already frozen at its vendor is not frozen again (that would
  // record the frozen state as the one to restore). Lifting the department
  // freeze leaves agent_a's wallets frozen at the vendor, since agent_a's
  // own freeze still covers them; wallet_c gets back what was recorded,
  // which an owner-approval vendor says.
  vendor.calls.clear();
  absl::StatusOr<FreezeOutcome> dept =
      engine.FreezeScope("", "department/eng", "audit", "admin");
  ASSERT_TRUE(dept.ok()) << dept.status();
  EXPECT_EQ(dept->vendor_results[0].reason, "already frozen there by Warden");
  EXPECT_EQ(dept->vendor_results[2].wallet_id, "wallet_c");
  EXPECT_EQ(dept->vendor_results[2].outcome,
            VendorFreezeResult::Outcome::kOwnerApproval);
  absl::StatusOr<std::optional<VendorFrozenWallet>> kept =
      freezes.VendorFrozen("acme", "wallet_c");
  ASSERT_TRUE(kept.ok() && kept->has_value());
  EXPECT_EQ((*kept)->restore, "limit of wallet_c");
  // A restarted gateway (a new engine on the same durable stores) restores
  // what the first one recorded.
  Engine restarted(&config, &budgets, &audit, &freezes, &clock,
                   EngineHooks{.vendor_freezer = &vendor});
  ASSERT_TRUE(
      restarted.UnfreezeScope("", "department/eng", "cleared", "admin").ok());
  EXPECT_THAT(
      vendor.calls,
      ElementsAre("freeze wallet_c", "unfreeze wallet_c to limit of wallet_c"));
  EXPECT_FALSE(freezes.VendorFrozen("acme", "wallet_c")->has_value());

  // A vendor without a freeze control says so; it is not a failure.
  absl::StatusOr<FreezeOutcome> b =
      engine.FreezeScope("", "agent/agent_b", "incident", "admin");
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_EQ(b->vendor_results.size(), 2u);
  for (const VendorFreezeResult& r : b->vendor_results) {
    EXPECT_EQ(r.outcome, VendorFreezeResult::Outcome::kUnsupported)
        << r.wallet_id;
  }

  // Decommission freezes each wallet once.
  vendor.calls.clear();
  absl::StatusOr<FreezeOutcome> retired =
      engine.DecommissionAgent("", "agent_c", "retired", "admin");
  ASSERT_TRUE(retired.ok()) << retired.status();
  EXPECT_THAT(vendor.calls, ElementsAre("freeze wallet_c"));
  ASSERT_EQ(retired->vendor_results.size(), 1u);
  EXPECT_EQ(retired->vendor_results[0].outcome,
            VendorFreezeResult::Outcome::kOwnerApproval);
}

TEST_F(EngineTest, InputErrors) {
  auto error = [&](AuthorizeInput in) {
    absl::StatusOr<AuthorizeOutput> out = engine_.Authorize(in);
    EXPECT_FALSE(out.ok());
    return out.status();
  };
  const AuthorizeInput ok{.agent_id = "agent_a",
                          .wallet_id = "wallet_1",
                          .asset = "USDC",
                          .amount = "1"};
  AuthorizeInput in = ok;
  in.agent_id = "ghost";
  EXPECT_EQ(error(in), absl::NotFoundError(
                           "agent_id: unknown agent \"ghost\" in org acme"));
  in = ok;
  in.wallet_id = "wallet_3";
  EXPECT_EQ(error(in), absl::InvalidArgumentError(
                           "wallet_id: wallet \"wallet_3\" belongs "
                           "to agent \"agent_b\", not \"agent_a\""));
  in = ok;
  in.amount = "340282366920938463463374607431768211456";
  EXPECT_EQ(error(in).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(error(in).message(), HasSubstr("amount: "));
  EXPECT_THAT(error(in).message(), HasSubstr("exceeds 2^128-1"));
  in = ok;
  in.amount = "0";
  EXPECT_EQ(error(in),
            absl::InvalidArgumentError("amount: must be greater than zero"));
  in = ok;
  in.amount = "-5";
  EXPECT_THAT(error(in).message(), HasSubstr("amount: \"-5\""));
  in = ok;
  in.asset = "ETH";
  in.amount = "340282366920938463463374607431768211455";
  EXPECT_THAT(error(in).message(),
              HasSubstr("amount: value of 3402823669209384634633746074317682"
                        "11455 base units exceeds the largest USD amount"));
  in = ok;
  in.org_id = "other";
  EXPECT_EQ(error(in).code(), absl::StatusCode::kNotFound);
  // Ids must look like ids, and destinations like addresses on the
  // wallet's chain; the error names the field without echoing raw bytes.
  in = ok;
  in.agent_id = std::string("agent\0\n<script>", 15);
  EXPECT_THAT(error(in).message(),
              HasSubstr("agent_id: \"agent\\x00\\n<script>\" is not an id"));
  in = ok;
  in.wallet_id = std::string(65, 'w');
  EXPECT_THAT(error(in).message(), HasSubstr("wallet_id: "));
  in = ok;
  in.asset = "";
  EXPECT_EQ(error(in), absl::InvalidArgumentError("asset: is required"));
  in = ok;
  in.destination = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD";  // Typo.
  EXPECT_THAT(error(in).message(),
              HasSubstr("destination: \"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1"
                        "BeAeD\" has a wrong EIP-55 checksum"));
  in = ok;
  in.destination = "0x1234";
  EXPECT_THAT(error(in).message(), HasSubstr("is not an address on base"));
  EXPECT_EQ(engine_.Get("", "az_\x01\x02").status().code(),
            absl::StatusCode::kInvalidArgument);
  in = ok;
  in.memo = std::string(kMaxMemoBytes + 1, 'm');
  EXPECT_THAT(error(in).message(), HasSubstr("memo: is 1025 bytes"));
  EXPECT_THAT(audit_.events(), SizeIs(1));  // Only the bundle.
}

// Conversions round up: one wei of ETH costs a micro-dollar.
TEST_F(EngineTest, ValuationRoundsUp) {
  absl::StatusOr<AuthorizeOutput> out =
      engine_.Authorize({.agent_id = "agent_a",
                         .wallet_id = "wallet_1",
                         .asset = "ETH",
                         .amount = "1"});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->authorization.amount_usd, 1);
  EXPECT_EQ(out->authorization.price_usd, "3000");  // Recorded for audit.
}

// Applying shows a diff, versions changes, and skips unchanged bundles.
TEST_F(EngineTest, ApplyBundleVersions) {
  std::string next = kBundle;
  next.replace(next.find("usd: \"1000\""), 11, "usd: \"1200\"");
  absl::StatusOr<ApplyResult> dry = engine_.ApplyBundle(next, true, "admin");
  ASSERT_TRUE(dry.ok());
  EXPECT_EQ(dry->version, 2);
  EXPECT_THAT(dry->diff,
              ElementsAre("~ agents.agent_a.limits.daily_max: usd 1000.00 per "
                          "rolling:24h -> usd 1200.00 per rolling:24h"));
  EXPECT_EQ((*engine_.GetBundle("acme", 0))->version, 1);  // Dry run.
  EXPECT_EQ(DecisionOf("agent_a", "wallet_1", 1100), Decision::kDeny);
  ASSERT_EQ(engine_.ApplyBundle(next, false, "admin")->version, 2);
  EXPECT_EQ(DecisionOf("agent_a", "wallet_1", 1100), Decision::kAllow);
  absl::StatusOr<ApplyResult> same = engine_.ApplyBundle(next, false, "admin");
  EXPECT_FALSE(same->changed);
  EXPECT_EQ(same->version, 2);
  EXPECT_EQ((*engine_.GetBundle("acme", 1))->yaml, kBundle);
  EXPECT_EQ((*engine_.GetBundle("acme", 2))->applied_by, "admin");
  EXPECT_EQ(engine_.GetBundle("acme", 3).status().code(),
            absl::StatusCode::kNotFound);
  std::vector<AuditEvent> applies;
  for (const AuditEvent& e : audit_.events()) {
    if (e.type == AuditEvent::Type::kBundleApplied) applies.push_back(e);
  }
  ASSERT_THAT(applies, SizeIs(2));  // Not the dry run, not the no-op.
  EXPECT_EQ(applies[1].policy_version, 2);
  EXPECT_EQ(applies[1].actor, "admin");
  EXPECT_EQ(applies[1].diff, dry->diff);
  // An invalid bundle changes nothing.
  EXPECT_EQ(engine_.ApplyBundle("org: {id: acme, x: 1}", false, "admin")
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*engine_.GetBundle("", 0))->version, 2);
}

}  // namespace
}  // namespace warden
