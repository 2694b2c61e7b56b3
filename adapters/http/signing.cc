#include "adapters/http/signing.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <array>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace warden::http {
namespace {

constexpr size_t kP256Coordinate = 32;

using Bio = std::unique_ptr<BIO, decltype(&BIO_free)>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

Bio MemBio(absl::string_view data) {
  return Bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())),
             &BIO_free);
}

std::string BioText(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

bool IsEd25519(const EVP_PKEY* key) {
  return EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519;
}

absl::Status CheckKeyType(EVP_PKEY* key) {
  if (IsEd25519(key)) return absl::OkStatus();
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) {
    return absl::InvalidArgumentError("not an EC (P-256) or Ed25519 key");
  }
  char curve[64] = {0};
  size_t len = 0;
  if (EVP_PKEY_get_group_name(key, curve, sizeof(curve), &len) != 1 ||
      std::string(curve) != "prime256v1") {
    return absl::InvalidArgumentError(
        absl::StrCat("EC key on curve \"", curve, "\"; P-256 is required"));
  }
  return absl::OkStatus();
}

// DER ECDSA signature <-> r||s, each padded to 32 bytes.
absl::StatusOr<std::string> DerToRaw(absl::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> sig(
      d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())),
      &ECDSA_SIG_free);
  if (sig == nullptr) return absl::InternalError("bad DER signature");
  std::string out(2 * kP256Coordinate, '\0');
  auto* dst = reinterpret_cast<unsigned char*>(out.data());
  if (BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), dst, kP256Coordinate) < 0 ||
      BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), dst + kP256Coordinate,
                   kP256Coordinate) < 0) {
    return absl::InternalError("signature component too large");
  }
  return out;
}

std::string RawToDer(absl::string_view raw) {
  if (raw.size() != 2 * kP256Coordinate) return "";
  const auto* src = reinterpret_cast<const unsigned char*>(raw.data());
  std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> sig(ECDSA_SIG_new(),
                                                            &ECDSA_SIG_free);
  BIGNUM* r = BN_bin2bn(src, kP256Coordinate, nullptr);
  BIGNUM* s = BN_bin2bn(src + kP256Coordinate, kP256Coordinate, nullptr);
  if (r == nullptr || s == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return "";
  }
  unsigned char* der = nullptr;
  const int n = i2d_ECDSA_SIG(sig.get(), &der);
  if (n <= 0) return "";
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  return out;
}

// ECDSA-SHA256 (DER) or Ed25519 signature of `message` with `key`.
absl::StatusOr<std::string> Sign(EVP_PKEY* key, absl::string_view message) {
  MdCtx ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  const EVP_MD* md = IsEd25519(key) ? nullptr : EVP_sha256();
  size_t len = 0;
  const auto* msg = reinterpret_cast<const unsigned char*>(message.data());
  if (ctx == nullptr ||
      EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, msg, message.size()) != 1) {
    return absl::InternalError("signing failed to start");
  }
  std::string out(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(out.data()),
                     &len, msg, message.size()) != 1) {
    return absl::InternalError("signing failed");
  }
  out.resize(len);
  return out;
}

bool Verify(EVP_PKEY* key, absl::string_view message, absl::string_view sig) {
  MdCtx ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  const EVP_MD* md = IsEd25519(key) ? nullptr : EVP_sha256();
  return ctx != nullptr &&
         EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key) == 1 &&
         EVP_DigestVerify(
             ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()),
             sig.size(), reinterpret_cast<const unsigned char*>(message.data()),
             message.size()) == 1;
}

std::shared_ptr<EVP_PKEY> Shared(EVP_PKEY* key) {
  return std::shared_ptr<EVP_PKEY>(key, &EVP_PKEY_free);
}

}  // namespace

std::string Base64UrlEncode(absl::string_view bytes) {
  return absl::WebSafeBase64Escape(bytes);
}

absl::StatusOr<std::string> Base64UrlDecode(absl::string_view text) {
  std::string out;
  if (!absl::WebSafeBase64Unescape(text, &out)) {
    return absl::InvalidArgumentError("not base64url");
  }
  return out;
}

