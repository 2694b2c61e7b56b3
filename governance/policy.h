#ifndef WARDEN_GOVERNANCE_POLICY_H_
#define WARDEN_GOVERNANCE_POLICY_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/numeric/int128.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "governance/money.h"
#include "governance/schedule.h"
#include "governance/window.h"

// The governance model: one org's scopes, agents, wallets, limits, rules and
// assets, as compiled from a validated policy bundle. Immutable once built;
// the engine shares it across threads through shared_ptr<const Policy>.
namespace warden {

// What breaking an agent rule (or an agent's own limit) does: deny (the
// default), or escalate to the approval flow (the agent's approvers, else
// its department's), or allow and notify.
enum class OnViolation { kDeny, kApprove, kNotify };
// "deny", "approve", "notify".
const char* OnViolationName(OnViolation on);

struct Limit {
  enum class Kind { kUsd, kCount };
  std::string name;
  Kind kind = Kind::kUsd;
  UsdMicros usd = 0;  // kUsd only.
  int64_t count = 0;  // kCount only.
  Window window;
  // Agents' own limits only: passing it escalates (a guard line, e.g. a
  // burst of transactions goes to the approvers) instead of denying.
  OnViolation on_violation = OnViolation::kDeny;
};

// What an expired hold does to the budget. kCount: it stays spent (an agent
// that crashed after signing must not free budget it used). kRelease: the
// amount is returned.
enum class ExpiredHolds { kCount, kRelease };

// Written in an asset's `chains` for a chain whose native coin it is.
inline constexpr char kNativeAsset[] = "native";

// Where an asset's USD price comes from at each decision. kFixed: the
// bundle's price_usd. kChainlink: an aggregator's latestRoundData, read
// through the chain's node (wardend --chain-rpc). kFile: the signed price
// file wardend reads (--price-file), its signature checked with
// `public_key`. A live price older than `max_age`, or that cannot be read,
// denies (PRICE_STALE).
struct PriceFeed {
  enum class Kind { kFixed, kChainlink, kFile };
  Kind kind = Kind::kFixed;
  std::string chain;       // kChainlink.
  std::string aggregator;  // kChainlink: 0x-hex, lowercase.
  std::string public_key;  // kFile: the Ed25519 key, 64 hex digits.
  absl::Duration max_age = absl::ZeroDuration();  // Live kinds.

