#ifndef WARDEN_ADAPTERS_CDP_CDP_ADAPTER_H_
#define WARDEN_ADAPTERS_CDP_CDP_ADAPTER_H_

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

// How to reach Coinbase CDP (Server Wallet v2). Secrets come from files or
// environment variables named in the server configuration.
struct CdpOptions {
  // Scheme and host (and port); the API paths (/platform/v2/...) are
  // appended. The host is also what the JWTs' "uris" claims name.
  std::string base_url = "https://api.cdp.coinbase.com";
  // The Secret API Key: its id, and its secret as an EC P-256 PEM or the
  // base64 Ed25519 key (32-byte seed then 32-byte public key).
  std::string api_key_id;
  std::string api_key_secret;
  // The Wallet Secret: base64 DER PKCS#8 of a P-256 key.
  std::string wallet_secret;
  // Bundle chain -> CDP network name. Entries here extend or override the
  // defaults: base, base-sepolia, ethereum, sepolia (ethereum-sepolia),
  // polygon, arbitrum, optimism.
  std::map<std::string, std::string> networks;
  // Bundle chain -> JSON-RPC URL polled for receipts (CDP's send answers a
  // hash only). Without one, a chain's sends stay SUBMITTED.
  std::map<std::string, std::string> rpc_urls;
  http::RetryPolicy retry;
};

// The "cdp" vendor: EVM accounts whose keys live in CDP's enclave, driven
// by the v2 REST API. Send signs and broadcasts with one call (CDP fills
// nonce, gas and fees) and answers the hash; every send carries an
// idempotency key derived from the operation id, so a re-send is
// deduplicated by CDP and Poll resolves an unknown outcome by re-sending
// the identical request. Freezing attaches a reject-everything account
// policy in CDP's Policy Engine. Thread-safe.
class CdpAdapter final : public SwitchFreezeAdapter {
 public:
  // INVALID_ARGUMENT naming the option when a key, URL or network is
  // unusable. `transport` defaults to a CurlTransport.
  static absl::StatusOr<std::unique_ptr<CdpAdapter>> Create(
      CdpOptions options,
      std::unique_ptr<http::HttpTransport> transport = nullptr);

  AdapterInfo Describe() const override;
  absl::Status CheckWallet(const Wallet& wallet) const override;
  absl::StatusOr<VendorStatus> Send(const TransferIntent& intent) override;
  absl::StatusOr<VendorStatus> Poll(const Wallet& wallet,
                                    const VendorStatus& last) override;
  // From CDP's address history (v1 REST), which serves base, base-sepolia,
  // ethereum, polygon and arbitrum; UNIMPLEMENTED on other networks.
  absl::StatusOr<std::vector<VendorTransaction>> ListTransactions(
      const Wallet& wallet, absl::Time since) override;

 private:
  absl::Status SetFrozen(const Wallet& wallet, bool frozen,
                         const std::string& reason) override;
  struct Request {
    std::string method;
    std::string path;   // From the root: "/platform/v2/...".
    std::string query;  // Without "?"; not part of the JWTs' uris.
    std::optional<nlohmann::json> body;
    std::string idempotency_key;
    bool wallet_auth = false;
  };
  // The answer, or the last transport error, and whether any attempt may
  // have been acted on (it got a 5xx, or left and broke or timed out).
  struct Outcome {
    absl::StatusOr<http::HttpResponse> response;
    bool maybe_acted = false;
  };

  CdpAdapter(CdpOptions options, http::SigningKey api_key,
             http::SigningKey wallet_key, std::string origin,
             std::string path_prefix, std::string host,
             std::unique_ptr<http::HttpTransport> transport);

  Outcome Call(const Request& request, http::Replay replay) const;
  absl::StatusOr<http::HttpRequest> Build(const Request& request) const;
  // The answer when it is 2xx; otherwise the error it means (auth, policy,
  // validation, unavailable), naming `what`.
  absl::StatusOr<nlohmann::json> Expect2xx(const Outcome& outcome,
                                           const std::string& what) const;
  // The wallet's CDP network, or FAILED_PRECONDITION.
  absl::StatusOr<std::string> NetworkFor(const Wallet& wallet) const;
  // Sends (or re-sends) the request a vendor_ref describes, to the account
  // it records.
  absl::StatusOr<VendorStatus> SendRecorded(const std::string& vendor_ref,
                                            bool polling);
  absl::StatusOr<VendorStatus> PollReceipt(const Wallet& wallet,
                                           const VendorStatus& last);
  absl::Status FreezeAddress(const std::string& address);
  absl::Status UnfreezeAddress(const std::string& address);
  // The account-level policy attached to the account, if any.
  absl::StatusOr<std::optional<nlohmann::json>> AccountPolicy(
      const std::string& address);

  const CdpOptions options_;
  const http::SigningKey api_key_;
  const http::SigningKey wallet_key_;
  const std::string origin_;       // "https://api.cdp.coinbase.com"
  const std::string path_prefix_;  // "" unless base_url has a path.
  const std::string host_;         // "api.cdp.coinbase.com"
  const std::unique_ptr<http::HttpTransport> transport_;
};

}  // namespace warden

#endif  // WARDEN_ADAPTERS_CDP_CDP_ADAPTER_H_