std::string Sha256(absl::string_view bytes) {
  std::string out(SHA256_DIGEST_LENGTH, '\0');
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
         reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

std::string Sha256Hex(absl::string_view bytes) {
  return absl::BytesToHexString(Sha256(bytes));
}

std::string UuidV4() {
  std::array<unsigned char, 16> b{};
  RAND_bytes(b.data(), static_cast<int>(b.size()));
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  const std::string hex = absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
  return absl::StrCat(hex.substr(0, 8), "-", hex.substr(8, 4), "-",
                      hex.substr(12, 4), "-", hex.substr(16, 4), "-",
                      hex.substr(20));
}

std::string CanonicalJson(const nlohmann::json& value) {
  // nlohmann's objects are std::maps (sorted keys); dump() writes no
  // whitespace and escapes only what JSON requires, as RFC 8785 does.
  return value.dump();
}

void SigningKey::Free::operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }

absl::StatusOr<SigningKey> SigningKey::FromPem(absl::string_view pem) {
  Bio bio = MemBio(pem);
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  if (key == nullptr) {
    return absl::InvalidArgumentError("not a PEM private key");
  }
  SigningKey out(key);
  if (absl::Status st = CheckKeyType(key); !st.ok()) return st;
  return out;
}

absl::StatusOr<SigningKey> SigningKey::FromBase64(absl::string_view text) {
  std::string der;
  if (!absl::Base64Unescape(text, &der) || der.empty()) {
    return absl::InvalidArgumentError("not base64");
  }
  // Told apart by length, as CDP's own SDK does: a base64 Ed25519 secret
  // is exactly 64 bytes (seed, then public key), and no PKCS#8 key is that
  // short. (Its first byte says nothing: 1 seed in 256 starts with 0x30,
  // like DER.)
  constexpr size_t kEd25519Pair = 64;
  if (der.size() == kEd25519Pair) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(der.data());
    EVP_PKEY* key =
        EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, bytes, 32);
    if (key == nullptr) {
      return absl::InvalidArgumentError("not an Ed25519 key pair");
    }
    SigningKey out(key);
    unsigned char pub[32];
    size_t pub_len = sizeof(pub);
    if (EVP_PKEY_get_raw_public_key(key, pub, &pub_len) != 1 || pub_len != 32 ||
        CRYPTO_memcmp(pub, bytes + 32, 32) != 0) {
      return absl::InvalidArgumentError(
          "a 64-byte secret is an Ed25519 seed and its public key, and this "
          "public key is not the seed's");
    }
    return out;
  }
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  EVP_PKEY* key =
      d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(der.size()));
  if (key == nullptr) {
    return absl::InvalidArgumentError("not a DER (PKCS#8) private key");
  }
  SigningKey out(key);
  if (absl::Status st = CheckKeyType(key); !st.ok()) return st;
  return out;
}

absl::StatusOr<SigningKey> SigningKey::GenerateP256() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  if (key == nullptr) return absl::InternalError("P-256 key generation failed");
  return SigningKey(key);
}

bool SigningKey::is_ed25519() const { return IsEd25519(key_.get()); }

absl::StatusOr<std::string> SigningKey::SignDer(
    absl::string_view message) const {
  return Sign(key_.get(), message);
}

absl::StatusOr<std::string> SigningKey::SignJws(
    absl::string_view message) const {
  absl::StatusOr<std::string> sig = Sign(key_.get(), message);
  if (!sig.ok() || is_ed25519()) return sig;
  return DerToRaw(*sig);
}

absl::StatusOr<std::string> SigningKey::PrivatePem() const {
  Bio bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (PEM_write_bio_PKCS8PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0,
                                    nullptr, nullptr) != 1) {
    return absl::InternalError("cannot write the private key");
  }
  return BioText(bio.get());
}

absl::StatusOr<std::string> SigningKey::PublicPem() const {
  Bio bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (PEM_write_bio_PUBKEY(bio.get(), key_.get()) != 1) {
    return absl::InternalError("cannot write the public key");
  }
  return BioText(bio.get());
}

