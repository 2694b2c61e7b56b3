#include "governance/address.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "governance/keccak.h"

namespace warden {
namespace {

constexpr absl::string_view kBase58 =
    "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

absl::Status Bad(absl::string_view field, absl::string_view address,
                 absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(
      field, ": \"", absl::CHexEscape(address.substr(0, 100)), "\" ", problem));
}

// The number of bytes `text` decodes to in base58, or -1 if it is not
// base58.
int Base58Length(absl::string_view text) {
  std::vector<uint8_t> bytes;  // Big-endian, without leading zeros.
  int zeros = 0;
  for (char c : text) {
    const size_t digit = kBase58.find(c);
    if (digit == absl::string_view::npos) return -1;
    if (bytes.empty() && digit == 0) {
      ++zeros;
      continue;
    }
    int carry = static_cast<int>(digit);
    for (auto it = bytes.rbegin(); it != bytes.rend(); ++it) {
      carry += 58 * *it;
      *it = static_cast<uint8_t>(carry & 0xff);
      carry >>= 8;
    }
    while (carry > 0) {
      bytes.insert(bytes.begin(), static_cast<uint8_t>(carry & 0xff));
      carry >>= 8;
    }
  }
  return zeros + static_cast<int>(bytes.size());
}

}  // namespace

std::string Eip55(absl::string_view address) {
  const std::string lower = absl::AsciiStrToLower(address.substr(2));
  const std::array<uint8_t, 32> hash = Keccak256(lower);
  std::string out = "0x";
  for (size_t i = 0; i < lower.size(); ++i) {
    const int nibble = (hash[i / 2] >> (i % 2 == 0 ? 4 : 0)) & 0xf;
    out.push_back(nibble >= 8 ? absl::ascii_toupper(lower[i]) : lower[i]);
  }
  return out;
}

absl::Status ValidateAddress(absl::string_view field, absl::string_view chain,
                             absl::string_view address) {
  if (chain == "solana") {
    if (address.size() < 32 || address.size() > 44 ||
        Base58Length(address) != 32) {
      return Bad(field, address,
                 "is not a Solana address (base58 of 32 bytes)");
    }
    return absl::OkStatus();
  }
  const bool hex = address.size() == 42 && address.substr(0, 2) == "0x" &&
                   std::all_of(address.begin() + 2, address.end(), [](char c) {
                     return absl::ascii_isxdigit(static_cast<unsigned char>(c));
                   });
  if (!hex) {
    return Bad(field, address,
               absl::StrCat("is not an address on ", chain,
                            " (0x and 40 hex digits)"));
  }
  const absl::string_view digits = address.substr(2);
  const bool mixed =
      std::any_of(digits.begin(), digits.end(),
                  [](char c) { return absl::ascii_islower(c); }) &&
      std::any_of(digits.begin(), digits.end(),
                  [](char c) { return absl::ascii_isupper(c); });
  if (mixed && Eip55(address) != address) {
    return Bad(field, address,
               absl::StrCat("has a wrong EIP-55 checksum (expected ",
                            Eip55(address), "); check for a typo"));
  }
  return absl::OkStatus();
}

}  // namespace warden
