// Invariants 1 and 2 across replicas: two wardend processes on one Redis,
// hundreds of concurrent Authorize calls split across both, never admit one
// spend more than the limit allows, and a retried idempotency key charges
// once whichever replica it reaches.

#include <set>

#include "tests/integration/replicas.h"

namespace warden::testing {
namespace {

constexpr const char* kBundle = R"(
org:
  id: race
  limits: [{name: org_daily_tx, count: 100000, window: "calendar:day"}]
departments:
  - id: solo
  - id: pool
    limits: [{name: pool_budget, usd: "500", window: "rolling:24h"}]
agents:
  - id: racer
    department: solo
    limits: [{name: racer_budget, usd: "1000", window: "rolling:24h"}]
    wallets:
      - {id: racer_w1, vendor: local, chain: base, address: "0x01"}
      - {id: racer_w2, vendor: cdp, chain: ethereum, address: "0x02"}
  - id: counter
    department: solo
    limits: [{name: tx_per_hour, count: 50, window: "rolling:1h"}]
    wallets: [{id: counter_w, vendor: local, chain: base, address: "0x03"}]
  - id: retrier
    department: solo
    limits: [{name: budget, usd: "1000", window: "calendar:day"}]
    wallets: [{id: retrier_w, vendor: privy, chain: base, address: "0x04"}]
  - {id: pool_1, department: pool, wallets: [{id: pool_1_w, vendor: local, chain: base, address: "0x11"}]}
  - {id: pool_2, department: pool, wallets: [{id: pool_2_w, vendor: local, chain: base, address: "0x12"}]}
  - {id: pool_3, department: pool, wallets: [{id: pool_3_w, vendor: cdp, chain: base, address: "0x13"}]}
  - {id: pool_4, department: pool, wallets: [{id: pool_4_w, vendor: privy, chain: base, address: "0x14"}]}
  - {id: pool_5, department: pool, wallets: [{id: pool_5_w, vendor: metamask, chain: base, address: "0x15"}]}
assets:
  - {symbol: USDC, decimals: 6, price_usd: "1"}
)";

class TwoReplicasTest : public ReplicasTest {
 protected:
  static void SetUpTestSuite() { StartReplicas(kBundle); }
};

// 300 racing $10 spends from two wallets against a $1,000 agent budget:
// exactly 100 are admitted.
TEST_F(TwoReplicasTest, AgentBudgetAdmitsExactly) {
  const std::vector<Result> results = Blast(300, 16, [](int i) {
    return Spend("racer", i % 4 < 2 ? "racer_w1" : "racer_w2", 10);
  });
  EXPECT_EQ(Allowed(results), 100);
}

// 300 racing $5 spends by five agents against a $500 department budget:
// exactly 100 are admitted.
TEST_F(TwoReplicasTest, DepartmentBudgetAdmitsExactly) {
  const std::vector<Result> results = Blast(300, 16, [](int i) {
    const std::string agent = absl::StrCat("pool_", i % 5 + 1);
    return Spend(agent, agent + "_w", 5);
  });
  EXPECT_EQ(Allowed(results), 100);
}

// 200 racing spends against a count limit of 50: exactly 50 are admitted.
TEST_F(TwoReplicasTest, CountLimitAdmitsExactly) {
  const std::vector<Result> results =
      Blast(200, 16, [](int) { return Spend("counter", "counter_w", 1); });
  EXPECT_EQ(Allowed(results), 50);
}

// The same idempotency key sent 40 times at once to both replicas: one
// authorization, charged once.
TEST_F(TwoReplicasTest, RetriesChargeOnce) {
  const std::vector<Result> results = Blast(40, 16, [](int) {
    v1::AuthorizeRequest r = Spend("retrier", "retrier_w", 10);
    r.set_idempotency_key("order-42");
    return r;
  });
  std::set<std::string> ids;
  int first = 0;
  for (const Result& r : results) {
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
    EXPECT_EQ(r.response.decision(), v1::DECISION_ALLOW);
    ids.insert(r.response.authorization_id());
    if (!r.response.replayed()) ++first;
  }
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_EQ(first, 1);
  // Charged once: $990 of the $1,000 remains, and not a cent more.
  EXPECT_EQ(Allowed(Blast(
                1, 1, [](int) { return Spend("retrier", "retrier_w", 991); })),
            0);
  EXPECT_EQ(Allowed(Blast(
                1, 1, [](int) { return Spend("retrier", "retrier_w", 990); })),
            1);
}

}  // namespace
}  // namespace warden::testing
