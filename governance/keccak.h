#ifndef WARDEN_GOVERNANCE_KECCAK_H_
#define WARDEN_GOVERNANCE_KECCAK_H_

#include <array>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace warden {

// Keccak-256 as Ethereum uses it (the original Keccak padding 0x01, not
// SHA3-256's 0x06). OpenSSL 3.0 exposes no Keccak-256, so this is a small
// implementation of Keccak-f[1600], checked against published vectors.
std::array<uint8_t, 32> Keccak256(absl::string_view data);

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_KECCAK_H_
