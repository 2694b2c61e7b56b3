#include "tests/fakes/metamask/fake_metamask.h"

#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "adapters/http/signing.h"
#include "governance/money.h"
#include "httplib.h"
#include "tests/support/redis_server.h"
#include "yaml-cpp/yaml.h"

namespace warden::testing {
namespace {

using nlohmann::json;

// How long `requests watch` waits when not told (--wallet-timeout); the real
// CLI's default is its walletTimeoutSeconds config (up to 600 s).
constexpr absl::Duration kDefaultWalletTimeout = absl::Seconds(10);
constexpr absl::Duration kOutflowWindow = absl::Hours(24);
// Flags that take no value.
const std::set<std::string>& BooleanFlags() {
  static const auto* flags = new std::set<std::string>{
      "--wait", "--no-wait", "--sync",    "--no-sync", "--yes",
      "--json", "--toon",    "--verbose", "-v"};
  return *flags;
}

std::string Lower(absl::string_view s) { return absl::AsciiStrToLower(s); }

bool IsAddress(absl::string_view s) {
  if (!absl::ConsumePrefix(&s, "0x") || s.size() != 40) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isxdigit(static_cast<unsigned char>(c));
  });
}

bool IsHex(absl::string_view s) {
  if (!absl::ConsumePrefix(&s, "0x")) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isxdigit(static_cast<unsigned char>(c));
  });
}

std::string Decimal(absl::uint128 v) { return FormatBaseUnits(v); }

// The ERC-20 transfer amount in `data`, or 0.
absl::uint128 TokenAmount(const std::string& data) {
  absl::string_view hex = data;
  if (!absl::ConsumePrefix(&hex, "0xa9059cbb") || hex.size() != 128) return 0;
  absl::uint128 amount = 0;
  if (!absl::SimpleHexAtoi(hex.substr(96), &amount)) return 0;
  return amount;
}

std::string PolicyFor(const std::string& address,
                      std::optional<absl::uint128> limit) {
  // The shape `mm wallet policy get` shows (agent-skills wallet reference).
  std::string yaml = absl::StrCat(
      "# Wallet Policy\nschema_version: 1\nwallet_address: \"", address,
      "\"\n\naddresses:\n  allowlist: []\n  blocklist: []\n\nevm:\n"
      "  allowed_chains: []\n");
  if (limit.has_value()) {
    absl::StrAppend(&yaml,
                    "  outflow_limits_usd:\n    rolling_24h: ", Decimal(*limit),
                    "\n");
  }
  return yaml;
}

FakeMetaMask::Request* Find(std::map<std::string, FakeMetaMask::Request>& m,
                            const std::string& id) {
  auto it = m.find(id);
  return it == m.end() ? nullptr : &it->second;
}

json RequestJson(const FakeMetaMask::Request& r) {
  json out{{"pollingId", r.polling_id},
           {"kind", r.kind},
           {"status", r.status},
           {"intent", r.intent}};
  if (!r.hash.empty()) out["hash"] = r.hash;
  if (!r.failure_reason.empty()) out["failureReason"] = r.failure_reason;
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<FakeMetaMask>> FakeMetaMask::Start(
    std::string cli_token) {
  std::unique_ptr<FakeMetaMask> fake(new FakeMetaMask(std::move(cli_token)));
  if (absl::Status st = fake->Listen(); !st.ok()) return st;
  return fake;
}

FakeMetaMask::FakeMetaMask(std::string cli_token)
    : cli_token_(std::move(cli_token)),
      server_(std::make_unique<httplib::Server>()) {}

absl::Status FakeMetaMask::Listen() {
  server_->Post("/v1/cli",
                [this](const httplib::Request& req, httplib::Response& res) {
                  json body = json::parse(req.body, nullptr, false);
                  if (!body.is_object()) {
                    res.status = 400;
                    return;
                  }
                  res.set_content(HandleCli(body).dump(), "application/json");
                });
  for (int attempt = 0; attempt < 5; ++attempt) {
    absl::StatusOr<int> port = FreeLoopbackPort();
    if (!port.ok()) return port.status();
    if (server_->bind_to_port("127.0.0.1", *port)) {
      port_ = *port;
      thread_ = std::thread([this] { server_->listen_after_bind(); });
      for (int i = 0; i < 1000 && !server_->is_running(); ++i) {
        absl::SleepFor(absl::Milliseconds(2));
      }
      return absl::OkStatus();
    }
  }
  return absl::UnavailableError("fake MetaMask: no free loopback port");
}

FakeMetaMask::~FakeMetaMask() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;  // Ends slow answers and watches at once.
  }
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string FakeMetaMask::url() const {
  return absl::StrCat("http://127.0.0.1:", port_);
}

