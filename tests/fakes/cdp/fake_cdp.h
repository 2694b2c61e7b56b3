#ifndef WARDEN_TESTS_FAKES_CDP_FAKE_CDP_H_
#define WARDEN_TESTS_FAKES_CDP_FAKE_CDP_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/numeric/int128.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "adapters/http/signing.h"
#include "nlohmann/json.hpp"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace warden::testing {

// A fake of Coinbase CDP, written from CDP's public docs, on 127.0.0.1
// (a port of its own, picked by the kernel). It serves:
//   POST   /platform/v2/evm/accounts/{address}/send/transaction
//   GET    /platform/v2/evm/accounts/{address}
//   PUT    /platform/v2/evm/accounts/{address}       (accountPolicy)
//   POST   /platform/v2/policy-engine/policies
//   GET    /platform/v2/policy-engine/policies/{id}
//   DELETE /platform/v2/policy-engine/policies/{id}
//   GET    /platform/v1/networks/{network_id}/addresses/{address}/transactions
//   POST   /rpc   a JSON-RPC node (eth_getTransactionReceipt) over the ledger
// Every CDP path checks the Bearer JWT (signature with the API key, kid,
// sub, iss, aud, nbf/exp, and uris = "METHOD host path"); sends also check
// X-Wallet-Auth (signature with the wallet secret, iat, a jti not seen
// before, uris, and reqHash = SHA-256 of the sorted-keys JSON body). A bad
// one gets 401 {errorType: "unauthorized", ...}. X-Idempotency-Key (a UUID
// v4) makes a repeated write answer the first answer without acting again;
// while the first is still in progress the key answers 409, and with
// another body 422. Account policies are evaluated on every send (the
// fake's and DirectSend's alike); a rejected send answers 403
// policy_violation. Thread-safe; stops in the destructor.
class FakeCdp {
 public:
  struct Options {
    bool ed25519_api_key = false;  // Else an EC P-256 key (PEM).
    // With ed25519_api_key: a key whose secret starts with the byte 0x30,
    // as DER does (about 1 CDP key in 256).
    bool ed25519_starts_like_der = false;
    bool auto_confirm = false;  // Sends are mined as they are accepted.
  };

  enum class TxState { kPending, kConfirmed, kReverted };

  struct LedgerEntry {
    std::string hash;  // 0x, lowercase.
    std::string from;  // The account, lowercase.
    std::string network;
    std::string to;  // Lowercase.
    absl::uint128 value = 0;
    std::string data;  // Calldata bytes.
    uint64_t nonce = 0;
    std::string idempotency_key;  // "" for DirectSend.
    bool direct = false;          // Made by DirectSend.
    TxState state = TxState::kPending;
    absl::Time sent_at;
    absl::Time mined_at;  // Once confirmed or reverted.
    uint64_t block = 0;
  };

  // The next `count` requests matching `method` ("" = any) and
  // `path_prefix` ("" = any) are:
  //   kRateLimit   answered 429 rate_limit_exceeded, Retry-After seconds;
  //   kServerError answered 500 internal_server_error, not acted on;
  //   kSlow        acted on, then answered after `delay`;
  //   kDrop        acted on, then the connection is cut: the status line
  //                and headers (Content-Length: N) are written, then the
  //                socket is closed before the body, so the client sees a
  //                transport error (curl: "transfer closed with N bytes
  //                remaining"), not an HTTP answer.
  struct Fault {
    enum class Kind { kRateLimit, kServerError, kSlow, kDrop };
    Kind kind = Kind::kServerError;
    int count = 1;
    std::string method;
    std::string path_prefix;
    int retry_after_seconds = 1;
    absl::Duration delay = absl::Seconds(1);
  };

  static absl::StatusOr<std::unique_ptr<FakeCdp>> Start(Options options);
  static absl::StatusOr<std::unique_ptr<FakeCdp>> Start() {
    return Start(Options{});
  }
  ~FakeCdp();
  FakeCdp(const FakeCdp&) = delete;
  FakeCdp& operator=(const FakeCdp&) = delete;

  // http://127.0.0.1:PORT: CdpOptions::base_url.
  std::string url() const;
  // The JSON-RPC endpoint: CdpOptions::rpc_urls[chain].
  std::string rpc_url() const;
  // The credentials the fake accepts (fresh keys per fake).
  const std::string& api_key_id() const { return api_key_id_; }
  const std::string& api_key_secret() const { return api_key_secret_; }
  const std::string& wallet_secret() const { return wallet_secret_; }

  // Creates a CDP EVM account (as createEvmAccount would).
  void AddAccount(const std::string& address);

