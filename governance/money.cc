#include "governance/money.h"

#include <limits>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "governance/quote.h"

namespace warden {
namespace {

constexpr absl::uint128 kUint128Max = absl::Uint128Max();

absl::uint128 Pow10(int n) {
  absl::uint128 r = 1;
  for (int i = 0; i < n; ++i) r *= 10;
  return r;
}

bool AllDigits(absl::string_view s) {
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Accumulates decimal digits into a uint128; false on overflow.
bool AccumulateDigits(absl::string_view digits, absl::uint128* value) {
  for (char c : digits) {
    const absl::uint128 d = static_cast<unsigned>(c - '0');
    if (*value > (kUint128Max - d) / 10) return false;
    *value = *value * 10 + d;
  }
  return true;
}

// A parsed non-negative decimal "I[.F]": digits of I and F, validated.
struct DecimalParts {
  absl::string_view whole;
  absl::string_view fraction;
};

absl::StatusOr<DecimalParts> SplitDecimal(absl::string_view text,
                                          int max_fraction_digits) {
  if (text.empty()) return absl::InvalidArgumentError("empty decimal");
  std::pair<absl::string_view, absl::string_view> parts =
      absl::StrSplit(text, absl::MaxSplits('.', 1));
  const bool has_point = text.find('.') != absl::string_view::npos;
  if (parts.first.empty() || !AllDigits(parts.first) ||
      (has_point && (parts.second.empty() || !AllDigits(parts.second)))) {
    return absl::InvalidArgumentError(
        absl::StrCat(Quote(text), " is not a non-negative decimal number"));
  }
  if (static_cast<int>(parts.second.size()) > max_fraction_digits) {
    return absl::InvalidArgumentError(
        absl::StrCat(Quote(text), " has more than ", max_fraction_digits,
                     " fractional digits"));
  }
  return DecimalParts{parts.first, parts.second};
}

// 128 x 128 -> 256-bit product as (hi, lo).
void Mul256(absl::uint128 a, absl::uint128 b, absl::uint128* hi,
            absl::uint128* lo) {
  const uint64_t a0 = absl::Uint128Low64(a), a1 = absl::Uint128High64(a);
  const uint64_t b0 = absl::Uint128Low64(b), b1 = absl::Uint128High64(b);
  const absl::uint128 p00 = absl::uint128(a0) * b0;
  const absl::uint128 p01 = absl::uint128(a0) * b1;
  const absl::uint128 p10 = absl::uint128(a1) * b0;
  const absl::uint128 p11 = absl::uint128(a1) * b1;
  const absl::uint128 mid = absl::uint128(absl::Uint128High64(p00)) +
                            absl::Uint128Low64(p01) + absl::Uint128Low64(p10);
  *lo = (mid << 64) | absl::Uint128Low64(p00);
  *hi = p11 + absl::Uint128High64(p01) + absl::Uint128High64(p10) +
        absl::Uint128High64(mid);
}

}  // namespace

absl::StatusOr<absl::uint128> ParseBaseUnits(absl::string_view text) {
  if (text.empty()) return absl::InvalidArgumentError("must not be empty");
  if (!AllDigits(text)) {
    return absl::InvalidArgumentError(
        absl::StrCat(Quote(text), " is not a decimal integer of base units"));
  }
  absl::uint128 value = 0;
  if (!AccumulateDigits(text, &value)) {
    return absl::InvalidArgumentError(
        absl::StrCat(Quote(text), " exceeds 2^128-1 base units"));
  }
  return value;
}

std::string FormatBaseUnits(absl::uint128 value) {
  char digits[40];  // 2^128 - 1 has 39.
  char* p = digits + sizeof(digits);
  do {
    *--p = static_cast<char>('0' + static_cast<int>(value % 10));
    value /= 10;
  } while (value != 0);
  return std::string(p, digits + sizeof(digits) - p);
}

absl::StatusOr<absl::uint128> ParseTokenAmount(absl::string_view text,
                                               int decimals) {
  absl::StatusOr<DecimalParts> parts = SplitDecimal(text, decimals);
  if (!parts.ok()) return parts.status();
  absl::uint128 units = 0;
  const absl::uint128 scale =
      Pow10(decimals - static_cast<int>(parts->fraction.size()));
  if (!AccumulateDigits(parts->whole, &units) ||
      !AccumulateDigits(parts->fraction, &units) ||
      (units != 0 && scale > kUint128Max / units)) {
    return absl::InvalidArgumentError(
        absl::StrCat(Quote(text), " exceeds 2^128-1 base units"));
  }
  return units * scale;
}

std::string FormatTokenAmount(absl::uint128 units, int decimals) {
  std::string text = FormatPrice(Price{units, decimals});
  if (text.find('.') == std::string::npos) return text;
  while (text.back() == '0') text.pop_back();
  if (text.back() == '.') text.pop_back();
  return text;
}

absl::StatusOr<UsdMicros> ParseUsd(absl::string_view text) {
  absl::StatusOr<DecimalParts> parts = SplitDecimal(text, 6);
  if (!parts.ok()) return parts.status();
  absl::uint128 micros = 0;
  if (!AccumulateDigits(parts->whole, &micros) ||
      micros > std::numeric_limits<UsdMicros>::max() / kMicrosPerUsd) {
    return absl::InvalidArgumentError(
        absl::StrCat(Quote(text), " is too large"));
  }
  micros *= kMicrosPerUsd;
  absl::uint128 fraction = 0;
  AccumulateDigits(parts->fraction, &fraction);  // at most 6 digits
  micros += fraction * Pow10(6 - static_cast<int>(parts->fraction.size()));
  if (micros > std::numeric_limits<UsdMicros>::max()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Quote(text), " is too large"));
  }
  return static_cast<UsdMicros>(micros);
}