  // "chainlink base 0x…", "price file signed by <key>" or "fixed".
  std::string Describe() const;
  friend bool operator==(const PriceFeed&, const PriceFeed&) = default;
};

struct Asset {
  std::string symbol;
  int decimals = 0;
  // kFixed feeds only; unset: spends are denied.
  std::optional<Price> price_usd;
  PriceFeed feed;
  // Where Warden can move it (SubmitTransaction): chain -> kNativeAsset,
  // or the token's contract address on that chain.
  std::map<std::string, std::string> chains;
};

// A condition on one argument of a contract call, by the parameter's name
// in the method's signature: an address in `addresses`, or a uint equal to
// one of `values` and within [min, max]. Values are base units; `text`
// keeps each as the bundle wrote it ("1000 USDC") for reasons.
struct ArgCondition {
  std::string param;
  size_t index = 0;
  bool address = false;
  std::vector<std::string> addresses;  // Normalized; empty: any.
  std::vector<absl::uint128> values;   // Empty: any.
  std::optional<absl::uint128> min;
  std::optional<absl::uint128> max;
  std::string text;  // "amount <= 1000 USDC"
};

// One allowed method of a contract: by signature (its selector computed) or
// by selector alone (then with no conditions: the arguments are unknown).
struct MethodRule {
  std::string selector;             // 4 bytes.
  std::string signature;            // Canonical, or the selector as hex.
  std::vector<ArgCondition> where;  // All must hold.
};

struct ContractRule {
  std::string chain;
  std::string address;  // Normalized.
  std::vector<MethodRule> methods;
};

// A spender an agent may approve to move its tokens (ERC-20 approve,
// ERC-2612 permit, Permit2 approve), and for how much: at most `max_units`
// of `asset`, or `max_usd` at the asset's price, or without limit when
// `unlimited`.
struct SpenderRule {
  std::string spender;               // Normalized.
  std::optional<std::string> asset;  // Unset: any declared token.
  std::optional<absl::uint128> max_units;
  std::optional<UsdMicros> max_usd;
  bool unlimited = false;
};

// Agent rules. An unset list means "any"; a set list allows only its items.
// Calls (calldata) are allowed only by `contracts` and `approved_spenders`,
// whether set or not.
struct AgentRules {
  std::optional<UsdMicros> per_tx_max_usd;
  std::optional<std::vector<std::string>> chains;
  std::optional<std::vector<std::string>> assets;
  std::optional<std::vector<std::string>> destinations_allow;
  std::vector<std::string> destinations_deny;  // Normalized.
  std::optional<Schedule> schedule;            // Unset: any time.
  std::vector<ContractRule> contracts;
  std::vector<SpenderRule> approved_spenders;
  // A guard line: a payment to an address the agent has not paid within
  // this window is a new address, which escalates as on_violation says
  // (approve or notify).
  std::optional<Window> new_address;
  // A guard line: a spend of at least this share (percent, 1-100) of what
  // the wallet holds of the asset on chain is a drain (DRAIN_ALL).
  std::optional<int> drain_all_percent;
  // The hosts whose resources x402 payments may pay (x402::HostMatches
  // patterns, lowercased). x402 payments are refused unless a rules block
  // on the agent's path sets a list, and each set list must allow the host.
  std::optional<std::vector<std::string>> x402_domains;
  // Per rule ("per_tx_max_usd", "chains", "assets", "destinations_allow",
  // "schedule", "contracts", "approved_spenders", "new_address",
  // "drain_all", "x402_domains"): what breaking it does; absent: kDeny.
  std::map<std::string, OnViolation> on_violation;
};

struct Wallet {
  std::string id;
  std::string agent_id;
  std::string vendor;  // local, metamask, cdp or privy.
  std::string chain;
  std::string address;
  // The vendor's own id for the wallet where it is not the address (a Privy
  // wallet id); empty otherwise.
  std::string vendor_id;
  std::vector<Limit> limits;  // The wallet's own, below its agent's.
  // Per-tx cap, asset and destination lists for spends from this wallet
  // (the other AgentRules fields stay unset).
  AgentRules rules;
};

// How much human (or second-agent) attention a spend needs, from least to
// most: instant, notify (allowed, and a notification goes out), delay
// (allowed after `delay` unless cancelled), approval (reserved, and allowed
// once `approvals_required` distinct approvers approve it).
enum class Tier { kInstant, kNotify, kDelay, kApproval };

// A scope's thresholds. A spend is in the strictest tier whose threshold it
// passes, either by its own USD value (`per_tx`) or, with `window`, by the
// window's spend including it (`cumulative`). Unset thresholds never apply.
struct TierThresholds {
  std::optional<UsdMicros> notify_above_usd;
  std::optional<UsdMicros> delay_above_usd;
  std::optional<UsdMicros> approval_above_usd;

  // The threshold of `tier`, if set (kInstant has none).
  std::optional<UsdMicros> Of(Tier tier) const;
};

struct ApprovalTiers {
  TierThresholds per_tx;
  std::optional<Window> window;  // Set: `cumulative` applies over it.
  TierThresholds cumulative;
  absl::Duration delay;
  // Principals ("user/alice", "agent/agent_b") or "second_agent".
  std::vector<std::string> approvers;
  int approvals_required = 1;
  absl::Duration approval_timeout = absl::Hours(1);
};

struct Agent {
  std::string id;
  std::string department;
  std::vector<Limit> limits;
  AgentRules rules;
  std::optional<ApprovalTiers> approvals;
  std::vector<std::string> wallet_ids;
  // Applied to each destination separately: what this agent may send to
  // any one address.
  std::vector<Limit> destination_limits;
};

// The deepest a department may nest below the org (division, department,
// team, ...).
inline constexpr int kMaxDepartmentDepth = 8;

struct Department {
  std::string id;
  std::string parent;  // A department it belongs to; empty: the org.
  std::vector<Limit> limits;
  // Per-tx cap, chain, asset and destination lists for every agent below
  // it (the other AgentRules fields stay unset).
  AgentRules rules;
  std::optional<ApprovalTiers> approvals;
  std::optional<Schedule> schedule;  // Unset: any time.
};

// Four-eyes policy changes: a bundle that loosens the one in force
// (Loosenings) takes effect only once `approvals_required` of `approvers`
// ("user/<id>"), other than its author, approve it within `expires_after`
// (at most 7 days).
struct PolicyChangeRule {
  int approvals_required = 1;
  std::vector<std::string> approvers;
  absl::Duration expires_after = absl::Hours(72);

