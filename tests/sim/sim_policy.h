// The simulator's own description of an org's policy: what it asks the
// engine to apply (as YAML) and what its oracle judges decisions against.
// The scope tree is fixed (org sim; departments d0 with three agents, d1
// with two, d2 with one; one to three wallets per agent), so that frozen
// scopes and records stay meaningful across bundles; everything with a
// number in it (limits, windows, tiers, assets, hold TTL, time zone) is
// random and changes from bundle to bundle.

#ifndef WARDEN_TESTS_SIM_SIM_POLICY_H_
#define WARDEN_TESTS_SIM_SIM_POLICY_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "tests/sim/adversarial.h"

namespace warden::sim {

struct SimLimit {
  std::string name;
  bool usd = true;  // Else a count of transactions.
  int64_t cap = 0;  // Micro-dollars, or transactions.
  std::string window;
};

struct SimThresholds {
  std::optional<int64_t> notify, delay, approval;  // Micro-dollars.
};

struct SimApprovals {
  SimThresholds per_tx;
  std::string cumulative_window;  // Empty: no cumulative thresholds.
  SimThresholds cumulative;
  int64_t delay_s = 0;
  std::vector<std::string> approvers;
  int approvals_required = 1;
  int64_t approval_timeout_s = 3600;
};

struct SimDepartment {
  std::string id;
  std::vector<SimLimit> limits;
  std::optional<SimApprovals> approvals;
};

struct SimAgent {
  std::string id;
  std::string department;
  std::vector<SimLimit> limits;
  std::optional<int64_t> per_tx_max;
  std::optional<SimApprovals> approvals;
  std::vector<std::string> wallets;
};

struct SimWallet {
  std::string id;
  std::string agent;
  std::string chain;
  // One address per wallet id: "0x" and the id's bytes in hex.
  std::string Address() const;
};

struct SimPolicy {
  std::string org_id = "sim";
  std::string timezone = "UTC";
  bool expired_count = true;  // org.expired_holds: count (else release).
  int64_t hold_ttl_s = 900;
  std::vector<SimLimit> org_limits;
  std::vector<SimDepartment> departments;
  std::vector<SimAgent> agents;
  std::vector<SimWallet> wallets;
  std::vector<SimAsset> assets;

  const SimAgent* FindAgent(const std::string& id) const;
  const SimDepartment* FindDepartment(const std::string& id) const;
  const SimWallet* FindWallet(const std::string& id) const;
  const SimAsset* FindAsset(const std::string& symbol) const;
  // The limits of scope `index` (0 org, 1 department, 2 agent) on `agent`'s
  // path.
  const std::vector<SimLimit>& LimitsOf(int index, const SimAgent& agent) const;
  // An asset whose price no bundle may carry, described ("WHOLE price_usd
  // \"0\""), or empty: a price of zero (it values every amount at $0), or
  // one whose micro-dollars per base unit, mantissa x 10^(6 - decimals -
  // scale), do not fit in 128 bits (no amount could be valued exactly).
  std::string UnusablePrice() const;

  // The policy bundle, as `wardenctl apply -f` would send it.
  std::string ToYaml() const;
};

// The scope ids the tree always has, as "org/sim", "department/d0", ...
std::vector<std::string> AllScopes(const SimPolicy& p);

// A random policy on the fixed scope tree. With `allow_invalid`, an asset
// may be priced at zero (the engine must refuse such a bundle).
SimPolicy RandomPolicy(Chooser& c, bool allow_invalid);

// How much of a limit is used now (from the oracle), for caps set at the
// boundary of what is already spent.
using UsedFn = std::function<int64_t(
    int scope_index, const std::string& scope_id, const SimLimit& limit)>;

// Changes one to three things of `p`: raises or lowers caps (to just below,
// at or above what is used), adds or drops limits, changes windows, prices,
// decimals, tiers, the hold TTL, expired_holds or the time zone. Returns a
// one-line description.
std::string MutatePolicy(Chooser& c, const UsedFn& used, SimPolicy* p);

}  // namespace warden::sim

#endif  // WARDEN_TESTS_SIM_SIM_POLICY_H_
