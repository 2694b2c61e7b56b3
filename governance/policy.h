#ifndef WARDEN_GOVERNANCE_POLICY_H_
#define WARDEN_GOVERNANCE_POLICY_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "governance/money.h"
#include "governance/window.h"

// The governance model: one org's scopes, agents, wallets, limits, rules and
// assets, as compiled from a validated policy bundle. Immutable once built;
// the engine shares it across threads through shared_ptr<const Policy>.
namespace warden {

struct Limit {
  enum class Kind { kUsd, kCount };
  std::string name;
  Kind kind = Kind::kUsd;
  UsdMicros usd = 0;  // kUsd only.
  int64_t count = 0;  // kCount only.
  Window window;
};

// What an expired hold does to the budget. kCount: it stays spent (an agent
// that crashed after signing must not free budget it used). kRelease: the
// amount is returned.
enum class ExpiredHolds { kCount, kRelease };

struct Asset {
  std::string symbol;
  int decimals = 0;
  std::optional<Price> price_usd;  // Unset: spends are denied.
};

struct Wallet {
  std::string id;
  std::string agent_id;
  std::string vendor;  // local, metamask, cdp or privy.
  std::string chain;
  std::string address;
};

// Agent rules. An unset list means "any"; a set list allows only its items.
struct AgentRules {
  std::optional<UsdMicros> per_tx_max_usd;
  std::optional<std::vector<std::string>> chains;
  std::optional<std::vector<std::string>> assets;
  std::optional<std::vector<std::string>> destinations_allow;
};

struct Agent {
  std::string id;
  std::string department;
  std::vector<Limit> limits;
  AgentRules rules;
  std::vector<std::string> wallet_ids;
};

struct Department {
  std::string id;
  std::vector<Limit> limits;
};

struct Org {
  std::string id;
  std::string timezone_name = "UTC";
  absl::TimeZone timezone = absl::UTCTimeZone();
  ExpiredHolds expired_holds = ExpiredHolds::kCount;
  absl::Duration hold_ttl = absl::Minutes(15);
  std::vector<Limit> limits;
  std::vector<std::string> destinations_deny;
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

// Destinations compare case-insensitively when they are 0x-hex (EVM
// addresses are case-insensitive; the checksum is only a typo guard) and
// exactly otherwise (base58 is case-sensitive).
std::string NormalizeDestination(const std::string& destination);

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_POLICY_H_