  friend bool operator==(const PolicyChangeRule&,
                         const PolicyChangeRule&) = default;
};

// org.anomalies: patterns each spend is checked for, from the counters the
// budget store keeps; each is off unless set, and escalates the spend to
// approval (`on: approve`) or allows it and notifies (`on: notify`).
struct Anomalies {
  // Splitting across wallets: this spend makes at least `spends` spends by
  // the agent within `within`, from two or more of its wallets, each under
  // its per-tx cap (the wallet's, else the agent's) and together over it.
  struct Split {
    int64_t spends = 3;
    absl::Duration within = absl::Hours(1);
    OnViolation on = OnViolation::kApprove;
    friend bool operator==(const Split&, const Split&) = default;
  };
  // The agent's spend in the last 24 hours, with this one, above `times`
  // its daily average over the 7 days before (agents with no spend in
  // those 7 days have no average, and are not checked).
  struct VolumeSpike {
    int64_t times = 3;
    OnViolation on = OnViolation::kNotify;
    friend bool operator==(const VolumeSpike&, const VolumeSpike&) = default;
  };
  // A payment to a destination the agent has not paid in the 30 days
  // before, that makes more than `count` such new destinations within
  // `within`.
  struct NewDestinations {
    int64_t count = 5;
    absl::Duration within = absl::Hours(24);
    OnViolation on = OnViolation::kNotify;
    friend bool operator==(const NewDestinations&,
                           const NewDestinations&) = default;
  };
  std::optional<Split> split;
  std::optional<VolumeSpike> volume_spike;
  std::optional<NewDestinations> new_destinations;

  bool Any() const { return split || volume_spike || new_destinations; }
  // The detectors (their bundle names) that escalate to approval.
  std::vector<const char*> Approving() const;
  friend bool operator==(const Anomalies&, const Anomalies&) = default;
};

// How far back a destination counts as paid for new_destinations.
inline constexpr absl::Duration kNewDestinationLookback = absl::Hours(24 * 30);

struct Org {
  std::string id;
  std::string timezone_name = "UTC";
  absl::TimeZone timezone = absl::UTCTimeZone();
  ExpiredHolds expired_holds = ExpiredHolds::kCount;
  absl::Duration hold_ttl = absl::Minutes(15);
  std::vector<Limit> limits;
  // Org-wide limits per chain and per asset (what all agents spend on
  // base, or in USDC), and per destination (what the org sends to any one
  // address).
  std::map<std::string, std::vector<Limit>> chain_limits;
  std::map<std::string, std::vector<Limit>> asset_limits;
  std::vector<Limit> destination_limits;
  std::vector<std::string> destinations_deny;
  // Per-tx cap, chain, asset and destination lists for every agent (the
  // other AgentRules fields stay unset).
  AgentRules rules;
  // The same for every spend on a chain (per-tx cap, assets, destinations)
  // and of an asset (per-tx cap, chains, destinations).
  std::map<std::string, AgentRules> chain_rules;
  std::map<std::string, AgentRules> asset_rules;
  std::optional<Schedule> schedule;  // Unset: any time.
  // `default: deny`: an agent spends only with a USD limit of its own and
  // explicit `chains` and `assets` lists; absent ones allow nothing.
  bool default_deny = false;
  std::optional<PolicyChangeRule> policy_changes;  // Unset: applies at once.
  Anomalies anomalies;
  // org.budget_alerts.thresholds: percentages of a limit (1 to 100,
  // ascending) whose crossing by a spend sends budget.threshold.
  std::vector<int> alert_thresholds;
};

struct Policy {
  Org org;
  std::map<std::string, Department> departments;
  std::map<std::string, Agent> agents;
  std::map<std::string, Wallet> wallets;
  std::map<std::string, Asset> assets;

  // Set by the config store when the bundle is applied.
  int64_t version = 0;
  std::string yaml;
  absl::Time applied_at;
  std::string applied_by;
};

// `department` and the departments it belongs to, the top one first. The
// bundle guarantees the chain exists, has no cycle and is at most
// kMaxDepartmentDepth long.
std::vector<const Department*> DepartmentChain(const Policy& policy,
                                               const std::string& department);

// The approval tiers whose approvers decide a rule violation escalated to
// approval: the agent's if they name approvers, else its department's
// (`department` may be null); null if neither does.
const ApprovalTiers* EscalationApprovers(const Agent& agent,
                                         const Department* department);

// Destinations compare case-insensitively when they are 0x-hex (EVM
// addresses are case-insensitive; the checksum is only a typo guard) and
// exactly otherwise (base58 is case-sensitive).
std::string NormalizeDestination(const std::string& destination);

// The freeze scope that retires a decommissioned wallet's address for
// good: "address/<chain>:<address>", the address normalized as a
// destination. No later wallet may use it.
std::string RetiredAddressScope(const std::string& chain,
                                const std::string& address);

// "instant", "notify", "delay", "approval".
const char* TierName(Tier tier);

// Ids of orgs, departments, agents, wallets, assets and limits: 1-64
// characters of A-Z, a-z, 0-9, _, - and .
bool IsValidId(absl::string_view id);

// The approver entry that admits any other agent of the requester's
// department.
inline constexpr char kSecondAgent[] = "second_agent";

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_POLICY_H_
