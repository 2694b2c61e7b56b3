#ifndef WARDEN_GOVERNANCE_ADDRESS_H_
#define WARDEN_GOVERNANCE_ADDRESS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace warden {

// Whether `address` is an account address on `chain`: base58 of 32 bytes
// on solana; elsewhere (the EVM chains) 0x and 40 hex digits, which when
// in mixed case must carry a valid EIP-55 checksum. INVALID_ARGUMENT names
// `field` and the problem.
absl::Status ValidateAddress(absl::string_view field, absl::string_view chain,
                             absl::string_view address);

// The EIP-55 checksummed form of a 0x-hex EVM address (40 hex digits, any
// case).
std::string Eip55(absl::string_view address);

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_ADDRESS_H_
