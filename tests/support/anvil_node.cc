#include "tests/support/anvil_node.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "adapters/evm/evm.h"
#include "governance/status_macros.h"
#include "tests/support/redis_server.h"

namespace warden::testing {

absl::StatusOr<std::unique_ptr<AnvilNode>> AnvilNode::Start(uint64_t chain_id) {
  std::unique_ptr<AnvilNode> node(new AnvilNode);
  WARDEN_ASSIGN_OR_RETURN(node->port_, FreeLoopbackPort());
  node->url_ = absl::StrCat("http://127.0.0.1:", node->port_);
  // Quiet: nobody reads its stdout, whose pipe would fill and stall it.
  absl::StatusOr<std::unique_ptr<Subprocess>> p = Subprocess::Start(
      {ANVIL_PATH, "--quiet", "--host", "127.0.0.1", "--port",
       absl::StrCat(node->port_), "--chain-id", absl::StrCat(chain_id)});
  if (!p.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        p.status().message(), " (run bash deploy/dev/install-tools.sh)"));
  }
  node->process_ = *std::move(p);
  node->rpc_ =
      std::make_unique<evm::JsonRpcClient>(node->url_, absl::Seconds(10));
  for (int i = 0; i < 300; ++i) {
    if (node->Call("eth_chainId", nlohmann::json::array()).ok()) return node;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return absl::FailedPreconditionError(
      "anvil did not answer within 30 s (run bash "
      "deploy/dev/install-tools.sh)");
}

absl::StatusOr<nlohmann::json> AnvilNode::Call(const std::string& method,
                                               const nlohmann::json& params) {
  return rpc_->Call(method, params);
}

absl::StatusOr<nlohmann::json> AnvilNode::Receipt(const std::string& tx_hash) {
  for (int i = 0; i < 200; ++i) {
    WARDEN_ASSIGN_OR_RETURN(
        nlohmann::json r,
        Call("eth_getTransactionReceipt", nlohmann::json::array({tx_hash})));
    if (!r.is_null()) return r;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("no receipt for ", tx_hash, " after 10 s"));
}

absl::StatusOr<nlohmann::json> AnvilNode::SendFromDev(nlohmann::json tx) {
  tx["from"] = kAnvilDevAddress;
  WARDEN_ASSIGN_OR_RETURN(
      nlohmann::json hash,
      Call("eth_sendTransaction", nlohmann::json::array({tx})));
  if (!hash.is_string()) return absl::InternalError("no transaction hash");
  return Receipt(hash.get<std::string>());
}

absl::StatusOr<absl::uint128> AnvilNode::Balance(const std::string& address) {
  WARDEN_ASSIGN_OR_RETURN(
      nlohmann::json b,
      Call("eth_getBalance", nlohmann::json::array({address, "latest"})));
  return evm::ParseQuantity(b);
}

absl::StatusOr<uint64_t> AnvilNode::Nonce(const std::string& address) {
  WARDEN_ASSIGN_OR_RETURN(nlohmann::json n,
                          Call("eth_getTransactionCount",
                               nlohmann::json::array({address, "latest"})));
  WARDEN_ASSIGN_OR_RETURN(absl::uint128 q, evm::ParseQuantity(n));
  return absl::Uint128Low64(q);
}

absl::StatusOr<absl::uint128> AnvilNode::TokenBalance(
    const std::string& token, const std::string& holder) {
  WARDEN_ASSIGN_OR_RETURN(evm::Address h, evm::ParseAddress(holder));
  // balanceOf(address): selector 0x70a08231, then the address in 32 bytes.
  std::string call = "\x70\xa0\x82\x31" + std::string(12, '\0');
  call.append(h.begin(), h.end());
  WARDEN_ASSIGN_OR_RETURN(
      nlohmann::json out,
      Call("eth_call",
           nlohmann::json::array(
               {{{"to", token}, {"data", evm::Hex(call)}}, "latest"})));
  if (!out.is_string() || out.get<std::string>().size() != 66) {
    return absl::InternalError(absl::StrCat("balanceOf answered ", out.dump()));
  }
  // The low 128 bits suffice for the test's amounts.
  return evm::ParseQuantity("0x" + out.get<std::string>().substr(34));
}

}  // namespace warden::testing