  std::vector<LedgerEntry> Ledger() const;
  // A send by someone else holding the project's keys (another service, a
  // person with the portal): the same checks and policies as the API's
  // send, without Warden. Returns the hash; NOT_FOUND for an unknown
  // account, PERMISSION_DENIED when a policy rejects it.
  absl::StatusOr<std::string> DirectSend(const std::string& from,
                                         const std::string& network,
                                         const std::string& to,
                                         absl::uint128 value,
                                         const std::string& data = "");
  // Mines a transaction (kConfirmed or kReverted); NOT_FOUND if unknown.
  absl::Status SetTxState(const std::string& hash, TxState state);

  void InjectFault(Fault fault);

  // The account-level policy attached to `address`, if any.
  std::optional<std::string> AccountPolicy(const std::string& address) const;
  std::optional<nlohmann::json> Policy(const std::string& id) const;
  // Whether the account policy on `address` rejects `op` (its first rule
  // that applies decides; none applying: not rejected, so a freeze must
  // cover every operation). `to`: a destination, or a typed-data request's
  // verifying contract.
  bool Rejects(const std::string& address, const std::string& op,
               absl::uint128 value = 0, const std::string& to = "") const;
  size_t PolicyCount() const;
  // Creates a policy as POST /policies would (the body's scope,
  // description, rules), and attaches an account policy as PUT would.
  absl::StatusOr<std::string> CreatePolicy(const nlohmann::json& body);
  absl::Status AttachPolicy(const std::string& address, const std::string& id);

  // Requests seen, "METHOD /path" (no query), oldest first.
  std::vector<std::string> Requests() const;
  int CountRequests(const std::string& method,
                    const std::string& path_prefix) const;

 private:
  struct Answer {
    int status = 200;
    std::string body;
  };
  struct Account {
    std::string account_policy;
    absl::Time created_at;
    absl::Time updated_at;
  };
  struct Remembered {
    std::string fingerprint;  // Method, path and body.
    bool done = false;
    Answer answer;
  };

  explicit FakeCdp(Options options);
  absl::Status Init();
  void Handle(const httplib::Request& req, httplib::Response& res);
  absl::Status CheckBearer(const httplib::Request& req,
                           const std::string& uri) const;
  absl::Status CheckWalletAuth(const httplib::Request& req,
                               const std::string& uri);
  // Runs a write under its idempotency key (if any).
  Answer Idempotent(const httplib::Request& req, const std::string& key,
                    const std::function<Answer()>& act,
                    absl::Duration slow_delay);
  Answer Route(const httplib::Request& req, absl::Duration slow_delay);
  Answer SendTransaction(const std::string& address, const std::string& body,
                         const std::string& idempotency_key);
  Answer GetAccount(const std::string& address);
  Answer UpdateAccount(const std::string& address, const std::string& body);
  Answer CreatePolicyAnswer(const std::string& body);
  Answer GetPolicy(const std::string& id);
  Answer DeletePolicy(const std::string& id);
  Answer ListTransactions(const std::string& network_id,
                          const std::string& address,
                          const httplib::Request& req);
  Answer JsonRpc(const std::string& body);
  // The ledger entry of an accepted send, or the answer refusing it.
  absl::StatusOr<LedgerEntry> Accept(const std::string& from,
                                     const std::string& network,
                                     const std::string& to, absl::uint128 value,
                                     const std::string& data,
                                     const std::string& key, bool direct)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether the policies of `address` accept the send; the rejecting
  // policy's id otherwise.
  std::optional<std::string> Rejects(const std::string& address,
                                     const std::string& network,
                                     const std::string& to,
                                     absl::uint128 value) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  nlohmann::json AccountJson(const std::string& address,
                             const Account& account) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::string> StorePolicy(const nlohmann::json& body)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Sleep(absl::Duration d) const;

  const Options options_;
  std::string api_key_id_;
  std::string api_key_secret_;
  std::string wallet_secret_;
  std::optional<http::VerifyingKey> api_verifier_;
  std::optional<http::VerifyingKey> wallet_verifier_;
  const char* api_alg_ = "ES256";

  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<bool> stopping_{false};

  mutable absl::Mutex mu_;
  std::map<std::string, Account> accounts_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, nlohmann::json> policies_ ABSL_GUARDED_BY(mu_);
  std::vector<LedgerEntry> ledger_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<std::string, std::string>, uint64_t> nonces_
      ABSL_GUARDED_BY(mu_);
  uint64_t blocks_ ABSL_GUARDED_BY(mu_) = 100;
  std::map<std::string, Remembered> idempotency_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> wallet_jtis_ ABSL_GUARDED_BY(mu_);
  std::vector<Fault> faults_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> requests_ ABSL_GUARDED_BY(mu_);
};

}  // namespace warden::testing

#endif  // WARDEN_TESTS_FAKES_CDP_FAKE_CDP_H_
