// Finance alerts through the engine on the memory store: a spend that takes
// a limit past 80% or 95% sends budget.threshold once, exactly at the
// line; refusals by a limit send budget.breach at most once a minute per
// limit, the others folded into the next one; the throttle on its own.
#include "governance/budget_alerts.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "governance/bundle.h"
#include "governance/engine.h"
#include "governance/memory/memory_budget_store.h"
#include "governance/memory/memory_config_store.h"
#include "governance/memory/memory_freeze_store.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_audit_log.h"
#include "tests/fakes/recording_sink.h"

namespace warden {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kBundle[] = R"(
org:
  id: acme
  budget_alerts: {thresholds: [95, 80]}
departments:
  - id: research
    limits: [{name: monthly, usd: "1000", window: "calendar:month"}]
agents:
  - id: r1
    department: research
    limits: [{name: daily_count, count: 10, window: "rolling:24h"}]
    wallets:
      - {id: rw, vendor: local, chain: base,
         address: "0x0000000000000000000000000000000000000001"}
assets:
  - {symbol: USDC, decimals: 6, price_usd: "1"}
)";

class BudgetAlertsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(engine_.ApplyBundle(kBundle, false, "test").ok());
  }

  Authorization Spend(const std::string& micros) {
    absl::StatusOr<AuthorizeOutput> out = engine_.Authorize(
        {.agent_id = "r1",
         .wallet_id = "rw",
         .asset = "USDC",
         .amount = micros,
         .destination = "0x00000000000000000000000000000000000000ff",
         .actor = "agent/r1"});
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? out->authorization : Authorization{};
  }

  std::vector<Notification> Budget() {
    std::vector<Notification> out;
    for (Notification& n : sink_.notifications()) {
      if (n.event.rfind("budget.", 0) == 0) out.push_back(std::move(n));
    }
    return out;
  }

  ManualClock clock_{absl::FromUnixSeconds(1'777'651'200)};  // 2026-05-01.
  MemoryConfigStore config_;
  MemoryBudgetStore budgets_;
  FakeAuditLog audit_;
  MemoryFreezeStore freezes_;
  RecordingSink sink_;
  Engine engine_{&config_,  &budgets_, &audit_,
                 &freezes_, &clock_,   EngineHooks{.notifications = &sink_}};
};

TEST_F(BudgetAlertsTest, ThresholdsFireOnceExactlyAtTheLine) {
  // $799.999999: just under 80% of $1,000.
  EXPECT_EQ(Spend("799999999").decision, Decision::kAllow);
  EXPECT_THAT(Budget(), IsEmpty());
  // One micro-dollar more reaches 80% exactly.
  EXPECT_EQ(Spend("1").decision, Decision::kAllow);
  std::vector<Notification> got = Budget();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].event, "budget.threshold");
  EXPECT_EQ(got[0].threshold_percent, 80);
  ASSERT_TRUE(got[0].limit.has_value());
  EXPECT_EQ(got[0].limit->scope, "department/research");
  EXPECT_EQ(got[0].limit->limit, "monthly");
  EXPECT_EQ(got[0].limit->spent, "800.00");
  EXPECT_EQ(got[0].limit->remaining, "200.00");
  EXPECT_THAT(got[0].message,
              HasSubstr("department research monthly passed 80%"));
  // Further spends under 95% send nothing; one jumping past 95% sends 95
  // once (not 80 again).
  EXPECT_EQ(Spend("100000000").decision, Decision::kAllow);
  EXPECT_EQ(Budget().size(), 1u);
  EXPECT_EQ(Spend("60000000").decision, Decision::kAllow);
  got = Budget();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].threshold_percent, 95);
  EXPECT_EQ(got[1].limit->spent, "960.00");
  // The count limit passes 80% at its 8th spend (8 of 10).
  EXPECT_EQ(Spend("1").decision, Decision::kAllow);  // 5th.
  EXPECT_EQ(Spend("1").decision, Decision::kAllow);
  EXPECT_EQ(Spend("1").decision, Decision::kAllow);
  EXPECT_EQ(Budget().size(), 2u);
  EXPECT_EQ(Spend("1").decision, Decision::kAllow);  // 8th.
  got = Budget();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2].limit->scope, "agent/r1");
  EXPECT_EQ(got[2].limit->spent, "8");
}

