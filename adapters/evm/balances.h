#ifndef WARDEN_ADAPTERS_EVM_BALANCES_H_
#define WARDEN_ADAPTERS_EVM_BALANCES_H_

#include <map>
#include <memory>
#include <string>

#include "adapters/evm/json_rpc.h"
#include "governance/balance_source.h"

namespace warden::evm {

// Balances read from each chain's node: `eth_getBalance` for the native
// coin, `eth_call` of the token's `balanceOf(address)` for an ERC-20.
class NodeBalances final : public BalanceSource {
 public:
  // chain name -> its node.
  explicit NodeBalances(
      std::map<std::string, std::unique_ptr<JsonRpcClient>> nodes);

  absl::StatusOr<absl::uint128> Balance(const std::string& chain,
                                        const std::string& address,
                                        const std::string& token) override;

 private:
  const std::map<std::string, std::unique_ptr<JsonRpcClient>> nodes_;
};

// A 32-byte ABI word ("0x" and 64 hex digits, as eth_call answers a
// uint256), saturated at 2^128-1.
absl::StatusOr<absl::uint128> ParseUint256Word(const nlohmann::json& value);

}  // namespace warden::evm

#endif  // WARDEN_ADAPTERS_EVM_BALANCES_H_
