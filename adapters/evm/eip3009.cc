#include "adapters/evm/eip3009.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "governance/keccak.h"
#include "governance/money.h"
#include "nlohmann/json.hpp"

namespace warden::evm {
namespace {

absl::string_view View(const Hash& h) {
  return {reinterpret_cast<const char*>(h.data()), h.size()};
}

// ABI words: 32 bytes, big-endian, left-padded.
std::string Word(absl::uint128 v) {
  std::string out(32, '\0');
  for (int i = 31; i >= 16; --i) {
    out[i] = static_cast<char>(absl::Uint128Low64(v) & 0xff);
    v >>= 8;
  }
  return out;
}
std::string Word(const Address& a) {
  std::string out(12, '\0');
  out.append(reinterpret_cast<const char*>(a.data()), a.size());
  return out;
}
std::string Word(const Hash& h) { return std::string(View(h)); }

Hash TypeHash(absl::string_view type) { return Keccak256(type); }

// 0x and 64 hex digits.
absl::StatusOr<Hash> ParseHash(absl::string_view field,
                               absl::string_view text) {
  absl::string_view digits = text;
  if (!absl::ConsumePrefix(&digits, "0x") || digits.size() != 64 ||
      !IsHexDigits(digits)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": expected 0x and 64 hex digits"));
  }
  const std::string bytes = absl::HexStringToBytes(digits);
  Hash h{};
  std::copy(bytes.begin(), bytes.end(), h.begin());
  return h;
}

}  // namespace

Hash Eip712DomainSeparator(absl::string_view name, absl::string_view version,
                           uint64_t chain_id,
                           const Address& verifying_contract) {
  static const Hash kType = TypeHash(
      "EIP712Domain(string name,string version,uint256 chainId,"
      "address verifyingContract)");
  return Keccak256(absl::StrCat(Word(kType), Word(Keccak256(name)),
                                Word(Keccak256(version)), Word(chain_id),
                                Word(verifying_contract)));
}

Hash TransferAuthorizationDigest(const Hash& domain_separator,
                                 const TransferAuthorization& auth) {
  static const Hash kType = TypeHash(
      "TransferWithAuthorization(address from,address to,uint256 value,"
      "uint256 validAfter,uint256 validBefore,bytes32 nonce)");
  const Hash struct_hash = Keccak256(absl::StrCat(
      Word(kType), Word(auth.from), Word(auth.to), Word(auth.value),
      Word(auth.valid_after), Word(auth.valid_before), Word(auth.nonce)));
  return Keccak256(
      absl::StrCat("\x19\x01", View(domain_separator), View(struct_hash)));
}

std::string SignatureHex(const Signature& sig) {
  return absl::StrCat("0x", absl::BytesToHexString(View(sig.r)),
                      absl::BytesToHexString(View(sig.s)),
                      absl::BytesToHexString(std::string(
                          1, static_cast<char>(27 + sig.y_parity))));
}

std::string EncodeX402Ref(const SignedTransferAuthorization& s) {
  const TransferAuthorization& a = s.authorization;
  const nlohmann::json j = {{"token", Hex(s.token)},
                            {"from", Hex(a.from)},
                            {"to", Hex(a.to)},
                            {"value", FormatBaseUnits(a.value)},
                            {"valid_after", a.valid_after},
                            {"valid_before", a.valid_before},
                            {"nonce", Hex(a.nonce)},
                            {"signature", s.signature},
                            {"from_block", s.from_block}};
  return absl::StrCat(kX402RefPrefix, j.dump());
}

bool IsX402Ref(absl::string_view ref) {
  return absl::StartsWith(ref, kX402RefPrefix);
}

absl::StatusOr<SignedTransferAuthorization> DecodeX402Ref(
    absl::string_view ref) {
  auto bad = [](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("vendor_ref: not an x402 payment record: ", why));
  };
  if (!absl::ConsumePrefix(&ref, kX402RefPrefix)) return bad("no prefix");
  const nlohmann::json j = nlohmann::json::parse(ref, nullptr, false);
  if (!j.is_object()) return bad("not a JSON object");
  auto str = [&](const char* key) -> absl::StatusOr<std::string> {
    auto it = j.find(key);
    if (it == j.end() || !it->is_string()) {
      return bad(absl::StrCat(key, " is not a string"));
    }
    return it->get<std::string>();
  };
  auto number = [&](const char* key) -> absl::StatusOr<uint64_t> {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number_unsigned()) {
      return bad(absl::StrCat(key, " is not a number"));
    }
    return it->get<uint64_t>();
  };
  SignedTransferAuthorization out;
  TransferAuthorization& a = out.authorization;
  for (auto [key, address] :
       {std::pair{"token", &out.token}, std::pair{"from", &a.from},
        std::pair{"to", &a.to}}) {
    absl::StatusOr<std::string> text = str(key);
    if (!text.ok()) return text.status();
    absl::StatusOr<Address> parsed = ParseAddress(*text);
    if (!parsed.ok()) return bad(parsed.status().message());
    *address = *parsed;
  }
  absl::StatusOr<std::string> value = str("value");
  if (!value.ok()) return value.status();
  absl::StatusOr<absl::uint128> units = ParseBaseUnits(*value);
  if (!units.ok()) return bad(units.status().message());
  a.value = *units;
  absl::StatusOr<uint64_t> after = number("valid_after");
  if (!after.ok()) return after.status();
  absl::StatusOr<uint64_t> before = number("valid_before");
  if (!before.ok()) return before.status();
  a.valid_after = *after;
  a.valid_before = *before;
  absl::StatusOr<uint64_t> from_block = number("from_block");
  if (!from_block.ok()) return from_block.status();
  out.from_block = *from_block;
  absl::StatusOr<std::string> nonce = str("nonce");
  if (!nonce.ok()) return nonce.status();
  absl::StatusOr<Hash> n = ParseHash("nonce", *nonce);
  if (!n.ok()) return bad(n.status().message());
  a.nonce = *n;
  absl::StatusOr<std::string> signature = str("signature");
  if (!signature.ok()) return signature.status();
  out.signature = *std::move(signature);
  return out;
}

std::string AuthorizationStateCalldata(const Address& authorizer,
                                       const Hash& nonce) {
  const Hash selector = Keccak256("authorizationState(address,bytes32)");
  return absl::StrCat(
      absl::string_view(reinterpret_cast<const char*>(selector.data()), 4),
      Word(authorizer), Word(nonce));
}

Hash AuthorizationUsedTopic() {
  return Keccak256("AuthorizationUsed(address,bytes32)");
}

}  // namespace warden::evm
