// libFuzzer target: the decimal and amount parsers. What parses must
// format back to a string that parses to the same value, and valuations
// never fail in ways other than a clear error.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "governance/money.h"
#include "governance/window.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
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
