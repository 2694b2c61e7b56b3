// wardenctl wallet create-local | import-local | address: the local
// wallet's keystore, on this machine.
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/strip.h"
#include "adapters/evm/evm.h"
#include "adapters/local/keystore.h"
#include "governance/address.h"
#include "services/wardenctl/cli.h"

namespace warden::wardenctl {
namespace {

int WalletCommand(const std::string& dir, const std::string& password_file,
                  const std::string& key_file, const evm::KdfParams& kdf,
                  bool create, bool import) {
  absl::StatusOr<std::string> password =
      evm::KeystorePassword(password_file, "--password-file");
  if (!password.ok()) {
    std::cerr << "wardenctl: " << password.status().message() << "\n";
    return kUsage;
  }
  if (create || import) {
    std::string key;
    if (import) {
      std::ifstream in(key_file);
      std::string hex;
      std::getline(in, hex);
      absl::string_view digits = absl::StripAsciiWhitespace(hex);
      absl::ConsumePrefix(&digits, "0x");
      if (!in || digits.size() != 64) {
        std::cerr << "wardenctl: --private-key-file: expected 64 hex digits\n";
        return kUsage;
      }
      key = absl::HexStringToBytes(digits);
    }
    absl::StatusOr<evm::Address> address =
        evm::Keystore::Add(dir, *password, kdf, key);
    if (!address.ok()) {
      std::cerr << "wardenctl: " << address.status().message() << "\n";
      return kCallFailed;
    }
    std::cout << Eip55(evm::Hex(*address)) << "\n";
    return 0;
  }
  absl::StatusOr<evm::Keystore> ks = evm::Keystore::Open(dir, *password);
  if (!ks.ok()) {
    std::cerr << "wardenctl: " << ks.status().message() << "\n";
    return kCallFailed;
  }
  for (const evm::Address& a : ks->Addresses()) {
    std::cout << Eip55(evm::Hex(a)) << "\n";
  }
  return 0;
}

struct KeystoreFlags {
  std::string dir, password_file, private_key_file;
  evm::KdfParams kdf;
};

}  // namespace

void AddWalletCommands(CLI::App& app, const Globals& g, Commands& commands) {
  (void)g;  // The keystore is local: no server, no global flag.
  CLI::App* wallet = app.add_subcommand("wallet", "Local wallet keystore");
  wallet->require_subcommand(1);
  auto keystore_options = [](CLI::App* cmd, KeystoreFlags& f) {
    cmd->add_option("--keystore", f.dir, "Keystore directory")
        ->required()
        ->envname("WARDEN_KEYSTORE");
    cmd->add_option("--password-file", f.password_file,
                    "File whose first line is the password (else "
                    "WARDEN_KEYSTORE_PASSWORD)");
  };
  auto kdf_options = [](CLI::App* cmd, evm::KdfParams& kdf) {
    cmd->add_option("--scrypt-n", kdf.n, "scrypt cost: a power of 2, >= 1024")
        ->capture_default_str();
    cmd->add_option("--scrypt-r", kdf.r, "scrypt block size: 1..32")
        ->capture_default_str();
    cmd->add_option("--scrypt-p", kdf.p, "scrypt parallelism: 1..16")
        ->capture_default_str();
  };

  auto create = std::make_shared<KeystoreFlags>();
  CLI::App* create_cmd = wallet->add_subcommand(
      "create-local", "Make a new key; prints its address");
  keystore_options(create_cmd, *create);
  kdf_options(create_cmd, create->kdf);
  commands.Add(create_cmd,
               "wardenctl wallet create-local --keystore /var/lib/warden/keys "
               "--password-file pw.txt",
               [create] {
                 return WalletCommand(create->dir, create->password_file, "",
                                      create->kdf, true, false);
               });

  auto import = std::make_shared<KeystoreFlags>();
  CLI::App* import_cmd = wallet->add_subcommand(
      "import-local",
      "Encrypt an existing key (hex in a file); prints its "
      "address");
  keystore_options(import_cmd, *import);
  import_cmd->add_option("--private-key-file", import->private_key_file)
      ->required();
  kdf_options(import_cmd, import->kdf);
  commands.Add(import_cmd,
               "wardenctl wallet import-local --keystore /var/lib/warden/keys "
               "--password-file pw.txt --private-key-file key.hex",
               [import] {
                 return WalletCommand(import->dir, import->password_file,
                                      import->private_key_file, import->kdf,
                                      false, true);
               });

  auto address = std::make_shared<KeystoreFlags>();
  CLI::App* address_cmd = wallet->add_subcommand(
      "address", "Decrypt the keystore and print its addresses");
  keystore_options(address_cmd, *address);
  commands.Add(address_cmd,
               "wardenctl wallet address --keystore /var/lib/warden/keys",
               [address] {
                 return WalletCommand(address->dir, address->password_file, "",
                                      address->kdf, false, false);
               });
}

}  // namespace warden::wardenctl