absl::Status FakeMetaMask::PrepareHome(
    const std::string& home, std::optional<std::string> cli_token) const {
  const std::string dir = absl::StrCat(home, "/.metamask");
  ::mkdir(home.c_str(), 0700);
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::InternalError(absl::StrCat("mkdir ", dir));
  }
  {
    std::ofstream session(absl::StrCat(dir, "/session.json"), std::ios::trunc);
    session << json{{"cliToken", cli_token.value_or(cli_token_)},
                    {"cliRefreshToken", "fake-refresh-token"}}
                   .dump();
    if (!session) return absl::InternalError("writing session.json");
  }
  ::chmod(absl::StrCat(dir, "/session.json").c_str(), 0600);
  std::ofstream url_file(absl::StrCat(dir, "/fake_mm_url"), std::ios::trunc);
  url_file << url() << "\n";
  if (!url_file) return absl::InternalError("writing fake_mm_url");
  return absl::OkStatus();
}

void FakeMetaMask::AddWallet(const std::string& address,
                             std::optional<absl::uint128> outflow_limit) {
  absl::MutexLock lock(&mu_);
  Wallet w;
  w.address = Lower(address);
  w.policy_yaml = PolicyFor(w.address, outflow_limit);
  w.limit = outflow_limit;
  wallets_.push_back(std::move(w));
  if (active_.empty()) active_ = Lower(address);
}

std::string FakeMetaMask::ActiveWallet() const {
  absl::MutexLock lock(&mu_);
  return active_;
}

FakeMetaMask::Wallet* FakeMetaMask::FindWallet(const std::string& address) {
  for (Wallet& w : wallets_) {
    if (w.address == Lower(address)) return &w;
  }
  return nullptr;
}

const FakeMetaMask::Wallet* FakeMetaMask::FindWallet(
    const std::string& address) const {
  for (const Wallet& w : wallets_) {
    if (w.address == Lower(address)) return &w;
  }
  return nullptr;
}

void FakeMetaMask::SetOutflowLimit(const std::string& address,
                                   std::optional<absl::uint128> limit) {
  absl::MutexLock lock(&mu_);
  Wallet* w = FindWallet(address);
  if (w == nullptr) return;
  w->limit = limit;
  w->policy_yaml = PolicyFor(w->address, limit);
  w->allowed_chains.clear();
}

std::optional<absl::uint128> FakeMetaMask::OutflowLimit(
    const std::string& address) const {
  absl::MutexLock lock(&mu_);
  const Wallet* w = FindWallet(address);
  return w == nullptr ? std::nullopt : w->limit;
}

std::string FakeMetaMask::PolicyYaml(const std::string& address) const {
  absl::MutexLock lock(&mu_);
  const Wallet* w = FindWallet(address);
  return w == nullptr ? "" : w->policy_yaml;
}

std::string FakeMetaMask::TradingMode(const std::string& address) const {
  absl::MutexLock lock(&mu_);
  const Wallet* w = FindWallet(address);
  return w == nullptr ? "" : w->mode;
}

bool FakeMetaMask::IsFrozen(const std::string& address) const {
  absl::MutexLock lock(&mu_);
  const Wallet* w = FindWallet(address);
  return w != nullptr && w->mode == "guard" && w->limit.has_value() &&
         *w->limit == 0;
}

std::optional<FakeMetaMask::Request> FakeMetaMask::GetRequest(
    const std::string& id) const {
  absl::MutexLock lock(&mu_);
  auto it = requests_.find(id);
  if (it == requests_.end()) return std::nullopt;
  return it->second;
}

std::vector<FakeMetaMask::Request> FakeMetaMask::Requests() const {
  absl::MutexLock lock(&mu_);
  std::vector<Request> out;
  for (const std::string& id : request_order_) out.push_back(requests_.at(id));
  return out;
}

std::vector<FakeMetaMask::Tx> FakeMetaMask::Ledger() const {
  absl::MutexLock lock(&mu_);
  return ledger_;
}

int FakeMetaMask::CommandCount(const std::string& command) const {
  absl::MutexLock lock(&mu_);
  auto it = command_counts_.find(command);
  return it == command_counts_.end() ? 0 : it->second;
}

void FakeMetaMask::PauseIndexer() {
  absl::MutexLock lock(&mu_);
  indexed_until_ = absl::Now();
}

void FakeMetaMask::ResumeIndexer() {
  absl::MutexLock lock(&mu_);
  indexed_until_.reset();
}

void FakeMetaMask::InjectFault(Fault fault, const std::string& command,
                               int times, absl::Duration delay) {
  absl::MutexLock lock(&mu_);
  faults_.push_back({fault, command, times, delay});
}

std::string FakeMetaMask::NewHash() {
  return absl::StrCat(
      "0x", http::Sha256Hex(absl::StrCat("fake-metamask-tx-", ++hash_counter_,
                                         "-", absl::ToUnixNanos(absl::Now()))));
}

absl::uint128 FakeMetaMask::Outflow24h(const std::string& address) const {
  absl::uint128 sum = 0;
  const absl::Time since = absl::Now() - kOutflowWindow;
  for (const Tx& tx : ledger_) {
    if (tx.from != address || tx.time < since || tx.status == "FAILED") {
      continue;
    }
    sum += tx.value + TokenAmount(tx.data);
  }
  return sum;
}

