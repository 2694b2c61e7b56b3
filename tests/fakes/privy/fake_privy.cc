#include "tests/fakes/privy/fake_privy.h"

#include <algorithm>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "adapters/evm/chains.h"
#include "adapters/evm/evm.h"
#include "adapters/http/signing.h"
#include "httplib.h"

namespace warden::testing {
namespace {

using nlohmann::json;

// Error bodies are Privy's {"error": message, "code": code}
// (https://docs.privy.io/basics/troubleshooting/error-handling/api-errors).
json Error(const std::string& message, const std::string& code = "") {
  json out = {{"error", message}};
  if (!code.empty()) out["code"] = code;
  return out;
}

std::string Lower(absl::string_view s) { return absl::AsciiStrToLower(s); }

bool IsHex(absl::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isxdigit(static_cast<unsigned char>(c));
  });
}

bool IsDigits(absl::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isdigit(static_cast<unsigned char>(c));
  });
}

// A quantity as Privy takes one: a JSON integer, a "0x" hex string or a
// decimal string.
std::optional<absl::uint128> Quantity(const json& v) {
  if (v.is_number_unsigned()) return absl::uint128(v.get<uint64_t>());
  if (!v.is_string()) return std::nullopt;
  absl::string_view s = v.get_ref<const std::string&>();
  absl::uint128 out = 0;
  if (absl::ConsumePrefix(&s, "0x") || absl::ConsumePrefix(&s, "0X")) {
    if (s.empty() || s.size() > 32 || !IsHex(s) ||
        !absl::SimpleHexAtoi(s, &out)) {
      return std::nullopt;
    }
    return out;
  }
  if (!IsDigits(s) || !absl::SimpleAtoi(s, &out)) return std::nullopt;
  return out;
}

std::optional<std::string> Address(const json& v) {
  if (!v.is_string()) return std::nullopt;
  absl::StatusOr<evm::Address> a = evm::ParseAddress(v.get<std::string>());
  if (!a.ok()) return std::nullopt;
  return evm::Hex(*a);
}

// An ERC-20 transfer(address,uint256) call's recipient and amount.
std::optional<std::pair<std::string, absl::uint128>> Erc20Transfer(
    absl::string_view data_hex) {
  if (!absl::ConsumePrefix(&data_hex, "0x") ||
      data_hex.size() != 2 * (4 + 32 + 32) ||
      Lower(data_hex.substr(0, 8)) != "a9059cbb") {
    return std::nullopt;
  }
  const std::string to = absl::StrCat("0x", Lower(data_hex.substr(8 + 24, 40)));
  const absl::string_view amount = data_hex.substr(8 + 64);
  absl::uint128 value = 0;
  if (amount.substr(0, 32) != std::string(32, '0') ||
      !absl::SimpleHexAtoi(amount.substr(32), &value)) {
    return std::nullopt;  // Beyond 2^128: not something Warden sends.
  }
  return std::make_pair(to, value);
}

// Privy's ids are 24 lowercase alphanumerics (policy ids must be: see
// https://docs.privy.io/api-reference/policies/rules/update).
std::string NewId() {
  return absl::StrReplaceAll(http::UuidV4(), {{"-", ""}}).substr(0, 24);
}

std::string NativeAsset(uint64_t chain_id) {
  if (chain_id == 137) return "pol";
  if (chain_id == 43114) return "avax";
  if (chain_id == 56) return "bnb";
  return "eth";
}

std::optional<uint64_t> ChainIdOfName(const std::string& privy_name) {
  return evm::KnownChainId(absl::StrReplaceAll(privy_name, {{"_", "-"}}));
}

std::string ChainNameOf(uint64_t chain_id) {
  for (const char* name : {"ethereum", "optimism", "polygon", "base",
                           "arbitrum", "sepolia", "base-sepolia", "anvil"}) {
    if (evm::KnownChainId(name) == chain_id) {
      return absl::StrReplaceAll(name, {{"-", "_"}});
    }
  }
  return absl::StrCat("eip155_", chain_id);
}

int64_t Millis(absl::Time t) { return absl::ToUnixMillis(t); }

}  // namespace