TEST_F(BudgetAlertsTest, BreachesAreSentAtMostOnceAMinutePerLimit) {
  EXPECT_EQ(Spend("990000000").decision, Decision::kAllow);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(Spend("20000000").decision, Decision::kDeny);
    clock_.Advance(absl::Seconds(10));
  }
  std::vector<Notification> got = Budget();
  ASSERT_EQ(got.size(), 2u);  // 95% crossed, then the first breach.
  EXPECT_EQ(got[1].event, "budget.breach");
  EXPECT_EQ(got[1].folded, 0);
  EXPECT_EQ(got[1].limit->code, "BUDGET_EXCEEDED");
  EXPECT_EQ(got[1].limit->spent, "990.00");
  EXPECT_EQ(got[1].limit->requested, "20.00");
  EXPECT_THAT(got[1].message, HasSubstr("agent r1 refused: "));
  EXPECT_EQ(got[1].authorization.decision, Decision::kDeny);
  // Within the minute: nothing flushed yet.
  engine_.FlushBreachAlerts();
  EXPECT_EQ(Budget().size(), 2u);
  // Once it is over, the last held back goes out counting the others.
  clock_.Advance(absl::Seconds(30));
  engine_.FlushBreachAlerts();
  got = Budget();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2].event, "budget.breach");
  EXPECT_EQ(got[2].folded, 2);
  engine_.FlushBreachAlerts();
  EXPECT_EQ(Budget().size(), 3u);
  // A minute later the next breach goes out at once.
  clock_.Advance(absl::Minutes(1));
  EXPECT_EQ(Spend("20000000").decision, Decision::kDeny);
  got = Budget();
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[3].folded, 0);
}

TEST(BreachThrottleTest, FoldsAndForgets) {
  BreachThrottle throttle(absl::Minutes(1), /*max_keys=*/2);
  const absl::Time t0 = absl::FromUnixSeconds(1'000'000);
  auto breach = [](const std::string& scope, absl::Time at) {
    Notification n;
    n.org_id = "acme";
    n.time = at;
    n.limit = Violation{.scope = scope, .limit = "daily"};
    return n;
  };
  Notification a = breach("agent/a", t0);
  EXPECT_TRUE(throttle.Admit(a));
  Notification a2 = breach("agent/a", t0 + absl::Seconds(1));
  EXPECT_FALSE(throttle.Admit(a2));
  Notification b = breach("agent/b", t0 + absl::Seconds(2));
  EXPECT_TRUE(throttle.Admit(b));  // Another limit: its own minute.
  // Full (2 limits), none quiet: a third goes out untracked.
  Notification c = breach("agent/c", t0 + absl::Seconds(3));
  EXPECT_TRUE(throttle.Admit(c));
  // A breach held back, sent after the minute, then two minutes of calm.
  Notification a3 = breach("agent/a", t0 + absl::Seconds(61));
  EXPECT_TRUE(throttle.Admit(a3));
  EXPECT_EQ(a3.folded, 1);
  EXPECT_THAT(throttle.Flush(t0 + absl::Minutes(3)), IsEmpty());
  // Forgotten: room for new limits.
  Notification d = breach("agent/d", t0 + absl::Minutes(4));
  EXPECT_TRUE(throttle.Admit(d));
  Notification d2 = breach("agent/d", t0 + absl::Minutes(4));
  EXPECT_FALSE(throttle.Admit(d2));
}

TEST(BudgetAlertsBundleTest, ThresholdsAreChecked) {
  for (const auto& [yaml, problem] :
       std::vector<std::pair<std::string, std::string>>{
           {"{thresholds: [0]}",
            "org.budget_alerts.thresholds[0]: \"0\" must be a whole percentage "
            "from 1 to 100"},
           {"{thresholds: [101]}", "must be a whole percentage"},
           {"{thresholds: [-5]}", "must be a whole percentage"},
           {"{thresholds: [80.5]}", "must be a whole percentage"},
           {"{thresholds: [9223372036854775808]}",
            "must be a whole percentage"},
           {"{thresholds: [80, 80]}", "duplicate \"80\""},
           {"{thresholds: 80}", "org.budget_alerts.thresholds: must be a list"},
           {"{thresholds: [1,2,3,4,5,6,7,8,9,10,11]}",
            "org.budget_alerts.thresholds"},
           {"[80]", "org.budget_alerts: must be a mapping"},
           {"{percent: [80]}", "org.budget_alerts.percent"},
       }) {
    absl::StatusOr<Policy> p = ParseBundle(
        absl::StrCat("org: {id: acme, budget_alerts: ", yaml, "}\n"));
    EXPECT_FALSE(p.ok()) << yaml;
    EXPECT_THAT(p.status().message(), HasSubstr(problem)) << yaml;
  }
  absl::StatusOr<Policy> p = ParseBundle(
      "org: {id: acme, budget_alerts: {thresholds: [95, 50, 80]}}\n");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_THAT(p->org.alert_thresholds, ElementsAre(50, 80, 95));
}

}  // namespace
}  // namespace warden
