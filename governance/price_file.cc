#include "governance/price_file.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "governance/clock.h"
#include "governance/policy.h"
#include "nlohmann/json.hpp"

namespace warden {
namespace {

using Json = nlohmann::json;

absl::Status Malformed(absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat("price file: ", field, ": ", problem));
}

}  // namespace

std::string SignPriceFile(const PriceFile& file, const Ed25519Signer& key) {
  Json prices = Json::object();
  for (const auto& [symbol, price] : file.prices) {
    prices[symbol] = FormatPrice(price);
  }
  const std::string payload =
      Json{{"at", Rfc3339(file.at)}, {"prices", std::move(prices)}}.dump();
  return Json{{"payload", payload},
              {"signature",
               key.SignHex(absl::StrCat(kPriceFileDomain, payload))}}
             .dump() +
         "\n";
}

absl::StatusOr<PriceFile> VerifyPriceFile(absl::string_view text,
                                          absl::string_view public_key_hex) {
  if (text.size() > kMaxPriceFileBytes) {
    return Malformed(
        "size", absl::StrCat(text.size(), " bytes, over ", kMaxPriceFileBytes));
  }
  const Json outer = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!outer.is_object()) return Malformed("file", "not a JSON object");
  const auto payload = outer.find("payload");
  const auto signature = outer.find("signature");
  if (payload == outer.end() || !payload->is_string()) {
    return Malformed("payload", "missing or not a string");
  }
  if (signature == outer.end() || !signature->is_string()) {
    return Malformed("signature", "missing or not a string");
  }
  const std::string& signed_text = payload->get_ref<const std::string&>();
  if (!VerifyEd25519(public_key_hex,
                     absl::StrCat(kPriceFileDomain, signed_text),
                     signature->get_ref<const std::string&>())) {
    return absl::PermissionDeniedError(absl::StrCat(
        "price file: the signature does not verify with key ",
        public_key_hex.substr(0, 16), "…: not signed by the bundle's key"));
  }
  // Signed, so written by the key's holder; still checked, as any input.
  const Json body =
      Json::parse(signed_text, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object()) return Malformed("payload", "not a JSON object");
  PriceFile file;
  const auto at = body.find("at");
  std::string err;
  if (at == body.end() || !at->is_string() ||
      !absl::ParseTime(absl::RFC3339_full, at->get<std::string>(), &file.at,
                       &err)) {
    return Malformed("payload.at", "missing or not an RFC 3339 time");
  }
  const auto prices = body.find("prices");
  if (prices == body.end() || !prices->is_object()) {
    return Malformed("payload.prices", "missing or not an object");
  }
  if (prices->size() > kMaxPriceFileAssets) {
    return Malformed(
        "payload.prices",
        absl::StrCat(prices->size(), " assets, over ", kMaxPriceFileAssets));
  }
  for (const auto& [symbol, value] : prices->items()) {
    const std::string field = absl::StrCat("payload.prices.", symbol);
    if (!IsValidId(symbol)) return Malformed(field, "not an asset symbol");
    if (!value.is_string()) {
      return Malformed(field, "must be a decimal string such as \"3012.5\"");
    }
    absl::StatusOr<Price> price = ParsePrice(value.get<std::string>());
    if (!price.ok()) return Malformed(field, price.status().message());
    if (price->mantissa == 0) return Malformed(field, "a price of 0");
    file.prices.emplace(symbol, *price);
  }
  return file;
}

}  // namespace warden