absl::StatusOr<std::unique_ptr<FakePrivy>> FakePrivy::Start(Options options) {
  std::unique_ptr<FakePrivy> fake(new FakePrivy(std::move(options)));
  httplib::Server& s = *fake->server_;
  FakePrivy* self = fake.get();
  auto route = [self](Handler handler, bool idempotent) {
    return [self, handler, idempotent](const httplib::Request& req,
                                       httplib::Response& res) {
      self->Route(req, res, handler, idempotent);
    };
  };
  s.Post(R"(/v1/wallets/([^/]+)/rpc)", route(&FakePrivy::Rpc, true));
  s.Get(R"(/v1/wallets/([^/]+)/transactions)",
        route(&FakePrivy::ListWalletTransactions, false));
  s.Get(R"(/v1/wallets/([^/]+))", route(&FakePrivy::GetWallet, false));
  s.Patch(R"(/v1/wallets/([^/]+))", route(&FakePrivy::PatchWallet, false));
  s.Get(R"(/v1/transactions/([^/]+))",
        route(&FakePrivy::GetTransaction, false));
  s.Post("/v1/policies", route(&FakePrivy::CreatePolicyRoute, true));
  s.Get(R"(/v1/policies/([^/]+))", route(&FakePrivy::GetPolicyRoute, false));
  s.Delete(R"(/v1/policies/([^/]+))",
           route(&FakePrivy::DeletePolicyRoute, false));
  if (fake->options_.port == 0) {
    fake->port_ = s.bind_to_any_port("127.0.0.1");
  } else {
    fake->port_ = s.bind_to_port("127.0.0.1", fake->options_.port)
                      ? fake->options_.port
                      : -1;
  }
  if (fake->port_ <= 0) {
    return absl::UnavailableError(absl::StrCat(
        "fake privy: cannot listen on 127.0.0.1:", fake->options_.port));
  }
  fake->thread_ = std::thread([self] { self->server_->listen_after_bind(); });
  for (int i = 0; i < 1000 && !s.is_running(); ++i) {
    absl::SleepFor(absl::Milliseconds(2));
  }
  if (!s.is_running()) {
    return absl::UnavailableError("fake privy: the server did not start");
  }
  return fake;
}

FakePrivy::FakePrivy(Options options)
    : options_(std::move(options)),
      server_(std::make_unique<httplib::Server>()) {}

FakePrivy::~FakePrivy() {
  stopping_.Notify();
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string FakePrivy::url() const {
  return absl::StrCat("http://127.0.0.1:", port_);
}

void FakePrivy::AddWallet(Wallet wallet) {
  absl::MutexLock lock(&mu_);
  const std::string id = wallet.id;
  wallets_[id] = StoredWallet{
      .wallet = std::move(wallet), .policy_ids = {}, .created_at = absl::Now()};
}

void FakePrivy::AddToken(const std::string& contract, const std::string& asset,
                         int decimals) {
  absl::MutexLock lock(&mu_);
  tokens_[Lower(contract)] = {asset, decimals};
}

std::string FakePrivy::CreatePolicy(const std::string& name,
                                    const json& rules) {
  absl::MutexLock lock(&mu_);
  Policy p{
      .id = NewId(), .name = name, .chain_type = "ethereum", .rules = rules};
  const std::string id = p.id;
  policies_[id] = std::move(p);
  return id;
}

absl::Status FakePrivy::SetPolicyIds(const std::string& wallet_id,
                                     std::vector<std::string> policy_ids) {
  absl::MutexLock lock(&mu_);
  auto it = wallets_.find(wallet_id);
  if (it == wallets_.end()) {
    return absl::NotFoundError(absl::StrCat("no wallet ", wallet_id));
  }
  it->second.policy_ids = std::move(policy_ids);
  return absl::OkStatus();
}

std::vector<std::string> FakePrivy::PolicyIdsOf(
    const std::string& wallet_id) const {
  absl::MutexLock lock(&mu_);
  auto it = wallets_.find(wallet_id);
  return it == wallets_.end() ? std::vector<std::string>{}
                              : it->second.policy_ids;
}

std::optional<FakePrivy::Policy> FakePrivy::GetPolicy(
    const std::string& id) const {
  absl::MutexLock lock(&mu_);
  auto it = policies_.find(id);
  if (it == policies_.end()) return std::nullopt;
  return it->second;
}

size_t FakePrivy::policy_count() const {
  absl::MutexLock lock(&mu_);
  return policies_.size();
}

bool FakePrivy::RefusesSend(const std::string& wallet_id, const std::string& to,
                            absl::uint128 value) const {
  absl::MutexLock lock(&mu_);
  auto it = wallets_.find(wallet_id);
  return it != wallets_.end() && Refuses(it->second, Lower(to), value);
}

std::vector<FakePrivy::Transaction> FakePrivy::ledger() const {
  absl::MutexLock lock(&mu_);
  return ledger_;
}

std::optional<FakePrivy::Transaction> FakePrivy::Find(
    const std::string& transaction_id) const {
  absl::MutexLock lock(&mu_);
  for (const Transaction& t : ledger_) {
    if (t.id == transaction_id) return t;
  }
  return std::nullopt;
}

absl::Status FakePrivy::Broadcast(const std::string& transaction_id) {
  absl::MutexLock lock(&mu_);
  for (Transaction& t : ledger_) {
    if (t.id != transaction_id) continue;
    if (t.hash.empty()) t.hash = absl::StrCat("0x", http::Sha256Hex(t.id));
    t.status = "broadcasted";
    return absl::OkStatus();
  }
  return absl::NotFoundError(absl::StrCat("no transaction ", transaction_id));
}

absl::Status FakePrivy::SetStatus(const std::string& transaction_id,
                                  const std::string& status) {
  static const char* const kStatuses[] = {
      "pending", "broadcasted", "confirmed",      "finalized",
      "failed",  "replaced",    "provider_error", "execution_reverted"};
  if (std::find(std::begin(kStatuses), std::end(kStatuses), status) ==
      std::end(kStatuses)) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", status, "\" is not a Privy transaction status"));
  }
  absl::MutexLock lock(&mu_);
  for (Transaction& t : ledger_) {
    if (t.id != transaction_id) continue;
    t.status = status;
    return absl::OkStatus();
  }
  return absl::NotFoundError(absl::StrCat("no transaction ", transaction_id));
}

