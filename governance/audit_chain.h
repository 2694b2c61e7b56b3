#ifndef WARDEN_GOVERNANCE_AUDIT_CHAIN_H_
#define WARDEN_GOVERNANCE_AUDIT_CHAIN_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

// The audit trail's tamper evidence: each record's hash covers the previous
// record's hash and its own canonical encoding, and chain heads are signed
// with Ed25519 from time to time. OpenSSL is the only dependency.
namespace warden {

// The prev_hash of an org's first record: 64 zeros.
extern const char* const kGenesisHash;

// Hex SHA-256 of `data`.
std::string Sha256Hex(absl::string_view data);

// Lower-case hex of SHA-256(prev_hash || body), where prev_hash is the
// previous record's hash as its 64 hex characters.
std::string ChainHash(absl::string_view prev_hash, absl::string_view body);

// What a checkpoint signs: "<org_id>\n<seq>\n<hash>".
std::string CheckpointMessage(absl::string_view org_id, int64_t seq,
                              absl::string_view hash);

// An Ed25519 key, signing audit checkpoints and price files.
// Thread-compatible.
class Ed25519Signer {
 public:
  // Reads a PEM private key (`openssl genpkey -algorithm ed25519`).
  static absl::StatusOr<std::unique_ptr<Ed25519Signer>> FromPemFile(
      const std::string& path);
  static absl::StatusOr<std::unique_ptr<Ed25519Signer>> Generate();
  ~Ed25519Signer();

  std::string PublicKeyHex() const;                      // Raw 32 bytes, hex.
  std::string SignHex(absl::string_view message) const;  // 64 bytes, hex.

 private:
  explicit Ed25519Signer(void* key) : key_(key) {}
  void* key_;  // EVP_PKEY*
};

// Whether `public_key_hex` is 64 hex digits of an Ed25519 public key a
// signature by it proves something: not a point of small order or a
// non-canonical encoding, for which anyone can make signatures that verify.
bool IsUsableEd25519Key(absl::string_view public_key_hex);

// True when `signature_hex` (128 hex digits) is a valid Ed25519 signature
// of `message` by `public_key_hex`, a usable key.
bool VerifyEd25519(absl::string_view public_key_hex, absl::string_view message,
                   absl::string_view signature_hex);

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_AUDIT_CHAIN_H_