FakeMetaMask::Tx& FakeMetaMask::Broadcast(Request& request, uint64_t chain_id,
                                          const std::string& to,
                                          absl::uint128 value,
                                          const std::string& data) {
  Tx tx;
  tx.hash = NewHash();
  tx.chain_id = chain_id;
  tx.from = request.address;
  tx.to = to;
  tx.value = value;
  tx.data = data;
  tx.time = absl::Now();
  tx.polling_id = request.polling_id;
  tx.intent = request.intent;
  tx.status = "SUBMITTED";
  request.status = "SUBMITTED";
  request.hash = tx.hash;
  ledger_.push_back(std::move(tx));
  return ledger_.back();
}

std::string FakeMetaMask::RecordExternalTransaction(
    const std::string& from, uint64_t chain_id, const std::string& to,
    absl::uint128 value, const std::string& data, absl::Time time) {
  absl::MutexLock lock(&mu_);
  Tx tx;
  tx.hash = NewHash();
  tx.chain_id = chain_id;
  tx.from = Lower(from);
  tx.to = Lower(to);
  tx.value = value;
  tx.data = Lower(data);
  tx.time = time;
  tx.status = "COMPLETED";
  ledger_.push_back(tx);
  return tx.hash;
}

FakeMetaMask::Tx* FakeMetaMask::FindTx(const std::string& id_or_hash) {
  for (Tx& tx : ledger_) {
    if (tx.hash == Lower(id_or_hash) ||
        (!tx.polling_id.empty() && tx.polling_id == id_or_hash)) {
      return &tx;
    }
  }
  return nullptr;
}

absl::Status FakeMetaMask::ApproveMfa(const std::string& id) {
  absl::MutexLock lock(&mu_);
  Request* r = Find(requests_, id);
  if (r == nullptr) return absl::NotFoundError(absl::StrCat("request ", id));
  if (r->kind == "transaction" && r->status == "AWAITING_MFA") {
    const json tx = json::parse(r->pending);
    absl::uint128 value = 0;
    (void)absl::SimpleHexAtoi(
        absl::StripPrefix(tx["value"].get<std::string>(), "0x"), &value);
    Broadcast(*r, tx["chain_id"].get<uint64_t>(), tx["to"].get<std::string>(),
              value, tx["data"].get<std::string>());
    return absl::OkStatus();
  }
  if (r->status != "pending_approval") {
    return absl::FailedPreconditionError(
        absl::StrCat("request ", id, " is ", r->status));
  }
  Wallet* w = FindWallet(r->address);
  if (w == nullptr) return absl::NotFoundError(r->address);
  if (r->kind == "policy") {
    if (absl::Status st = ApplyPolicy(*w, r->pending); !st.ok()) return st;
  } else {
    w->mode = r->pending;
  }
  r->status = "confirmed";
  return absl::OkStatus();
}

absl::Status FakeMetaMask::RejectMfa(const std::string& id) {
  absl::MutexLock lock(&mu_);
  Request* r = Find(requests_, id);
  if (r == nullptr) return absl::NotFoundError(absl::StrCat("request ", id));
  if (r->status == "AWAITING_MFA") {
    r->status = "REJECTED";
    r->failure_reason = "rejected by the wallet owner";
    return absl::OkStatus();
  }
  if (r->status != "pending_approval") {
    return absl::FailedPreconditionError(
        absl::StrCat("request ", id, " is ", r->status));
  }
  r->status = "rejected";
  return absl::OkStatus();
}

absl::Status FakeMetaMask::Confirm(const std::string& id_or_hash) {
  absl::MutexLock lock(&mu_);
  Tx* tx = FindTx(id_or_hash);
  if (tx == nullptr) return absl::NotFoundError(id_or_hash);
  if (tx->status != "SUBMITTED") {
    return absl::FailedPreconditionError(
        absl::StrCat(tx->hash, " is ", tx->status));
  }
  tx->status = "COMPLETED";
  if (Request* r = Find(requests_, tx->polling_id); r != nullptr) {
    r->status = "COMPLETED";
  }
  return absl::OkStatus();
}

absl::Status FakeMetaMask::EndRequest(const std::string& id,
                                      const std::string& code,
                                      const std::string& failure_reason) {
  absl::MutexLock lock(&mu_);
  Request* r = Find(requests_, id);
  if (r == nullptr) return absl::NotFoundError(id);
  r->ended_with = code;
  r->failure_reason = failure_reason;
  if (Tx* tx = FindTx(id); tx != nullptr) tx->status = "FAILED";
  return absl::OkStatus();
}

void FakeMetaMask::SetCliVersion(const std::string& version) {
  absl::MutexLock lock(&mu_);
  cli_version_ = version;
}