absl::StatusOr<FakePrivy::Transaction> FakePrivy::DirectSend(
    const std::string& wallet_id, uint64_t chain_id, const std::string& to,
    absl::uint128 value, const std::string& data) {
  absl::MutexLock lock(&mu_);
  auto it = wallets_.find(wallet_id);
  if (it == wallets_.end()) {
    return absl::NotFoundError(absl::StrCat("no wallet ", wallet_id));
  }
  std::optional<std::string> address = Address(to);
  if (!address.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat("to: \"", to, "\""));
  }
  return Execute(it->second, chain_id, *address, value, Lower(data), "",
                 /*direct=*/true);
}

void FakePrivy::InjectFault(Fault fault) {
  absl::MutexLock lock(&mu_);
  faults_.push_back(std::move(fault));
}

std::vector<FakePrivy::Request> FakePrivy::requests() const {
  absl::MutexLock lock(&mu_);
  return requests_;
}

std::optional<FakePrivy::Fault> FakePrivy::TakeFault(const std::string& method,
                                                     const std::string& path) {
  for (Fault& f : faults_) {
    if (f.count <= 0) continue;
    if (!f.method.empty() && f.method != method) continue;
    if (!f.path_prefix.empty() && !absl::StartsWith(path, f.path_prefix)) {
      continue;
    }
    --f.count;
    return f;
  }
  return std::nullopt;
}

