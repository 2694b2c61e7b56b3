#ifndef WARDEN_ADAPTERS_LOCAL_KEYSTORE_H_
#define WARDEN_ADAPTERS_LOCAL_KEYSTORE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "adapters/evm/evm.h"

// Keys kept by Warden for the local wallet adapter, one file per key,
// encrypted at rest: AES-256-GCM under a key derived by scrypt from a
// password (OpenSSL EVP_PBE_scrypt), with the address as associated data so
// that a file cannot be relabelled. Files are written atomically (a temp
// file, fsync, rename) with mode 0600. The keystore is decrypted once, when
// opened; the send path never touches the files.
namespace warden::evm {

// scrypt cost. The defaults take about 0.1 s and 32 MiB per key, once per
// open; raise n for stronger protection of the files at rest.
struct KdfParams {
  uint64_t n = uint64_t{1} << 15;
  uint64_t r = 8;
  uint64_t p = 1;
};

// The encrypted file for `key` (JSON, see keystore.cc for the fields).
std::string EncryptKey(const PrivateKey& key, const std::string& password,
                       const KdfParams& params);
// The key in `file`: INVALID_ARGUMENT naming what is malformed (a
// truncated or edited file), PERMISSION_DENIED for a wrong password (or a
// file whose ciphertext was altered: the two cannot be told apart).
absl::StatusOr<PrivateKey> DecryptKey(const std::string& file,
                                      const std::string& password);

// Overwrites a secret held in `s` (OPENSSL_cleanse) and empties it.
void Wipe(std::string* s);

// The keystore password: the first line of `file` when given (`flag`
// names it in errors), else the environment variable
// WARDEN_KEYSTORE_PASSWORD. INVALID_ARGUMENT when there is none.
absl::StatusOr<std::string> KeystorePassword(const std::string& file,
                                             const std::string& flag);

class Keystore {
 public:
  // Decrypts every key file (*.json) in `dir`; an unreadable or undecryptable
  // file fails the whole open, naming the file.
  static absl::StatusOr<Keystore> Open(const std::string& dir,
                                       const std::string& password);
  // Writes a new key (generated, or `import` when given: 32 bytes) to
  // `dir`, creating it (mode 0700) if needed; returns its address.
  static absl::StatusOr<Address> Add(const std::string& dir,
                                     const std::string& password,
                                     const KdfParams& params,
                                     const std::string& import = "");

  // The key of `address`, or nullptr.
  const PrivateKey* Find(const Address& address) const;
  std::vector<Address> Addresses() const;
  size_t size() const { return keys_.size(); }

 private:
  std::map<Address, PrivateKey> keys_;
};

}  // namespace warden::evm

#endif  // WARDEN_ADAPTERS_LOCAL_KEYSTORE_H_
