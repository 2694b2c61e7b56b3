// libFuzzer target: the decimal and amount parsers. What parses must
// format back to a string that parses to the same value, and valuations
// never fail in ways other than a clear error. The same bytes, read as the
// choices of the simulator's adversarial generators, pick a token (decimals
// and price at their bounds) and an amount at one of its boundaries, whose
// valuation must match the test's own exact one.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>

#include "governance/money.h"
#include "governance/window.h"
#include "tests/sim/adversarial.h"

namespace {

// ValueInUsdMicros is the exact value rounded up when that fits in int64
// micro-dollars, and an error when it does not; a parsed price formats
// back to itself.
void CheckAdversarialValuation(const uint8_t* data, size_t size) {
  warden::sim::ByteChooser c(data, size);
  const warden::sim::SimAsset asset{
      "T", warden::sim::AdversarialDecimals(c),
      warden::sim::AdversarialPrice(c, /*allow_zero=*/true)};
  const warden::sim::SimPrice& p = *asset.price;
  absl::StatusOr<warden::Price> parsed = warden::ParsePrice(p.Text());
  if (!parsed.ok() || parsed->mantissa != p.mantissa ||
      parsed->scale != p.scale) {
    std::abort();
  }
  const int64_t boundary = c.Between(0, warden::sim::kInt64Max);
  const std::optional<absl::uint128> amount = warden::sim::ParseAmountText(
      warden::sim::AdversarialAmount(c, asset, boundary));
  if (!amount) return;
  const std::optional<int64_t> exact =
      warden::sim::ExactUsdMicrosInt64(*amount, asset);
  const absl::StatusOr<warden::UsdMicros> got =
      warden::ValueInUsdMicros(*amount, asset.decimals, *parsed);
  if (exact.has_value() != got.ok() || (exact && *exact != *got)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  CheckAdversarialValuation(data, size);
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (absl::StatusOr<absl::uint128> units = warden::ParseBaseUnits(text);
      units.ok()) {
    absl::StatusOr<absl::uint128> again =
        warden::ParseBaseUnits(warden::FormatBaseUnits(*units));
    if (!again.ok() || *again != *units) std::abort();
    for (int decimals : {0, 6, 18, 30}) {
      (void)warden::ValueInUsdMicros(*units, decimals,
                                     *warden::ParsePrice("3000.123456"));
    }
  }
  if (absl::StatusOr<warden::UsdMicros> usd = warden::ParseUsd(text);
      usd.ok()) {
    absl::StatusOr<warden::UsdMicros> again =
        warden::ParseUsd(warden::FormatUsdDecimal(*usd));
    if (!again.ok() || *again != *usd) std::abort();
  }
  if (absl::StatusOr<warden::Price> price = warden::ParsePrice(text);
      price.ok()) {
    absl::StatusOr<warden::Price> again =
        warden::ParsePrice(warden::FormatPrice(*price));
    if (!again.ok()) std::abort();
    (void)warden::ValueInUsdMicros(absl::uint128(123456789), 6, *price);
  }
  (void)warden::ParseWindow(text);
  return 0;
}