void FakePrivy::Route(const httplib::Request& req, httplib::Response& res,
                      Handler handler, bool idempotent) {
  Request record{.method = req.method, .path = req.path, .body = req.body};
  for (const auto& [name, value] : req.params) record.params[name] = value;
  for (const auto& [name, value] : req.headers) {
    record.headers[Lower(name)] = value;
  }
  std::optional<Fault> fault;
  Reply reply{.status = 0};
  std::string response;
  {
    absl::MutexLock lock(&mu_);
    fault = TakeFault(req.method, req.path);
    // Rate limits and server errors answer before anything is done, so
    // nothing is recorded under the idempotency key either.
    if (fault.has_value() && fault->kind == FaultKind::k429) {
      reply = {429, Error("Too many requests", "rate_limited")};
      res.set_header("Retry-After", absl::StrCat(fault->retry_after_seconds));
    } else if (fault.has_value() && fault->kind == FaultKind::k500) {
      reply = {500, Error("Internal server error")};
    } else {
      reply = Authenticate(req);
    }
    // Faults that change a done request's answer.
    auto act = [&]() {
      Reply done = (this->*handler)(req);
      if (fault.has_value() && done.status == 200) {
        if (fault->kind == FaultKind::kBroadcastFailure) {
          done = {400, Error("Transaction failed to broadcast to the network",
                             "transaction_broadcast_failure")};
        } else if (fault->kind == FaultKind::kNoTransactionId &&
                   done.body.contains("data") &&
                   done.body["data"].is_object()) {
          done.body["data"].erase("transaction_id");
        }
      }
      return done;
    };
    if (reply.status == 0) {
      const std::string key = req.get_header_value("privy-idempotency-key");
      if (idempotent && !key.empty()) {
        // https://docs.privy.io/api-reference/idempotency-keys: the same
        // key and body get the stored answer without acting again.
        const json parsed = json::parse(req.body, nullptr, false);
        const std::string canonical =
            parsed.is_discarded() ? req.body : http::CanonicalJson(parsed);
        auto it = idempotent_.find(key);
        if (it != idempotent_.end()) {
          if (it->second.body == canonical) {
            reply.status = it->second.status;
            response = it->second.response;
          } else {
            reply = {400, Error("Invalid use of idempotency key: it was used "
                                "with a different request body.")};
          }
        } else {
          reply = act();
          response = reply.body.dump();
          // Credentials and signatures are checked before the request is
          // processed; refusing them stores nothing.
          if (reply.status != 401 && reply.status != 403) {
            idempotent_[key] = {canonical, reply.status, response};
          }
        }
      } else {
        reply = act();
      }
    }
    if (response.empty()) response = reply.body.dump();
    record.status =
        fault.has_value() && fault->kind == FaultKind::kDrop ? 0 : reply.status;
    requests_.push_back(std::move(record));
  }
  if (fault.has_value() && fault->kind == FaultKind::kSlow) {
    // Done already; the answer is merely late (cut short at shutdown).
    stopping_.WaitForNotificationWithTimeout(fault->delay);
  }
  res.status = reply.status;
  if (fault.has_value() && fault->kind == FaultKind::kDrop) {
    // httplib sends the status line and a Content-Length, then asks this
    // provider for the body; refusing makes it close the connection, and
    // the client sees a transfer cut short: a transport error.
    res.set_content_provider(
        response.size(), "application/json",
        [](size_t, size_t, httplib::DataSink&) { return false; });
    return;
  }
  res.set_content(response, "application/json");
}

FakePrivy::Reply FakePrivy::Authenticate(const httplib::Request& req) const {
  // https://docs.privy.io/basics/rest-api/setup: Basic auth with the app id
  // and secret, and the app id again in privy-app-id.
  const std::string expected =
      absl::StrCat("Basic ", absl::Base64Escape(absl::StrCat(
                                 options_.app_id, ":", options_.app_secret)));
  if (req.get_header_value("Authorization") != expected ||
      req.get_header_value("privy-app-id") != options_.app_id) {
    return {401, Error("Invalid app ID or app secret.")};
  }
  return {0, json()};
}

FakePrivy::Reply FakePrivy::CheckSignature(
    const httplib::Request& req, const std::string& owner_public_key) const {
  // https://docs.privy.io/controls/authorization-keys/using-owners/sign/direct-implementation
  std::vector<std::string> signatures;
  for (absl::string_view s : absl::StrSplit(
           req.get_header_value("privy-authorization-signature"), ',')) {
    s = absl::StripAsciiWhitespace(s);
    if (!s.empty()) signatures.emplace_back(s);
  }
  if (signatures.empty()) {
    return {401, Error("Missing privy-authorization-signature header or no "
                       "signatures provided.",
                       "missing_or_empty_authorization_header")};
  }
  json headers = json::object();
  for (const auto& [name, value] : req.headers) {
    const std::string lower = Lower(name);
    if (absl::StartsWith(lower, "privy-") &&
        lower != "privy-authorization-signature") {
      headers[lower] = value;
    }
  }
  json payload = {{"version", 1},
                  {"method", req.method},
                  {"url", absl::StrCat(url(), req.path)},
                  {"headers", headers}};
  if (!req.body.empty()) {
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded()) return {400, Error("Invalid JSON body.")};
    payload["body"] = body;
  }
  const std::string message = http::CanonicalJson(payload);
  absl::StatusOr<http::VerifyingKey> key =
      http::VerifyingKey::FromBase64Der(owner_public_key);
  if (key.ok()) {
    for (const std::string& s : signatures) {
      std::string der;
      if (absl::Base64Unescape(s, &der) && key->VerifyDer(message, der)) {
        return {0, json()};
      }
    }
  }
  return {401, Error("No valid authorization signatures were provided. Your "
                     "payload may be malformed or your signing keys may be "
                     "incorrect or expired.",
                     "zero_correct_authorization_signatures")};
}

