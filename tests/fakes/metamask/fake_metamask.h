#ifndef WARDEN_TESTS_FAKES_METAMASK_FAKE_METAMASK_H_
#define WARDEN_TESTS_FAKES_METAMASK_FAKE_METAMASK_H_

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
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace httplib {
class Server;
}

namespace warden::testing {

// A fake of MetaMask Agent Wallet (server-wallet mode) as its `mm` CLI
// shows it (https://docs.metamask.io/agent-wallet/reference/commands/).
// It plays the CLI and the wallet service behind it: the `fake_mm`
// executable forwards its argv and the session token it finds in
// $HOME/.metamask/session.json to this in-process HTTP server on
// 127.0.0.1, prints the {"ok", "data"} / {"ok": false, "error"} envelope the
// server answers, and exits with the CLI's exit code (0, or 1 on an error).
//
// `mm --version` answers "@metamask/agent-wallet/<version> linux-x64 ..."
// (SetCliVersion; 6.1.5 by default), with no session needed.
//
// Commands: wallet select|address, wallet send-transaction (--chain-id,
// --payload {to, value 0x-hex, data}, --intent, --wait), wallet requests
// list|watch, wallet policy get|set, wallet trading-mode get|set, tx
// history. A wrong or missing session token gets AUTH_FAILED. `wallet
// requests list` shows the active wallet's unfinished requests only, so a
// caller that forgets to select the wallet is caught. tx history rows carry
// `status` ("pending", "confirmed", "failed") and, only for a transaction
// with calldata, `input`.
//
// Wallets are server wallets with a Guard Mode policy (YAML, as `mm wallet
// policy get` shows it). A send that would take the rolling 24-hour
// outflow past evm.outflow_limits_usd.rolling_24h, or goes to a chain not in
// evm.allowed_chains (when the list is not empty), waits in AWAITING_MFA for
// the owner (ApproveMfa / RejectMfa); one within policy is broadcast at
// once (SUBMITTED, with a hash) and final once Confirm()ed (COMPLETED).
// Simplification: the fake values every transfer at one "USD" per base
// unit (value plus any ERC-20 transfer amount). Loosening a policy or
// leaving Guard Mode waits for 2FA (pending_approval); tightening applies
// at once. Thread-safe.
class FakeMetaMask {
 public:
  // One transaction a wallet broadcast.
  struct Tx {
    std::string hash;  // 0x, lowercase.
    uint64_t chain_id = 0;
    std::string from;  // 0x, lowercase.
    std::string to;
    absl::uint128 value = 0;
    std::string data;  // 0x-hex calldata; empty for none.
    absl::Time time;
    std::string polling_id;  // Empty for one made outside the CLI.
    std::string intent;
    std::string status;  // "SUBMITTED", "COMPLETED" or "FAILED".
    // tx history shows the intent only when the local CLI recorded the job
    // (https://docs.metamask.io/agent-wallet/reference/commands/, mm tx
    // history): not when it crashed right after sending.
    bool intent_in_history = true;
  };
  // One wallet job: a transaction, a policy change or a trading-mode change.
  struct Request {
    std::string polling_id;
    std::string kind;  // "transaction", "policy", "trading-mode".
    std::string address;
    std::string status;  // AWAITING_MFA, SUBMITTED, COMPLETED, FAILED,
                         // REJECTED, EXPIRED; pending_approval, confirmed.
    std::string intent;
    std::string hash;
    std::string failure_reason;
    std::string pending;  // Policy YAML or trading mode to apply on approval.
    // Set when the job ended with an error code (TX_FAILED, ...): `watch`
    // answers it, and `requests list` no longer shows the job.
    std::string ended_with;
  };
  enum class Fault {
    // Answers RATE_LIMITED; nothing happens.
    kRateLimited,
    // Answers WALLET_ERROR ("internal error") before anything happens.
    kInternalError,
    // The command takes effect, then the answer comes only after `delay`
    // (the caller's timeout kills fake_mm first).
    kSlowAfterEffect,
    // The command takes effect, then fake_mm kills itself with SIGKILL
    // before printing anything.
    kCrashAfterEffect,
    // The command takes effect, then a later call of the CLI's is rate
    // limited: it answers RATE_LIMITED.
    kRateLimitedAfterEffect,
    // The command takes effect, then refreshing the session fails: it
    // answers TOKEN_REFRESH_FAILED.
    kTokenRefreshFailedAfterEffect,
  };

  static absl::StatusOr<std::unique_ptr<FakeMetaMask>> Start(
      std::string cli_token = "fake-cli-token");
  ~FakeMetaMask();
  FakeMetaMask(const FakeMetaMask&) = delete;
  FakeMetaMask& operator=(const FakeMetaMask&) = delete;

  std::string url() const;  // http://127.0.0.1:PORT
  const std::string& cli_token() const { return cli_token_; }

  // Makes `home` a HOME for fake_mm: .metamask/session.json holding
  // `cli_token` (the fake's own when nullopt) and .metamask/fake_mm_url
  // holding url(). (fake_mm also takes the URL from $FAKE_MM_URL.)
  absl::Status PrepareHome(
      const std::string& home,
      std::optional<std::string> cli_token = std::nullopt) const;

