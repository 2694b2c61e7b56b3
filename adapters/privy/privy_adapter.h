#ifndef WARDEN_ADAPTERS_PRIVY_PRIVY_ADAPTER_H_
#define WARDEN_ADAPTERS_PRIVY_PRIVY_ADAPTER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "adapters/http/http.h"
#include "adapters/http/signing.h"
#include "adapters/wallet_adapter.h"
#include "nlohmann/json.hpp"

namespace warden {

struct PrivyOptions {
  // Privy's REST API; a fake's http://127.0.0.1:PORT in tests. No trailing
  // slash needed (one is removed).
  std::string base_url = "https://api.privy.io";
  // Basic auth (app id : app secret), and the privy-app-id header.
  std::string app_id;
  std::string app_secret;
  // "wallet-auth:<base64 PKCS#8 P-256>" or the bare base64: signs every
  // write (privy-authorization-signature). Optional: needed when wallets
  // have an owner or signer (and to update owned wallets to freeze them).
  std::string authorization_key;
  // Bundle chain -> EVM chain id; extends and overrides the built-in table
  // (evm::KnownChainId).
  std::map<std::string, uint64_t> chain_ids;
  http::RetryPolicy retry;
  // Bundle chain -> token contracts (0x-hex) whose transfers
  // ListTransactions reports besides the native coin's. Privy lists one
  // asset or token per query, so tokens must be named.
  std::map<std::string, std::vector<std::string>> list_tokens;
};

// The "privy" vendor: Privy server wallets through Privy's REST API
// (https://docs.privy.io/api-reference). A wallet's Privy id is its
// vendor_id. Sends are eth_sendTransaction RPCs that Privy signs and
// broadcasts, each with an idempotency key derived from the operation id,
// so a retried or re-sent request never makes a second transaction (within
// Privy's 24-hour key window). Freezing attaches a deny-all policy; the
// wallet's previous policy id is kept in that policy's name, so unfreezing
// restores it even after a restart. Stateless apart from its configuration:
// thread-safe.
class PrivyAdapter final : public SwitchFreezeAdapter {
 public:
  // INVALID_ARGUMENT naming the option when the options are unusable.
  // `transport` defaults to a CurlTransport.
  static absl::StatusOr<std::unique_ptr<PrivyAdapter>> Create(
      PrivyOptions options,
      std::unique_ptr<http::HttpTransport> transport = nullptr);

  AdapterInfo Describe() const override;
  // FAILED_PRECONDITION naming wallets[ID].vendor_id when it is empty, or
  // wallets[ID].chain when the chain has no chain id.
  absl::Status CheckWallet(const Wallet& wallet) const override;
  // kSubmitted with the hash (kPending while Privy has none yet) and a
  // vendor_ref naming the Privy wallet, Privy's transaction id and the
  // hash, as far as Privy gave them. kUnknown when the request may have been
  // acted on and no answer said how; its vendor_ref also holds the request
  // and idempotency key, and Poll sends it again. kUnknown too when Privy
  // signed it but reports transaction_broadcast_failure (it may still be
  // mined; it is not sent again). An error when nothing was sent: bad input,
  // 401/403 (UNAUTHENTICATED/PERMISSION_DENIED with Privy's message), a
  // policy refusal (PERMISSION_DENIED; a frozen wallet), or Privy
  // unreachable (UNAVAILABLE). Calldata is limited to kMaxDataBytes so that
  // the request fits in vendor_ref.
  absl::StatusOr<VendorStatus> Send(const TransferIntent& intent) override;
  // A known transaction: GET /v1/transactions/{id}. A hash without an id:
  // looked up in the wallet's transaction list. An unknown send: the same
  // request again with the same idempotency key to the Privy wallet it was
  // first sent to (Privy answers the first outcome or acts now, once),
  // while the key is still valid; a re-send refused with a 4xx stays
  // kUnknown and is not sent again. `failed` and `provider_error` are
  // kUnknown (the signed transaction may still be mined); only
  // `execution_reverted` and `replaced` are kFailed. A malformed vendor_ref
  // is kUnknown with an error.
  absl::StatusOr<VendorStatus> Poll(const Wallet& wallet,
                                    const VendorStatus& last) override;
  // Transfers sent (spend, not deposits) of the native coin and of the
  // tokens in
  // PrivyOptions::list_tokens, created at or after `since`, that have a
  // hash and did not fail (failed, replaced, reverted and refused ones moved
  // nothing). Oldest first. RESOURCE_EXHAUSTED past kMaxListPages pages of
  // one query, rather than a silently partial list.
  absl::StatusOr<std::vector<VendorTransaction>> ListTransactions(
      const Wallet& wallet, absl::Time since) override;

  static constexpr size_t kMaxDataBytes = 1024;
  static constexpr int kListPageSize = 100;  // Privy's maximum.
  static constexpr int kMaxListPages = 50;
  // Privy keeps an idempotency key for 24 hours; an unknown send is re-sent
  // only this long after it was first sent, with an hour to spare.
  static constexpr absl::Duration kResendWindow = absl::Hours(23);

 private:
  absl::Status SetFrozen(const Wallet& wallet, bool frozen,
                         const std::string& reason) override;
  struct Answer;
  struct Ref;  // vendor_ref's contents.

  PrivyAdapter(PrivyOptions options,
               std::optional<http::SigningKey> authorization_key,
               std::map<std::string, uint64_t> chain_ids,
               std::unique_ptr<http::HttpTransport> transport);

  // One request to Privy with retries. `body` null for none; `query`
  // without its "?". Writes are signed when an authorization key is set.
  Answer Call(const std::string& method, const std::string& path,
              const std::string& query, const nlohmann::json& body,
              const std::string& idempotency_key, http::Replay replay) const;
  // The eth_sendTransaction RPC described by `ref` (see Send), to the
  // Privy wallet it names. `wallet` names the bundle field in errors.
  absl::StatusOr<VendorStatus> SendRpc(const Wallet& wallet, Ref ref,
                                       bool is_resend) const;
  absl::StatusOr<VendorStatus> PollTransaction(const VendorStatus& last,
                                               const Ref& ref) const;
  absl::StatusOr<VendorStatus> PollByHash(const VendorStatus& last,
                                          Ref ref) const;
  // `query` without its "?"; empty for none.
  absl::StatusOr<nlohmann::json> GetJson(const std::string& path,
                                         const std::string& query) const;

  const PrivyOptions options_;
  const std::optional<http::SigningKey> authorization_key_;
  const std::map<std::string, uint64_t> chain_ids_;
  const std::unique_ptr<http::HttpTransport> transport_;
};

}  // namespace warden

#endif  // WARDEN_ADAPTERS_PRIVY_PRIVY_ADAPTER_H_