bool FakePrivy::Refuses(const StoredWallet& wallet, const std::string& to,
                        absl::uint128 value) const {
  // https://docs.privy.io/controls/policies/overview: any DENY that applies
  // wins; else any ALLOW; a request no rule resolves is denied.
  auto holds = [&](const json& c) {
    if (!c.is_object() ||
        c.value("field_source", "") != "ethereum_transaction") {
      return false;
    }
    const std::string field = c.value("field", "");
    const std::string op = c.value("operator", "");
    const json& want = c.contains("value") ? c["value"] : json();
    if (field == "to") {
      if (op == "eq" && want.is_string())
        return Lower(want.get<std::string>()) == to;
      if (op == "in" && want.is_array()) {
        for (const json& w : want) {
          if (w.is_string() && Lower(w.get<std::string>()) == to) return true;
        }
      }
      return false;
    }
    if (field == "value") {
      const std::optional<absl::uint128> limit = Quantity(want);
      if (!limit.has_value()) return false;
      if (op == "eq") return value == *limit;
      if (op == "gt") return value > *limit;
      if (op == "gte") return value >= *limit;
      if (op == "lt") return value < *limit;
      if (op == "lte") return value <= *limit;
    }
    return false;
  };
  bool refused = false;
  for (const std::string& id : wallet.policy_ids) {
    auto p = policies_.find(id);
    if (p == policies_.end()) continue;
    bool deny = false, allow = false;
    for (const json& rule : p->second.rules) {
      if (!rule.is_object()) continue;
      const std::string method = rule.value("method", "");
      if (method != "*" && method != "eth_sendTransaction") continue;
      bool all = true;
      if (rule.contains("conditions") && rule["conditions"].is_array()) {
        for (const json& c : rule["conditions"]) all = all && holds(c);
      }
      if (!all) continue;
      const std::string action = rule.value("action", "");
      deny = deny || action == "DENY";
      allow = allow || action == "ALLOW";
    }
    refused = refused || deny || !allow;
  }
  return refused;
}

absl::StatusOr<FakePrivy::Transaction> FakePrivy::Execute(
    const StoredWallet& wallet, uint64_t chain_id, const std::string& to,
    absl::uint128 value, const std::string& data,
    const std::string& idempotency_key, bool direct) {
  // A policy on "to" and "value" reads the transaction as sent.
  if (Refuses(wallet, to, value)) {
    return absl::PermissionDeniedError("policy_violation");
  }
  Transaction t{.id = http::UuidV4(),
                .wallet_id = wallet.wallet.id,
                .from = Lower(wallet.wallet.address),
                .chain_id = chain_id,
                .caip2 = absl::StrCat("eip155:", chain_id),
                .to = to,
                .value = value,
                .data = data,
                .hash = "",
                .status = "pending",
                .idempotency_key = idempotency_key,
                .created_at = absl::Now(),
                .direct = direct};
  if (!wallet.wallet.hash_later) {
    t.hash = absl::StrCat("0x", http::Sha256Hex(t.id));
    t.status = "broadcasted";
  }
  ledger_.push_back(t);
  return t;
}

