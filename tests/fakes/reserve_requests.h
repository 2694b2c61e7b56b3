#ifndef WARDEN_TESTS_FAKES_RESERVE_REQUESTS_H_
#define WARDEN_TESTS_FAKES_RESERVE_REQUESTS_H_

#include <string>

#include "governance/budget_store.h"

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

}  // namespace warden

#endif  // WARDEN_TESTS_FAKES_RESERVE_REQUESTS_H_
