#ifndef WARDEN_ADAPTERS_METAMASK_METAMASK_ADAPTER_H_
#define WARDEN_ADAPTERS_METAMASK_METAMASK_ADAPTER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "adapters/http/http.h"
#include "adapters/metamask/mm_cli.h"
#include "adapters/wallet_adapter.h"

namespace warden {

struct MetaMaskOptions {
  // The MetaMask Agent Wallet CLI (@metamask/agent-wallet): a path, or a
  // name looked up in PATH.
  std::string mm_path = "mm";
  // HOME for mm (its session and wallet files, $HOME/.metamask); empty
  // inherits wardend's.
  std::string home;
  // Chain name -> EVM chain id; empty means evm::KnownChainId's table.
  std::map<std::string, uint64_t> chain_ids;
  // Per mm run; a send that runs longer is killed and its outcome unknown.
  absl::Duration timeout = absl::Seconds(60);
  // Attempts and backoff for retryable CLI errors (RATE_LIMITED, and for
  // reads also timeouts and network errors). Only max_attempts,
  // initial_backoff and max_backoff apply; `timeout` above bounds a run.
  http::RetryPolicy retry;
};

// The "metamask" vendor: MetaMask Agent Wallet server wallets, driven
// through the `mm` CLI run headless (--format json) as a subprocess, never
// through a shell.
//
// Send runs `mm wallet send-transaction` without --wait and answers with
// the request's pollingId as vendor_ref: kPending, kAwaitingApproval (the
// wallet's Guard Mode policy wants the owner's 2FA) or kSubmitted. mm has
// no idempotency key, so a send is never run twice: when its outcome is
// unknown (mm timed out, crashed or printed nothing usable) Send answers
// kUnknown and Poll finds the request by the operation id carried in its
// --intent, or the transaction in `mm tx history`, never by sending again.
// Poll never concludes on its own that an unknown send did not happen: when
// nothing turns up it stays kUnknown, with an error asking a person to
// check. A job MetaMask reports done (or failed) with a hash is settled by
// the transaction's status in `mm tx history`.
//
// Freeze tightens the wallet's Guard Mode policy: rolling 24-hour outflow
// limit 0 (and Guard Mode), so MetaMask holds every spend for the owner's
// 2FA. Unfreezing puts back the exact earlier policy, which MetaMask applies
// only after the owner's 2FA: until then Unfreeze fails with
// FAILED_PRECONDITION saying so.
//
// mm acts on its "active" wallet, so runs that select a wallet and act on it
// are serialized. Thread-safe.
class MetaMaskAdapter final : public WalletAdapter {
 public:
  // INVALID_ARGUMENT for bad options; FAILED_PRECONDITION when mm_path names
  // a file that cannot be run, or a CLI whose version (`mm --version`) this
  // adapter does not support.
  static absl::StatusOr<std::unique_ptr<MetaMaskAdapter>> Create(
      MetaMaskOptions options);

  AdapterInfo Describe() const override;
  absl::Status CheckWallet(const Wallet& wallet) const override;
  absl::StatusOr<VendorStatus> Send(const TransferIntent& intent) override;
  absl::StatusOr<VendorStatus> Poll(const Wallet& wallet,
                                    const VendorStatus& last) override;
  // Guard Mode and a rolling 24-hour outflow limit of 0: MetaMask has no
  // control that refuses a spend, so every spend then waits for the owner's
  // 2FA (kOwnerApproval). `restore` is the earlier policy document and
  // trading mode, put back exactly by Unfreeze (which MetaMask applies only
  // after the owner's 2FA: until then Unfreeze is FAILED_PRECONDITION).
  absl::StatusOr<VendorFreeze> Freeze(const Wallet& wallet,
                                      const std::string& reason) override;
  absl::Status Unfreeze(const Wallet& wallet, const std::string& restore,
                        const std::string& reason) override;
  // No control refuses: a freeze holds spends for the owner's 2FA.
  VendorFreeze::Strength FreezeStrength() const override {
    return VendorFreeze::Strength::kOwnerApproval;
  }
  absl::StatusOr<std::vector<VendorTransaction>> ListTransactions(
      const Wallet& wallet, absl::Time since) override;

 private:
  // The CLI majors this adapter drives (docs/adapters.md).
  static constexpr int kOldestMmMajor = 5;
  static constexpr int kNewestMmMajor = 6;

  MetaMaskAdapter(MetaMaskOptions options, metamask::MmVersion version);

  // One mm run that is safe to repeat (a read, or a write that sets a
  // value), retried while the failure is worth retrying. Its answer is kOk
  // or kError; runs that gave no answer become UNAVAILABLE.
  absl::StatusOr<metamask::MmReply> RunRetried(
      const std::vector<std::string>& args) const;
  // `mm wallet select <address>`; the caller holds active_mu_.
  absl::Status SelectWallet(const Wallet& wallet) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(active_mu_);
  absl::StatusOr<VendorStatus> PollRequest(const Wallet& wallet,
                                           const VendorStatus& last,
                                           const std::string& polling_id);
  absl::StatusOr<VendorStatus> ResolveUnknownSend(const Wallet& wallet,
                                                  const VendorStatus& last);
  // The selected wallet's request whose intent carries `marker`, from `mm
  // wallet requests list`; the caller holds active_mu_ and has selected
  // the wallet (the list is the active wallet's).
  absl::StatusOr<std::optional<nlohmann::json>> FindRequest(
      const Wallet& wallet, const std::string& marker) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(active_mu_);
  // Whether the send `ref` (an unknown send's record) left any trace: a
  // request with its intent, or a history row that may be it. The caller
  // holds active_mu_ and has selected the wallet.
  absl::StatusOr<bool> SendSeen(const Wallet& wallet,
                                const nlohmann::json& ref) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(active_mu_);
  // `last` (kSubmitted with a hash) settled by its `mm tx history` row:
  // kConfirmed or kFailed (with `reason`, MetaMask's, when it has one), or
  // unchanged while the row is missing or pending.
  absl::StatusOr<VendorStatus> SettleOnChain(const Wallet& wallet,
                                             const VendorStatus& last,
                                             const std::string& reason) const;
  absl::StatusOr<std::vector<nlohmann::json>> HistoryRows(
      const Wallet& wallet, absl::Time since,
      const std::string& stop_at_hash = "") const;
  void Backoff(int attempt) const;

  const MetaMaskOptions options_;
  const metamask::MmVersion version_;
  const metamask::MmCli mm_;
  // Held from `mm wallet select` to the end of the command that acts on
  // the selected wallet.
  mutable absl::Mutex active_mu_;
};

}  // namespace warden

#endif  // WARDEN_ADAPTERS_METAMASK_METAMASK_ADAPTER_H_