  // A server wallet in Guard Mode with this rolling 24-hour outflow limit
  // (nullopt: none set). The first wallet added is the active one.
  void AddWallet(const std::string& address,
                 std::optional<absl::uint128> outflow_limit);
  std::string ActiveWallet() const;

  // The wallet's policy, as set by the owner (no 2FA).
  void SetOutflowLimit(const std::string& address,
                       std::optional<absl::uint128> limit);
  std::optional<absl::uint128> OutflowLimit(const std::string& address) const;
  std::string PolicyYaml(const std::string& address) const;
  std::string TradingMode(const std::string& address) const;
  // Frozen as MetaMask can freeze: Guard Mode with an outflow limit of 0,
  // so every spend waits for the owner's 2FA.
  bool IsFrozen(const std::string& address) const;

  // Jobs, by polling (or request) id.
  std::optional<Request> GetRequest(const std::string& id) const;
  std::vector<Request> Requests() const;
  // The owner answers a 2FA prompt. FAILED_PRECONDITION unless it awaits
  // approval; NOT_FOUND for an unknown id.
  absl::Status ApproveMfa(const std::string& id);
  absl::Status RejectMfa(const std::string& id);
  // The chain: a broadcast transaction is mined (COMPLETED) or reverts
  // (FAILED). By polling id or hash.
  absl::Status Confirm(const std::string& id_or_hash);
  absl::Status FailOnChain(const std::string& id_or_hash,
                           const std::string& reason);

  // The job ends as `watch` then reports it, with a documented error code
  // (TX_FAILED, TX_REVERTED with `failure_reason`, RELAY_FAILED, ...) or
  // any other. NOT_FOUND for an unknown id.
  absl::Status EndRequest(const std::string& id, const std::string& code,
                          const std::string& failure_reason = "");

  // The CLI version fake_mm reports (`mm --version`) and behaves as: "6.x"
  // (the default, @metamask/agent-wallet: `requests watch <polling-id>`,
  // --polling-id refused as UNKNOWN_FLAG) or "5.x"
  // (@metamask/agentic-cli: --polling-id required); any other is reported
  // as given and behaves as 6.x.
  void SetCliVersion(const std::string& version);

  // Every transaction broadcast, oldest first.
  std::vector<Tx> Ledger() const;
  // A transaction from `from` made outside the CLI (shadow spend): it is
  // mined at once and tx history shows it. Returns its hash.
  std::string RecordExternalTransaction(const std::string& from,
                                        uint64_t chain_id,
                                        const std::string& to,
                                        absl::uint128 value,
                                        const std::string& data = "",
                                        absl::Time time = absl::Now());
  // The indexer behind `tx history` stops (transactions broadcast from now
  // on are not listed) and catches up again.
  void PauseIndexer();
  void ResumeIndexer();

  // How many times the CLI ran `command` ("wallet send-transaction"),
  // whatever the outcome.
  int CommandCount(const std::string& command) const;

  // The next `times` runs of `command` ("wallet send-transaction"; empty:
  // any command) meet `fault`.
  void InjectFault(Fault fault, const std::string& command, int times = 1,
                   absl::Duration delay = absl::Seconds(30));

 private:
  struct Wallet {
    std::string address;
    std::string mode = "guard";
    std::string policy_yaml;
    std::optional<absl::uint128> limit;
    std::vector<uint64_t> allowed_chains;
  };
  struct PendingFault {
    Fault fault;
    std::string command;
    int times;
    absl::Duration delay;
  };
  // What fake_mm prints and how it ends.
  struct Answer {
    int exit_code = 0;
    std::string out;
    std::string err;
    bool crash = false;
  };
  struct Args {
    std::vector<std::string> words;  // Command words and positionals.
    std::map<std::string, std::string> flags;
  };

  explicit FakeMetaMask(std::string cli_token);
  absl::Status Listen();
  nlohmann::json HandleCli(const nlohmann::json& request);
  Answer Run(const std::string& command, const Args& args)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Answer SendTransaction(const Args& args) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Answer Watch(const std::string& id, absl::Duration wait)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Answer PolicySet(const Args& args) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Answer TradingModeSet(const Args& args) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Answer TxHistory(const Args& args) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Wallet* FindWallet(const std::string& address)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  const Wallet* FindWallet(const std::string& address) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  absl::Status ApplyPolicy(Wallet& wallet, const std::string& yaml)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Tx& Broadcast(Request& request, uint64_t chain_id, const std::string& to,
                absl::uint128 value, const std::string& data)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::uint128 Outflow24h(const std::string& address) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  Tx* FindTx(const std::string& id_or_hash) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string NewHash() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string cli_token_;
  std::string cli_version_ ABSL_GUARDED_BY(mu_) = "6.1.5";
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<Wallet> wallets_ ABSL_GUARDED_BY(mu_);
  std::string active_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Request> requests_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> request_order_ ABSL_GUARDED_BY(mu_);
  std::vector<Tx> ledger_ ABSL_GUARDED_BY(mu_);
  std::vector<PendingFault> faults_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> command_counts_ ABSL_GUARDED_BY(mu_);
  uint64_t hash_counter_ ABSL_GUARDED_BY(mu_) = 0;
  // While set, tx history lists no transaction made after it.
  std::optional<absl::Time> indexed_until_ ABSL_GUARDED_BY(mu_);
};

}  // namespace warden::testing

#endif  // WARDEN_TESTS_FAKES_METAMASK_FAKE_METAMASK_H_
