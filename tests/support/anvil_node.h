#ifndef WARDEN_TESTS_SUPPORT_ANVIL_NODE_H_
#define WARDEN_TESTS_SUPPORT_ANVIL_NODE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/numeric/int128.h"
#include "absl/status/statusor.h"
#include "adapters/evm/json_rpc.h"
#include "nlohmann/json.hpp"
#include "tests/support/subprocess.h"

namespace warden::testing {

// anvil's dev account 0: unlocked on the node and funded with 10,000 ETH.
inline constexpr char kAnvilDevAddress[] =
    "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
inline constexpr char kAnvilDevKey[] =
    "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

// A real Ethereum node for tests: anvil (Foundry) on a free loopback port,
// from the npm package deploy/dev/install-tools.sh installs into .tools/.
// It mines each transaction as it arrives. Stopped when the object dies.
class AnvilNode {
 public:
  static absl::StatusOr<std::unique_ptr<AnvilNode>> Start(
      uint64_t chain_id = 31337);

  const std::string& url() const { return url_; }
  int port() const { return port_; }
  Subprocess& process() { return *process_; }

  absl::StatusOr<nlohmann::json> Call(const std::string& method,
                                      const nlohmann::json& params);
  // Sends `tx` (to, value, data, as the node takes them) from the dev
  // account and returns its receipt once mined.
  absl::StatusOr<nlohmann::json> SendFromDev(nlohmann::json tx);
  // The receipt of `tx_hash`, waiting (bounded) while it is not mined.
  absl::StatusOr<nlohmann::json> Receipt(const std::string& tx_hash);
  absl::StatusOr<absl::uint128> Balance(const std::string& address);
  // Transactions sent from `address` and mined.
  absl::StatusOr<uint64_t> Nonce(const std::string& address);
  // An ERC-20 balanceOf(holder) through eth_call.
  absl::StatusOr<absl::uint128> TokenBalance(const std::string& token,
                                             const std::string& holder);

 private:
  AnvilNode() = default;

  std::unique_ptr<Subprocess> process_;
  std::string url_;
  int port_ = 0;
  std::unique_ptr<evm::JsonRpcClient> rpc_;
};

}  // namespace warden::testing

#endif  // WARDEN_TESTS_SUPPORT_ANVIL_NODE_H_