FakePrivy::Reply FakePrivy::Rpc(const httplib::Request& req) {
  // https://docs.privy.io/api-reference/wallets/ethereum/eth-send-transaction
  auto w = wallets_.find(req.matches[1].str());
  if (w == wallets_.end()) return {404, Error("Wallet not found.")};
  if (!w->second.wallet.owner_public_key.empty()) {
    Reply signature = CheckSignature(req, w->second.wallet.owner_public_key);
    if (signature.status != 0) return signature;
  }
  const json body = json::parse(req.body, nullptr, false);
  if (!body.is_object()) return {400, Error("Invalid JSON body.")};
  if (body.value("method", "") != "eth_sendTransaction") {
    return {400, Error("method: the fake serves eth_sendTransaction only.")};
  }
  const std::string caip2_text =
      body.contains("caip2") && body["caip2"].is_string()
          ? body["caip2"].get<std::string>()
          : "";
  absl::string_view caip2 = caip2_text;
  uint64_t chain_id = 0;
  if (!absl::ConsumePrefix(&caip2, "eip155:") || !IsDigits(caip2) ||
      !absl::SimpleAtoi(caip2, &chain_id) || chain_id == 0) {
    return {400, Error("caip2: expected eip155:<chain id>.")};
  }
  if (body.contains("chain_type") && body["chain_type"] != "ethereum") {
    return {400,
            Error("chain_type: must be ethereum for eth_sendTransaction.")};
  }
  if (!body.contains("params") || !body["params"].is_object() ||
      !body["params"].contains("transaction") ||
      !body["params"]["transaction"].is_object()) {
    return {400, Error("params.transaction: required.")};
  }
  const json& tx = body["params"]["transaction"];
  const std::optional<std::string> to =
      tx.contains("to") ? Address(tx["to"]) : std::nullopt;
  if (!to.has_value()) {
    return {400, Error("params.transaction.to: expected a 0x address.")};
  }
  const std::optional<absl::uint128> value =
      tx.contains("value") ? Quantity(tx["value"]) : absl::uint128(0);
  if (!value.has_value()) {
    return {400, Error("params.transaction.value: expected a quantity.")};
  }
  std::string data;
  if (tx.contains("data")) {
    const std::string data_text =
        tx["data"].is_string() ? tx["data"].get<std::string>() : "";
    absl::string_view d = data_text;
    if (!absl::StartsWith(d, "0x") || d.size() % 2 != 0 ||
        !IsHex(d.substr(2))) {
      return {400, Error("params.transaction.data: expected 0x-hex bytes.")};
    }
    data = Lower(d);
  }
  if (tx.contains("chain_id")) {
    const std::optional<absl::uint128> id = Quantity(tx["chain_id"]);
    if (!id.has_value() || *id != chain_id) {
      return {400, Error("params.transaction.chain_id: does not match caip2.")};
    }
  }
  absl::StatusOr<Transaction> t =
      Execute(w->second, chain_id, *to, *value, data,
              req.get_header_value("privy-idempotency-key"), /*direct=*/false);
  if (!t.ok()) {
    return {400, Error("RPC request denied due to policy violation",
                       "policy_violation")};
  }
  json data_out = {{"caip2", t->caip2}, {"transaction_id", t->id}};
  if (!t->hash.empty()) data_out["hash"] = t->hash;
  return {200, {{"method", "eth_sendTransaction"}, {"data", data_out}}};
}

json FakePrivy::WalletJson(const StoredWallet& w) const {
  // https://docs.privy.io/api-reference/wallets/get
  return {{"id", w.wallet.id},
          {"address", w.wallet.address},
          {"chain_type", "ethereum"},
          {"policy_ids", w.policy_ids},
          {"owner_id", w.wallet.owner_public_key.empty()
                           ? json(nullptr)
                           : json(absl::StrCat("owner-", w.wallet.id))},
          {"additional_signers", json::array()},
          {"created_at", Millis(w.created_at)}};
}

json FakePrivy::PolicyJson(const Policy& p) const {
  return {{"id", p.id},
          {"name", p.name},
          {"version", "1.0"},
          {"chain_type", p.chain_type},
          {"rules", p.rules},
          {"owner_id", p.owner_public_key.empty()
                           ? json(nullptr)
                           : json(absl::StrCat("owner-", p.id))}};
}

FakePrivy::Reply FakePrivy::GetWallet(const httplib::Request& req) {
  auto w = wallets_.find(req.matches[1].str());
  if (w == wallets_.end()) return {404, Error("Wallet not found.")};
  return {200, WalletJson(w->second)};
}

FakePrivy::Reply FakePrivy::PatchWallet(const httplib::Request& req) {
  // https://docs.privy.io/api-reference/wallets/update
  auto w = wallets_.find(req.matches[1].str());
  if (w == wallets_.end()) return {404, Error("Wallet not found.")};
  if (!w->second.wallet.owner_public_key.empty()) {
    Reply signature = CheckSignature(req, w->second.wallet.owner_public_key);
    if (signature.status != 0) return signature;
  }
  const json body = json::parse(req.body, nullptr, false);
  if (!body.is_object()) return {400, Error("Invalid JSON body.")};
  for (const auto& [key, value] : body.items()) {
    if (key != "policy_ids") {
      return {400,
              Error(absl::StrCat(key, ": the fake updates policy_ids only."))};
    }
  }
  if (body.contains("policy_ids")) {
    const json& ids = body["policy_ids"];
    if (!ids.is_array()) return {400, Error("policy_ids: expected an array.")};
    if (ids.size() > 1) {
      return {400,
              Error("Currently, only one policy is supported per wallet.")};
    }
    std::vector<std::string> out;
    for (const json& id : ids) {
      if (!id.is_string() || !policies_.contains(id.get<std::string>())) {
        return {400, Error(absl::StrCat("Policy ", id.dump(), " not found."))};
      }
      out.push_back(id.get<std::string>());
    }
    // Detaching an owned policy needs its owner's signature.
    for (const std::string& old_id : w->second.policy_ids) {
      auto old = policies_.find(old_id);
      if (old == policies_.end() || old->second.owner_public_key.empty() ||
          std::find(out.begin(), out.end(), old_id) != out.end()) {
        continue;
      }
      Reply signature = CheckSignature(req, old->second.owner_public_key);
      if (signature.status != 0) return signature;
    }
    w->second.policy_ids = std::move(out);
  }
  return {200, WalletJson(w->second)};
}

