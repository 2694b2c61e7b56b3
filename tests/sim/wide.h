// Unsigned integers of up to 384 bits, for the simulator's own money
// arithmetic. Deliberately independent of governance/money.cc (a different
// representation and algorithm), so that a wrap there shows up here as a
// disagreement rather than being reproduced.

#ifndef WARDEN_TESTS_SIM_WIDE_H_
#define WARDEN_TESTS_SIM_WIDE_H_

#include <array>
#include <compare>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>

#include "absl/numeric/int128.h"

namespace warden::sim {

class Wide {
 public:
  // 384 bits: an amount (128) times a mantissa (128) times 10^6 (20), or
  // INT64_MAX (63) times 10^42 (140), with room to spare.
  static constexpr int kLimbs = 12;

  Wide() = default;
  explicit Wide(absl::uint128 v) {
    for (int i = 0; i < 4; ++i) {
      limbs_[i] = static_cast<uint32_t>(v & 0xffffffffu);
      v >>= 32;
    }
  }

  static Wide Pow10(int n) {
    Wide w(1);
    for (int i = 0; i < n; ++i) w.MulSmall(10);
    return w;
  }

  // this *= m. Aborts on overflow: every caller stays far below 2^384.
  void MulSmall(uint32_t m) {
    uint64_t carry = 0;
    for (uint32_t& limb : limbs_) {
      const uint64_t p = uint64_t{limb} * m + carry;
      limb = static_cast<uint32_t>(p);
      carry = p >> 32;
    }
    if (carry != 0) std::abort();
  }

  friend Wide operator*(const Wide& a, const Wide& b) {
    std::array<uint64_t, 2 * kLimbs> acc{};
    for (int i = 0; i < kLimbs; ++i) {
      uint64_t carry = 0;
      for (int j = 0; j < kLimbs; ++j) {
        const uint64_t p =
            uint64_t{a.limbs_[i]} * b.limbs_[j] + acc[i + j] + carry;
        acc[i + j] = p & 0xffffffffu;
        carry = p >> 32;
      }
      acc[i + kLimbs] += carry;
    }
    Wide out;
    for (int i = 0; i < 2 * kLimbs; ++i) {
      if (i < kLimbs) {
        out.limbs_[i] = static_cast<uint32_t>(acc[i]);
      } else if (acc[i] != 0) {
        std::abort();  // Overflow: a caller's bound is wrong.
      }
    }
    return out;
  }

  void AddSmall(uint32_t v) {
    uint64_t carry = v;
    for (uint32_t& limb : limbs_) {
      if (carry == 0) return;
      const uint64_t s = uint64_t{limb} + carry;
      limb = static_cast<uint32_t>(s);
      carry = s >> 32;
    }
    if (carry != 0) std::abort();
  }

  // this /= d, returning the remainder. d > 0.
  uint32_t DivSmall(uint32_t d) {
    uint64_t rem = 0;
    for (int i = kLimbs - 1; i >= 0; --i) {
      const uint64_t cur = (rem << 32) | limbs_[i];
      limbs_[i] = static_cast<uint32_t>(cur / d);
      rem = cur % d;
    }
    return static_cast<uint32_t>(rem);
  }

  bool IsZero() const {
    for (uint32_t limb : limbs_) {
      if (limb != 0) return false;
    }
    return true;
  }

  friend std::strong_ordering operator<=>(const Wide& a, const Wide& b) {
    for (int i = kLimbs - 1; i >= 0; --i) {
      if (a.limbs_[i] != b.limbs_[i]) return a.limbs_[i] <=> b.limbs_[i];
    }
    return std::strong_ordering::equal;
  }
  friend bool operator==(const Wide& a, const Wide& b) {
    return (a <=> b) == std::strong_ordering::equal;
  }

  // The value, when it fits in an int64.
  bool FitsInt64() const { return *this <= Wide(absl::uint128(kInt64Max)); }
  int64_t ToInt64() const {
    if (!FitsInt64()) std::abort();
    return static_cast<int64_t>(uint64_t{limbs_[0]} |
                                (uint64_t{limbs_[1]} << 32));
  }

  std::string ToString() const {
    Wide w = *this;
    std::string digits;
    do {
      digits.insert(digits.begin(), static_cast<char>('0' + w.DivSmall(10)));
    } while (!w.IsZero());
    return digits;
  }

 private:
  static constexpr uint64_t kInt64Max = std::numeric_limits<int64_t>::max();
  std::array<uint32_t, kLimbs> limbs_{};  // Little-endian.
};

}  // namespace warden::sim

#endif  // WARDEN_TESTS_SIM_WIDE_H_
