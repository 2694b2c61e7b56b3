#include "adapters/local/keystore.h"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "governance/file_lock.h"
#include "nlohmann/json.hpp"

namespace warden::evm {
namespace {

using Json = nlohmann::json;

constexpr size_t kSaltBytes = 32;
constexpr size_t kIvBytes = 12;
constexpr size_t kTagBytes = 16;
// scrypt may use at most this much memory, whatever a file asks for.
constexpr uint64_t kMaxScryptMemory = uint64_t{1} << 30;
constexpr uint64_t kMinScryptN = uint64_t{1} << 10;
constexpr uint64_t kMaxScryptR = 32;
constexpr uint64_t kMaxScryptP = 16;

std::string Random(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()),
                 static_cast<int>(n)) != 1) {
    std::abort();  // No entropy: never encrypt with anything weaker.
  }
  return out;
}

absl::StatusOr<std::string> DeriveKey(const std::string& password,
                                      const std::string& salt,
                                      const KdfParams& kdf) {
  // Bounds whatever a file asks for: never weaker than n = 2^10, and never
  // a cost that stalls the start (memory is capped below as well).
  const bool power_of_two = kdf.n != 0 && (kdf.n & (kdf.n - 1)) == 0;
  if (!power_of_two || kdf.n < kMinScryptN || kdf.r < 1 ||
      kdf.r > kMaxScryptR || kdf.p < 1 || kdf.p > kMaxScryptP) {
    return absl::InvalidArgumentError(absl::StrCat(
        "keystore: scrypt parameters n=", kdf.n, " r=", kdf.r, " p=", kdf.p,
        " are out of range (n a power of 2 >= ", kMinScryptN, ", r 1..",
        kMaxScryptR, ", p 1..", kMaxScryptP, ")"));
  }
  std::string key(32, '\0');
  if (EVP_PBE_scrypt(password.data(), password.size(),
                     reinterpret_cast<const unsigned char*>(salt.data()),
                     salt.size(), kdf.n, kdf.r, kdf.p, kMaxScryptMemory,
                     reinterpret_cast<unsigned char*>(key.data()),
                     key.size()) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("keystore: scrypt parameters n=", kdf.n, " r=", kdf.r,
                     " p=", kdf.p, " are invalid or need more than 1 GiB"));
  }
  return key;
}

using CipherCtx =
    std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

// AES-256-GCM; returns false when decryption fails authentication.
bool Gcm(bool encrypt, const std::string& key, const std::string& iv,
         const std::string& aad, const std::string& in, std::string* out,
         std::string* tag) {
  CipherCtx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  const auto* k = reinterpret_cast<const unsigned char*>(key.data());
  const auto* v = reinterpret_cast<const unsigned char*>(iv.data());
  int len = 0;
  out->assign(in.size(), '\0');
  auto* o = reinterpret_cast<unsigned char*>(out->data());
  const auto* i = reinterpret_cast<const unsigned char*>(in.data());
  bool ok =
      ctx != nullptr &&
      EVP_CipherInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr,
                        encrypt ? 1 : 0) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN,
                          static_cast<int>(iv.size()), nullptr) == 1 &&
      EVP_CipherInit_ex(ctx.get(), nullptr, nullptr, k, v, -1) == 1 &&
      EVP_CipherUpdate(ctx.get(), nullptr, &len,
                       reinterpret_cast<const unsigned char*>(aad.data()),
                       static_cast<int>(aad.size())) == 1 &&
      EVP_CipherUpdate(ctx.get(), o, &len, i, static_cast<int>(in.size())) == 1;
  if (!ok) return false;
  if (!encrypt) {
    if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG,
                            static_cast<int>(tag->size()), tag->data()) != 1) {
      return false;
    }
  }
  int final_len = 0;
  if (EVP_CipherFinal_ex(ctx.get(), o + len, &final_len) != 1) return false;
  if (encrypt) {
    tag->assign(kTagBytes, '\0');
    return EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG,
                               static_cast<int>(kTagBytes), tag->data()) == 1;
  }
  return true;
}

absl::Status Malformed(absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("keystore file: ", problem));
}