FakePrivy::Reply FakePrivy::ListWalletTransactions(
    const httplib::Request& req) {
  // https://docs.privy.io/api-reference/wallets/get-transactions
  auto w = wallets_.find(req.matches[1].str());
  if (w == wallets_.end()) return {404, Error("Wallet not found.")};
  const std::optional<uint64_t> chain_id =
      ChainIdOfName(req.get_param_value("chain"));
  if (!chain_id.has_value()) {
    return {400, Error("chain: required, one of Privy's chain names.")};
  }
  const bool by_asset = req.has_param("asset");
  const bool by_token = req.has_param("token");
  if (by_asset == by_token) {
    return {400, Error("Exactly one of asset or token is required.")};
  }
  const std::string asset = req.get_param_value("asset");
  static const char* const kAssets[] = {"usdc", "usdc.e", "eth",  "avax",
                                        "pol",  "bnb",    "usdt", "eurc",
                                        "usdb", "pathusd"};
  if (by_asset && std::find(std::begin(kAssets), std::end(kAssets), asset) ==
                      std::end(kAssets)) {
    return {400,
            Error(absl::StrCat("asset: \"", asset, "\" is not supported."))};
  }
  const std::optional<std::string> token =
      by_token ? Address(json(req.get_param_value("token"))) : std::nullopt;
  if (by_token && !token.has_value()) {
    return {400, Error("token: expected a 0x address.")};
  }
  int limit = 20;
  if (req.has_param("limit") &&
      (!absl::SimpleAtoi(req.get_param_value("limit"), &limit) || limit < 1 ||
       limit > 100)) {
    return {400, Error("limit: at most 100.")};
  }
  size_t offset = 0;
  if (req.has_param("cursor") &&
      (!IsDigits(req.get_param_value("cursor")) ||
       !absl::SimpleAtoi(req.get_param_value("cursor"), &offset))) {
    return {400, Error("cursor: not one this server gave.")};
  }
  const std::string address = Lower(w->second.wallet.address);
  std::vector<json> matching;
  // Newest first.
  for (auto it = ledger_.rbegin(); it != ledger_.rend(); ++it) {
    const Transaction& t = *it;
    if (t.chain_id != *chain_id) continue;
    std::string recipient = t.to, tx_asset = NativeAsset(t.chain_id);
    std::string contract;
    absl::uint128 raw = t.value;
    int decimals = 18;
    if (auto transfer = Erc20Transfer(t.data); transfer.has_value()) {
      contract = t.to;
      recipient = transfer->first;
      raw = transfer->second;
      auto known = tokens_.find(contract);
      tx_asset = known != tokens_.end() ? known->second.first : contract;
      decimals = known != tokens_.end() ? known->second.second : 0;
    }
    const bool sent = t.from == address;
    if (!sent && recipient != address) continue;
    if (by_asset && tx_asset != asset) continue;
    if (by_token && contract != *token) continue;
    std::ostringstream raw_text;
    raw_text << raw;
    matching.push_back(
        {{"caip2", t.caip2},
         {"transaction_hash", t.hash.empty() ? json(nullptr) : json(t.hash)},
         {"status", t.status},
         {"created_at", Millis(t.created_at)},
         {"privy_transaction_id", t.id},
         {"wallet_id", t.wallet_id},
         {"details",
          {{"type", sent ? "transfer_sent" : "transfer_received"},
           {"chain", ChainNameOf(t.chain_id)},
           {"asset", tx_asset},
           {"sender", t.from},
           {"recipient", recipient},
           {"raw_value", raw_text.str()},
           {"raw_value_decimals", decimals},
           {"display_values", json::object()}}}});
  }
  json page = json::array();
  for (size_t i = offset;
       i < matching.size() && page.size() < static_cast<size_t>(limit); ++i) {
    page.push_back(matching[i]);
  }
  const size_t next = offset + page.size();
  return {200,
          {{"transactions", page},
           {"next_cursor", next < matching.size() ? json(absl::StrCat(next))
                                                  : json(nullptr)}}};
}

