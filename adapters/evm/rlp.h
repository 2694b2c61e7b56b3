#ifndef WARDEN_ADAPTERS_EVM_RLP_H_
#define WARDEN_ADAPTERS_EVM_RLP_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/numeric/int128.h"
#include "absl/strings/string_view.h"

// Recursive Length Prefix encoding, as the Ethereum yellow paper (appendix
// B) defines it. Items are byte strings; integers are byte strings in
// big-endian with no leading zeros (zero is the empty string).
namespace warden::rlp {

// The encoding of a byte string.
std::string String(absl::string_view bytes);
// The encoding of an unsigned integer (as its minimal big-endian bytes).
std::string Uint(absl::uint128 value);
// A 256-bit unsigned integer given as 32 big-endian bytes.
std::string Uint256(const std::array<uint8_t, 32>& big_endian);
// The encoding of a list whose items are already encoded.
std::string List(const std::vector<std::string>& encoded_items);

}  // namespace warden::rlp

#endif  // WARDEN_ADAPTERS_EVM_RLP_H_
