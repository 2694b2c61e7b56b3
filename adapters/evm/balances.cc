#include "adapters/evm/balances.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "adapters/evm/evm.h"
#include "governance/policy.h"
#include "governance/status_macros.h"

namespace warden::evm {

NodeBalances::NodeBalances(
    std::map<std::string, std::unique_ptr<JsonRpcClient>> nodes)
    : nodes_(std::move(nodes)) {}

absl::StatusOr<absl::uint128> NodeBalances::Balance(const std::string& chain,
                                                    const std::string& address,
                                                    const std::string& token) {
  auto node = nodes_.find(chain);
  if (node == nodes_.end()) {
    return absl::NotFoundError(
        absl::StrCat("no node for chain ", chain, " (wardend --chain-rpc)"));
  }
  WARDEN_ASSIGN_OR_RETURN(Address holder, ParseAddress(address));
  if (token == kNativeAsset) {
    WARDEN_ASSIGN_OR_RETURN(
        nlohmann::json balance,
        node->second->Call("eth_getBalance",
                           nlohmann::json::array({Hex(holder), "latest"})));
    // eth_getBalance is a quantity; beyond 128 bits it saturates too.
    return ParseUint256Word(balance);
  }
  WARDEN_ASSIGN_OR_RETURN(Address contract, ParseAddress(token));
  // balanceOf(address): selector 0x70a08231, the holder left-padded.
  const std::string data =
      absl::StrCat("0x70a08231", std::string(24, '0'), Hex(holder).substr(2));
  WARDEN_ASSIGN_OR_RETURN(
      nlohmann::json word,
      node->second->Call(
          "eth_call",
          nlohmann::json::array(
              {{{"to", Hex(contract)}, {"data", data}}, "latest"})));
  return ParseUint256Word(word);
}

absl::StatusOr<absl::uint128> ParseUint256Word(const nlohmann::json& value) {
  if (!value.is_string()) {
    return absl::InvalidArgumentError("balance: not a hex string");
  }
  const std::string s = absl::AsciiStrToLower(value.get<std::string>());
  if (s.size() < 3 || s.size() > 66 || s.rfind("0x", 0) != 0 ||
      !IsHexDigits(absl::string_view(s).substr(2))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "balance: \"", s.substr(0, 70), "\" is not a 0x-hex uint256"));
  }
  size_t first = s.find_first_not_of('0', 2);
  if (first == std::string::npos) return absl::uint128(0);
  if (s.size() - first > 32) return absl::Uint128Max();
  return ParseQuantity("0x" + s.substr(first));
}

}  // namespace warden::evm
