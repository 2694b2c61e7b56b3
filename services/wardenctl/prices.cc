// wardenctl prices key | sign: the signed price file an operator's job
// writes for wardend --price-file (governance/price_file.h). Offline: no
// call to wardend.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "governance/policy.h"
#include "governance/price_file.h"
#include "services/wardenctl/cli.h"

namespace warden::wardenctl {
namespace {

struct SignFlags {
  std::string key;
  std::string out;
  std::string at;  // RFC 3339; empty: now.
  std::vector<std::string> prices;
};

// Reads the key, printing why not; null on failure.
std::unique_ptr<Ed25519Signer> Key(const std::string& path) {
  absl::StatusOr<std::unique_ptr<Ed25519Signer>> key =
      Ed25519Signer::FromPemFile(path);
  if (!key.ok()) {
    std::cerr << "--key: " << key.status().message() << "\n";
    return nullptr;
  }
  return *std::move(key);
}

int PrintKey(const std::string& path, bool json) {
  std::unique_ptr<Ed25519Signer> key = Key(path);
  if (key == nullptr) return kUsage;
  if (json) {
    std::cout << Json{{"public_key", key->PublicKeyHex()}}.dump() << "\n";
  } else {
    std::cout << key->PublicKeyHex() << "\n";
  }
  return 0;
}

int Sign(const SignFlags& f, bool json) {
  std::unique_ptr<Ed25519Signer> key = Key(f.key);
  if (key == nullptr) return kUsage;
  PriceFile file{.at = absl::Now()};
  std::string err;
  if (!f.at.empty() &&
      !absl::ParseTime(absl::RFC3339_full, f.at, &file.at, &err)) {
    std::cerr << "--at: \"" << f.at << "\" is not an RFC 3339 time\n";
    return kUsage;
  }
  for (const std::string& entry : f.prices) {
    const size_t eq = entry.find('=');
    const std::string symbol = entry.substr(0, eq);
    absl::StatusOr<Price> price =
        eq == std::string::npos ? absl::InvalidArgumentError(
                                      "must be SYMBOL=PRICE, e.g. ETH=3012.5")
                                : ParsePrice(entry.substr(eq + 1));
    if (price.ok() && price->mantissa == 0) {
      price = absl::InvalidArgumentError("a price of 0 values nothing");
    }
    if (!price.ok() || !IsValidId(symbol) ||
        !file.prices.emplace(symbol, *price).second) {
      std::cerr << "\"" << entry << "\": "
                << (!price.ok()         ? price.status().message()
                    : IsValidId(symbol) ? "given twice"
                                        : "not an asset symbol")
                << "\n";
      return kUsage;
    }
  }
  // Written beside the target and renamed over it, so that wardend never
  // reads half a file.
  const std::string tmp = absl::StrCat(f.out, ".tmp.", ::getpid());
  {
    std::ofstream out(tmp, std::ios::trunc | std::ios::binary);
    out << SignPriceFile(file, *key);
    if (!out.flush()) {
      std::cerr << "--out: cannot write " << tmp << "\n";
      std::remove(tmp.c_str());
      return kCallFailed;
    }
  }
  if (std::rename(tmp.c_str(), f.out.c_str()) != 0) {
    std::cerr << "--out: cannot replace " << f.out << "\n";
    std::remove(tmp.c_str());
    return kCallFailed;
  }
  const std::string at =
      absl::FormatTime(absl::RFC3339_sec, file.at, absl::UTCTimeZone());
  if (json) {
    std::cout << Json{{"file", f.out},
                      {"at", at},
                      {"assets", file.prices.size()},
                      {"public_key", key->PublicKeyHex()}}
                     .dump()
              << "\n";
  } else {
    std::cout << "signed " << file.prices.size() << " prices as of " << at
              << " into " << f.out << " (key " << key->PublicKeyHex() << ")\n";
  }
  return 0;
}

}  // namespace

void AddPriceCommands(CLI::App& app, const Globals& g, Commands& commands) {
  CLI::App* prices =
      app.add_subcommand("prices", "The signed price file (--price-file)")
          ->require_subcommand(1);

  auto key_path = std::make_shared<std::string>();
  CLI::App* key = prices->add_subcommand(
      "key",
      "Print an Ed25519 key's public key, for a bundle's "
      "price: {source: file, public_key}");
  key->add_option("--key", *key_path,
                  "Ed25519 private key, PEM (openssl genpkey -algorithm "
                  "ed25519)")
      ->required()
      ->check(CLI::ExistingFile);
  commands.Add(key, "wardenctl prices key --key prices.pem",
               [&g, key_path] { return PrintKey(*key_path, g.json); });

  auto f = std::make_shared<SignFlags>();
  CLI::App* sign = prices->add_subcommand(
      "sign", "Write a price file, signed, replacing FILE at once");
  sign->add_option("--key", f->key, "Ed25519 private key, PEM")
      ->required()
      ->check(CLI::ExistingFile);
  sign->add_option("--out", f->out, "The price file to write")->required();
  sign->add_option("--at", f->at,
                   "When the prices were taken, RFC 3339 (default: now); "
                   "their age is judged from it");
  sign->add_option("prices", f->prices, "SYMBOL=PRICE in USD per token")
      ->required();
  commands.Add(sign,
               "wardenctl prices sign --key prices.pem --out "
               "/var/lib/warden/prices.json ETH=3012.5 WBTC=97000",
               [&g, f] { return Sign(*f, g.json); });
}

}  // namespace warden::wardenctl
