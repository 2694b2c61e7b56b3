// Budget status on the memory store through the engine: each limit's
// settled, held and pending figures equal the test's own sums, match the
// figures a denial gives at that moment, and roll off when they say; an
// agent reads only its own scopes; bad scopes are named.
#include "governance/budget_status.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "governance/engine.h"
#include "governance/memory/memory_budget_store.h"
#include "governance/memory/memory_config_store.h"
#include "governance/memory/memory_freeze_store.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_audit_log.h"

namespace warden {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kBundle[] = R"(
org:
  id: acme
  limits:
    - {name: monthly, usd: "10000", window: "calendar:month"}
departments:
  - id: research
    limits: [{name: monthly, usd: "5000", window: "calendar:month"}]
    approvals: {approval_above_usd: "1000", approvers: [user/cfo]}
  - id: ops
    limits: [{name: daily, usd: "2000", window: "rolling:24h"}]
agents:
  - id: r1
    department: research
    wallets:
      - {id: rw, vendor: local, chain: base,
         address: "0x0000000000000000000000000000000000000001"}
  - id: o1
    department: ops
    limits: [{name: tx_per_day, count: 10, window: "rolling:24h"}]
    wallets:
      - {id: ow, vendor: local, chain: base,
         address: "0x0000000000000000000000000000000000000002"}
assets:
  - {symbol: USDC, decimals: 6, price_usd: "1"}
)";

constexpr int64_t kDollar = 1'000'000;

class BudgetStatusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(engine_.ApplyBundle(kBundle, false, "test").ok());
  }

  Authorization Spend(const std::string& agent, const std::string& wallet,
                      int64_t dollars) {
    absl::StatusOr<AuthorizeOutput> out = engine_.Authorize(
        {.agent_id = agent,
         .wallet_id = wallet,
         .asset = "USDC",
         .amount = absl::StrCat(dollars * kDollar),
         .destination = "0x00000000000000000000000000000000000000ff",
         .actor = absl::StrCat("agent/", agent)});
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? out->authorization : Authorization{};
  }

  void Settle(const Authorization& a, int64_t dollars) {
    ASSERT_TRUE(
        engine_
            .Settle({.authorization_id = a.id,
                     .amount = absl::StrCat(dollars * kDollar),
                     .tx_hash = absl::StrCat("0x", std::string(64, 'a')),
                     .actor = "agent/x"})
            .ok());
  }

  LimitStatus Only(const std::string& scope) {
    absl::StatusOr<BudgetReport> r = engine_.BudgetStatus("", scope, false);
    EXPECT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r.ok() ? r->limits.size() : 0, 1u);
    return r.ok() && !r->limits.empty() ? r->limits[0] : LimitStatus{};
  }

  // Seeds research: $1,500 awaiting approval, $700 settled (of $800
  // held), $300 held; ops: $1,200 settled, $500 held.
  void Seed() {
    EXPECT_EQ(Spend("r1", "rw", 1500).decision, Decision::kPendingApproval);
    Settle(Spend("r1", "rw", 800), 700);
    EXPECT_EQ(Spend("r1", "rw", 300).decision, Decision::kAllow);
    Settle(Spend("o1", "ow", 1200), 1200);
    EXPECT_EQ(Spend("o1", "ow", 500).decision, Decision::kAllow);
  }

  ManualClock clock_{absl::FromUnixSeconds(1'777'651'200)};  // 2026-05-01.
  MemoryConfigStore config_;
  MemoryBudgetStore budgets_;
  FakeAuditLog audit_;
  MemoryFreezeStore freezes_;
  Engine engine_{&config_, &budgets_, &audit_, &freezes_, &clock_};
};

TEST_F(BudgetStatusTest, FiguresAreTheSumsOfWhatWasSpent) {
  Seed();
  const LimitStatus research = Only("department/research");
  EXPECT_EQ(research.scope, "department/research");
  EXPECT_EQ(research.limit.name, "monthly");
  EXPECT_EQ(research.settled, 700 * kDollar);
  EXPECT_EQ(research.held, 300 * kDollar);
  EXPECT_EQ(research.pending, 1500 * kDollar);
  EXPECT_EQ(research.used, 2500 * kDollar);
  EXPECT_EQ(research.remaining, 2500 * kDollar);
  EXPECT_DOUBLE_EQ(research.Utilization(), 0.5);
  // A calendar month rolls off at its end, in the org's zone.
  EXPECT_EQ(research.rolls_off_at, absl::FromUnixSeconds(1'780'272'000));

  const LimitStatus org = Only("org/acme");
  EXPECT_EQ(org.settled, 1900 * kDollar);
  EXPECT_EQ(org.held, 800 * kDollar);
  EXPECT_EQ(org.pending, 1500 * kDollar);
  EXPECT_EQ(org.remaining, 5800 * kDollar);

  // A count limit counts transactions; the empty scope is the org.
  const LimitStatus count = Only("agent/o1");
  EXPECT_EQ(count.limit.kind, Limit::Kind::kCount);
  EXPECT_EQ(count.settled, 1);
  EXPECT_EQ(count.held, 1);
  EXPECT_EQ(count.remaining, 8);
  EXPECT_EQ(engine_.BudgetStatus("", "", false)->limits[0].scope, "org/acme");

  // A scope without limits has nothing to show.
  EXPECT_TRUE(engine_.BudgetStatus("", "wallet/rw", false)->limits.empty());
}

TEST_F(BudgetStatusTest, BelowListsEveryScopeUnderIt) {
  Seed();
  absl::StatusOr<BudgetReport> r = engine_.BudgetStatus("acme", "org/acme",
                                                        /*below=*/true);
  ASSERT_TRUE(r.ok()) << r.status();
  std::vector<std::string> scopes;
  for (const LimitStatus& s : r->limits) {
    scopes.push_back(absl::StrCat(s.scope, " ", s.limit.name));
  }
  EXPECT_THAT(scopes, ElementsAre("org/acme monthly", "department/ops daily",
                                  "agent/o1 tx_per_day",
                                  "department/research monthly"));
  EXPECT_EQ(r->org_id, "acme");
  EXPECT_EQ(r->as_of, clock_.Now());
}

TEST_F(BudgetStatusTest, MatchesTheFiguresOfADenialAtThatMoment) {
  Seed();
  // $2,500 used of research's $5,000, $1,500 of it pending approval.
  const Authorization denied = Spend("r1", "rw", 2600);
  ASSERT_EQ(denied.decision, Decision::kDeny) << denied.reason;
  ASSERT_EQ(denied.violations.size(), 1u);
  const Violation& v = denied.violations[0];
  const LimitStatus research = Only("department/research");
  EXPECT_EQ(v.scope, research.scope);
  EXPECT_EQ(v.spent, "2500.00");
  EXPECT_EQ(v.pending, "1500.00");
  EXPECT_EQ(v.remaining, "2500.00");
  EXPECT_EQ(research.used, 2500 * kDollar);
  EXPECT_EQ(research.pending, 1500 * kDollar);
  EXPECT_EQ(research.remaining, 2500 * kDollar);
  // The denial charged nothing.
  EXPECT_EQ(Only("org/acme").used, 4200 * kDollar);
}

TEST_F(BudgetStatusTest, ARollingWindowRollsOffWhenItSays) {
  const absl::Time t0 = clock_.Now();
  Settle(Spend("o1", "ow", 1200), 1200);
  clock_.Advance(absl::Hours(3));
  Settle(Spend("o1", "ow", 300), 300);
  const LimitStatus before = Only("department/ops");
  EXPECT_EQ(before.used, 1500 * kDollar);
  ASSERT_TRUE(before.rolls_off_at.has_value());
  // 24 h after the first spend, at the precision of its bucket.
  EXPECT_GE(*before.rolls_off_at, t0 + absl::Hours(24));
  EXPECT_LE(*before.rolls_off_at, t0 + absl::Hours(24) + absl::Minutes(11));
  // Never early: a second before, the first spend still counts; at that
  // moment it is gone.
  clock_.Advance(*before.rolls_off_at - clock_.Now() - absl::Seconds(1));
  EXPECT_EQ(Only("department/ops").used, 1500 * kDollar);
  clock_.Advance(absl::Seconds(1));
  const LimitStatus after = Only("department/ops");
  EXPECT_EQ(after.used, 300 * kDollar);
  EXPECT_EQ(after.settled, 300 * kDollar);
  EXPECT_EQ(after.remaining, 1700 * kDollar);
}

TEST_F(BudgetStatusTest, AnAgentReadsOnlyItsOwnScopes) {
  EXPECT_TRUE(engine_.BudgetStatus("acme", "agent/o1", false, "o1").ok());
  EXPECT_TRUE(engine_.BudgetStatus("acme", "wallet/ow", false, "o1").ok());
  for (const char* scope :
       {"wallet/rw", "agent/r1", "department/ops", "org/acme", ""}) {
    absl::StatusOr<BudgetReport> r =
        engine_.BudgetStatus("acme", scope, false, "o1");
    EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied) << scope;
    EXPECT_THAT(r.status().message(), HasSubstr("scope: agent o1 may read"));
  }
}

TEST_F(BudgetStatusTest, BadScopesAreNamed) {
  struct Case {
    std::string scope;
    absl::StatusCode code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"research", absl::StatusCode::kInvalidArgument, "scope: must be"},
      {"department/", absl::StatusCode::kInvalidArgument, "scope: must be"},
      {"planet/mars", absl::StatusCode::kInvalidArgument,
       "scope: unknown kind \"planet\""},
      {"agent/nobody", absl::StatusCode::kNotFound,
       "scope: \"agent/nobody\" is not in the policy"},
      {"org/other", absl::StatusCode::kNotFound, "scope: \"org/other\""},
      {std::string(1 << 20, 'x'), absl::StatusCode::kInvalidArgument,
       "scope: must be"},
      {std::string("agent/r1\0x", 10), absl::StatusCode::kNotFound,
       "is not in the policy"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<BudgetReport> r =
        engine_.BudgetStatus("acme", c.scope, false);
    EXPECT_EQ(r.status().code(), c.code) << c.scope.substr(0, 40);
    EXPECT_THAT(r.status().message(), HasSubstr(c.message));
    EXPECT_LT(r.status().message().size(), 300u);
  }
}

}  // namespace
}  // namespace warden