absl::Status FakeMetaMask::FailOnChain(const std::string& id_or_hash,
                                       const std::string& reason) {
  absl::MutexLock lock(&mu_);
  Tx* tx = FindTx(id_or_hash);
  if (tx == nullptr) return absl::NotFoundError(id_or_hash);
  tx->status = "FAILED";
  if (Request* r = Find(requests_, tx->polling_id); r != nullptr) {
    r->status = "FAILED";
    r->failure_reason = reason;
  }
  return absl::OkStatus();
}

absl::Status FakeMetaMask::ApplyPolicy(Wallet& wallet,
                                       const std::string& yaml) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(e.what());
  }
  if (!root.IsMap() || !root["schema_version"]) {
    return absl::InvalidArgumentError(
        "the policy must be a YAML mapping with a top-level schema_version");
  }
  std::optional<absl::uint128> limit;
  std::vector<uint64_t> chains;
  if (const YAML::Node evm = root["evm"]; evm && evm.IsMap()) {
    if (const YAML::Node l = evm["outflow_limits_usd"];
        l && l.IsMap() && l["rolling_24h"]) {
      absl::StatusOr<absl::uint128> v =
          ParseBaseUnits(l["rolling_24h"].Scalar());
      if (!v.ok()) {
        return absl::InvalidArgumentError(
            "evm.outflow_limits_usd.rolling_24h: not a whole number");
      }
      limit = *v;
    }
    if (const YAML::Node c = evm["allowed_chains"]; c && c.IsSequence()) {
      for (const YAML::Node& id : c) {
        uint64_t n = 0;
        if (!absl::SimpleAtoi(id.Scalar(), &n)) {
          return absl::InvalidArgumentError("evm.allowed_chains: not ids");
        }
        chains.push_back(n);
      }
    }
  }
  wallet.policy_yaml = yaml;
  wallet.limit = limit;
  wallet.allowed_chains = std::move(chains);
  return absl::OkStatus();
}

json FakeMetaMask::HandleCli(const json& request) {
  std::vector<std::string> argv;
  if (request.contains("argv") && request["argv"].is_array()) {
    for (const json& a : request["argv"]) {
      if (a.is_string()) argv.push_back(a.get<std::string>());
    }
  }
  Args args;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (absl::StartsWith(a, "-")) {
      const size_t eq = a.find('=');
      if (eq != std::string::npos) {
        args.flags[a.substr(0, eq)] = a.substr(eq + 1);
      } else if (BooleanFlags().contains(a) || i + 1 == argv.size()) {
        args.flags[a] = "true";
      } else {
        args.flags[a] = argv[++i];
      }
    } else {
      args.words.push_back(a);
    }
  }
  // "wallet requests list", "wallet send-transaction", "tx history".
  size_t n = 2;
  if (args.words.size() >= 2 && args.words[0] == "wallet" &&
      (args.words[1] == "requests" || args.words[1] == "policy" ||
       args.words[1] == "trading-mode")) {
    n = 3;
  }
  const std::string command =
      absl::StrJoin(args.words.begin(),
                    args.words.begin() + std::min(n, args.words.size()), " ");

  absl::MutexLock lock(&mu_);
  if (argv.size() == 1 && argv[0] == "--version") {
    // oclif's line: the package, the version, the platform and Node.
    const bool v5 = absl::StartsWith(cli_version_, "5.");
    return json{
        {"exit_code", 0},
        {"stdout",
         absl::StrCat(v5 ? "@metamask/agentic-cli/" : "@metamask/agent-wallet/",
                      cli_version_, " linux-x64 node-v22.18.0\n")},
        {"stderr", ""},
        {"crash", false}};
  }
  ++command_counts_[command];
  Answer answer;
  const bool signed_in = request.value("token", "") == cli_token_;
  std::optional<PendingFault> fault;
  for (PendingFault& f : faults_) {
    if (!signed_in) break;
    if (f.times > 0 && (f.command.empty() || f.command == command)) {
      --f.times;
      fault = f;
      break;
    }
  }
  auto error = [](const std::string& code, const std::string& message) {
    Answer a;
    a.exit_code = 1;
    a.err = absl::StrCat(
        json{{"ok", false}, {"error", {{"code", code}, {"message", message}}}}
            .dump(),
        "\n");
    return a;
  };
  if (!signed_in) {
    answer = error("AUTH_FAILED",
                   "Authentication failed: no valid CLI session. Run mm "
                   "login.");
  } else if (fault.has_value() && fault->fault == Fault::kRateLimited) {
    answer = error("RATE_LIMITED", "Too many requests; try again later.");
  } else if (fault.has_value() && fault->fault == Fault::kInternalError) {
    answer = error("WALLET_ERROR", "Wallet operation failed: internal error");
  } else {
    const size_t ledger_before = ledger_.size();
    answer = Run(command, args);
    if (fault.has_value() && fault->fault == Fault::kCrashAfterEffect) {
      answer = Answer{.exit_code = 137, .crash = true};
      for (size_t i = ledger_before; i < ledger_.size(); ++i) {
        ledger_[i].intent_in_history = false;
      }
    } else if (fault.has_value() &&
               fault->fault == Fault::kRateLimitedAfterEffect) {
      answer = error("RATE_LIMITED", "Too many requests; try again later.");
    } else if (fault.has_value() &&
               fault->fault == Fault::kTokenRefreshFailedAfterEffect) {
      answer = error("TOKEN_REFRESH_FAILED",
                     "Could not refresh the CLI session. Run mm login.");
    } else if (fault.has_value() && fault->fault == Fault::kSlowAfterEffect) {
      // The command took effect; the answer is late (until the fake stops).
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), fault->delay);
    }
  }
  return json{{"exit_code", answer.exit_code},
              {"stdout", answer.out},
              {"stderr", answer.err},
              {"crash", answer.crash}};
}