// A string field, or "" when it is missing or not a string.
std::string StringField(const Json& j, const char* name) {
  auto it = j.find(name);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

// A hex field of exactly `bytes` bytes.
absl::StatusOr<std::string> HexField(const Json& j, const char* name,
                                     size_t bytes) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_string()) {
    return Malformed(absl::StrCat(name, " is missing"));
  }
  const std::string hex = it->get<std::string>();
  if (hex.size() != 2 * bytes ||
      !std::all_of(hex.begin(), hex.end(), [](char c) {
        return std::isxdigit(static_cast<unsigned char>(c)) != 0;
      })) {
    return Malformed(absl::StrCat(name, " must be ", bytes, " bytes of hex"));
  }
  return absl::HexStringToBytes(hex);
}

}  // namespace

std::string EncryptKey(const PrivateKey& key, const std::string& password,
                       const KdfParams& params) {
  const std::string salt = Random(kSaltBytes);
  const std::string iv = Random(kIvBytes);
  const Address address = key.address();
  const std::string aad(reinterpret_cast<const char*>(address.data()),
                        address.size());
  absl::StatusOr<std::string> dk = DeriveKey(password, salt, params);
  std::string plain(key.bytes());
  std::string ciphertext, tag;
  if (!dk.ok() || !Gcm(true, *dk, iv, aad, plain, &ciphertext, &tag)) {
    std::abort();  // Only bad parameters fail, which callers check first.
  }
  OPENSSL_cleanse(plain.data(), plain.size());
  OPENSSL_cleanse(dk->data(), dk->size());
  return Json({{"version", 1},
               {"address", Hex(address)},
               {"kdf", "scrypt"},
               {"n", params.n},
               {"r", params.r},
               {"p", params.p},
               {"salt", absl::BytesToHexString(salt)},
               {"cipher", "aes-256-gcm"},
               {"iv", absl::BytesToHexString(iv)},
               {"ciphertext", absl::BytesToHexString(ciphertext)},
               {"tag", absl::BytesToHexString(tag)}})
             .dump(2) +
         "\n";
}

absl::StatusOr<PrivateKey> DecryptKey(const std::string& file,
                                      const std::string& password) {
  const Json j = Json::parse(file, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return Malformed("not a JSON object (truncated?)");
  const auto version = j.find("version");
  if (version == j.end() || *version != 1 ||
      StringField(j, "kdf") != "scrypt" ||
      StringField(j, "cipher") != "aes-256-gcm") {
    return Malformed("version 1, scrypt and aes-256-gcm expected");
  }
  KdfParams kdf;
  for (auto [name, field] : {std::pair{"n", &kdf.n}, std::pair{"r", &kdf.r},
                             std::pair{"p", &kdf.p}}) {
    auto it = j.find(name);
    if (it == j.end() || !it->is_number_unsigned()) {
      return Malformed(absl::StrCat(name, " must be a positive integer"));
    }
    *field = it->get<uint64_t>();
  }
  absl::StatusOr<Address> address = ParseAddress(StringField(j, "address"));
  if (!address.ok()) return Malformed(address.status().message());
  absl::StatusOr<std::string> salt = HexField(j, "salt", kSaltBytes);
  absl::StatusOr<std::string> iv = HexField(j, "iv", kIvBytes);
  absl::StatusOr<std::string> ciphertext = HexField(j, "ciphertext", 32);
  absl::StatusOr<std::string> tag = HexField(j, "tag", kTagBytes);
  for (const absl::Status& st :
       {salt.status(), iv.status(), ciphertext.status(), tag.status()}) {
    if (!st.ok()) return st;
  }
  absl::StatusOr<std::string> dk = DeriveKey(password, *salt, kdf);
  if (!dk.ok()) return dk.status();
  std::string plain;
  const bool ok =
      Gcm(false, *dk, *iv,
          std::string(reinterpret_cast<const char*>(address->data()),
                      address->size()),
          *ciphertext, &plain, &*tag);
  OPENSSL_cleanse(dk->data(), dk->size());
  if (!ok) {
    OPENSSL_cleanse(plain.data(), plain.size());
    return absl::PermissionDeniedError(
        "keystore: wrong password, or the file was altered");
  }
  absl::StatusOr<PrivateKey> key = PrivateKey::FromBytes(plain);
  OPENSSL_cleanse(plain.data(), plain.size());
  if (!key.ok()) return Malformed(key.status().message());
  if (key->address() != *address) {
    return Malformed("the key does not match its address");
  }
  return key;
}

absl::StatusOr<Keystore> Keystore::Open(const std::string& dir,
                                        const std::string& password) {
  Keystore ks;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    return absl::NotFoundError(absl::StrCat("keystore: cannot open \"", dir,
                                            "\": ", std::strerror(errno)));
  }
  std::vector<std::string> files;
  while (dirent* e = readdir(d)) {
    if (absl::EndsWith(e->d_name, ".json")) files.push_back(e->d_name);
  }
  closedir(d);
  for (const std::string& name : files) {
    const std::string path = absl::StrCat(dir, "/", name);
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    absl::StatusOr<PrivateKey> key = DecryptKey(text.str(), password);
    if (!key.ok()) {
      return absl::Status(key.status().code(),
                          absl::StrCat(path, ": ", key.status().message()));
    }
    const Address a = key->address();
    ks.keys_.emplace(a, *std::move(key));
  }
  return ks;
}

