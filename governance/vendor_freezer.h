#ifndef WARDEN_GOVERNANCE_VENDOR_FREEZER_H_
#define WARDEN_GOVERNANCE_VENDOR_FREEZER_H_

#include <string>

#include "absl/status/statusor.h"
#include "governance/policy.h"

namespace warden {

// What freezing a wallet at its vendor achieved.
struct VendorFreeze {
  enum class Strength {
    // The vendor now refuses the wallet's spends (a deny-all policy).
    kRefuses,
    // The vendor has no control that refuses: it now holds every spend for
    // the wallet owner's approval (MetaMask's 2FA), which the owner can give.
    kOwnerApproval,
  };
  Strength strength = Strength::kRefuses;
  // What unfreezing must put back, when the vendor cannot keep it itself
  // (MetaMask's earlier policy and trading mode): opaque to Warden, which
  // keeps it durably (FreezeStore) so that an unfreeze after any restart
  // restores the exact earlier state. Empty when there is nothing to keep.
  std::string restore;
};

// The most bytes a vendor's restore state may take; a vendor whose state is
// larger fails the freeze rather than lose it.
inline constexpr size_t kMaxVendorRestoreBytes = 32 << 10;

// Vendor-side revocation: the kill switch also freezes each affected wallet
// at its vendor (a deny-all policy at Coinbase CDP or Privy, for example),
// so that even an agent that bypasses Warden cannot spend. The wallet
// adapters implement it; the engine calls it after the freeze is enforced
// in Warden itself, so a vendor failure never weakens Warden's own freeze.
class VendorFreezer {
 public:
  VendorFreezer() = default;
  VendorFreezer(const VendorFreezer&) = delete;
  VendorFreezer& operator=(const VendorFreezer&) = delete;
  virtual ~VendorFreezer() = default;

  // Freezes `wallet` at its vendor. UNIMPLEMENTED when the vendor offers no
  // such control; other errors when it could not be reached or refused.
  virtual absl::StatusOr<VendorFreeze> Freeze(const Wallet& wallet,
                                              const std::string& reason) = 0;
  // Lifts a freeze, putting back `restore` (what Freeze returned; empty
  // when Warden holds nothing for the wallet). Idempotent.
  virtual absl::Status Unfreeze(const Wallet& wallet,
                                const std::string& restore,
                                const std::string& reason) = 0;
};

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_VENDOR_FREEZER_H_