namespace {

FakeMetaMask::Request NewRequest(const std::string& kind,
                                 const std::string& address,
                                 const std::string& intent) {
  FakeMetaMask::Request r;
  r.polling_id = http::UuidV4();
  r.kind = kind;
  r.address = address;
  r.intent = intent;
  return r;
}

}  // namespace

FakeMetaMask::Answer FakeMetaMask::Run(const std::string& command,
                                       const Args& args) {
  auto ok = [](const json& data, const std::vector<json>& notices = {}) {
    Answer a;
    for (const json& n : notices) {
      absl::StrAppend(&a.out, json{{"_notice", n}}.dump(), "\n");
    }
    absl::StrAppend(&a.out, json{{"ok", true}, {"data", data}}.dump(), "\n");
    return a;
  };
  auto error = [](const std::string& code, const std::string& message) {
    Answer a;
    a.exit_code = 1;
    a.err = absl::StrCat(
        json{{"ok", false}, {"error", {{"code", code}, {"message", message}}}}
            .dump(),
        "\n");
    return a;
  };
  auto flag = [&](const std::string& name) -> std::string {
    auto it = args.flags.find(name);
    return it == args.flags.end() ? "" : it->second;
  };
  auto positional = [&](size_t i) -> std::string {
    return i < args.words.size() ? args.words[i] : "";
  };

  if (command == "wallet select") {
    std::string address = positional(2);
    if (address.empty()) address = flag("--address");
    if (address.empty()) {
      return error("MISSING_WALLET_REF", "Pass the wallet address.");
    }
    if (FindWallet(address) == nullptr) {
      return error("WALLET_NOT_FOUND", absl::StrCat("No wallet ", address));
    }
    active_ = Lower(address);
    return ok(json{{"address", active_}, {"mode", "server"}});
  }
  if (command == "wallet address") {
    if (active_.empty()) return error("WALLET_NOT_FOUND", "No active wallet.");
    return ok(json{{"address", active_},
                   {"mode", "server"},
                   {"chainNamespace", "eip155"}});
  }
  if (command == "wallet send-transaction") return SendTransaction(args);
  if (command == "wallet requests list") {
    json list = json::array();
    for (const std::string& id : request_order_) {
      const Request& r = requests_.at(id);
      if (r.address != active_) continue;
      if (r.status == "COMPLETED" || r.status == "confirmed" ||
          !r.ended_with.empty()) {
        continue;
      }
      list.push_back(RequestJson(r));
    }
    return ok(json{{"requests", list}});
  }
  if (command == "wallet requests watch") {
    // v6 took the polling id as a positional argument and removed the flag
    // (agent-skills CHANGELOG 7.0.0); v5 required the flag.
    std::string id;
    if (absl::StartsWith(cli_version_, "5.")) {
      if (!positional(3).empty()) {
        return error("UNEXPECTED_ARG",
                     absl::StrCat("Unexpected argument: ", positional(3)));
      }
      id = flag("--polling-id");
      if (id.empty()) return error("MISSING_ID", "Pass --polling-id.");
    } else {
      if (args.flags.contains("--polling-id")) {
        return error("UNKNOWN_FLAG",
                     "Nonexistent flag: --polling-id. Valid flags: "
                     "--wallet-timeout, --toon");
      }
      id = positional(3);
      if (id.empty()) {
        return error("MISSING_ARG", "Missing required argument polling-id");
      }
    }
    absl::Duration wait = kDefaultWalletTimeout;
    int64_t seconds = 0;
    if (absl::SimpleAtoi(flag("--wallet-timeout"), &seconds)) {
      if (seconds < 1 || seconds > 600) {
        return error("INVALID_INPUT", "--wallet-timeout must be 1 to 600");
      }
      wait = absl::Seconds(seconds);
    }
    return Watch(id, wait);
  }
  if (command == "wallet policy get") {
    const Wallet* w = FindWallet(active_);
    if (w == nullptr) return error("WALLET_NOT_FOUND", "No active wallet.");
    return ok(json{{"policy", w->policy_yaml}, {"address", w->address}});
  }
  if (command == "wallet policy set") return PolicySet(args);
  if (command == "wallet trading-mode get") {
    std::string address = flag("--address");
    if (address.empty()) address = active_;
    const Wallet* w = FindWallet(address);
    if (w == nullptr) return error("WALLET_NOT_FOUND", "No such wallet.");
    return ok(json{{"mode", w->mode}, {"address", w->address}});
  }
  if (command == "wallet trading-mode set") return TradingModeSet(args);
  if (command == "tx history") return TxHistory(args);
  return error("INVALID_INPUT",
               absl::StrCat("The fake mm does not know \"", command, "\"."));
}