FakePrivy::Reply FakePrivy::GetTransaction(const httplib::Request& req) {
  // https://docs.privy.io/api-reference/transactions/get
  const std::string id = req.matches[1];
  for (const Transaction& t : ledger_) {
    if (t.id != id) continue;
    return {
        200,
        {{"id", t.id},
         {"wallet_id", t.wallet_id},
         {"status", t.status},
         {"transaction_hash", t.hash.empty() ? json(nullptr) : json(t.hash)},
         {"caip2", t.caip2},
         {"created_at", Millis(t.created_at)}}};
  }
  return {404, Error("Transaction not found.")};
}

FakePrivy::Reply FakePrivy::CreatePolicyRoute(const httplib::Request& req) {
  // https://docs.privy.io/api-reference/policies/create
  const json body = json::parse(req.body, nullptr, false);
  if (!body.is_object()) return {400, Error("Invalid JSON body.")};
  if (body.value("version", "") != "1.0") {
    return {400, Error("version: must be \"1.0\".")};
  }
  const std::string name = body.value("name", "");
  if (name.empty() || name.size() > 50) {
    return {400, Error("name: 1 to 50 characters.")};
  }
  const std::string chain_type = body.value("chain_type", "");
  if (chain_type != "ethereum" && chain_type != "solana") {
    return {400, Error("chain_type: ethereum or solana.")};
  }
  if (!body.contains("rules") || !body["rules"].is_array()) {
    return {400, Error("rules: required.")};
  }
  static const char* const kMethods[] = {
      "eth_sendTransaction",  "eth_signTransaction",
      "eth_signTypedData_v4", "eth_sign7702Authorization",
      "signTransaction",      "signAndSendTransaction",
      "exportPrivateKey",     "*"};
  json rules = json::array();
  for (json rule : body["rules"]) {
    if (!rule.is_object()) {
      return {400, Error("rules: each rule is an object.")};
    }
    const std::string method = rule.value("method", "");
    const std::string rule_name = rule.value("name", "");
    const std::string action = rule.value("action", "");
    if (rule_name.empty() || rule_name.size() > 50 ||
        std::find(std::begin(kMethods), std::end(kMethods), method) ==
            std::end(kMethods) ||
        (action != "ALLOW" && action != "DENY") ||
        !rule.contains("conditions") || !rule["conditions"].is_array()) {
      return {400, Error("rules: each needs a name (up to 50 characters), a "
                         "method, conditions and an action ALLOW or DENY.")};
    }
    rule["id"] = NewId();
    rules.push_back(rule);
  }
  std::string owner;
  if (body.contains("owner") && !body["owner"].is_null()) {
    // https://docs.privy.io/api-reference/policies/create: owner
    // {public_key} (a P-256 key, base64 SPKI DER) or owner_id.
    const json& o = body["owner"];
    owner = o.is_object() ? o.value("public_key", "") : "";
    if (owner.empty() || !http::VerifyingKey::FromBase64Der(owner).ok()) {
      return {400, Error("owner.public_key: expected a base64 DER P-256 "
                         "public key.")};
    }
  }
  Policy p{.id = NewId(),
           .name = name,
           .chain_type = chain_type,
           .rules = rules,
           .owner_public_key = owner};
  const json out = PolicyJson(p);
  policies_[p.id] = std::move(p);
  return {200, out};
}

FakePrivy::Reply FakePrivy::GetPolicyRoute(const httplib::Request& req) {
  auto p = policies_.find(req.matches[1].str());
  if (p == policies_.end()) return {404, Error("Policy not found.")};
  return {200, PolicyJson(p->second)};
}

FakePrivy::Reply FakePrivy::DeletePolicyRoute(const httplib::Request& req) {
  const std::string id = req.matches[1];
  auto p = policies_.find(id);
  if (p == policies_.end()) return {404, Error("Policy not found.")};
  if (!p->second.owner_public_key.empty()) {
    Reply signature = CheckSignature(req, p->second.owner_public_key);
    if (signature.status != 0) return signature;
  }
  for (const auto& [wallet_id, w] : wallets_) {
    if (std::find(w.policy_ids.begin(), w.policy_ids.end(), id) !=
        w.policy_ids.end()) {
      return {400, Error(absl::StrCat("Policy ", id, " is attached to wallet ",
                                      wallet_id, "."))};
    }
  }
  policies_.erase(id);
  return {200, {{"success", true}}};
}

}  // namespace warden::testing