absl::StatusOr<Price> ParsePrice(absl::string_view text) {
  absl::StatusOr<DecimalParts> parts = SplitDecimal(text, kMaxPriceScale);
  if (!parts.ok()) return parts.status();
  Price price;
  if (!AccumulateDigits(parts->whole, &price.mantissa) ||
      !AccumulateDigits(parts->fraction, &price.mantissa)) {
    return absl::InvalidArgumentError(
        absl::StrCat(Quote(text), " is too large"));
  }
  price.scale = static_cast<int>(parts->fraction.size());
  return price;
}

std::string FormatPrice(const Price& price) {
  std::string digits = FormatBaseUnits(price.mantissa);
  if (price.scale <= 0) return digits;
  const size_t scale = static_cast<size_t>(price.scale);
  if (digits.size() <= scale) digits.insert(0, scale + 1 - digits.size(), '0');
  const absl::string_view all = digits;
  const size_t point = all.size() - scale;
  return absl::StrCat(all.substr(0, point), ".", all.substr(point));
}

absl::StatusOr<absl::uint128> MulDivRoundUp(absl::uint128 a, absl::uint128 b,
                                            absl::uint128 d) {
  if (d == 0) return absl::InvalidArgumentError("division by zero");
  absl::uint128 hi, lo;
  Mul256(a, b, &hi, &lo);
  if (hi >= d) return absl::InvalidArgumentError("value out of range");
  absl::uint128 rem = hi, quot = 0;
  if (hi == 0) {
    // The product fits in 128 bits: the usual case.
    quot = lo / d;
    rem = lo % d;
  }
  // Else restoring long division of (hi:lo) by d, one bit of lo at a time.
  // The remainder stays below d; `carry` catches the bit shifted out of it.
  for (int i = hi == 0 ? -1 : 127; i >= 0; --i) {
    const bool carry = (rem >> 127) != 0;
    rem = (rem << 1) | ((lo >> i) & 1);
    quot <<= 1;
    if (carry || rem >= d) {
      rem -= d;
      quot |= 1;
    }
  }
  if (rem != 0) {
    if (quot == kUint128Max) return absl::InvalidArgumentError("out of range");
    ++quot;
  }
  return quot;
}

