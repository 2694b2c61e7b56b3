#ifndef WARDEN_GOVERNANCE_BUDGET_STATUS_H_
#define WARDEN_GOVERNANCE_BUDGET_STATUS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "governance/budget_store.h"
#include "governance/policy.h"
#include "governance/window.h"

// How much of each budget is used and what is left: the figures a finance
// user reads (wardenctl budget status, AuthorizationService.BudgetStatus),
// from the counters every Reserve checks.
namespace warden {

// One limit at one moment, in the limit's unit (USD micros or a count).
struct LimitStatus {
  std::string scope;  // "org/acme", "department/research", "chain/base".
  Limit limit;
  Interval interval;  // The window at that moment (rolling: no end).
  // used = settled + held + pending: what the limit's next check counts.
  int64_t used = 0;
  // Settled spends, and expired holds that still count.
  int64_t settled = 0;
  int64_t held = 0;     // Allowed (or delayed) holds not yet settled.
  int64_t pending = 0;  // Holds awaiting approval.
  int64_t remaining = 0;
  // When the window stops counting what it holds now: the end of a calendar
  // period, or when a rolling window's oldest usage falls out of it (at
  // bucket precision: never early). nullopt: nothing counted.
  std::optional<absl::Time> rolls_off_at;

  // used / cap (1 for a zero cap): for display, not for money.
  double Utilization() const;
};

// Every limit BudgetStatus shows, as read at `as_of`.
struct BudgetReport {
  std::string org_id;
  absl::Time as_of;
  std::vector<LimitStatus> limits;
};

// The limits on `scope` ("org/<id>", "department/<id>", "agent/<id>" or
// "wallet/<id>") and, with `below`, on every scope under it (an org's
// chain and asset scopes, departments, agents and wallets; a department's
// departments, agents and wallets; an agent's wallets), each scope's own
// limits in bundle order, from one Breakdown read at `now`.
// INVALID_ARGUMENT naming `scope` for a malformed one, NOT_FOUND for one
// the policy does not have.
absl::StatusOr<BudgetReport> BudgetStatus(const Policy& policy,
                                          BudgetStore& store,
                                          const std::string& scope, bool below,
                                          absl::Time now);

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_BUDGET_STATUS_H_
