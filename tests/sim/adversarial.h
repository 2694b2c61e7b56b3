// Adversarial values for money: amounts at every boundary, prices and
// decimals at their bounds, and the exact valuation they should have. Used
// by the deterministic simulator (tests/sim/) and by the libFuzzer targets
// (tests/fuzz/), which map their input bytes to the same choices.
//
// The valuation here is the test's own (tests/sim/wide.h), not
// governance/money.cc: a disagreement between the two is a finding.

#ifndef WARDEN_TESTS_SIM_ADVERSARIAL_H_
#define WARDEN_TESTS_SIM_ADVERSARIAL_H_

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "absl/numeric/int128.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "tests/sim/wide.h"

namespace warden::sim {

inline constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
// RedisBudgetStore::kMaxExactMicros, repeated so that this header needs no
// Redis: the largest amount Lua doubles compare exactly.
inline constexpr int64_t kMaxExactMicros = (int64_t{1} << 53) - 1;

// Where generators take their choices from: a seeded PRNG in the simulator,
// the fuzzer's input bytes in the libFuzzer targets.
class Chooser {
 public:
  virtual ~Chooser() = default;
  // A number in [0, n); n > 0.
  virtual uint64_t Below(uint64_t n) = 0;

  bool OneIn(uint64_t n) { return Below(n) == 0; }
  // A number in [lo, hi].
  int64_t Between(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(Below(static_cast<uint64_t>(hi - lo) + 1));
  }
  template <typename T>
  const T& Pick(const std::vector<T>& items) {
    return items[Below(items.size())];
  }
};

// SplitMix64 (Steele et al.): tiny, fast, and the same sequence everywhere,
// unlike std::uniform_int_distribution, whose output the standard leaves to
// the library. A seed replays exactly on any build.
class SeededChooser final : public Chooser {
 public:
  explicit SeededChooser(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // The modulo bias (below 2^-40 for the n used here) does not matter.
  uint64_t Below(uint64_t n) override { return Next() % n; }

 private:
  uint64_t state_;
};

// Reads choices from a fuzzer's input: one byte for small ranges, eight for
// large ones. Zeros once the input runs out, so every input is a valid run.
class ByteChooser final : public Chooser {
 public:
  ByteChooser(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint64_t Below(uint64_t n) override {
    const int bytes = n <= 256 ? 1 : 8;
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) {
      v = (v << 8) | (pos_ < size_ ? data_[pos_++] : 0);
    }
    return v % n;
  }
  size_t consumed() const { return pos_; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// A price in USD per whole token: mantissa / 10^scale.
struct SimPrice {
  absl::uint128 mantissa = 0;
  int scale = 0;

  // The decimal text a bundle carries, e.g. "3000.123456789012".
  std::string Text() const {
    std::string digits = Wide(mantissa).ToString();
    if (scale == 0) return digits;
    if (static_cast<int>(digits.size()) <= scale) {
      digits =
          std::string(static_cast<size_t>(scale) + 1 - digits.size(), '0') +
          digits;
    }
    const size_t point = digits.size() - static_cast<size_t>(scale);
    return absl::StrCat(digits.substr(0, point), ".", digits.substr(point));
  }
  bool IsZero() const { return mantissa == 0; }
};

struct SimAsset {
  std::string symbol;
  int decimals = 0;
  std::optional<SimPrice> price;  // Unset: spends are denied.

  // Whether a bundle may not carry the price: zero, or a mantissa that,
  // scaled up to micro-dollars for few decimals, passes 128 bits.
  bool PriceUnusable() const {
    if (!price) return false;
    if (price->IsZero()) return true;
    const int up = 6 - decimals - price->scale;
    return up > 0 &&
           Wide(price->mantissa) * Wide::Pow10(up) > Wide(absl::Uint128Max());
  }
};

// The exact USD value of `amount` base units in micro-dollars, rounded up:
// ceil(amount * mantissa * 10^6 / 10^(decimals + scale)).
inline Wide ExactUsdMicros(absl::uint128 amount, int decimals,
                           const SimPrice& price) {
  Wide value = Wide(amount) * Wide(price.mantissa);
  value.MulSmall(1'000'000);
  bool inexact = false;
  for (int i = 0; i < decimals + price.scale; ++i) {
    inexact = value.DivSmall(10) != 0 || inexact;
  }
  if (inexact) value.AddSmall(1);
  return value;
}

// The value when it fits in int64 micro-dollars; nullopt when the engine
// must refuse the amount (INVALID_ARGUMENT), or the price.
inline std::optional<int64_t> ExactUsdMicrosInt64(absl::uint128 amount,
                                                  const SimAsset& asset) {
  if (!asset.price || asset.PriceUnusable()) return std::nullopt;
  const Wide v = ExactUsdMicros(amount, asset.decimals, *asset.price);
  if (!v.FitsInt64()) return std::nullopt;
  return v.ToInt64();
}

// The largest amount whose value is at most `micros` (0 when even one base
// unit is worth more). Binary search over the whole uint128 range: 128
// valuations, so no division of wide numbers is needed.
inline absl::uint128 LargestAmountValuedAtMost(const SimAsset& asset,
                                               int64_t micros) {
  if (!asset.price || micros < 0) return 0;
  const Wide cap{absl::uint128(micros)};
  absl::uint128 lo = 0, hi = absl::Uint128Max();
  if (ExactUsdMicros(hi, asset.decimals, *asset.price) <= cap) return hi;
  // Invariant: value(lo) <= cap < value(hi).
  for (int i = 0; i < 130 && hi - lo > 1; ++i) {
    const absl::uint128 mid = lo + (hi - lo) / 2;
    if (ExactUsdMicros(mid, asset.decimals, *asset.price) <= cap) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return lo;
}

// Base units as the decimal text of the wire.
inline std::string AmountText(absl::uint128 v) { return Wide(v).ToString(); }

// Parses base units the way the API defines them (digits only, at most
// 2^128-1); the test's own parser, for predicting INVALID_ARGUMENT.
inline std::optional<absl::uint128> ParseAmountText(absl::string_view text) {
  if (text.empty()) return std::nullopt;
  absl::uint128 v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const unsigned d = static_cast<unsigned>(c - '0');
    if (v > (absl::Uint128Max() - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

// Micro-dollars as a bundle's USD decimal, e.g. "1000.000001".
inline std::string UsdText(int64_t micros) {
  std::string frac = absl::StrCat(micros % 1'000'000);
  frac.insert(0, 6 - frac.size(), '0');
  return absl::StrCat(micros / 1'000'000, ".", frac);
}

// Token decimals, the bounds (0 and 30) and their neighbours included.
inline int AdversarialDecimals(Chooser& c) {
  static const std::vector<int> kDecimals = {0, 0,  1,  2,  6,  6,  8,
                                             9, 18, 18, 24, 29, 30, 30};
  return c.Pick(kDecimals);
}

// A price: tiny, huge, with 12 fractional digits, near the 2^128 mantissa
// bound, and (when `allow_zero`) zero, which a bundle must refuse. About a
// quarter are huge enough that most amounts of the token overflow.
inline SimPrice AdversarialPrice(Chooser& c, bool allow_zero) {
  const absl::uint128 two122 = absl::uint128(1) << 122;
  switch (c.Below(allow_zero ? 20 : 18)) {
    case 0:
      return {1, 0};
    case 1:
      return {3000123456789012, 12};  // 3000.123456789012
    case 2:
      return {1, 12};  // 0.000000000001
    case 3:
    case 4:
    case 5:
      return {absl::uint128(c.Between(1, 1'000'000)),
              static_cast<int>(c.Between(0, 12))};
    case 6:
      return {two122, 0};  // mantissa * 10^6 is exactly 2^128 * 15625.
    case 7:
      return {two122 + absl::uint128(c.Between(1, 1000)),
              static_cast<int>(c.Between(0, 3))};
    // Half the time without fractional digits, which (with few token
    // decimals) makes the valuation scale the mantissa up, not down.
    case 8:
      return {absl::uint128(1) << 127,
              c.OneIn(2) ? 0 : static_cast<int>(c.Between(0, 12))};
    case 9:
      return {absl::Uint128Max(),
              c.OneIn(2) ? 0 : static_cast<int>(c.Between(0, 12))};
    case 10: {
      absl::uint128 p = 1;
      for (int64_t i = c.Between(0, 30); i > 0; --i) p *= 10;
      return {p, 0};
    }
    case 11:
      // 99999999.999999999999: twenty nines.
      return {absl::uint128(99999999999999999ull) * 1000 + 999, 12};
    case 12:
      return {5, 1};  // 0.5
    case 13:
      return {absl::uint128(c.Between(1, kInt64Max)),
              static_cast<int>(c.Between(0, 12))};
    case 14:
    case 15:
    case 16:
    case 17:
      return {absl::uint128(c.Between(1, 100'000)) * 1'000'000,
              6};  // Whole dollars written with 6 decimals.
    case 18:
      return {0, 0};
    default:
      return {0, 12};  // "0.000000000000"
  }
}

// A limit's cap or a tier threshold in micro-dollars: one micro, round
// figures, and the bounds of int64 and of Redis's exact range.
inline int64_t AdversarialUsdMicros(Chooser& c, bool allow_above_exact) {
  switch (c.Below(allow_above_exact ? 14 : 12)) {
    case 0:
      return 1;
    case 1:
      return 2;
    case 2:
      return 999'999;
    case 3:
      return 1'000'000;
    case 4:
    case 5:
      return c.Between(1, 10'000) * 1'000'000;
    case 6:
    case 7:
      return c.Between(1, 10'000'000'000);
    case 8:
      return 1'000'000'000;  // $1,000
    case 9:
      return kMaxExactMicros;
    case 10:
      return kMaxExactMicros - 1;
    case 11:
      return c.Between(1, kMaxExactMicros);
    case 12:
      return kMaxExactMicros + 1;
    default:
      return kInt64Max;
  }
}

// An Authorize amount for `asset`, as the text a caller would send: most
// often at a boundary (one micro-dollar below, at and above
// `boundary_micros`, the remaining budget of a limit on the path, or -1 for
// none), else at the bounds of uint64, int64, uint128 and of a USD value that
// fits in int64, or malformed.
inline std::string AdversarialAmount(Chooser& c, const SimAsset& asset,
                                     int64_t boundary_micros) {
  const bool priced = asset.price.has_value();
  const bool boundary = priced && boundary_micros >= 0;
  const uint64_t kind = c.Below(28);
  if (kind == 0) return "1";
  if (kind <= 2) return AmountText(absl::uint128(c.Between(1, 1'000'000)));
  if (kind == 3) {
    absl::uint128 whole = 1;
    for (int i = 0; i < asset.decimals; ++i) whole *= 10;
    return AmountText(whole * static_cast<uint64_t>(c.Between(1, 1000)));
  }
  if (kind <= 13) {
    if (!boundary) return AmountText(absl::uint128(c.Between(1, 1'000'000)));
    // One micro-dollar below, at, or just above the remaining budget.
    const int64_t delta = c.Between(-1, 1);
    const int64_t target = delta > 0 && boundary_micros == kInt64Max
                               ? kInt64Max
                               : boundary_micros + delta;
    absl::uint128 a = LargestAmountValuedAtMost(asset, target);
    if (delta > 0 && a != absl::Uint128Max()) ++a;
    return AmountText(a == 0 ? 1 : a);
  }
  if (kind <= 16) {
    if (!boundary) return "1000";
    // A fraction of the remaining budget, so that several fit.
    const int64_t part = boundary_micros / c.Between(2, 10);
    const absl::uint128 a = LargestAmountValuedAtMost(asset, part);
    return AmountText(a == 0 ? 1 : a);
  }
  switch (kind) {
    case 17:
    case 18: {
      if (!priced) return AmountText(absl::uint128(kInt64Max));
      // The largest amount whose value still fits in int64, and the next.
      absl::uint128 a = LargestAmountValuedAtMost(asset, kInt64Max);
      if (kind == 18 && a != absl::Uint128Max()) ++a;
      return AmountText(a == 0 ? 1 : a);
    }
    case 19: {
      static const std::vector<absl::uint128> kBounds = {
          absl::uint128(std::numeric_limits<int64_t>::max()),
          absl::uint128(1) << 63, absl::MakeUint128(1, 0),
          absl::uint128(1) << 127, absl::Uint128Max()};
      return AmountText(c.Pick(kBounds));
    }
    case 20:
      return c.OneIn(2) ? "340282366920938463463374607431768211456"  // 2^128
                        : "1000000000000000000000000000000000000000";
    case 21:
      return "0";
    case 22: {
      static const std::vector<std::string> kMalformed = {
          "", "-1", "1.5", " 1", "1e3", "0x10", "+1", "1_000"};
      return c.Pick(kMalformed);
    }
    case 23:
      return absl::StrCat("000", c.Between(1, 1000));  // Leading zeros.
    case 24: {
      std::string digits(static_cast<size_t>(c.Between(1, 39)), '0');
      for (char& d : digits) d = static_cast<char>('0' + c.Below(10));
      if (digits[0] == '0') digits[0] = '1';
      return digits;
    }
    default:
      return AmountText(absl::uint128(c.Between(1, 100)));
  }
}

}  // namespace warden::sim

#endif  // WARDEN_TESTS_SIM_ADVERSARIAL_H_
