#ifndef WARDEN_ADAPTERS_LOCAL_LOCAL_ADAPTER_H_
#define WARDEN_ADAPTERS_LOCAL_LOCAL_ADAPTER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "adapters/local/evm_sender.h"
#include "adapters/local/keystore.h"
#include "adapters/wallet_adapter.h"

namespace warden {

// One EVM chain the local adapter sends on.
struct EvmChain {
  std::string name;  // As wallets name it in the bundle: "base".
  uint64_t chain_id = 0;
  std::string rpc_url;
};

// `--chain-rpc` values: CHAIN=URL for a chain in the built-in table
// (ethereum, optimism, polygon, base, arbitrum, sepolia, base-sepolia,
// anvil), or CHAIN:ID=URL for any other. INVALID_ARGUMENT naming the
// problem.
absl::StatusOr<EvmChain> ParseChainRpc(const std::string& spec);

// The "local" vendor: keys kept by Warden in an encrypted keystore
// (decrypted once, at start), signing EIP-1559 transactions and
// broadcasting them to each chain's JSON-RPC endpoint. Sends are
// synchronous: Send answers with the tx hash once the node accepted it.
// Since Warden holds the keys, its freeze is the vendor's: a frozen wallet
// is refused signing.
class LocalAdapter final : public SwitchFreezeAdapter {
 public:
  LocalAdapter(evm::Keystore keystore, std::vector<EvmChain> chains,
               absl::Duration rpc_timeout);

  AdapterInfo Describe() const override;
  absl::Status CheckX402(const Wallet& wallet,
                         uint64_t chain_id) const override;
  // A TransferIntent with x402 terms is signed (EvmSender::
  // SignTransferAuthorization), not sent: SUBMITTED with the signed
  // authorization as vendor_ref, and no tx hash.
  absl::StatusOr<VendorStatus> Send(const TransferIntent& intent) override;
  // An x402 payment is polled at its token: CONFIRMED once used (with the
  // transaction that used it, when found), FAILED once the chain passed its
  // valid_before with it unused.
  absl::StatusOr<VendorStatus> Poll(const Wallet& wallet,
                                    const VendorStatus& last) override;
  // UNIMPLEMENTED: a node has no index of an account's transactions.
  absl::StatusOr<std::vector<VendorTransaction>> ListTransactions(
      const Wallet& wallet, absl::Time since) override;

 private:
  absl::Status SetFrozen(const Wallet& wallet, bool frozen,
                         const std::string& reason) override;
  // The sender for the wallet's key on its chain, created on first use
  // (which checks the node's chain id).
  absl::StatusOr<evm::EvmSender*> SenderFor(const Wallet& wallet);
  absl::StatusOr<VendorStatus> SignX402(evm::EvmSender* sender,
                                        const TransferIntent& intent);
  absl::StatusOr<VendorStatus> PollX402(const Wallet& wallet,
                                        const VendorStatus& last);

  const evm::Keystore keystore_;
  const std::map<std::string, EvmChain> chains_;
  const absl::Duration rpc_timeout_;
  absl::Mutex mu_;
  // (chain, wallet address) -> sender.
  std::map<std::pair<std::string, evm::Address>,
           std::unique_ptr<evm::EvmSender>>
      senders_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> frozen_ ABSL_GUARDED_BY(mu_);  // Wallet ids.
};

}  // namespace warden

#endif  // WARDEN_ADAPTERS_LOCAL_LOCAL_ADAPTER_H_