absl::StatusOr<Address> Keystore::Add(const std::string& dir,
                                      const std::string& password,
                                      const KdfParams& params,
                                      const std::string& import) {
  if (password.empty()) {
    return absl::InvalidArgumentError("keystore password: must not be empty");
  }
  // Fails early on parameters scrypt refuses.
  if (absl::StatusOr<std::string> probe = DeriveKey("", "", params);
      !probe.ok()) {
    return probe.status();
  }
  absl::StatusOr<PrivateKey> key =
      import.empty() ? PrivateKey::Generate() : PrivateKey::FromBytes(import);
  if (!key.ok()) return key.status();
  ::mkdir(dir.c_str(), 0700);
  // One writer at a time: two adds of one key must not both pass the
  // existence check below.
  absl::StatusOr<std::unique_ptr<FileLock>> lock =
      FileLock::Acquire(dir + "/.lock", absl::StrCat("keystore ", dir));
  if (!lock.ok()) return lock.status();
  const Address address = key->address();
  const std::string path = absl::StrCat(dir, "/", Hex(address), ".json");
  // Never replaced: the file may be under another password, and replacing
  // it would leave wardend unable to open the keystore.
  if (::access(path.c_str(), F_OK) == 0) {
    return absl::AlreadyExistsError(absl::StrCat(
        "keystore: ", Hex(address), " is already in \"", dir, "\""));
  }
  const std::string text = EncryptKey(*key, password, params);
  const std::string tmp = path + ".tmp";
  ::unlink(tmp.c_str());  // A leftover may have another owner or mode.
  const int fd =
      ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
  if (fd < 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        "keystore: cannot write \"", tmp, "\": ", std::strerror(errno)));
  }
  const bool written = ::fchmod(fd, 0600) == 0 &&
                       ::write(fd, text.data(), text.size()) ==
                           static_cast<ssize_t>(text.size()) &&
                       ::fsync(fd) == 0;
  ::close(fd);
  if (!written || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return absl::UnavailableError(
        absl::StrCat("keystore: cannot write \"", path, "\""));
  }
  // The rename is durable once the directory is.
  if (const int d = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY); d >= 0) {
    ::fsync(d);
    ::close(d);
  }
  return address;
}

std::vector<Address> Keystore::Addresses() const {
  std::vector<Address> out;
  for (const auto& [a, k] : keys_) out.push_back(a);
  return out;
}

const PrivateKey* Keystore::Find(const Address& address) const {
  auto it = keys_.find(address);
  return it == keys_.end() ? nullptr : &it->second;
}

void Wipe(std::string* s) {
  OPENSSL_cleanse(s->data(), s->size());
  s->clear();
}

absl::StatusOr<std::string> KeystorePassword(const std::string& file,
                                             const std::string& flag) {
  std::string password;
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, ": cannot read \"", file, "\""));
    }
    std::getline(in, password);
    if (password.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, ": \"", file, "\" starts with an empty line"));
    }
    return password;
  }
  if (const char* env = std::getenv("WARDEN_KEYSTORE_PASSWORD")) {
    password = env;
  }
  if (password.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("a keystore password is required: ", flag,
                     " or WARDEN_KEYSTORE_PASSWORD"));
  }
  return password;
}

}  // namespace warden::evm
