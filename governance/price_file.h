#ifndef WARDEN_GOVERNANCE_PRICE_FILE_H_
#define WARDEN_GOVERNANCE_PRICE_FILE_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "governance/audit_chain.h"
#include "governance/money.h"

// The signed price file: prices an operator's job writes for wardend to
// read (`--price-file`), for assets whose bundle feed is `source: file`.
// A JSON object:
//
//   {"payload":
//   "{\"at\":\"2026-12-04T19:00:00Z\",\"prices\":{\"ETH\":\"3012.5\"}}",
//    "signature": "<128 hex digits>"}
//
// The signature is Ed25519 over kPriceFileDomain followed by the payload's
// bytes, so whoever can write the file but lacks the key cannot change a
// price, and no other message signed with the key reads as a price file.
// `at` is when the prices were taken: their age is judged from it.
namespace warden {

inline constexpr char kPriceFileDomain[] = "warden price file v1\n";
inline constexpr size_t kMaxPriceFileBytes = 1 << 20;
inline constexpr size_t kMaxPriceFileAssets = 1000;

struct PriceFile {
  absl::Time at;
  std::map<std::string, Price> prices;  // Asset symbol -> USD per token.
};

// The file's text, signed with `key`.
std::string SignPriceFile(const PriceFile& file, const Ed25519Signer& key);

// The prices in `text` if its signature verifies with `public_key_hex`
// (64 hex digits): PERMISSION_DENIED when it does not, INVALID_ARGUMENT
// naming the field when the file is malformed.
absl::StatusOr<PriceFile> VerifyPriceFile(absl::string_view text,
                                          absl::string_view public_key_hex);

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_PRICE_FILE_H_
