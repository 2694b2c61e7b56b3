#ifndef WARDEN_GOVERNANCE_ANOMALIES_H_
#define WARDEN_GOVERNANCE_ANOMALIES_H_

#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "governance/authorization.h"
#include "governance/budget_store.h"
#include "governance/evaluation.h"
#include "governance/policy.h"

// The org's anomaly detectors (org.anomalies): deterministic, explained,
// and judged from the usage the budget store already counts for every
// scope, read in one call per spend; never a pass over the audit trail.
namespace warden::anomaly {

// The scope whose count is the agent's first payments to destinations
// (charged by each payment new_destinations finds new).
std::string NewDestinationsScope(const std::string& agent_id);

// One detector that fired: its code (SPLIT_ACROSS_WALLETS, VOLUME_SPIKE,
// NEW_DESTINATIONS), and the tier it asks for with the sentence why.
struct Finding {
  std::string code;
  eval::TierChoice tier;
};

struct Detection {
  std::vector<Finding> findings;
  // The spend pays a destination the agent has not paid in the look-back:
  // its path charges NewDestinationsScope too.
  bool new_destination = false;
};

using UsageReader = absl::FunctionRef<absl::StatusOr<std::vector<int64_t>>(
    const std::vector<UsageQuery>&)>;

// Judges `a` (agent `agent` spending from `wallet` at `now`, its USD value
// set) against the org's detectors, reading usage through `read` (one
// call). Nothing when the org has none.
absl::StatusOr<Detection> Detect(const Policy& policy, const Agent& agent,
                                 const Wallet& wallet, const Authorization& a,
                                 absl::Time now, UsageReader read);

// The longest any detector looks back, for retention.
absl::Duration LongestLookback(const Anomalies& anomalies);

}  // namespace warden::anomaly

#endif  // WARDEN_GOVERNANCE_ANOMALIES_H_
