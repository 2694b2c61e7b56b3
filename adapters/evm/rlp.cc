#include "adapters/evm/rlp.h"

#include <array>

namespace warden::rlp {
namespace {

// Big-endian bytes of `n` without leading zeros.
std::string MinimalBytes(absl::uint128 n) {
  std::string out;
  while (n != 0) {
    out.insert(out.begin(), static_cast<char>(absl::Uint128Low64(n) & 0xff));
    n >>= 8;
  }
  return out;
}

// The prefix for a payload of `length` bytes: `short_base` + length up to
// 55 bytes, else `long_base` + the length of the length, then the length.
std::string Prefix(size_t length, uint8_t short_base, uint8_t long_base) {
  if (length <= 55)
    return std::string(1, static_cast<char>(short_base + length));
  const std::string len = MinimalBytes(length);
  return static_cast<char>(long_base + len.size()) + len;
}

}  // namespace

std::string String(absl::string_view bytes) {
  if (bytes.size() == 1 && static_cast<uint8_t>(bytes[0]) < 0x80) {
    return std::string(bytes);
  }
  return Prefix(bytes.size(), 0x80, 0xb7) + std::string(bytes);
}

std::string Uint(absl::uint128 value) { return String(MinimalBytes(value)); }

std::string Uint256(const std::array<uint8_t, 32>& big_endian) {
  size_t first = 0;
  while (first < big_endian.size() && big_endian[first] == 0) ++first;
  return String(absl::string_view(
      reinterpret_cast<const char*>(big_endian.data()) + first,
      big_endian.size() - first));
}

std::string List(const std::vector<std::string>& encoded_items) {
  std::string payload;
  for (const std::string& item : encoded_items) payload += item;
  return Prefix(payload.size(), 0xc0, 0xf7) + payload;
}

}  // namespace warden::rlp
