#ifndef WARDEN_TESTS_FAKES_RESERVE_REQUESTS_H_
#define WARDEN_TESTS_FAKES_RESERVE_REQUESTS_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "governance/budget_store.h"
#include "gtest/gtest.h"

namespace warden {

// A hold of `usd` micro-dollars by agent_a (department eng, org acme) from
// wallet w1 at time `at`, checked against one agent limit of `cap` over a
// rolling 24h window; kept 48h; its hold expires after 15 minutes. The
// request store tests build on.
inline ReserveRequest TestHold(const std::string& id, UsdMicros usd,
                               int64_t cap, absl::Time at,
                               const std::string& idempotency_key = "") {
  ReserveRequest r;
  Authorization& a = r.authorization;
  a.id = id;
  a.org_id = "acme";
  a.department_id = "eng";
  a.agent_id = "agent_a";
  a.wallet_id = "w1";
  a.amount = 1000;
  a.amount_usd = usd;
  a.idempotency_key = idempotency_key;
  a.decision = Decision::kAllow;
  a.status = AuthorizationStatus::kHeld;
  a.created_at = at;
  a.hold_expires_at = at + absl::Minutes(15);
  LimitCheck agent;
  agent.scope_index = 2;
  agent.child_index = 3;
  agent.limit_name = "daily";
  agent.cap = cap;
  agent.interval = {at - absl::Hours(24), absl::InfiniteFuture()};
  r.limits.push_back(agent);
  r.retain_until = at + absl::Hours(48);
  return r;
}

// Usage queries over the last 24h before `at`: agent_a in USD and in count,
// its wallet w1 in USD, and a scope nothing charged.
inline std::vector<UsageQuery> TestUsageQueries(absl::Time at) {
  const Interval day = {at - absl::Hours(24), absl::InfiniteFuture()};
  return {
      {.scope = "agent/agent_a", .interval = day},
      {.scope = "agent/agent_a", .kind = Limit::Kind::kCount, .interval = day},
      {.scope = "wallet/w1", .interval = day},
      {.scope = "agent/nobody", .interval = day}};
}

// Seeds what a Breakdown test reads at `at`: az_1, $600 held by w1;
// az_2, $300 awaiting approval by w1; az_3, $100 held by w2 and settled at
// $40. Returns false if the store refused any of it.
inline bool SeedBreakdown(BudgetStore& store, absl::Time at) {
  ReserveRequest pending = TestHold("az_2", 300, 10'000, at);
  pending.authorization.decision = Decision::kPendingApproval;
  ReserveRequest w2 = TestHold("az_3", 100, 10'000, at);
  w2.authorization.wallet_id = "w2";
  for (const ReserveRequest& r :
       {TestHold("az_1", 600, 10'000, at), pending, w2}) {
    absl::StatusOr<ReserveResult> got = store.Reserve(r);
    if (!got.ok() || got->outcome != ReserveResult::Outcome::kReserved) {
      return false;
    }
  }
  return store.Settle("acme", "az_3", 40, 40, "0xabc", at).ok();
}

// What Breakdown must answer after SeedBreakdown(store, at), for
// TestUsageQueries(at): used, pending and held per query, and the oldest
// bucket (a 24h window moves at 10-minute precision).
inline void ExpectSeededBreakdown(BudgetStore& store, absl::Time at) {
  absl::StatusOr<std::vector<UsageBreakdown>> got =
      store.Breakdown("acme", TestUsageQueries(at), at);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 4u);
  const std::vector<std::array<int64_t, 3>> want = {
      {940, 300, 600}, {3, 1, 1}, {900, 300, 600}, {0, 0, 0}};
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ((*got)[i].used, want[i][0]) << i;
    EXPECT_EQ((*got)[i].pending, want[i][1]) << i;
    EXPECT_EQ((*got)[i].held, want[i][2]) << i;
  }
  const absl::Time bucket =
      absl::FromUnixSeconds(absl::ToUnixSeconds(at) / 600 * 600);
  ASSERT_TRUE((*got)[0].oldest.has_value());
  EXPECT_EQ((*got)[0].oldest->start, bucket);
  EXPECT_EQ((*got)[0].oldest->end, bucket + absl::Minutes(10));
  EXPECT_FALSE((*got)[3].oldest.has_value());
}

}  // namespace warden

#endif  // WARDEN_TESTS_FAKES_RESERVE_REQUESTS_H_
