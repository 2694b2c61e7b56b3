#ifndef WARDEN_ADAPTERS_WALLET_ADAPTER_H_
#define WARDEN_ADAPTERS_WALLET_ADAPTER_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/numeric/int128.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "governance/operation.h"
#include "governance/policy.h"
#include "governance/vendor_freezer.h"

namespace warden {

// What a vendor's adapter can do.
struct AdapterInfo {
  std::string vendor;               // "local", "metamask", "cdp", "privy".
  std::vector<std::string> chains;  // The chains it is configured for.
  // Send may return before the transaction has a hash (a handle to poll).
  bool async = false;
  // The vendor enforces policies of its own (spend caps, MFA).
  bool vendor_policy = false;
  // Freeze freezes the wallet at the vendor.
  bool vendor_freeze = false;
  // ListTransactions is supported.
  bool list_transactions = false;
};

// An approved spend for the adapter to carry out.
struct TransferIntent {
  // Unique per intent; vendors that take an idempotency key get this one.
  std::string operation_id;
  Wallet wallet;
  std::string asset;
  // The token's contract on the wallet's chain (0x-hex); empty when the
  // asset is the chain's native coin.
  std::string token_contract;
  absl::uint128 amount = 0;  // Base units.
  std::string destination;
  std::string data;  // Optional calldata (bytes) for a native transfer.
  // Set for an x402 payment: sign an EIP-3009 authorization of `amount` of
  // the token to `destination`, valid until `valid_before`, instead of
  // sending anything; the vendor_ref answered is the signed authorization.
  std::optional<X402Terms> x402;
  absl::Time valid_before;
};

// What the vendor says of one operation.
struct VendorStatus {
  OperationState state = OperationState::kPending;
  std::string tx_hash;     // 0x-hex, once known.
  std::string vendor_ref;  // The vendor's handle, for Poll.
  std::string error;       // For kFailed and kUnknown.
};

// One transaction the vendor reports for a wallet (for reconciliation).
struct VendorTransaction {
  std::string tx_hash;
  std::string from;
  std::string to;
  std::string asset;
  absl::uint128 amount = 0;
  absl::Time time;
};

// One wallet vendor. Adapter secrets (API keys, keystore passwords) come
// from files or environment variables named in the server configuration,
// never from the policy bundle. Thread-safe.
class WalletAdapter {
 public:
  WalletAdapter() = default;
  WalletAdapter(const WalletAdapter&) = delete;
  WalletAdapter& operator=(const WalletAdapter&) = delete;
  virtual ~WalletAdapter() = default;

  virtual AdapterInfo Describe() const = 0;

  // FAILED_PRECONDITION (naming the bundle field) when the adapter could not
  // send from `wallet` as the bundle describes it (a chain it does not
  // serve, a missing vendor_id): checked before anything is held.
  virtual absl::Status CheckWallet(const Wallet& wallet) const {
    (void)wallet;
    return absl::OkStatus();
  }

  // FAILED_PRECONDITION (naming the field) unless the adapter can sign x402
  // payments from `wallet` on the chain with id `chain_id`: only where
  // Warden holds the key, so by default never. Checked before anything is
  // held.
  virtual absl::Status CheckX402(const Wallet& wallet,
                                 uint64_t chain_id) const {
    (void)chain_id;
    return absl::FailedPreconditionError(absl::StrCat(
        "wallet_id: wallet ", wallet.id, " is a ", wallet.vendor,
        " wallet; x402 payments are signed by Warden, so only from local "
        "wallets"));
  }

  // Hands the spend to the vendor. An error means nothing was sent, so the
  // hold may be released. When the outcome is not known (a timeout after
  // the request left), the result is OK with state kUnknown: the caller
  // keeps the hold and polls. A sync vendor answers kSubmitted (with the
  // hash) or a final state; an async one may answer kPending or
  // kAwaitingApproval with a vendor_ref to poll.
  virtual absl::StatusOr<VendorStatus> Send(const TransferIntent& intent) = 0;

  // The operation's state now, given what was last known of it.
  virtual absl::StatusOr<VendorStatus> Poll(const Wallet& wallet,
                                            const VendorStatus& last) = 0;

  // Freezes the wallet at the vendor, or lifts that freeze putting back
  // `restore` (see VendorFreezer); UNIMPLEMENTED where the vendor has no
  // such control.
  virtual absl::StatusOr<VendorFreeze> Freeze(const Wallet& wallet,
                                              const std::string& reason) = 0;
  virtual absl::Status Unfreeze(const Wallet& wallet,
                                const std::string& restore,
                                const std::string& reason) = 0;
  // What its Freeze achieves when it succeeds.
  virtual VendorFreeze::Strength FreezeStrength() const {
    return VendorFreeze::Strength::kRefuses;
  }

  // The wallet's transactions since `since`; UNIMPLEMENTED where the vendor
  // cannot list them.
  virtual absl::StatusOr<std::vector<VendorTransaction>> ListTransactions(
      const Wallet& wallet, absl::Time since) = 0;
};

// An adapter whose freeze is a switch the vendor keeps, with nothing for
// Warden to restore: Freeze and Unfreeze come down to SetFrozen.
class SwitchFreezeAdapter : public WalletAdapter {
 public:
  absl::StatusOr<VendorFreeze> Freeze(const Wallet& wallet,
                                      const std::string& reason) final {
    if (absl::Status st = SetFrozen(wallet, true, reason); !st.ok()) return st;
    return VendorFreeze{};
  }
  // `restore` is always empty.
  absl::Status Unfreeze(const Wallet& wallet, const std::string& restore,
                        const std::string& reason) final {
    (void)restore;
    return SetFrozen(wallet, false, reason);
  }

 protected:
  // Freezes or unfreezes the wallet at the vendor; idempotent.
  virtual absl::Status SetFrozen(const Wallet& wallet, bool frozen,
                                 const std::string& reason) = 0;
};

// The configured adapters, by vendor name. As the engine's VendorFreezer it
// sends each wallet's freeze to its vendor's adapter. Every call that reaches
// a vendor (send, poll, freeze, unfreeze, list) is reported to the telemetry
// observer (governance/telemetry.h), and the text it returns is made valid
// UTF-8. Filled at start, then read-only:
// thread-safe.
class AdapterRegistry final : public VendorFreezer {
 public:
  // ALREADY_EXISTS when the vendor has an adapter already.
  absl::Status Add(std::unique_ptr<WalletAdapter> adapter);
  // The vendor's adapter, or FAILED_PRECONDITION naming the vendor.
  absl::StatusOr<WalletAdapter*> For(const std::string& vendor) const;
  std::vector<AdapterInfo> Describe() const;
  bool empty() const { return adapters_.empty(); }

  // UNIMPLEMENTED when no adapter serves the wallet's vendor.
  absl::StatusOr<VendorFreeze> Freeze(const Wallet& wallet,
                                      const std::string& reason) override;
  absl::Status Unfreeze(const Wallet& wallet, const std::string& restore,
                        const std::string& reason) override;
  // What a freeze of `wallet` achieves at its vendor; nullopt when no
  // adapter serves the vendor (a freeze then holds in Warden only).
  std::optional<VendorFreeze::Strength> FreezeControl(
      const Wallet& wallet) const;

 private:
  // The adapter of the wallet's vendor; UNIMPLEMENTED when none is.
  absl::StatusOr<WalletAdapter*> Serving(const Wallet& wallet) const;

  std::map<std::string, std::unique_ptr<WalletAdapter>> adapters_;
};

}  // namespace warden

#endif  // WARDEN_ADAPTERS_WALLET_ADAPTER_H_