FakeMetaMask::Answer FakeMetaMask::SendTransaction(const Args& args) {
  auto error = [](const std::string& code, const std::string& message) {
    Answer a;
    a.exit_code = 1;
    a.err = absl::StrCat(
        json{{"ok", false}, {"error", {{"code", code}, {"message", message}}}}
            .dump(),
        "\n");
    return a;
  };
  auto flag = [&](const std::string& name) -> std::string {
    auto it = args.flags.find(name);
    return it == args.flags.end() ? "" : it->second;
  };
  Wallet* w = FindWallet(active_);
  if (w == nullptr) return error("NOT_INITIALIZED", "Project not initialized.");
  uint64_t chain_id = 0;
  if (flag("--chain-id").empty()) {
    return error("MISSING_CHAIN_ID", "--chain-id is missing");
  }
  if (!absl::SimpleAtoi(flag("--chain-id"), &chain_id) || chain_id == 0) {
    return error("INVALID_CHAIN", "--chain-id must be a positive integer");
  }
  if (flag("--payload").empty()) {
    return error("MISSING_TRANSACTION_PAYLOAD", "--payload is missing");
  }
  const json payload = json::parse(flag("--payload"), nullptr, false);
  if (!payload.is_object()) {
    return error("INVALID_TRANSACTION_PAYLOAD", "--payload is not JSON");
  }
  const std::string to = Lower(payload.value("to", ""));
  if (to.empty()) return error("MISSING_TO", "The payload needs a to address");
  if (!IsAddress(to)) return error("INVALID_TO", "Recipient is invalid");
  const std::string value_hex = Lower(payload.value("value", "0x0"));
  absl::uint128 value = 0;
  if (!IsHex(value_hex) ||
      !absl::SimpleHexAtoi(absl::StripPrefix(value_hex, "0x"), &value)) {
    return error("INVALID_QUANTITY", "value must be 0x-prefixed hex");
  }
  std::string data = Lower(payload.value("data", ""));
  if (data == "0x") data.clear();
  if (!data.empty() && (!IsHex(data) || data.size() % 2 != 0)) {
    return error("INVALID_DATA", "data must be 0x-prefixed hex bytes");
  }

  Request r = NewRequest("transaction", w->address, flag("--intent"));
  r.pending = json{
      {"chain_id", chain_id},
      {"to", to},
      {"value", value_hex},
      {"data",
       data}}.dump();
  // Guard Mode: outside the allowlist, or past the rolling limit, waits
  // for the owner's 2FA.
  const absl::uint128 amount = value + TokenAmount(data);
  bool needs_mfa = false;
  if (w->mode == "guard") {
    needs_mfa =
        (!w->allowed_chains.empty() &&
         std::find(w->allowed_chains.begin(), w->allowed_chains.end(),
                   chain_id) == w->allowed_chains.end()) ||
        (w->limit.has_value() && Outflow24h(w->address) + amount > *w->limit);
  }
  std::vector<json> notices;
  if (needs_mfa) {
    r.status = "AWAITING_MFA";
    notices.push_back(
        json{{"kind", "AWAITING_MFA"},
             {"pollingId", r.polling_id},
             {"message",
              "Approval required: check the email registered to your "
              "dashboard and confirm to proceed."}});
  }
  requests_[r.polling_id] = r;
  request_order_.push_back(r.polling_id);
  Request& stored = requests_[r.polling_id];
  if (!needs_mfa) Broadcast(stored, chain_id, to, value, data);
  if (args.flags.contains("--wait")) {
    return Watch(stored.polling_id, kDefaultWalletTimeout);
  }
  Answer a;
  for (const json& n : notices) {
    absl::StrAppend(&a.out, json{{"_notice", n}}.dump(), "\n");
  }
  absl::StrAppend(
      &a.out, json{{"ok", true}, {"data", RequestJson(stored)}}.dump(), "\n");
  return a;
}

