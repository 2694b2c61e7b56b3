#ifndef WARDEN_GOVERNANCE_POLICY_CHANGE_H_
#define WARDEN_GOVERNANCE_POLICY_CHANGE_H_

#include <string>
#include <vector>

#include "governance/policy.h"

namespace warden {

// The ways in which putting `after` in force in place of `before` could let
// more be spent, or spent with less oversight, one line each and naming
// the bundle path ("agents.a.limits.daily: raised from usd 100.00 to usd
// 200.00"): a limit or cap raised or removed; an allow list widened or
// dropped; a deny list narrowed; a rule, schedule or guard line removed or
// softened; an approval threshold raised or removed, a delay shortened, an
// approver added or a quorum reduced; an agent, wallet or asset added, or
// moved; a price lowered. Empty when the change only tightens or changes
// nothing that governs spending. It errs toward a loosening: a change it
// cannot rank (another window, another schedule) counts as one.
std::vector<std::string> Loosenings(const Policy& before, const Policy& after);

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_POLICY_CHANGE_H_
