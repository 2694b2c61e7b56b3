#ifndef WARDEN_TESTS_FAKES_PRIVY_FAKE_PRIVY_H_
#define WARDEN_TESTS_FAKES_PRIVY_FAKE_PRIVY_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/numeric/int128.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace warden::testing {

// A fake of Privy's server-wallet REST API (https://docs.privy.io), served
// over HTTP on 127.0.0.1 from the constructor to the destructor, for the
// privy adapter's tests and for end-to-end tests that point a real wardend
// at url(). It covers what the adapter uses:
//   POST   /v1/wallets/{id}/rpc            eth_sendTransaction
//   GET    /v1/wallets/{id}                PATCH /v1/wallets/{id} (policy_ids)
//   GET    /v1/wallets/{id}/transactions   chain, asset|token, cursor, limit
//   GET    /v1/transactions/{id}
//   POST   /v1/policies                    GET|DELETE /v1/policies/{id}
// and checks requests as Privy documents: Basic auth with the app id and
// secret and a matching privy-app-id header (401 otherwise); on writes to a
// wallet with an owner, a privy-authorization-signature that verifies
// against the owner's P-256 key over the RFC 8785 payload {version: 1,
// method, url, body, headers: the privy-* headers} (401 with code
// missing_or_empty_authorization_header or
// zero_correct_authorization_signatures otherwise); idempotency keys (the
// same key and body answer the stored response without acting again; the
// same key with another body is a 400). A send that the wallet's policy
// denies is a 400 with code policy_violation. Thread-safe.
class FakePrivy {
 public:
  struct Options {
    std::string app_id = "fake-privy-app";
    std::string app_secret = "fake-privy-secret";
    int port = 0;  // 0: any free loopback port.
  };

  struct Wallet {
    std::string id;
    std::string address;  // 0x-hex.
    // The owner's P-256 public key as base64 SPKI DER (how Privy registers
    // an authorization key); empty for a wallet without an owner, whose
    // writes need no signature.
    std::string owner_public_key;
    // Sends start "pending" without a hash (as at a custodian) until
    // Broadcast().
    bool hash_later = false;
  };

  // One transaction the fake accepted.
  struct Transaction {
    std::string id;  // Privy's transaction_id.
    std::string wallet_id;
    std::string from;  // The wallet's address, lowercase.
    uint64_t chain_id = 0;
    std::string caip2;
    std::string to;  // As sent, lowercase.
    absl::uint128 value = 0;
    std::string data;  // 0x-hex as sent; empty for none.
    std::string hash;  // Empty until broadcast.
    // pending, broadcasted, confirmed, finalized, execution_reverted,
    // failed, replaced, provider_error.
    std::string status;
    std::string idempotency_key;  // Empty for none.
    absl::Time created_at;
    bool direct = false;  // Made by DirectSend, not through the API.
  };

  struct Policy {
    std::string id;
    std::string name;
    std::string chain_type;
    nlohmann::json rules;  // As created.
    // base64 SPKI DER of its owner's key; empty when it has none. An
    // owned policy is deleted, or detached from a wallet, only with the
    // owner's privy-authorization-signature.
    std::string owner_public_key;
  };

  enum class FaultKind {
    k429,   // Answered 429 with Retry-After before anything is done.
    k500,   // Answered 500 before anything is done.
    kSlow,  // Done, then answered after `delay`.
    // Done, then the connection closes mid-answer: the status line and
    // headers go out, the promised body never does, so the client sees a
    // broken transfer (a transport error), not an HTTP answer.
    kDrop,
    // Done (signed, and the transaction may still reach the chain), then
    // answered 400 transaction_broadcast_failure; that answer is stored
    // under the idempotency key.
    kBroadcastFailure,
    // Done, then answered 200 with the hash but no transaction_id.
    kNoTransactionId,
  };
  struct Fault {
    FaultKind kind = FaultKind::k500;
    int count = 1;                // For the next `count` matching requests.
    std::string method;           // "POST", ...; empty for any.
    std::string path_prefix;      // Empty for any.
    int retry_after_seconds = 1;  // k429.
    absl::Duration delay = absl::Seconds(1);  // kSlow.
  };

  struct Request {
    std::string method;
    std::string path;
    std::map<std::string, std::string> params;
    std::map<std::string, std::string> headers;  // Names lowercased.
    std::string body;
    int status = 0;  // What the fake answered (0: dropped).
  };

  static absl::StatusOr<std::unique_ptr<FakePrivy>> Start(Options options);
  static absl::StatusOr<std::unique_ptr<FakePrivy>> Start() {
    return Start(Options());
  }
  ~FakePrivy();
  FakePrivy(const FakePrivy&) = delete;
  FakePrivy& operator=(const FakePrivy&) = delete;

  // "http://127.0.0.1:PORT": the adapter's base_url, and what signatures
  // must name.
  std::string url() const;
  const std::string& app_id() const { return options_.app_id; }
  const std::string& app_secret() const { return options_.app_secret; }

