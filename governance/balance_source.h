#ifndef WARDEN_GOVERNANCE_BALANCE_SOURCE_H_
#define WARDEN_GOVERNANCE_BALANCE_SOURCE_H_

#include <string>

#include "absl/numeric/int128.h"
#include "absl/status/statusor.h"

namespace warden {

// What a wallet holds on chain, for the DRAIN_ALL guard line. The engine
// links no network code; wardend gives it one that asks each chain's
// JSON-RPC node. Thread-safe.
class BalanceSource {
 public:
  virtual ~BalanceSource() = default;

  // `address`'s balance in base units of the chain's native coin (`token`
  // is kNativeAsset) or of the ERC-20 at `token`, as of the latest block;
  // a balance beyond 2^128-1 reads as 2^128-1. NOT_FOUND: no node for
  // `chain` (the guard line is skipped, saying so); any other error: the
  // node did not answer (the guard line counts the spend as a drain).
  virtual absl::StatusOr<absl::uint128> Balance(const std::string& chain,
                                                const std::string& address,
                                                const std::string& token) = 0;
};

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_BALANCE_SOURCE_H_
