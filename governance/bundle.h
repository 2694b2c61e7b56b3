#ifndef WARDEN_GOVERNANCE_BUNDLE_H_
#define WARDEN_GOVERNANCE_BUNDLE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "governance/policy.h"

namespace warden {

// The largest bundle accepted, in bytes.
inline constexpr size_t kMaxBundleBytes = 1 << 20;
// The deepest nesting a bundle may have (a real one needs about 6).
inline constexpr int kMaxBundleDepth = 16;
// The most YAML nodes (scalars, lists, mappings) a bundle may hold.
inline constexpr int64_t kMaxBundleNodes = 200000;
// The most entries of one list (agents, wallets, destinations, ...), of
// limits on one scope, and of approvers of one tier. They bound what one
// decision can carry: its violations, votes and audit record.
inline constexpr size_t kMaxBundleList = 10000;
inline constexpr size_t kMaxLimitsPerScope = 32;
inline constexpr size_t kMaxApprovers = 32;
// The most org.budget_alerts.thresholds.
inline constexpr size_t kMaxAlertThresholds = 10;

// Parses and validates a policy bundle (YAML; reference in
// docs/policy-bundle.md). Validation is strict: unknown keys, dangling
// references, duplicate ids, bad decimals, bad windows and unknown time zones
// are all errors. On failure returns INVALID_ARGUMENT whose message lists
// every problem as "<path>: <problem>" (e.g. `agents[2].limits[0].window:
// unknown unit "hr"`), separated by "; ". The result's version fields are
// left unset.
absl::StatusOr<Policy> ParseBundle(absl::string_view yaml);

// A cap a budget store compares with what a scope used: a limit's (USD in
// micro-dollars, or a count) or a cumulative approval threshold's, named by
// its path as diffs name it ("agents.a.limits.daily_max").
struct ComparedCap {
  std::string path;
  bool usd = true;
  int64_t cap = 0;
};
std::vector<ComparedCap> ComparedCaps(const Policy& p);

// What changes from `before` to `after`, one line per item:
// "+ path: value", "- path: value" or "~ path: old -> new", sorted by path.
// Empty when the two are equivalent.
std::vector<std::string> DiffPolicies(const Policy& before,
                                      const Policy& after);

// A diff as it is shown and audited: at most kMaxDiffLines lines of at most
// kMaxDiffLineBytes each ("..." where cut), then one line counting the rest.
// The whole bundle of every version stays in the config store.
inline constexpr size_t kMaxDiffLines = 100;
inline constexpr size_t kMaxDiffLineBytes = 512;
std::vector<std::string> BoundedDiff(std::vector<std::string> diff);

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_BUNDLE_H_
