// Invariants 1 and 2 across replicas: two wardend processes on one Redis
// (reached over TCP, again over mutual TLS, and again as a Redis Cluster),
// hundreds of concurrent Authorize calls split across both, never admit one
// spend more than the limit allows (agent, department, a division above
// nested departments, a wallet, a chain, a count, a per-destination limit),
// and a retried
// idempotency key charges once whichever replica it reaches.

#include <set>

#include "gmock/gmock.h"
#include "tests/integration/replicas.h"
#include "tests/support/subprocess.h"

namespace warden::testing {
namespace {

constexpr const char* kBundle = R"(
org:
  id: race
  limits: [{name: org_daily_tx, count: 100000, window: "calendar:day"}]
  # What the org sends to any one address (spends with a destination).
  destination_limits: [{name: per_address, usd: "5000", window: "rolling:24h"}]
  # What all agents spend on polygon together.
  chain_limits:
    polygon: [{name: polygon_budget, usd: "300", window: "rolling:24h"}]
departments:
  - id: solo
  # A division whose budget binds two levels of sub-departments.
  - id: division
    limits: [{name: division_budget, usd: "400", window: "rolling:24h"}]
  - {id: team, parent: division}
  - {id: squad, parent: team}
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
  - {id: payer_1, department: solo, wallets: [{id: payer_1_w, vendor: local, chain: base, address: "0x21"}]}
  - {id: payer_2, department: solo, wallets: [{id: payer_2_w, vendor: cdp, chain: base, address: "0x22"}]}
  - {id: team_1, department: team, wallets: [{id: team_1_w, vendor: local, chain: base, address: "0x31"}]}
  - {id: squad_1, department: squad, wallets: [{id: squad_1_w, vendor: privy, chain: base, address: "0x32"}]}
  - {id: poly_1, department: solo, wallets: [{id: poly_1_w, vendor: local, chain: polygon, address: "0x41"}]}
  - {id: poly_2, department: solo, wallets: [{id: poly_2_w, vendor: cdp, chain: polygon, address: "0x42"}]}
  - id: walleter
    department: solo
    limits: [{name: budget, usd: "10000", window: "rolling:24h"}]
    wallets:
      - id: walleter_w
        vendor: local
        chain: base
        address: "0x51"
        limits: [{name: wallet_budget, usd: "250", window: "rolling:24h"}]
assets:
  - {symbol: USDC, decimals: 6, price_usd: "1"}
)";

struct OverTcp {
  static constexpr RedisTransport kTransport = RedisTransport::kTcp;
};
struct OverTls {
  static constexpr RedisTransport kTransport = RedisTransport::kMutualTls;
};
struct OverCluster {
  static constexpr RedisTransport kTransport = RedisTransport::kCluster;
};

template <class Transport>
class TwoReplicasTest : public ReplicasTest {
 protected:
  static void SetUpTestSuite() {
    StartReplicas(kBundle, Transport::kTransport);
  }
};
using Transports = ::testing::Types<OverTcp, OverTls, OverCluster>;
TYPED_TEST_SUITE(TwoReplicasTest, Transports);

// 300 racing $10 spends from two wallets against a $1,000 agent budget:
// exactly 100 are admitted.
TYPED_TEST(TwoReplicasTest, AgentBudgetAdmitsExactly) {
  const std::vector<ReplicasTest::Result> results =
      ReplicasTest::Blast(300, 16, [](int i) {
        return ReplicasTest::Spend("racer", i % 4 < 2 ? "racer_w1" : "racer_w2",
                                   10);
      });
  EXPECT_EQ(ReplicasTest::Allowed(results), 100);
}

// 300 racing $5 spends by five agents against a $500 department budget:
// exactly 100 are admitted.
TYPED_TEST(TwoReplicasTest, DepartmentBudgetAdmitsExactly) {
  const std::vector<ReplicasTest::Result> results =
      ReplicasTest::Blast(300, 16, [](int i) {
        const std::string agent = absl::StrCat("pool_", i % 5 + 1);
        return ReplicasTest::Spend(agent, agent + "_w", 5);
      });
  EXPECT_EQ(ReplicasTest::Allowed(results), 100);
}

// 200 racing $50 payments to one address by two agents against the org's
// $5,000 per-address limit: exactly 100 are admitted.
TYPED_TEST(TwoReplicasTest, PerDestinationLimitAdmitsExactly) {
  const std::vector<ReplicasTest::Result> results =
      ReplicasTest::Blast(200, 16, [](int i) {
        const std::string agent = absl::StrCat("payer_", i % 2 + 1);
        v1::AuthorizeRequest r = ReplicasTest::Spend(agent, agent + "_w", 50);
        r.set_destination("0x00000000000000000000000000000000000000aa");
        return r;
      });
  EXPECT_EQ(ReplicasTest::Allowed(results), 100);
}

// 300 racing $2 spends by an agent of a team and one of a squad below it
// against their division's $400: exactly 200 are admitted.
TYPED_TEST(TwoReplicasTest, NestedDepartmentBudgetAdmitsExactly) {
  const std::vector<ReplicasTest::Result> results =
      ReplicasTest::Blast(300, 16, [](int i) {
        return i % 2 == 0 ? ReplicasTest::Spend("team_1", "team_1_w", 2)
                          : ReplicasTest::Spend("squad_1", "squad_1_w", 2);
      });
  EXPECT_EQ(ReplicasTest::Allowed(results), 200);
}

// 200 racing $3 spends by two agents' polygon wallets against the org's
// $300 on polygon: exactly 100 are admitted.
TYPED_TEST(TwoReplicasTest, ChainLimitAdmitsExactly) {
  const std::vector<ReplicasTest::Result> results =
      ReplicasTest::Blast(200, 16, [](int i) {
        const std::string agent = absl::StrCat("poly_", i % 2 + 1);
        return ReplicasTest::Spend(agent, agent + "_w", 3);
      });
  EXPECT_EQ(ReplicasTest::Allowed(results), 100);
}

// 200 racing $5 spends from one wallet against its own $250 (its agent's
// budget is far larger): exactly 50 are admitted.
TYPED_TEST(TwoReplicasTest, WalletLimitAdmitsExactly) {
  const std::vector<ReplicasTest::Result> results = ReplicasTest::Blast(
      200, 16,
      [](int) { return ReplicasTest::Spend("walleter", "walleter_w", 5); });
  EXPECT_EQ(ReplicasTest::Allowed(results), 50);
}

// An address put on the denylist through one replica (wardenctl) is refused
// by the other at once, and allowed again once taken off.
TYPED_TEST(TwoReplicasTest, DenylistBindsEveryReplica) {
  const std::string to = "0x00000000000000000000000000000000000000dd";
  auto pay = [&](int replica) {
    v1::AuthorizeRequest r = ReplicasTest::Spend("payer_1", "payer_1_w", 1);
    r.set_destination(to);
    grpc::ClientContext c;
    v1::AuthorizeResponse out;
    EXPECT_TRUE(
        ReplicasTest::replicas_[replica]->authz().Authorize(&c, r, &out).ok());
    return out;
  };
  auto ctl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {WARDENCTL_PATH, "--server",
                               ReplicasTest::replicas_[0]->address()});
    absl::StatusOr<CommandResult> r = RunCommand(args, absl::Seconds(30));
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r->exit_code, 0) << r->err;
    return r.ok() ? r->out : "";
  };
  EXPECT_EQ(pay(1).decision(), v1::DECISION_ALLOW);
  ctl({"denylist", "add", to, "--reason", "phishing report"});
  const v1::AuthorizeResponse denied = pay(1);
  EXPECT_EQ(denied.decision(), v1::DECISION_DENY);
  ASSERT_EQ(denied.violations_size(), 1);
  EXPECT_EQ(denied.violations(0).code(), "DESTINATION_DENIED");
  EXPECT_THAT(
      ctl({"denylist", "list"}),
      ::testing::HasSubstr("0x00000000000000000000000000000000000000dd"));
  ctl({"denylist", "remove", to, "--reason", "cleared"});
  EXPECT_EQ(pay(1).decision(), v1::DECISION_ALLOW);
}

