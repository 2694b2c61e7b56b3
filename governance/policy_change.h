#ifndef WARDEN_GOVERNANCE_POLICY_CHANGE_H_
#define WARDEN_GOVERNANCE_POLICY_CHANGE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "governance/policy.h"

namespace warden {

// A bundle that loosens the policy in force of an org with
// `org.policy_changes`, waiting for its approvers (four eyes).
struct PolicyChange {
  enum class State { kPending, kApplied, kRejected, kSuperseded, kExpired };
  std::string id;  // "pc_..."
  std::string org_id;
  std::string yaml;
  int64_t base_version = 0;       // The version in force when it was requested.
  std::vector<std::string> diff;  // Against base_version, bounded.
  std::vector<std::string> loosenings;  // Why it waits (Loosenings).
  std::string author;                   // The principal that applied it.
  absl::Time requested_at;
  absl::Time expires_at;
  // The rule of base_version: who approves, and how many.
  PolicyChangeRule rule;
  std::vector<std::string> approvals;  // Principals, in order.
  State state = State::kPending;
  // Who or what closed it: the rejecter, the version it became, or the
  // change or version that superseded it; and when, and why.
  std::string closed_by;
  absl::Time closed_at;
  std::string close_reason;
  int64_t revision = 0;  // Bumped by every save (compare-and-set).

  friend bool operator==(const PolicyChange&, const PolicyChange&) = default;
};

// "pending", "applied", "rejected", "superseded", "expired".
const char* PolicyChangeStateName(PolicyChange::State state);

// The change as JSON, and back (the Postgres store keeps it so).
std::string EncodePolicyChange(const PolicyChange& change);
absl::StatusOr<PolicyChange> DecodePolicyChange(absl::string_view json);

// The ways in which putting `after` in force in place of `before` could let
// more be spent, or spent with less oversight, one line each and naming
// the bundle path ("agents.a.limits.daily: raised from usd 100.00 to usd
// 200.00"): a limit or cap raised or removed; an allow list widened or
// dropped; a deny list narrowed; a rule, schedule or guard line removed or
// softened; an approval threshold raised or removed, a delay shortened, an
// approver added or a quorum reduced; an agent, wallet or asset added, or
// moved; a price lowered, its source changed or its max_age lengthened.
// Empty when the change only tightens or changes
// nothing that governs spending. It errs toward a loosening: a change it
// cannot rank (another window, another schedule) counts as one.
std::vector<std::string> Loosenings(const Policy& before, const Policy& after);

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_POLICY_CHANGE_H_