  void AddWallet(Wallet wallet);
  // Names a token contract for asset= queries and transaction details.
  void AddToken(const std::string& contract, const std::string& asset,
                int decimals);

  // Policies, as a test (or the dashboard) would make them.
  std::string CreatePolicy(const std::string& name,
                           const nlohmann::json& rules);
  absl::Status SetPolicyIds(const std::string& wallet_id,
                            std::vector<std::string> policy_ids);
  std::vector<std::string> PolicyIdsOf(const std::string& wallet_id) const;
  std::optional<Policy> GetPolicy(const std::string& id) const;
  size_t policy_count() const;
  // Whether the wallet's policies refuse an eth_sendTransaction to `to` of
  // `value` now.
  bool RefusesSend(const std::string& wallet_id, const std::string& to,
                   absl::uint128 value) const;

  // The accepted transactions, oldest first.
  std::vector<Transaction> ledger() const;
  std::optional<Transaction> Find(const std::string& transaction_id) const;
  // Moves a transaction on: Broadcast gives a pending one its hash; the
  // others set a status (NOT_FOUND for an unknown id).
  absl::Status Broadcast(const std::string& transaction_id);
  absl::Status SetStatus(const std::string& transaction_id,
                         const std::string& status);
  absl::Status Confirm(const std::string& transaction_id) {
    return SetStatus(transaction_id, "confirmed");
  }
  absl::Status Fail(const std::string& transaction_id,
                    const std::string& status = "failed") {
    return SetStatus(transaction_id, status);
  }

  // A send made at Privy without Warden (someone else holding the app's
  // credentials): the same checks as the RPC bar authentication, the
  // wallet's policies included (PERMISSION_DENIED "policy_violation").
  absl::StatusOr<Transaction> DirectSend(const std::string& wallet_id,
                                         uint64_t chain_id,
                                         const std::string& to,
                                         absl::uint128 value,
                                         const std::string& data = "");

  void InjectFault(Fault fault);
  std::vector<Request> requests() const;

 private:
  struct StoredWallet {
    Wallet wallet;
    std::vector<std::string> policy_ids;
    absl::Time created_at;
  };
  struct Stored {      // An idempotent request's first answer.
    std::string body;  // Canonical JSON of the request body.
    int status = 0;
    std::string response;
  };
  struct Reply {
    int status = 200;
    nlohmann::json body;
  };
  // Runs with mu_ held.
  using Handler = Reply (FakePrivy::*)(const httplib::Request&);

  explicit FakePrivy(Options options);
  void Route(const httplib::Request& req, httplib::Response& res,
             Handler handler, bool idempotent);

  Reply Authenticate(const httplib::Request& req) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // 401 unless a signature verifies against `owner_public_key`; ok (status
  // 0) when it does.
  Reply CheckSignature(const httplib::Request& req,
                       const std::string& owner_public_key) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::optional<Fault> TakeFault(const std::string& method,
                                 const std::string& path)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Reply Rpc(const httplib::Request& req) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Reply GetWallet(const httplib::Request& req)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Reply PatchWallet(const httplib::Request& req)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Reply ListWalletTransactions(const httplib::Request& req)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Reply GetTransaction(const httplib::Request& req)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Reply CreatePolicyRoute(const httplib::Request& req)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Reply GetPolicyRoute(const httplib::Request& req)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Reply DeletePolicyRoute(const httplib::Request& req)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Checks the wallet's policies and records the transaction; a refusal is
  // the error reply.
  absl::StatusOr<Transaction> Execute(const StoredWallet& wallet,
                                      uint64_t chain_id, const std::string& to,
                                      absl::uint128 value,
                                      const std::string& data,
                                      const std::string& idempotency_key,
                                      bool direct)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool Refuses(const StoredWallet& wallet, const std::string& to,
               absl::uint128 value) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  nlohmann::json WalletJson(const StoredWallet& w) const;
  nlohmann::json PolicyJson(const Policy& p) const;

  const Options options_;
  int port_ = 0;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  absl::Notification stopping_;  // Cuts kSlow sleeps short at shutdown.

  mutable absl::Mutex mu_;
  std::map<std::string, StoredWallet> wallets_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Policy> policies_ ABSL_GUARDED_BY(mu_);
  // Contract (lowercase) -> asset name and decimals.
  std::map<std::string, std::pair<std::string, int>> tokens_
      ABSL_GUARDED_BY(mu_);
  std::vector<Transaction> ledger_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Stored> idempotent_ ABSL_GUARDED_BY(mu_);
  std::vector<Fault> faults_ ABSL_GUARDED_BY(mu_);
  std::vector<Request> requests_ ABSL_GUARDED_BY(mu_);
};

}  // namespace warden::testing

#endif  // WARDEN_TESTS_FAKES_PRIVY_FAKE_PRIVY_H_