// 200 racing spends against a count limit of 50: exactly 50 are admitted.
TYPED_TEST(TwoReplicasTest, CountLimitAdmitsExactly) {
  const std::vector<ReplicasTest::Result> results = ReplicasTest::Blast(
      200, 16,
      [](int) { return ReplicasTest::Spend("counter", "counter_w", 1); });
  EXPECT_EQ(ReplicasTest::Allowed(results), 50);
}

// The same idempotency key sent 40 times at once to both replicas: one
// authorization, charged once.
TYPED_TEST(TwoReplicasTest, RetriesChargeOnce) {
  const std::vector<ReplicasTest::Result> results =
      ReplicasTest::Blast(40, 16, [](int) {
        v1::AuthorizeRequest r =
            ReplicasTest::Spend("retrier", "retrier_w", 10);
        r.set_idempotency_key("order-42");
        return r;
      });
  std::set<std::string> ids;
  int first = 0;
  for (const ReplicasTest::Result& r : results) {
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
    EXPECT_EQ(r.response.decision(), v1::DECISION_ALLOW);
    ids.insert(r.response.authorization_id());
    if (!r.response.replayed()) ++first;
  }
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_EQ(first, 1);
  // Charged once: $990 of the $1,000 remains, and not a cent more.
  EXPECT_EQ(ReplicasTest::Allowed(ReplicasTest::Blast(
                1, 1,
                [](int) {
                  return ReplicasTest::Spend("retrier", "retrier_w", 991);
                })),
            0);
  EXPECT_EQ(ReplicasTest::Allowed(ReplicasTest::Blast(
                1, 1,
                [](int) {
                  return ReplicasTest::Spend("retrier", "retrier_w", 990);
                })),
            1);
}

}  // namespace
}  // namespace warden::testing
