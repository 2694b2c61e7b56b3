#ifndef WARDEN_GOVERNANCE_VENDOR_FREEZER_H_
#define WARDEN_GOVERNANCE_VENDOR_FREEZER_H_

#include <string>

#include "absl/status/status.h"
#include "governance/policy.h"

namespace warden {

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

  // Freezes (or lifts the freeze of) `wallet` at its vendor. Idempotent.
  // UNIMPLEMENTED when the vendor offers no such control; other errors when
  // the vendor could not be reached or refused.
  virtual absl::Status SetFrozen(const Wallet& wallet, bool frozen,
                                 const std::string& reason) = 0;
};

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_VENDOR_FREEZER_H_