FakeMetaMask::Answer FakeMetaMask::Watch(const std::string& id,
                                         absl::Duration wait) {
  Request* r = Find(requests_, id);
  if (r == nullptr) {
    Answer a;
    a.exit_code = 1;
    a.err = absl::StrCat(json{{"ok", false},
                              {"error",
                               {{"code", "REQUEST_NOT_FOUND"},
                                {"message", absl::StrCat("No request ", id)}}}}
                             .dump(),
                         "\n");
    return a;
  }
  auto done = [this, r] {
    return stopping_ || r->status == "COMPLETED" || r->status == "FAILED" ||
           r->status == "REJECTED" || r->status == "EXPIRED" ||
           r->status == "confirmed" || r->status == "rejected" ||
           !r->ended_with.empty();
  };
  Answer a;
  if (r->status == "AWAITING_MFA" || r->status == "pending_approval") {
    // Surfaced once when the job waits for 2FA.
    absl::StrAppend(&a.out,
                    json{{"_notice",
                          {{"kind", "AWAITING_MFA"},
                           {"pollingId", id},
                           {"message",
                            "Approval required: check the email registered "
                            "to your dashboard and confirm to proceed."}}}}
                        .dump(),
                    "\n");
  }
  if (!mu_.AwaitWithTimeout(absl::Condition(&done), wait)) {
    a.exit_code = 1;
    a.err = absl::StrCat(
        json{{"ok", false},
             {"error",
              {{"code", "JOB_TIMEOUT"},
               {"message",
                absl::StrCat("Request ", id, " is still ", r->status)},
               {"hint", absl::StrCat("Run mm wallet requests watch ", id,
                                     " again; do not re-run the command.")}}}}
            .dump(),
        "\n");
    return a;
  }
  if (!r->ended_with.empty()) {
    json error = {{"code", r->ended_with},
                  {"message", absl::StrCat("Request ", id, " ended with ",
                                           r->ended_with)}};
    if (!r->failure_reason.empty()) error["failure_reason"] = r->failure_reason;
    a.exit_code = 1;
    a.err = absl::StrCat(json{{"ok", false}, {"error", error}}.dump(), "\n");
    return a;
  }
  absl::StrAppend(&a.out, json{{"ok", true}, {"data", RequestJson(*r)}}.dump(),
                  "\n");
  return a;
}

FakeMetaMask::Answer FakeMetaMask::PolicySet(const Args& args) {
  auto error = [](const std::string& code, const std::string& message) {
    Answer a;
    a.exit_code = 1;
    a.err = absl::StrCat(
        json{{"ok", false}, {"error", {{"code", code}, {"message", message}}}}
            .dump(),
        "\n");
    return a;
  };
  Wallet* w = FindWallet(active_);
  if (w == nullptr) return error("WALLET_NOT_FOUND", "No active wallet.");
  auto it = args.flags.find("--policy");
  if (it == args.flags.end()) return error("MISSING_FLAG", "Pass --policy.");
  Wallet candidate = *w;
  if (absl::Status st = ApplyPolicy(candidate, it->second); !st.ok()) {
    return error("INVALID_POLICY_YAML", std::string(st.message()));
  }
  // Broadening: a higher (or no) limit, or a wider chain allowlist.
  bool broadens = w->limit.has_value() && (!candidate.limit.has_value() ||
                                           *candidate.limit > *w->limit);
  if (!w->allowed_chains.empty()) {
    if (candidate.allowed_chains.empty()) broadens = true;
    for (uint64_t c : candidate.allowed_chains) {
      if (std::find(w->allowed_chains.begin(), w->allowed_chains.end(), c) ==
          w->allowed_chains.end()) {
        broadens = true;
      }
    }
  }
  Answer a;
  if (!broadens) {
    *w = std::move(candidate);
    absl::StrAppend(
        &a.out, json{{"ok", true}, {"data", {{"status", "confirmed"}}}}.dump(),
        "\n");
    return a;
  }
  for (const auto& [id, r] : requests_) {
    if (r.kind == "policy" && r.address == w->address &&
        r.status == "pending_approval") {
      return error("WALLET_POLICY_APPROVAL_IN_PROGRESS",
                   "A wallet policy change approval is already in progress");
    }
  }
  Request r = NewRequest("policy", w->address, "Change wallet policy");
  r.status = "pending_approval";
  r.pending = it->second;
  requests_[r.polling_id] = r;
  request_order_.push_back(r.polling_id);
  if (args.flags.contains("--no-wait")) {
    absl::StrAppend(
        &a.out,
        json{{"ok", true},
             {"data",
              {{"status", "pending_approval"}, {"requestId", r.polling_id}}}}
            .dump(),
        "\n");
    return a;
  }
  return Watch(r.polling_id, kDefaultWalletTimeout);
}

