#include "governance/money.h"

#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace warden {
namespace {

using ::testing::HasSubstr;

// Base units parse exactly up to 2^128-1 and reject anything else.
TEST(MoneyTest, ParseBaseUnitsBounds) {
  EXPECT_EQ(*ParseBaseUnits("0"), 0);
  EXPECT_EQ(*ParseBaseUnits("999000000"), 999000000);
  EXPECT_EQ(*ParseBaseUnits("340282366920938463463374607431768211455"),
            absl::Uint128Max());
  absl::StatusOr<absl::uint128> over =
      ParseBaseUnits("340282366920938463463374607431768211456");
  EXPECT_EQ(over.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(over.status().message(), HasSubstr("exceeds 2^128-1"));
  for (const char* bad : {"", "-1", "+1", "1.0", " 1", "1e6", "0x10"}) {
    EXPECT_EQ(ParseBaseUnits(bad).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

// USD decimals become exact micros; bad forms are rejected.
TEST(MoneyTest, ParseUsd) {
  EXPECT_EQ(*ParseUsd("1000"), 1'000'000'000);
  EXPECT_EQ(*ParseUsd("0.5"), 500'000);
  EXPECT_EQ(*ParseUsd("19.999999"), 19'999'999);
  for (const char* bad : {"", "1.", ".5", "1,000", "-1", "1e3", "0.0000001",
                          "abc", "9223372036855"}) {
    EXPECT_EQ(ParseUsd(bad).status().code(), absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

// Prices keep every digit they were given.
TEST(MoneyTest, ParsePrice) {
  EXPECT_EQ(*ParsePrice("3456.78"), (Price{345678, 2}));
  EXPECT_EQ(*ParsePrice("0.000012345"), (Price{12345, 9}));
  EXPECT_EQ(FormatPrice(*ParsePrice("0.000012345")), "0.000012345");
  EXPECT_EQ(FormatPrice(*ParsePrice("42")), "42");
  EXPECT_EQ(ParsePrice("0.0000000000001").status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Conversions round up to the next micro-dollar, never down.
TEST(MoneyTest, ValueRoundsUp) {
  // 1 wei at $3000/ETH is 3e-15 USD: rounds up to one micro-dollar.
  EXPECT_EQ(*ValueInUsdMicros(1, 18, *ParsePrice("3000")), 1);
  // 0.5 ETH at $3000 is exact.
  EXPECT_EQ(*ValueInUsdMicros(absl::uint128(500'000'000'000'000'000ULL), 18,
                              *ParsePrice("3000")),
            1'500'000'000);
  // 999 USDC at $1.
  EXPECT_EQ(*ValueInUsdMicros(999'000'000, 6, *ParsePrice("1")), 999'000'000);
  // 1 base unit of a 2-decimal token at $0.333333333: 0.00333... -> 3334.
  EXPECT_EQ(*ValueInUsdMicros(1, 2, *ParsePrice("0.333333333")), 3334);
  // Zero decimals, price with no fraction: multiplies up.
  EXPECT_EQ(*ValueInUsdMicros(7, 0, *ParsePrice("2")), 14'000'000);
}

// A value beyond int64 micros is an error, even when the 256-bit
// intermediate would overflow 128 bits.
TEST(MoneyTest, ValueOverflowRejected) {
  absl::StatusOr<UsdMicros> huge =
      ValueInUsdMicros(absl::Uint128Max(), 0, *ParsePrice("1000000"));
  EXPECT_EQ(huge.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(huge.status().message(), HasSubstr("exceeds the largest"));
  EXPECT_EQ(ValueInUsdMicros(absl::uint128(10'000'000'000'000ULL), 0,
                             *ParsePrice("1"))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  // 2^128-1 wei at $1e-12 still prices exactly (256-bit path).
  EXPECT_TRUE(
      ValueInUsdMicros(absl::Uint128Max(), 18, *ParsePrice("0.000000000001"))
          .ok());
}

// The 256-bit multiply-divide matches exact arithmetic at the edges.
TEST(MoneyTest, FormatBaseUnits) {
  EXPECT_EQ(FormatBaseUnits(0), "0");
  EXPECT_EQ(FormatBaseUnits(1000000), "1000000");
  EXPECT_EQ(FormatBaseUnits(~absl::uint128(0)),
            "340282366920938463463374607431768211455");
}

TEST(MoneyTest, MulDivRoundUp) {
  EXPECT_EQ(*MulDivRoundUp(10, 10, 3), 34);
  EXPECT_EQ(*MulDivRoundUp(9, 10, 3), 30);
  const absl::uint128 max = absl::Uint128Max();
  EXPECT_EQ(*MulDivRoundUp(max, max, max), max);
  EXPECT_EQ(*MulDivRoundUp(max, 2, 4), (max >> 1) + 1);
  EXPECT_FALSE(MulDivRoundUp(max, 2, 1).ok());
  EXPECT_FALSE(MulDivRoundUp(1, 1, 0).ok());
}

// Formatting shows cents and only the sub-cent digits that are non-zero.
TEST(MoneyTest, Format) {
  EXPECT_EQ(FormatUsd(1'498'000'000), "$1,498.00");
  EXPECT_EQ(FormatUsd(999'000'000), "$999.00");
  EXPECT_EQ(FormatUsd(50'000'000'000), "$50,000.00");
  EXPECT_EQ(FormatUsd(1), "$0.000001");
  EXPECT_EQ(FormatUsd(-2'500'000), "-$2.50");
  EXPECT_EQ(FormatUsdDecimal(1'234'567'891), "1234.567891");
  EXPECT_EQ(FormatUsdDecimal(std::numeric_limits<UsdMicros>::min()),
            "-9223372036854.775808");
}

}  // namespace
}  // namespace warden

namespace warden {
namespace {

// A price of 0 values everything at $0, and one whose micro-dollars per
// base unit overflow 128 bits cannot value amounts: both are refused, never
// a wrapped value (a price near 2^122 with 0 decimals valued 1,000 tokens
// at $0 when the product wrapped).
TEST(MoneyTest, UnusablePricesAreRefused) {
  EXPECT_EQ(CheckPrice(*ParsePrice("0"), 6).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValueInUsdMicros(1, 6, *ParsePrice("0.000")).status().code(),
            absl::StatusCode::kInvalidArgument);
  const Price huge{absl::uint128(1) << 122, 0};
  EXPECT_THAT(CheckPrice(huge, 0).message(),
              ::testing::HasSubstr("too large to value amounts exactly"));
  EXPECT_EQ(ValueInUsdMicros(1000, 0, huge).status().code(),
            absl::StatusCode::kInvalidArgument);
  // The same price with 18 decimals scales down and is fine; its values of
  // large amounts exceed int64 and are refused as such.
  EXPECT_TRUE(CheckPrice(huge, 18).ok());
  EXPECT_THAT(ValueInUsdMicros(absl::Uint128Max(), 18, huge).status().message(),
              ::testing::HasSubstr("exceeds the largest USD amount"));
  // Every decimals/scale combination at the bounds works for a price of 1.
  for (int decimals : {0, 1, 6, 18, kMaxTokenDecimals}) {
    for (int scale : {0, 6, kMaxPriceScale}) {
      Price one{absl::uint128(1) * 1, scale};
      for (int i = 0; i < scale; ++i) one.mantissa *= 10;
      EXPECT_TRUE(CheckPrice(one, decimals).ok()) << decimals << " " << scale;
      // (2^128 - 1) * 10^6 / 10^decimals fits in int64 from 26 decimals on.
      EXPECT_EQ(ValueInUsdMicros(absl::Uint128Max(), decimals, one).ok(),
                decimals >= 26)
          << decimals;
    }
  }
}

// Sums clamp instead of wrapping; comparisons never overflow.
TEST(MoneyTest, CheckedArithmetic) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  EXPECT_EQ(SaturatingAdd(kMax, 1), kMax);
  EXPECT_EQ(SaturatingAdd(kMax - 5, 3), kMax - 2);
  EXPECT_EQ(SaturatingAdd(std::numeric_limits<int64_t>::min(), -1),
            std::numeric_limits<int64_t>::min());
  EXPECT_TRUE(Exceeds(1'000'000, kMax, 1000 * kMicrosPerUsd));
  EXPECT_TRUE(Exceeds(kMax, kMax, kMax));
  EXPECT_FALSE(Exceeds(0, kMax, kMax));
  EXPECT_FALSE(Exceeds(999, 1, 1000));
  EXPECT_TRUE(Exceeds(999, 2, 1000));
}

}  // namespace
}  // namespace warden
