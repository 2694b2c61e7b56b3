#ifndef WARDEN_GOVERNANCE_MONEY_H_
#define WARDEN_GOVERNANCE_MONEY_H_

#include <cstdint>
#include <string>

#include "absl/numeric/int128.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

// Money never touches floating point. Token amounts are base units in
// absl::uint128; USD values are int64 micro-dollars; prices are exact
// decimals. Every conversion to USD rounds up, so a valuation is never below
// the true value.
namespace warden {

// USD in millionths of a dollar. 1 USD = 1'000'000.
using UsdMicros = int64_t;
inline constexpr UsdMicros kMicrosPerUsd = 1'000'000;

// The largest number of decimals a token may declare, and of fractional
// digits a price may have; together they bound every intermediate value.
inline constexpr int kMaxTokenDecimals = 30;
inline constexpr int kMaxPriceScale = 12;

// Parses a decimal integer in [0, 2^128-1]: digits only, no sign, no spaces.
// Errors are INVALID_ARGUMENT with a message that does not name the field;
// callers prefix it.
absl::StatusOr<absl::uint128> ParseBaseUnits(absl::string_view text);
std::string FormatBaseUnits(absl::uint128 value);

// Parses a non-negative decimal amount of a token with `decimals` decimals
// ("1000.5" of a 6-decimal token is 1000500000 base units); no more
// fractional digits than `decimals`, at most 2^128-1 base units.
absl::StatusOr<absl::uint128> ParseTokenAmount(absl::string_view text,
                                               int decimals);
// Base units as a decimal of whole tokens, without trailing zeros:
// 1000500000 with 6 decimals is "1000.5".
std::string FormatTokenAmount(absl::uint128 units, int decimals);

// Parses a non-negative decimal of USD with at most 6 fractional digits,
// e.g. "1000", "0.5", "19.999999".
absl::StatusOr<UsdMicros> ParseUsd(absl::string_view text);

// An exact decimal price in USD per whole token: mantissa / 10^scale.
struct Price {
  absl::uint128 mantissa = 0;
  int scale = 0;

  friend bool operator==(const Price&, const Price&) = default;
};

// Parses a non-negative decimal price with at most kMaxPriceScale fractional
// digits, e.g. "1", "3456.78", "0.000012345".
absl::StatusOr<Price> ParsePrice(absl::string_view text);
std::string FormatPrice(const Price& price);

// Whether `price` can value any amount (up to 2^128-1 base units) of a token
// with `decimals` decimals without an intermediate overflow: it must be
// positive (a price of 0 would make every amount free), and its mantissa
// scaled to micro-dollars per base unit must fit in 128 bits.
// INVALID_ARGUMENT saying which; bundles are refused with it.
absl::Status CheckPrice(const Price& price, int decimals);

// The USD value of `amount` base units of a token with `decimals` decimals at
// `price`, rounded up to the next micro-dollar. INVALID_ARGUMENT when the
// value does not fit in UsdMicros, or the price fails CheckPrice: never a
// wrapped value.
absl::StatusOr<UsdMicros> ValueInUsdMicros(absl::uint128 amount, int decimals,
                                           const Price& price);

// Checked arithmetic on money and counts, which never wraps.
//
// a + b, clamped to the int64 range. For usage sums that are compared with a
// cap: a clamped sum is above every cap, so it refuses (the safe side).
int64_t SaturatingAdd(int64_t a, int64_t b);
// Whether used + requested > cap, computed without overflow for any
// non-negative operands.
bool Exceeds(int64_t used, int64_t requested, int64_t cap);

// "1498.00", "0.000001": at least two fractional digits, more only when
// needed. For the wire.
std::string FormatUsdDecimal(UsdMicros micros);
// "$1,498.00": for human sentences.
std::string FormatUsd(UsdMicros micros);

// ceil(a * b / d) with a 256-bit intermediate; nullopt-like error when the
// result exceeds 128 bits or d is zero. Exposed for tests.
absl::StatusOr<absl::uint128> MulDivRoundUp(absl::uint128 a, absl::uint128 b,
                                            absl::uint128 d);

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_MONEY_H_
