#include "adapters/evm/chains.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace warden::evm {
namespace {

constexpr std::pair<const char*, uint64_t> kKnownChains[] = {
    {"ethereum", 1},         {"optimism", 10},    {"polygon", 137},
    {"base", 8453},          {"arbitrum", 42161}, {"sepolia", 11155111},
    {"base-sepolia", 84532}, {"anvil", 31337}};

}  // namespace

std::optional<uint64_t> KnownChainId(absl::string_view chain) {
  for (const auto& [name, id] : kKnownChains) {
    if (chain == name) return id;
  }
  return std::nullopt;
}

absl::StatusOr<std::map<std::string, uint64_t>> ChainIds(
    const std::vector<std::string>& overrides, absl::string_view flag) {
  std::map<std::string, uint64_t> out;
  for (const auto& [name, id] : kKnownChains) out[name] = id;
  for (const std::string& entry : overrides) {
    const size_t eq = entry.find('=');
    uint64_t id = 0;
    if (eq == std::string::npos || eq == 0 ||
        !absl::SimpleAtoi(entry.substr(eq + 1), &id) || id == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, " \"", entry,
                       "\": expected CHAIN=ID with a positive chain id"));
    }
    out[entry.substr(0, eq)] = id;
  }
  return out;
}

}  // namespace warden::evm
