#include "adapters/evm/evm.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include <algorithm>
#include <cstdlib>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "adapters/evm/rlp.h"
#include "governance/keccak.h"

namespace warden::evm {
namespace {

// One context for the process; libsecp256k1 contexts are thread-safe for
// signing and verifying once created.
const secp256k1_context* Context() {
  static const secp256k1_context* ctx = secp256k1_context_create(
      SECP256K1_CONTEXT_SIGN | SECP256K1_CONTEXT_VERIFY);
  return ctx;
}

absl::string_view View(const uint8_t* p, size_t n) {
  return {reinterpret_cast<const char*>(p), n};
}

std::vector<std::string> UnsignedFields(const Eip1559Tx& tx) {
  return {rlp::Uint(tx.chain_id),
          rlp::Uint(tx.nonce),
          rlp::Uint(tx.max_priority_fee_per_gas),
          rlp::Uint(tx.max_fee_per_gas),
          rlp::Uint(tx.gas_limit),
          rlp::String(View(tx.to.data(), tx.to.size())),
          rlp::Uint(tx.value),
          rlp::String(tx.data),
          rlp::List({})};
}

Address AddressOf(const secp256k1_pubkey& pub) {
  uint8_t out[65];
  size_t len = sizeof(out);
  secp256k1_ec_pubkey_serialize(Context(), out, &len, &pub,
                                SECP256K1_EC_UNCOMPRESSED);
  const Hash h = Keccak256(View(out + 1, 64));
  Address a;
  std::copy(h.begin() + 12, h.end(), a.begin());
  return a;
}

}  // namespace

absl::StatusOr<Address> ParseAddress(absl::string_view text) {
  if (text.size() != 42 || text.substr(0, 2) != "0x" ||
      !IsHexDigits(text.substr(2))) {
    return absl::InvalidArgumentError(
        absl::StrCat("address: \"", absl::CHexEscape(text.substr(0, 64)),
                     "\" is not 0x and 40 hex digits"));
  }
  const std::string bytes = absl::HexStringToBytes(text.substr(2));
  Address a;
  std::copy(bytes.begin(), bytes.end(), a.begin());
  return a;
}

std::string Hex(absl::string_view bytes) {
  return absl::StrCat("0x", absl::BytesToHexString(bytes));
}
std::string Hex(const Address& a) { return Hex(View(a.data(), a.size())); }
std::string Hex(const Hash& h) { return Hex(View(h.data(), h.size())); }

Hash SigningHash(const Eip1559Tx& tx) {
  return Keccak256(absl::StrCat("\x02", rlp::List(UnsignedFields(tx))));
}

std::string SignedEnvelope(const Eip1559Tx& tx, const Signature& sig) {
  std::vector<std::string> fields = UnsignedFields(tx);
  fields.push_back(rlp::Uint(static_cast<uint64_t>(sig.y_parity)));
  fields.push_back(rlp::Uint256(sig.r));
  fields.push_back(rlp::Uint256(sig.s));
  return absl::StrCat("\x02", rlp::List(fields));
}

bool IsHexDigits(absl::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isxdigit(static_cast<unsigned char>(c));
  });
}

std::string TransferCalldata(const Address& to, absl::uint128 amount) {
  std::string out = absl::HexStringToBytes(kTransferSelector);
  out.append(12, '\0');
  out.append(reinterpret_cast<const char*>(to.data()), to.size());
  out.append(16, '\0');
  for (int shift = 120; shift >= 0; shift -= 8) {
    out.push_back(
        static_cast<char>(absl::Uint128Low64(amount >> shift) & 0xff));
  }
  return out;
}

absl::StatusOr<Call> ResolveTransfer(absl::string_view destination,
                                     absl::string_view token_contract,
                                     absl::uint128 amount, std::string data) {
  absl::StatusOr<Address> to = ParseAddress(destination);
  if (!to.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("destination: ", to.status().message()));
  }
  if (token_contract.empty()) return Call{*to, amount, std::move(data)};
  if (!data.empty()) {
    return absl::InvalidArgumentError(
        "data: calldata goes with a native transfer only; a token "
        "transfer's calldata is transfer(destination, amount)");
  }
  absl::StatusOr<Address> token = ParseAddress(token_contract);
  if (!token.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("token_contract: ", token.status().message()));
  }
  return Call{*token, 0, TransferCalldata(*to, amount)};
}

absl::StatusOr<PrivateKey> PrivateKey::FromBytes(absl::string_view bytes) {
  PrivateKey k;
  if (bytes.size() != k.key_.size()) {
    return absl::InvalidArgumentError("private key: must be 32 bytes");
  }
  std::copy(bytes.begin(), bytes.end(), k.key_.begin());
  if (secp256k1_ec_seckey_verify(Context(), k.key_.data()) != 1) {
    return absl::InvalidArgumentError(
        "private key: not a valid secp256k1 secret key");
  }
  return k;
}

PrivateKey PrivateKey::Generate() {
  while (true) {
    PrivateKey k;
    if (RAND_bytes(k.key_.data(), static_cast<int>(k.key_.size())) != 1) {
      std::abort();  // No entropy: never make a key from anything weaker.
    }
    if (secp256k1_ec_seckey_verify(Context(), k.key_.data()) == 1) return k;
  }
}

PrivateKey::PrivateKey(PrivateKey&& other) noexcept : key_(other.key_) {
  OPENSSL_cleanse(other.key_.data(), other.key_.size());
}

PrivateKey& PrivateKey::operator=(PrivateKey&& other) noexcept {
  if (this != &other) {
    key_ = other.key_;
    OPENSSL_cleanse(other.key_.data(), other.key_.size());
  }
  return *this;
}

PrivateKey::~PrivateKey() { OPENSSL_cleanse(key_.data(), key_.size()); }

Address PrivateKey::address() const {
  secp256k1_pubkey pub;
  // Cannot fail: the key was verified when it was made.
  if (secp256k1_ec_pubkey_create(Context(), &pub, key_.data()) != 1) {
    std::abort();
  }
  return AddressOf(pub);
}

Signature PrivateKey::Sign(const Hash& hash) const {
  secp256k1_ecdsa_recoverable_signature raw;
  secp256k1_ecdsa_sign_recoverable(Context(), &raw, hash.data(), key_.data(),
                                   nullptr, nullptr);
  uint8_t compact[64];
  Signature sig;
  secp256k1_ecdsa_recoverable_signature_serialize_compact(Context(), compact,
                                                          &sig.y_parity, &raw);
  std::copy(compact, compact + 32, sig.r.begin());
  std::copy(compact + 32, compact + 64, sig.s.begin());
  return sig;
}

absl::StatusOr<Address> RecoverSigner(const Hash& hash, const Signature& sig) {
  uint8_t compact[64];
  std::copy(sig.r.begin(), sig.r.end(), compact);
  std::copy(sig.s.begin(), sig.s.end(), compact + 32);
  secp256k1_ecdsa_recoverable_signature raw;
  secp256k1_pubkey pub;
  if (secp256k1_ecdsa_recoverable_signature_parse_compact(
          Context(), &raw, compact, sig.y_parity) != 1 ||
      secp256k1_ecdsa_recover(Context(), &pub, &raw, hash.data()) != 1) {
    return absl::InvalidArgumentError("signature: does not recover a key");
  }
  return AddressOf(pub);
}

}  // namespace warden::evm
