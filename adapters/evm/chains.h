#ifndef WARDEN_ADAPTERS_EVM_CHAINS_H_
#define WARDEN_ADAPTERS_EVM_CHAINS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace warden::evm {

// The EVM chain id of a chain by the name wallets use in the bundle
// (ethereum, optimism, polygon, base, arbitrum, sepolia, base-sepolia,
// anvil; https://chainlist.org), if it is one of those.
std::optional<uint64_t> KnownChainId(absl::string_view chain);

// Chain ids for the chains an adapter serves: the built-in table, extended
// or overridden by `NAME=ID` entries (INVALID_ARGUMENT naming `flag`).
absl::StatusOr<std::map<std::string, uint64_t>> ChainIds(
    const std::vector<std::string>& overrides, absl::string_view flag);

}  // namespace warden::evm

#endif  // WARDEN_ADAPTERS_EVM_CHAINS_H_