absl::StatusOr<std::string> SigningKey::PublicDerBase64() const {
  unsigned char* der = nullptr;
  const int n = i2d_PUBKEY(key_.get(), &der);
  if (n <= 0) return absl::InternalError("cannot encode the public key");
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  return absl::Base64Escape(out);
}

absl::StatusOr<std::string> SigningKey::PrivateDerBase64() const {
  std::unique_ptr<PKCS8_PRIV_KEY_INFO, decltype(&PKCS8_PRIV_KEY_INFO_free)>
      info(EVP_PKEY2PKCS8(key_.get()), &PKCS8_PRIV_KEY_INFO_free);
  unsigned char* der = nullptr;
  const int n = info ? i2d_PKCS8_PRIV_KEY_INFO(info.get(), &der) : 0;
  if (n <= 0) return absl::InternalError("cannot encode the private key");
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  return absl::Base64Escape(out);
}

absl::StatusOr<VerifyingKey> VerifyingKey::FromPem(absl::string_view pem) {
  Bio bio = MemBio(pem);
  EVP_PKEY* key = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
  if (key == nullptr) return absl::InvalidArgumentError("not a PEM public key");
  return VerifyingKey(Shared(key));
}

absl::StatusOr<VerifyingKey> VerifyingKey::FromBase64Der(
    absl::string_view text) {
  std::string der;
  if (!absl::Base64Unescape(text, &der)) {
    return absl::InvalidArgumentError("not base64");
  }
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  EVP_PKEY* key = d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size()));
  if (key == nullptr) return absl::InvalidArgumentError("not a DER public key");
  return VerifyingKey(Shared(key));
}

absl::StatusOr<VerifyingKey> VerifyingKey::Of(const SigningKey& key) {
  absl::StatusOr<std::string> pem = key.PublicPem();
  if (!pem.ok()) return pem.status();
  return FromPem(*pem);
}

bool VerifyingKey::VerifyDer(absl::string_view message,
                             absl::string_view der) const {
  return Verify(key_.get(), message, der);
}

bool VerifyingKey::VerifyJws(absl::string_view message,
                             absl::string_view jws) const {
  if (IsEd25519(key_.get())) return Verify(key_.get(), message, jws);
  const std::string der = RawToDer(jws);
  return !der.empty() && Verify(key_.get(), message, der);
}

absl::StatusOr<std::string> SignJwt(const SigningKey& key,
                                    nlohmann::json header,
                                    const nlohmann::json& claims) {
  header["alg"] = key.jws_alg();
  const std::string input = absl::StrCat(Base64UrlEncode(header.dump()), ".",
                                         Base64UrlEncode(claims.dump()));
  absl::StatusOr<std::string> sig = key.SignJws(input);
  if (!sig.ok()) return sig.status();
  return absl::StrCat(input, ".", Base64UrlEncode(*sig));
}

absl::StatusOr<Jwt> VerifyJwt(absl::string_view token, const VerifyingKey& key,
                              absl::string_view alg) {
  std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3) {
    return absl::InvalidArgumentError("a JWT has three dot-separated parts");
  }
  absl::StatusOr<std::string> header = Base64UrlDecode(parts[0]);
  absl::StatusOr<std::string> claims = Base64UrlDecode(parts[1]);
  absl::StatusOr<std::string> sig = Base64UrlDecode(parts[2]);
  if (!header.ok() || !claims.ok() || !sig.ok()) {
    return absl::InvalidArgumentError("a JWT part is not base64url");
  }
  Jwt out;
  out.header = nlohmann::json::parse(*header, nullptr, false);
  out.claims = nlohmann::json::parse(*claims, nullptr, false);
  if (!out.header.is_object() || !out.claims.is_object()) {
    return absl::InvalidArgumentError("a JWT header or payload is not JSON");
  }
  if (out.header.value("alg", "") != alg) {
    return absl::UnauthenticatedError(absl::StrCat(
        "JWT alg \"", out.header.value("alg", ""), "\"; expected ", alg));
  }
  const size_t signed_len = parts[0].size() + 1 + parts[1].size();
  if (!key.VerifyJws(token.substr(0, signed_len), *sig)) {
    return absl::UnauthenticatedError("JWT signature does not verify");
  }
  return out;
}

}  // namespace warden::http