FakeMetaMask::Answer FakeMetaMask::TradingModeSet(const Args& args) {
  auto error = [](const std::string& code, const std::string& message) {
    Answer a;
    a.exit_code = 1;
    a.err = absl::StrCat(
        json{{"ok", false}, {"error", {{"code", code}, {"message", message}}}}
            .dump(),
        "\n");
    return a;
  };
  const std::string mode = args.words.size() > 3 ? args.words[3] : "";
  if (mode != "guard" && mode != "beast") {
    return error("INVALID_TRADING_MODE", "Use guard or beast.");
  }
  auto addr = args.flags.find("--address");
  Wallet* w = FindWallet(addr == args.flags.end() ? active_ : addr->second);
  if (w == nullptr) return error("WALLET_NOT_FOUND", "No such wallet.");
  if (w->mode == mode) {
    return error("ALREADY_SET_TRADING_MODE",
                 absl::StrCat("Trading mode is already ", mode));
  }
  Answer a;
  if (mode == "guard") {  // Tightening: at once.
    w->mode = mode;
    absl::StrAppend(
        &a.out,
        json{{"ok", true}, {"data", {{"status", "confirmed"}, {"mode", mode}}}}
            .dump(),
        "\n");
    return a;
  }
  for (const auto& [id, r] : requests_) {
    if (r.kind == "trading-mode" && r.address == w->address &&
        r.status == "pending_approval") {
      return error("WALLET_MODE_APPROVAL_IN_PROGRESS",
                   "A mode change approval is already in progress");
    }
  }
  Request r = NewRequest("trading-mode", w->address, "Switch to Beast Mode");
  r.status = "pending_approval";
  r.pending = mode;
  requests_[r.polling_id] = r;
  request_order_.push_back(r.polling_id);
  if (args.flags.contains("--no-wait")) {
    absl::StrAppend(
        &a.out,
        json{{"ok", true},
             {"data",
              {{"status", "pending_approval"}, {"requestId", r.polling_id}}}}
            .dump(),
        "\n");
    return a;
  }
  return Watch(r.polling_id, kDefaultWalletTimeout);
}

FakeMetaMask::Answer FakeMetaMask::TxHistory(const Args& args) {
  auto flag = [&](const std::string& name) -> std::string {
    auto it = args.flags.find(name);
    return it == args.flags.end() ? "" : it->second;
  };
  std::set<std::string> addresses;
  for (absl::string_view a :
       absl::StrSplit(flag("--addresses"), ',', absl::SkipEmpty())) {
    addresses.insert(Lower(a));
  }
  if (addresses.empty()) {
    for (const Wallet& w : wallets_) addresses.insert(w.address);
  }
  std::set<uint64_t> chains;
  std::string chain_flag = flag("--chain-ids");
  if (chain_flag.empty()) chain_flag = flag("--chain");
  for (absl::string_view c :
       absl::StrSplit(chain_flag, ',', absl::SkipEmpty())) {
    absl::ConsumePrefix(&c, "eip155:");
    uint64_t id = 0;
    if (absl::SimpleAtoi(c, &id)) chains.insert(id);
  }
  int64_t limit = 50;
  if (!flag("--limit").empty() &&
      (!absl::SimpleAtoi(flag("--limit"), &limit) || limit < 1 || limit > 50)) {
    Answer a;
    a.exit_code = 1;
    a.err = absl::StrCat(
        json{{"ok", false},
             {"error",
              {{"code", "INVALID_LIMIT"}, {"message", "--limit is 1 to 50"}}}}
            .dump(),
        "\n");
    return a;
  }
  int64_t offset = 0;
  (void)absl::SimpleAtoi(flag("--after"), &offset);
  std::vector<const Tx*> rows;
  for (const Tx& tx : ledger_) {
    if (!addresses.contains(tx.from) && !addresses.contains(tx.to)) continue;
    if (!chains.empty() && !chains.contains(tx.chain_id)) continue;
    if (indexed_until_.has_value() && tx.time > *indexed_until_) continue;
    rows.push_back(&tx);
  }
  std::stable_sort(rows.begin(), rows.end(), [](const Tx* a, const Tx* b) {
    return a->time > b->time;  // Newest first.
  });
  json page = json::array();
  int64_t i = offset;
  for (; i < static_cast<int64_t>(rows.size()) && i < offset + limit; ++i) {
    const Tx& tx = *rows[static_cast<size_t>(i)];
    json row{{"hash", tx.hash},
             {"chainId", tx.chain_id},
             {"from", tx.from},
             {"to", tx.to},
             {"value", Decimal(tx.value)},
             {"timestamp", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", tx.time,
                                            absl::UTCTimeZone())},
             {"status", tx.status == "COMPLETED" ? "confirmed"
                        : tx.status == "FAILED"  ? "failed"
                                                 : "pending"}};
    if (!tx.data.empty()) row["input"] = tx.data;
    if (!tx.intent.empty() && tx.intent_in_history) {
      row["intent"] = tx.intent;
    }
    page.push_back(row);
  }
  json data{{"transactions", page},
            {"hasNextPage", i < static_cast<int64_t>(rows.size())}};
  if (i < static_cast<int64_t>(rows.size()))
    data["endCursor"] = absl::StrCat(i);
  Answer a;
  absl::StrAppend(&a.out, json{{"ok", true}, {"data", data}}.dump(), "\n");
  return a;
}

}  // namespace warden::testing
