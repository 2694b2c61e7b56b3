#ifndef WARDEN_ADAPTERS_HTTP_SIGNING_H_
#define WARDEN_ADAPTERS_HTTP_SIGNING_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

typedef struct evp_pkey_st EVP_PKEY;

namespace warden::http {

// Base64url without padding (RFC 7515 §2), as JWTs use it.
std::string Base64UrlEncode(absl::string_view bytes);
absl::StatusOr<std::string> Base64UrlDecode(absl::string_view text);

// SHA-256 of `bytes`, raw and as lowercase hex.
std::string Sha256(absl::string_view bytes);
std::string Sha256Hex(absl::string_view bytes);

// A random UUID (version 4), lowercase with dashes.
std::string UuidV4();

// RFC 8785 (JSON Canonicalization Scheme) for the JSON Warden sends: object
// keys sorted, no whitespace, strings escaped minimally. (Key order is by
// UTF-16 code unit in the RFC, which is byte order for the ASCII keys
// vendors use; numbers must be integers.)
std::string CanonicalJson(const nlohmann::json& value);

// A P-256 (ECDSA) or Ed25519 private key, for vendor request signatures.
// Immutable after loading: thread-safe.
class SigningKey {
 public:
  // A PEM private key ("-----BEGIN EC PRIVATE KEY-----" or PKCS#8).
  static absl::StatusOr<SigningKey> FromPem(absl::string_view pem);
  // Base64 DER PKCS#8 (a CDP wallet secret; a Privy authorization key after
  // its "wallet-auth:" prefix), or a raw 32-byte Ed25519 seed followed by
  // its public key, base64 (a CDP Ed25519 API key secret).
  static absl::StatusOr<SigningKey> FromBase64(absl::string_view text);
  // A fresh P-256 key (for tests and fakes).
  static absl::StatusOr<SigningKey> GenerateP256();

  bool is_ed25519() const;
  // The JWS algorithm: "ES256" or "EdDSA".
  const char* jws_alg() const { return is_ed25519() ? "EdDSA" : "ES256"; }

  // ECDSA over SHA-256 (DER), or Ed25519 over the message.
  absl::StatusOr<std::string> SignDer(absl::string_view message) const;
  // The JWS form: ES256 as r||s (64 bytes), EdDSA as is.
  absl::StatusOr<std::string> SignJws(absl::string_view message) const;

  // The private key as PKCS#8 PEM, and the public key as SPKI PEM and as
  // base64 DER (how Privy registers an authorization key).
  absl::StatusOr<std::string> PrivatePem() const;
  absl::StatusOr<std::string> PublicPem() const;
  absl::StatusOr<std::string> PublicDerBase64() const;
  // Base64 PKCS#8 DER of the private key (a CDP wallet secret's form).
  absl::StatusOr<std::string> PrivateDerBase64() const;

  EVP_PKEY* get() const { return key_.get(); }

 private:
  struct Free {
    void operator()(EVP_PKEY* k) const;
  };
  explicit SigningKey(EVP_PKEY* key) : key_(key, Free()) {}
  std::shared_ptr<EVP_PKEY> key_;
};

// A public key that checks signatures (the fakes' side).
class VerifyingKey {
 public:
  // SPKI PEM, or base64 SPKI DER.
  static absl::StatusOr<VerifyingKey> FromPem(absl::string_view pem);
  static absl::StatusOr<VerifyingKey> FromBase64Der(absl::string_view text);
  static absl::StatusOr<VerifyingKey> Of(const SigningKey& key);

  bool VerifyDer(absl::string_view message, absl::string_view der) const;
  bool VerifyJws(absl::string_view message, absl::string_view jws) const;

 private:
  explicit VerifyingKey(std::shared_ptr<EVP_PKEY> key) : key_(std::move(key)) {}
  std::shared_ptr<EVP_PKEY> key_;
};

// A compact JWS/JWT. `header` gets "alg" from the key.
absl::StatusOr<std::string> SignJwt(const SigningKey& key,
                                    nlohmann::json header,
                                    const nlohmann::json& claims);

struct Jwt {
  nlohmann::json header;
  nlohmann::json claims;
};
// Parses a compact JWT and checks its signature and that its "alg" is the
// key's; INVALID_ARGUMENT / UNAUTHENTICATED saying what is wrong. Claims
// (exp, nbf, ...) are the caller's to check.
absl::StatusOr<Jwt> VerifyJwt(absl::string_view token, const VerifyingKey& key,
                              absl::string_view alg);

}  // namespace warden::http

#endif  // WARDEN_ADAPTERS_HTTP_SIGNING_H_