namespace {

// micros = ceil(amount * mantissa * 10^6 / 10^(decimals + scale)), computed
// as ceil(amount * factor / divisor) with a 256-bit intermediate, where
// factor = mantissa * 10^max(0, 6 - decimals - scale) (at most 128 bits, as
// CheckPrice requires) and divisor = 10^max(0, decimals + scale - 6) (at most
// 10^36 < 2^128).
struct Scaling {
  absl::uint128 factor;
  absl::uint128 divisor;
};

absl::StatusOr<Scaling> ScalingOf(const Price& price, int decimals) {
  if (decimals < 0 || decimals > kMaxTokenDecimals || price.scale < 0 ||
      price.scale > kMaxPriceScale) {
    return absl::InvalidArgumentError(absl::StrCat(
        "decimals ", decimals, " or price scale ", price.scale,
        " out of range (0-", kMaxTokenDecimals, ", 0-", kMaxPriceScale, ")"));
  }
  if (price.mantissa == 0) {
    return absl::InvalidArgumentError(
        "a price of 0 would value every amount at $0; it must be positive");
  }
  const int exponent = decimals + price.scale - 6;
  if (exponent >= 0) return Scaling{price.mantissa, Pow10(exponent)};
  const absl::uint128 multiplier = Pow10(-exponent);  // At most 10^6.
  if (price.mantissa > kUint128Max / multiplier) {
    return absl::InvalidArgumentError(
        absl::StrCat("price ", FormatPrice(price), " with ", decimals,
                     " decimals is too large to value amounts exactly"));
  }
  return Scaling{price.mantissa * multiplier, 1};
}

}  // namespace

absl::Status CheckPrice(const Price& price, int decimals) {
  return ScalingOf(price, decimals).status();
}

absl::StatusOr<UsdMicros> ValueInUsdMicros(absl::uint128 amount, int decimals,
                                           const Price& price) {
  absl::StatusOr<Scaling> scaling = ScalingOf(price, decimals);
  if (!scaling.ok()) return scaling.status();
  absl::StatusOr<absl::uint128> micros =
      MulDivRoundUp(amount, scaling->factor, scaling->divisor);
  if (!micros.ok() || *micros > std::numeric_limits<UsdMicros>::max()) {
    return absl::InvalidArgumentError(
        absl::StrCat("value of ", FormatBaseUnits(amount),
                     " base units exceeds the largest USD amount, ",
                     FormatUsd(std::numeric_limits<UsdMicros>::max())));
  }
  return static_cast<UsdMicros>(*micros);
}

int64_t SaturatingAdd(int64_t a, int64_t b) {
  int64_t sum;
  if (!__builtin_add_overflow(a, b, &sum)) return sum;
  return b > 0 ? std::numeric_limits<int64_t>::max()
               : std::numeric_limits<int64_t>::min();
}

bool Exceeds(int64_t used, int64_t requested, int64_t cap) {
  int64_t total;
  return __builtin_add_overflow(used, requested, &total) || total > cap;
}

std::string FormatUsdDecimal(UsdMicros micros) {
  std::string sign = micros < 0 ? "-" : "";
  const absl::uint128 abs =
      micros < 0 ? absl::uint128(-(micros + 1)) + 1 : absl::uint128(micros);
  std::string fraction = FormatBaseUnits(abs % kMicrosPerUsd);
  fraction = std::string(6 - fraction.size(), '0') + fraction;
  while (fraction.size() > 2 && fraction.back() == '0') fraction.pop_back();
  return absl::StrCat(sign, FormatBaseUnits(abs / kMicrosPerUsd), ".",
                      fraction);
}

std::string FormatUsd(UsdMicros micros) {
  const std::string plain = FormatUsdDecimal(micros);
  const bool negative = plain[0] == '-';
  const size_t begin = negative ? 1 : 0;
  const size_t point = plain.find('.');
  std::string out = negative ? "-$" : "$";
  for (size_t i = begin; i < point; ++i) {
    if (i > begin && (point - i) % 3 == 0) out += ',';
    out += plain[i];
  }
  out.append(plain, point, std::string::npos);
  return out;
}

}  // namespace warden
