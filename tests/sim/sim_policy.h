// The simulator's own description of an org's policy: what it asks the
// engine to apply (as YAML) and what its oracle judges decisions against.
// The scope tree is fixed (org sim; a division div over departments d0,
// with three agents, and d1, with two; d2, beside it, with one; one to
// three wallets per agent on four chains; three destinations), so that
// frozen scopes and records stay meaningful across bundles; everything with
// a number in it (limits of every scope: org, departments, agents, wallets,
// chains, assets, destinations and agents' destinations; windows, tiers,
// assets, hold TTL, time zone) is random and changes from bundle to
// bundle.

#ifndef WARDEN_TESTS_SIM_SIM_POLICY_H_
#define WARDEN_TESTS_SIM_SIM_POLICY_H_

#include <cstdint>
#include <functional>
#include <map>
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
  std::string parent = {};  // Empty: directly under the org.
};

struct SimAgent {
  std::string id;
  std::string department;
  std::vector<SimLimit> limits;
  std::optional<int64_t> per_tx_max;
  std::optional<SimApprovals> approvals;
  std::vector<std::string> wallets;
  // Applied to each destination separately.
  std::vector<SimLimit> destination_limits = {};
};

struct SimWallet {
  std::string id;
  std::string agent;
  std::string chain;
  std::vector<SimLimit> limits = {};
  // One address per wallet id: "0x" and the id's bytes in hex.
  std::string Address() const;
};

struct SimPolicy {
  std::string org_id = "sim";
  std::string timezone = "UTC";
  bool expired_count = true;  // org.expired_holds: count (else release).
  int64_t hold_ttl_s = 900;
  std::vector<SimLimit> org_limits;
  // Org-wide per chain and per asset (never an empty list: the bundle
  // refuses one), and per destination.
  std::map<std::string, std::vector<SimLimit>> chain_limits;
  std::map<std::string, std::vector<SimLimit>> asset_limits;
  std::vector<SimLimit> destination_limits;
  std::vector<SimDepartment> departments;
  std::vector<SimAgent> agents;
  std::vector<SimWallet> wallets;
  std::vector<SimAsset> assets;
  // The addresses spends name (lower-case hex: as the engine keys them).
  std::vector<std::string> destinations = {
      "0x1111111111111111111111111111111111111111",
      "0xabcdefabcdefabcdefabcdefabcdefabcdefabcd",
      "0x00000000000000000000000000000000000000ff"};

  const SimAgent* FindAgent(const std::string& id) const;
  const SimDepartment* FindDepartment(const std::string& id) const;
  const SimWallet* FindWallet(const std::string& id) const;
  const SimAsset* FindAsset(const std::string& symbol) const;
  // The scopes a spend charges, as the engine lists them (its record's
  // scope_path): the org, every department from the top down, the agent,
  // the wallet; the chain and the asset while the org has limits for them;
  // the destination when one is named, and the agent's part of it while
  // the agent has destination_limits. Each with its limits.
  struct PathScope {
    std::string scope;  // "department/div", "destination/0x11...", ...
    const std::vector<SimLimit>* limits;
  };
  std::vector<PathScope> PathOf(const SimAgent& agent, const SimWallet& wallet,
                                const std::string& asset,
                                const std::string& destination) const;
  // Whether a spend must name its destination (DESTINATION_REQUIRED).
  bool NeedsDestination(const SimAgent& agent) const {
    return !destination_limits.empty() || !agent.destination_limits.empty();
  }
  // Every list of limits, for the longest window.
  std::vector<const std::vector<SimLimit>*> AllLimits() const;
  // An asset whose price no bundle may carry, described ("WHOLE price_usd
  // \"0\""), or empty: a price of zero (it values every amount at $0), or
  // one whose micro-dollars per base unit, mantissa x 10^(6 - decimals -
  // scale), do not fit in 128 bits (no amount could be valued exactly).
  std::string UnusablePrice() const;

  // A limit's cap or cumulative approval threshold above `largest`,
  // described ("wallet/w0a l3 cap 9007199254740992"), or empty.
  std::string CapBeyond(int64_t largest) const;
  // Lowers every such cap and threshold to `largest`.
  void ClampCaps(int64_t largest);

  // The policy bundle, as `wardenctl apply -f` would send it.
  std::string ToYaml() const;
};

// The scope ids the tree always has, as "org/sim", "department/d0", ...
std::vector<std::string> AllScopes(const SimPolicy& p);

// A random policy on the fixed scope tree. With `allow_invalid`, an asset
// may be priced at zero (the engine must refuse such a bundle).
SimPolicy RandomPolicy(Chooser& c, bool allow_invalid);

// How much of a limit on a scope ("agent/a0", "destination/0x11...") is
// used now (from the oracle), for caps set at the boundary of what is
// already spent.
using UsedFn =
    std::function<int64_t(const std::string& scope, const SimLimit& limit)>;

// Changes one to three things of `p`: raises or lowers caps (to just below,
// at or above what is used), adds or drops limits, changes windows, prices,
// decimals, tiers, the hold TTL, expired_holds or the time zone. Returns a
// one-line description.
std::string MutatePolicy(Chooser& c, const UsedFn& used, SimPolicy* p);

}  // namespace warden::sim

#endif  // WARDEN_TESTS_SIM_SIM_POLICY_H_
