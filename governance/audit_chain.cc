#include "governance/audit_chain.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace warden {
namespace {

EVP_PKEY* Key(void* k) { return static_cast<EVP_PKEY*>(k); }

std::string Hex(const unsigned char* data, size_t n) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(data), n));
}

}  // namespace

std::string Sha256Hex(absl::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), digest, &n, EVP_sha256(), nullptr);
  return Hex(digest, n);
}

const char* const kGenesisHash =
    "0000000000000000000000000000000000000000000000000000000000000000";

std::string ChainHash(absl::string_view prev_hash, absl::string_view body) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  EVP_DigestUpdate(ctx, prev_hash.data(), prev_hash.size());
  EVP_DigestUpdate(ctx, body.data(), body.size());
  EVP_DigestFinal_ex(ctx, digest, &n);
  EVP_MD_CTX_free(ctx);
  return Hex(digest, n);
}

std::string CheckpointMessage(absl::string_view org_id, int64_t seq,
                              absl::string_view hash) {
  return absl::StrCat(org_id, "\n", seq, "\n", hash);
}

absl::StatusOr<std::unique_ptr<Ed25519Signer>> Ed25519Signer::FromPemFile(
    const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read ", path));
  }
  EVP_PKEY* key = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (key == nullptr || EVP_PKEY_id(key) != EVP_PKEY_ED25519) {
    if (key != nullptr) EVP_PKEY_free(key);
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not an Ed25519 private key (PEM)"));
  }
  return std::unique_ptr<Ed25519Signer>(new Ed25519Signer(key));
}

absl::StatusOr<std::unique_ptr<Ed25519Signer>> Ed25519Signer::Generate() {
  EVP_PKEY* key = nullptr;
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr);
  const bool ok = ctx != nullptr && EVP_PKEY_keygen_init(ctx) == 1 &&
                  EVP_PKEY_keygen(ctx, &key) == 1;
  EVP_PKEY_CTX_free(ctx);
  if (!ok) return absl::InternalError("cannot generate an Ed25519 key");
  return std::unique_ptr<Ed25519Signer>(new Ed25519Signer(key));
}

Ed25519Signer::~Ed25519Signer() { EVP_PKEY_free(Key(key_)); }

std::string Ed25519Signer::PublicKeyHex() const {
  unsigned char raw[32];
  size_t n = sizeof(raw);
  EVP_PKEY_get_raw_public_key(Key(key_), raw, &n);
  return Hex(raw, n);
}

std::string Ed25519Signer::SignHex(absl::string_view message) const {
  unsigned char sig[64];
  size_t n = sizeof(sig);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, Key(key_));
  EVP_DigestSign(ctx, sig, &n,
                 reinterpret_cast<const unsigned char*>(message.data()),
                 message.size());
  EVP_MD_CTX_free(ctx);
  return Hex(sig, n);
}

bool IsUsableEd25519Key(absl::string_view public_key_hex) {
  if (public_key_hex.size() != 64 ||
      !std::all_of(public_key_hex.begin(), public_key_hex.end(), [](char c) {
        return absl::ascii_isxdigit(static_cast<unsigned char>(c));
      })) {
    return false;
  }
  std::string y = absl::HexStringToBytes(public_key_hex);
  y[31] = static_cast<char>(y[31] & 0x7f);  // The x sign bit aside.
  // The points of small order (0, 1, the two of order 8, p - 1 and their
  // non-canonical forms): anyone can make signatures that verify with
  // them. And y >= p - 1, which is not canonical or of order 2.
  static constexpr const char* kSmallOrder[] = {
      "0000000000000000000000000000000000000000000000000000000000000000",
      "0100000000000000000000000000000000000000000000000000000000000000",
      "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
      "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"};
  for (const char* weak : kSmallOrder) {
    if (y == absl::HexStringToBytes(weak)) return false;
  }
  const bool top = static_cast<unsigned char>(y[31]) == 0x7f &&
                   std::all_of(y.begin() + 1, y.begin() + 31, [](char c) {
                     return static_cast<unsigned char>(c) == 0xff;
                   });
  return !(top && static_cast<unsigned char>(y[0]) >= 0xec);
}

bool VerifyEd25519(absl::string_view public_key_hex, absl::string_view message,
                   absl::string_view signature_hex) {
  if (!IsUsableEd25519Key(public_key_hex) || signature_hex.size() != 128) {
    return false;
  }
  const std::string pub = absl::HexStringToBytes(public_key_hex);
  const std::string sig = absl::HexStringToBytes(signature_hex);
  if (pub.size() != 32 || sig.size() != 64) return false;
  EVP_PKEY* key = EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr,
      reinterpret_cast<const unsigned char*>(pub.data()), pub.size());
  if (key == nullptr) return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok =
      EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, key) == 1 &&
      EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()),
                       sig.size(),
                       reinterpret_cast<const unsigned char*>(message.data()),
                       message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  return ok;
}

}  // namespace warden
