#ifndef WARDEN_GOVERNANCE_FREEZE_STORE_H_
#define WARDEN_GOVERNANCE_FREEZE_STORE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace warden {

// A scope that may not spend: "org/<id>", "department/<id>", "agent/<id>"
// or "wallet/<id>"; or an address no agent may pay ("destination/<address>",
// the org's denylist).
struct FrozenScope {
  std::string scope;
  absl::Time frozen_at;
  std::string actor;
  std::string reason;
  // A decommissioned agent (and its wallets) can never be unfrozen.
  bool decommissioned = false;
};

// A wallet Warden froze at its vendor, with what unfreezing must restore.
struct VendorFrozenWallet {
  std::string wallet_id;
  std::string vendor;
  std::string restore;  // VendorFreeze::restore.
  absl::Time frozen_at;
};

// The durable record of frozen scopes: the source of truth for the kill
// switch, from which the budget store's fast flags are set and rebuilt.
// Thread-safe.
class FreezeStore {
 public:
  FreezeStore() = default;
  FreezeStore(const FreezeStore&) = delete;
  FreezeStore& operator=(const FreezeStore&) = delete;
  virtual ~FreezeStore() = default;

  // Records the scope as frozen. Freezing a frozen scope keeps its first
  // record, except that a decommission marks it decommissioned.
  virtual absl::Status Freeze(const std::string& org_id,
                              const FrozenScope& frozen) = 0;
  // Lifts a freeze. NOT_FOUND if the scope is not frozen,
  // FAILED_PRECONDITION if it was decommissioned.
  virtual absl::Status Unfreeze(const std::string& org_id,
                                const std::string& scope) = 0;
  virtual absl::StatusOr<std::vector<FrozenScope>> List(
      const std::string& org_id) = 0;

  // Wallets frozen at their vendors: recorded when the vendor freeze
  // succeeded (replacing any earlier record), looked up, and cleared once
  // an unfreeze there succeeded. NotFound is an empty optional.
  virtual absl::Status SetVendorFrozen(const std::string& org_id,
                                       const VendorFrozenWallet& wallet) = 0;
  virtual absl::StatusOr<std::optional<VendorFrozenWallet>> VendorFrozen(
      const std::string& org_id, const std::string& wallet_id) = 0;
  virtual absl::Status ClearVendorFrozen(const std::string& org_id,
                                         const std::string& wallet_id) = 0;
};

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_FREEZE_STORE_H_
