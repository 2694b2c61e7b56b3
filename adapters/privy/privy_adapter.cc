#include "adapters/privy/privy_adapter.h"

#include <algorithm>
#include <initializer_list>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "adapters/evm/chains.h"
#include "adapters/evm/evm.h"
#include "adapters/evm/json_rpc.h"
#include "governance/status_macros.h"

namespace warden {
namespace {

using nlohmann::json;

// Privy's prefix on authorization keys shown in its dashboard.
constexpr char kWalletAuthPrefix[] = "wallet-auth:";
// The name of the deny-all policy that freezes a wallet is this prefix and
// the id of the policy it replaced (empty for none). Privy allows one
// policy per wallet and names of 1-50 characters: room for a 36-character
// UUID id.
constexpr char kFreezePrefix[] = "warden-freeze:";
constexpr size_t kMaxPolicyName = 50;
// Longest vendor answer quoted in an error.
constexpr size_t kMaxQuoted = 300;

std::string Lower(absl::string_view s) { return absl::AsciiStrToLower(s); }

std::string StringField(const json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

// Privy's error body is {"error": message, "code": code?}.
std::string ErrorCode(const http::HttpResponse& r) {
  return StringField(json::parse(r.body, nullptr, false), "code");
}

// "HTTP 401: Invalid app ID or app secret. (code)" from Privy's answer.
std::string Said(const http::HttpResponse& r) {
  const json body = json::parse(r.body, nullptr, false);
  std::string message = StringField(body, "error");
  if (message.empty()) message = r.body.substr(0, kMaxQuoted);
  const std::string code = StringField(body, "code");
  return absl::StrCat("HTTP ", r.status, message.empty() ? "" : ": ", message,
                      code.empty() ? "" : absl::StrCat(" (", code, ")"));
}

// Codes Privy answers for an RPC it refused before signing
// (https://docs.privy.io/basics/troubleshooting/error-handling/api-errors).
// Not transaction_broadcast_failure: that transaction was signed, and a
// node may have taken it before the failure was reported.
bool IsRefusedUnsent(const std::string& code) {
  return code == "policy_violation" || code == "insufficient_funds";
}

constexpr char kBroadcastFailure[] = "transaction_broadcast_failure";
constexpr char kResolveByHand[] =
    "check the wallet's transactions at Privy and resolve it by hand";

// The idempotency key of an operation: stable across retries, Poll's
// re-sends and restarts. Privy takes up to 256 characters.
std::string IdempotencyKeyFor(const std::string& operation_id) {
  const std::string key = absl::StrCat("warden-", operation_id);
  return key.size() <= 256
             ? key
             : absl::StrCat("warden-sha256-", http::Sha256Hex(operation_id));
}

// Privy's name for a bundle chain in transaction-history queries
// (https://docs.privy.io/api-reference/wallets/get-transactions).
std::string PrivyChainName(const std::string& chain) {
  return absl::StrReplaceAll(chain, {{"-", "_"}});
}

// Privy's asset name of a chain's native coin.
std::string NativeAsset(const std::string& chain) {
  if (chain == "polygon") return "pol";
  if (chain == "avalanche") return "avax";
  if (chain == "bsc") return "bnb";
  return "eth";
}

absl::StatusOr<absl::uint128> ParseDecimal(const std::string& s) {
  absl::uint128 v = 0;
  if (s.empty() ||
      !std::all_of(s.begin(), s.end(),
                   [](char c) {
                     return absl::ascii_isdigit(static_cast<unsigned char>(c));
                   }) ||
      !absl::SimpleAtoi(s, &v)) {
    return absl::OutOfRangeError(
        absl::StrCat("\"", s, "\" is not a base-unit amount up to 2^128-1"));
  }
  return v;
}

// Sets out->state (and out->error) from Privy's transaction status
// (https://docs.privy.io/api-reference/transactions/get). Only a mined
// revert and a replaced nonce are final failures: `failed` ("pending too
// long",
// https://docs.privy.io/wallets/gas-and-asset-management/assets/transaction-event-webhooks)
// and `provider_error` do not say that the signed transaction can never be
// mined, so they keep the hold.
void ApplyPrivyStatus(const std::string& status, const std::string& what,
                      VendorStatus* out) {
  if (status == "pending") {
    out->state = OperationState::kPending;
  } else if (status == "broadcasted") {
    out->state = OperationState::kSubmitted;
  } else if (status == "confirmed" || status == "finalized") {
    out->state = OperationState::kConfirmed;
  } else if (status == "execution_reverted") {
    out->state = OperationState::kFailed;
    out->error = "the transaction reverted (privy: execution_reverted)";
  } else if (status == "replaced") {
    // Another transaction took its nonce: this one can never be mined.
    out->state = OperationState::kFailed;
    out->error =
        "another transaction with the same nonce replaced it (privy: "
        "replaced)";
  } else if (status == "failed" || status == "provider_error") {
    out->state = OperationState::kUnknown;
    out->error = absl::StrCat(
        "privy reports the transaction ", status,
        status == "failed" ? " (pending too long to be included)" : "",
        "; it was signed and its nonce may still be unused, so it could yet "
        "be mined: the hold is kept and polling continues (privy: ",
        status, ")");
  } else {
    out->error =
        absl::StrCat(what, ": unknown status \"", status, "\"; kept as it was");
  }
}

}  // namespace

// What vendor_ref holds, as a JSON object: where the request went and what
// Poll needs. Fields are optional; empty ones are left out.
struct PrivyAdapter::Ref {
  // The Privy wallet the request was addressed to when first sent. Poll
  // re-sends and looks up there only, whatever the bundle says now: the
  // idempotency key belongs to that request.
  std::string wallet_id;
  std::string chain;  // The bundle chain, for the wallet's transaction list.
  std::string token;  // The token contract (lowercase); empty: native coin.
  std::string transaction_id;  // Privy's, once it named one.
  std::string hash;            // Once known.
  // While the outcome is unknown: the request, to send again as it was.
  std::string idempotency_key;
  std::optional<int64_t> first_sent_ms;
  json request;
  // Why the request must not be sent again (a person resolves it).
  std::string no_resend;

  std::string Dump() const {
    json j = json::object();
    auto put = [&j](const char* key, const std::string& v) {
      if (!v.empty()) j[key] = v;
    };
    put("wallet_id", wallet_id);
    put("chain", chain);
    put("token", token);
    put("transaction_id", transaction_id);
    put("hash", hash);
    put("idempotency_key", idempotency_key);
    if (first_sent_ms.has_value()) j["first_sent_ms"] = *first_sent_ms;
    if (request.is_object()) j["request"] = request;
    put("no_resend", no_resend);
    return j.dump();
  }

  // INVALID_ARGUMENT naming the field when `text` is not a reference this
  // adapter wrote. Never throws.
  static absl::StatusOr<Ref> Parse(const std::string& text) {
    const json j = json::parse(text, nullptr, false);
    if (!j.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat("vendor_ref \"", text.substr(0, kMaxQuoted),
                       "\" is not a privy operation reference"));
    }
    Ref ref;
    for (auto [key, field] :
         std::initializer_list<std::pair<const char*, std::string Ref::*>>{
             {"wallet_id", &Ref::wallet_id},
             {"chain", &Ref::chain},
             {"token", &Ref::token},
             {"transaction_id", &Ref::transaction_id},
             {"hash", &Ref::hash},
             {"idempotency_key", &Ref::idempotency_key},
             {"no_resend", &Ref::no_resend}}) {
      auto it = j.find(key);
      if (it == j.end() || it->is_null()) continue;
      if (!it->is_string()) {
        return absl::InvalidArgumentError(
            absl::StrCat("vendor_ref.", key, ": not a string"));
      }
      ref.*field = it->get<std::string>();
    }
    if (auto it = j.find("first_sent_ms"); it != j.end()) {
      if (!it->is_number_integer()) {
        return absl::InvalidArgumentError(
            "vendor_ref.first_sent_ms: not an integer");
      }
      ref.first_sent_ms = it->get<int64_t>();
    }
    if (auto it = j.find("request"); it != j.end()) {
      if (!it->is_object()) {
        return absl::InvalidArgumentError("vendor_ref.request: not an object");
      }
      ref.request = *it;
    }
    return ref;
  }
};

struct PrivyAdapter::Answer {
  absl::StatusOr<http::HttpResponse> response;
  // Some attempt may have been acted on without an answer saying how.
  bool may_have_acted = false;
  std::string what;  // "POST /v1/wallets/ID/rpc", for errors.
};

absl::StatusOr<std::unique_ptr<PrivyAdapter>> PrivyAdapter::Create(
    PrivyOptions options, std::unique_ptr<http::HttpTransport> transport) {
  while (absl::EndsWith(options.base_url, "/")) options.base_url.pop_back();
  if (!absl::StartsWith(options.base_url, "http://") &&
      !absl::StartsWith(options.base_url, "https://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("privy base_url \"", options.base_url,
                     "\": must start with http:// or https://"));
  }
  if (options.app_id.empty()) {
    return absl::InvalidArgumentError("privy app_id: required");
  }
  if (options.app_secret.empty()) {
    return absl::InvalidArgumentError("privy app_secret: required");
  }
  std::optional<http::SigningKey> key;
  if (!options.authorization_key.empty()) {
    absl::string_view text =
        absl::StripAsciiWhitespace(options.authorization_key);
    absl::ConsumePrefix(&text, kWalletAuthPrefix);
    absl::StatusOr<http::SigningKey> parsed =
        http::SigningKey::FromBase64(text);
    // The key's text never goes into the message.
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "privy authorization_key: not a base64 PKCS#8 P-256 key (",
          parsed.status().message(), ")"));
    }
    if (parsed->is_ed25519()) {
      return absl::InvalidArgumentError(
          "privy authorization_key: an Ed25519 key; Privy authorization keys "
          "are P-256");
    }
    key = *std::move(parsed);
  }
  WARDEN_ASSIGN_OR_RETURN(auto chain_ids, evm::ChainIds({}, "privy chain_ids"));
  for (const auto& [name, id] : options.chain_ids) {
    if (name.empty() || id == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "privy chain_ids[\"", name, "\"]: needs a name and a positive id"));
    }
    chain_ids[name] = id;
  }
  for (const auto& [chain, tokens] : options.list_tokens) {
    for (const std::string& token : tokens) {
      if (!evm::ParseAddress(token).ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("privy list_tokens[\"", chain, "\"]: \"", token,
                         "\" is not a 0x address"));
      }
    }
  }
  if (transport == nullptr) {
    transport = std::make_unique<http::CurlTransport>();
  }
  return std::unique_ptr<PrivyAdapter>(
      new PrivyAdapter(std::move(options), std::move(key), std::move(chain_ids),
                       std::move(transport)));
}

PrivyAdapter::PrivyAdapter(PrivyOptions options,
                           std::optional<http::SigningKey> authorization_key,
                           std::map<std::string, uint64_t> chain_ids,
                           std::unique_ptr<http::HttpTransport> transport)
    : options_(std::move(options)),
      authorization_key_(std::move(authorization_key)),
      chain_ids_(std::move(chain_ids)),
      transport_(std::move(transport)) {}

AdapterInfo PrivyAdapter::Describe() const {
  AdapterInfo info{.vendor = "privy",
                   .async = true,
                   .vendor_policy = true,
                   .vendor_freeze = true,
                   .list_transactions = true};
  for (const auto& [name, id] : chain_ids_) info.chains.push_back(name);
  return info;
}

absl::Status PrivyAdapter::CheckWallet(const Wallet& wallet) const {
  if (wallet.vendor_id.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("wallets[", wallet.id,
                     "].vendor_id: required for a privy wallet (its Privy "
                     "wallet id)"));
  }
  if (!chain_ids_.contains(wallet.chain)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "wallets[", wallet.id, "].chain: \"", wallet.chain,
        "\" has no EVM chain id for privy (add it to the adapter's chain "
        "ids)"));
  }
  return absl::OkStatus();
}

PrivyAdapter::Answer PrivyAdapter::Call(const std::string& method,
                                        const std::string& path,
                                        const std::string& query,
                                        const json& body,
                                        const std::string& idempotency_key,
                                        http::Replay replay) const {
  const std::string url = absl::StrCat(options_.base_url, path);
  const std::string wire_body = body.is_null() ? "" : http::CanonicalJson(body);
  auto build = [&]() -> absl::StatusOr<http::HttpRequest> {
    http::HttpRequest r;
    r.method = method;
    r.url = query.empty() ? url : absl::StrCat(url, "?", query);
    r.headers = {{"Authorization",
                  absl::StrCat("Basic ", absl::Base64Escape(absl::StrCat(
                                             options_.app_id, ":",
                                             options_.app_secret)))},
                 {"privy-app-id", options_.app_id}};
    if (!wire_body.empty()) {
      r.headers.emplace_back("Content-Type", "application/json");
      r.body = wire_body;
    }
    if (!idempotency_key.empty()) {
      r.headers.emplace_back("privy-idempotency-key", idempotency_key);
    }
    // Privy requires no signature on reads; writes are signed over the RFC
    // 8785 form of {version, method, url, body, privy-* headers}, afresh for
    // each attempt.
    if (authorization_key_.has_value() && method != "GET") {
      json headers = {{"privy-app-id", options_.app_id}};
      if (!idempotency_key.empty()) {
        headers["privy-idempotency-key"] = idempotency_key;
      }
      json payload = {{"version", 1},
                      {"method", method},
                      {"url", url},
                      {"headers", headers}};
      if (!body.is_null()) payload["body"] = body;
      WARDEN_ASSIGN_OR_RETURN(
          std::string der,
          authorization_key_->SignDer(http::CanonicalJson(payload)));
      r.headers.emplace_back("privy-authorization-signature",
                             absl::Base64Escape(der));
    }
    return r;
  };
  http::ActionRecorder recorder(*transport_);
  Answer out;
  out.response = http::SendWithRetries(recorder, build, replay, options_.retry);
  out.may_have_acted = recorder.may_have_acted();
  out.what = absl::StrCat(method, " ", path);
  return out;
}

absl::StatusOr<json> PrivyAdapter::GetJson(const std::string& path,
                                           const std::string& query) const {
  Answer a = Call("GET", path, query, json(), "", http::Replay::kSafe);
  if (!a.response.ok()) {
    return absl::UnavailableError(
        absl::StrCat("privy ", a.what, ": ", a.response.status().message()));
  }
  const http::HttpResponse& r = *a.response;
  if (!http::Is2xx(r.status)) {
    const std::string what = absl::StrCat("privy ", a.what, ": ", Said(r));
    if (r.status == 401) return absl::UnauthenticatedError(what);
    if (r.status == 403) return absl::PermissionDeniedError(what);
    if (r.status == 404) return absl::NotFoundError(what);
    if (r.status == 429 || r.status >= 500) {
      return absl::UnavailableError(what);
    }
    return absl::FailedPreconditionError(what);
  }
  json j = json::parse(r.body, nullptr, false);
  if (!j.is_object()) {
    return absl::UnavailableError(
        absl::StrCat("privy ", a.what, ": the answer is not a JSON object"));
  }
  return j;
}

absl::StatusOr<VendorStatus> PrivyAdapter::Send(const TransferIntent& intent) {
  WARDEN_RETURN_IF_ERROR(CheckWallet(intent.wallet));
  if (intent.operation_id.empty()) {
    return absl::InvalidArgumentError(
        "operation_id: required (it is the privy idempotency key)");
  }
  WARDEN_ASSIGN_OR_RETURN(
      const evm::Call call,
      evm::ResolveTransfer(intent.destination, intent.token_contract,
                           intent.amount, intent.data));
  if (call.data.size() > kMaxDataBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data: ", call.data.size(), " bytes; privy sends take at most ",
        kMaxDataBytes,
        " (the request is kept in the operation to resolve an unknown send)"));
  }
  const uint64_t chain_id = chain_ids_.at(intent.wallet.chain);
  // https://docs.privy.io/api-reference/wallets/ethereum/eth-send-transaction
  json transaction = {{"to", evm::Hex(call.to)},
                      {"value", evm::Quantity(call.value)},
                      {"chain_id", chain_id}};
  if (!call.data.empty()) transaction["data"] = evm::Hex(call.data);
  json request = {{"method", "eth_sendTransaction"},
                  {"caip2", absl::StrCat("eip155:", chain_id)},
                  {"chain_type", "ethereum"},
                  {"params", {{"transaction", transaction}}}};
  // What an unknown outcome's Poll needs to send the very same request to
  // the very same wallet.
  Ref ref;
  ref.wallet_id = intent.wallet.vendor_id;
  ref.chain = intent.wallet.chain;
  ref.token = Lower(intent.token_contract);
  ref.idempotency_key = IdempotencyKeyFor(intent.operation_id);
  ref.first_sent_ms = absl::ToUnixMillis(absl::Now());
  ref.request = std::move(request);
  return SendRpc(intent.wallet, std::move(ref), /*is_resend=*/false);
}

absl::StatusOr<VendorStatus> PrivyAdapter::SendRpc(const Wallet& wallet,
                                                   Ref ref,
                                                   bool is_resend) const {
  const std::string path =
      absl::StrCat("/v1/wallets/", http::PercentEncode(ref.wallet_id), "/rpc");
  // Safe to repeat: every attempt carries the same idempotency key, so
  // Privy acts once and answers the rest from its record.
  Answer a = Call("POST", path, "", ref.request, ref.idempotency_key,
                  http::Replay::kSafe);
  auto unknown = [&ref](std::string error) {
    return VendorStatus{.state = OperationState::kUnknown,
                        .vendor_ref = ref.Dump(),
                        .error = std::move(error)};
  };
  if (!a.response.ok()) {
    const std::string what =
        absl::StrCat("privy ", a.what, ": ", a.response.status().message());
    if (a.may_have_acted) {
      return unknown(absl::StrCat(what, "; it may have been sent"));
    }
    return absl::UnavailableError(absl::StrCat(what, "; nothing was sent"));
  }
  const http::HttpResponse& r = *a.response;
  if (http::Is2xx(r.status)) {
    const json body = json::parse(r.body, nullptr, false);
    const json data =
        body.is_object() && body.contains("data") ? body["data"] : json();
    Ref sent{.wallet_id = ref.wallet_id,
             .chain = ref.chain,
             .token = ref.token,
             .transaction_id = StringField(data, "transaction_id"),
             .hash = Lower(StringField(data, "hash"))};
    if (sent.transaction_id.empty() && sent.hash.empty()) {
      return unknown(absl::StrCat("privy ", a.what,
                                  ": the answer has neither a hash nor a "
                                  "transaction id: ",
                                  r.body.substr(0, kMaxQuoted)));
    }
    // Without a transaction id, Poll finds the hash in the wallet's
    // transaction list.
    return VendorStatus{.state = sent.hash.empty() ? OperationState::kPending
                                                   : OperationState::kSubmitted,
                        .tx_hash = sent.hash,
                        .vendor_ref = sent.Dump()};
  }
  const std::string code = ErrorCode(r);
  const std::string what = absl::StrCat("privy ", a.what, ": ", Said(r));
  if (code == kBroadcastFailure) {
    // Privy signed it and a node may have taken it anyway; sending again
    // could sign a second transaction if Privy kept no answer under the key.
    ref.no_resend = what;
    return unknown(absl::StrCat(
        what,
        "; privy signed the transaction and its broadcast failed, but it may "
        "still be mined, so it is not sent again: ",
        kResolveByHand));
  }
  if (is_resend) {
    if (r.status == 401 || r.status == 403) {
      return absl::PermissionDeniedError(what);
    }
    if (r.status >= 400 && r.status < 500 && r.status != 408 &&
        r.status != 409 && r.status != 429) {
      // A refusal now (a wallet since frozen or gone, say) does not prove
      // that no earlier attempt went out, so the hold stays; and a request
      // refused once is not sent again later behind a person's back.
      ref.no_resend = what;
      return unknown(absl::StrCat(
          what,
          "; the re-send was refused, which does not prove that no earlier "
          "attempt was sent; it is not sent again: ",
          kResolveByHand));
    }
    // A changing answer, a conflict or a rate limit: ask again later.
    return unknown(what);
  }
  // An answer that is not a success after an attempt that may have been
  // acted on says nothing for sure about that attempt.
  if (a.may_have_acted) {
    return unknown(
        absl::StrCat(what, "; an earlier attempt may have been sent"));
  }
  if (r.status == 400 &&
      absl::StrContains(absl::AsciiStrToLower(what), "idempotency")) {
    // The key was used before with another body: that request may have
    // been sent. (Warden's bodies are a function of the operation, so this
    // means the operation was sent before under another configuration.)
    return unknown(absl::StrCat(
        what, "; the operation was sent before with another request"));
  }
  if (r.status == 401) return absl::UnauthenticatedError(what);
  if (r.status == 403) return absl::PermissionDeniedError(what);
  if (code == "policy_violation") {
    return absl::PermissionDeniedError(absl::StrCat(
        what, "; the wallet's Privy policy refused it (is it frozen?)"));
  }
  if (r.status == 404) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, "; check wallets[", wallet.id, "].vendor_id"));
  }
  if (r.status == 429) {
    return absl::UnavailableError(
        absl::StrCat(what, "; rate limited, nothing was sent"));
  }
  if (r.status == 400 && !IsRefusedUnsent(code)) {
    return absl::InvalidArgumentError(what);
  }
  return absl::FailedPreconditionError(what);
}

absl::StatusOr<VendorStatus> PrivyAdapter::Poll(const Wallet& wallet,
                                                const VendorStatus& last) {
  if (IsFinal(last.state)) return last;
  // Kept unknown, never an error: the hold stays until a person looks.
  auto stuck = [&last](std::string error) {
    VendorStatus out = last;
    out.state = OperationState::kUnknown;
    out.error = std::move(error);
    return out;
  };
  absl::StatusOr<Ref> ref = Ref::Parse(last.vendor_ref);
  if (!ref.ok()) {
    return stuck(absl::StrCat(ref.status().message(), ": ", kResolveByHand));
  }
  if (!ref->transaction_id.empty()) return PollTransaction(last, *ref);
  if (!ref->hash.empty()) return PollByHash(last, *std::move(ref));
  if (!ref->no_resend.empty()) {
    VendorStatus out = last;
    out.error = absl::StrCat("not sent again after \"", ref->no_resend,
                             "\": ", kResolveByHand);
    return out;
  }
  if (!ref->request.is_object() || ref->idempotency_key.empty() ||
      !ref->first_sent_ms.has_value() || ref->wallet_id.empty()) {
    return stuck(absl::StrCat(
        "vendor_ref names neither a privy transaction nor a request with its "
        "wallet, idempotency key and first send time to send again: ",
        kResolveByHand));
  }
  const absl::Time first_sent = absl::FromUnixMillis(*ref->first_sent_ms);
  if (absl::Now() - first_sent > kResendWindow) {
    // Past Privy's idempotency window the same request would be a new
    // transaction. A person must look (ListTransactions) and resolve it.
    return stuck(absl::StrCat(
        "the send's outcome is unknown and its privy idempotency key has "
        "expired (first sent ",
        absl::FormatTime(first_sent), "): ", kResolveByHand));
  }
  // The stored wallet, not `wallet` (the bundle may have changed since).
  return SendRpc(wallet, *std::move(ref), /*is_resend=*/true);
}

absl::StatusOr<VendorStatus> PrivyAdapter::PollTransaction(
    const VendorStatus& last, const Ref& ref) const {
  // https://docs.privy.io/api-reference/transactions/get
  const std::string what =
      absl::StrCat("privy transaction ", ref.transaction_id);
  absl::StatusOr<json> tx =
      GetJson(absl::StrCat("/v1/transactions/",
                           http::PercentEncode(ref.transaction_id)),
              "");
  if (!tx.ok()) {
    if (absl::IsUnauthenticated(tx.status()) ||
        absl::IsPermissionDenied(tx.status())) {
      return tx.status();
    }
    // Privy not answering (or not knowing the id yet): ask again later.
    VendorStatus out = last;
    out.error = std::string(tx.status().message());
    return out;
  }
  VendorStatus out = last;
  out.error.clear();
  const std::string hash = Lower(StringField(*tx, "transaction_hash"));
  if (!hash.empty()) out.tx_hash = hash;
  ApplyPrivyStatus(StringField(*tx, "status"), what, &out);
  return out;
}

absl::StatusOr<VendorStatus> PrivyAdapter::PollByHash(const VendorStatus& last,
                                                      Ref ref) const {
  VendorStatus out = last;
  out.tx_hash = ref.hash;
  if (ref.wallet_id.empty() || ref.chain.empty()) {
    out.error = absl::StrCat(
        "privy named no transaction id for ", ref.hash,
        " and vendor_ref lacks the wallet or chain to look it up: ",
        kResolveByHand);
    return out;
  }
  // https://docs.privy.io/api-reference/wallets/get-transactions: the one
  // asset or token the transfer moved.
  const std::string path = absl::StrCat(
      "/v1/wallets/", http::PercentEncode(ref.wallet_id), "/transactions");
  const std::string filter =
      ref.token.empty()
          ? absl::StrCat("asset=", NativeAsset(ref.chain))
          : absl::StrCat("token=", http::PercentEncode(ref.token));
  std::string cursor;
  for (int page = 0; page < kMaxListPages; ++page) {
    std::string query =
        absl::StrCat("chain=", http::PercentEncode(PrivyChainName(ref.chain)),
                     "&", filter, "&limit=", kListPageSize);
    if (!cursor.empty()) {
      absl::StrAppend(&query, "&cursor=", http::PercentEncode(cursor));
    }
    absl::StatusOr<json> body = GetJson(path, query);
    if (!body.ok()) {
      if (absl::IsUnauthenticated(body.status()) ||
          absl::IsPermissionDenied(body.status())) {
        return body.status();
      }
      out.error = std::string(body.status().message());
      return out;
    }
    auto list = body->find("transactions");
    if (list == body->end() || !list->is_array()) {
      out.error = absl::StrCat("privy GET ", path,
                               ": the answer has no transactions list");
      return out;
    }
    for (const json& t : *list) {
      if (Lower(StringField(t, "transaction_hash")) != ref.hash) continue;
      // From now on the transaction is asked for by its id.
      ref.transaction_id = StringField(t, "privy_transaction_id");
      out.vendor_ref = ref.Dump();
      out.error.clear();
      ApplyPrivyStatus(StringField(t, "status"),
                       absl::StrCat("privy transaction ", ref.hash), &out);
      return out;
    }
    cursor = StringField(*body, "next_cursor");
    if (cursor.empty()) break;
  }
  out.error =
      absl::StrCat("privy named no transaction id for ", ref.hash,
                   " and the wallet's transaction list does not show it yet");
  return out;
}

absl::Status PrivyAdapter::SetFrozen(const Wallet& wallet, bool frozen,
                                     const std::string& reason) {
  (void)reason;  // Privy policies carry no free text beyond a short name.
  if (wallet.vendor_id.empty()) return CheckWallet(wallet);
  const std::string wallet_path =
      absl::StrCat("/v1/wallets/", http::PercentEncode(wallet.vendor_id));
  // https://docs.privy.io/api-reference/wallets/get
  WARDEN_ASSIGN_OR_RETURN(json privy_wallet, GetJson(wallet_path, ""));
  std::vector<std::string> policy_ids;
  if (privy_wallet.contains("policy_ids") &&
      privy_wallet["policy_ids"].is_array()) {
    for (const json& p : privy_wallet["policy_ids"]) {
      if (p.is_string()) policy_ids.push_back(p.get<std::string>());
    }
  }
  // Is the wallet's one policy our freeze? Then its name holds the policy
  // to restore.
  std::optional<std::string> freeze_id, restore_id;
  if (policy_ids.size() == 1) {
    WARDEN_ASSIGN_OR_RETURN(
        json policy, GetJson(absl::StrCat("/v1/policies/",
                                          http::PercentEncode(policy_ids[0])),
                             ""));
    const std::string policy_name = StringField(policy, "name");
    absl::string_view name = policy_name;
    if (absl::ConsumePrefix(&name, kFreezePrefix)) {
      freeze_id = policy_ids[0];
      restore_id = std::string(name);
    }
  }
  auto set_policies = [&](const std::vector<std::string>& ids) -> absl::Status {
    // https://docs.privy.io/api-reference/wallets/update: setting a
    // value twice is harmless, so a retry is safe without a key.
    Answer a = Call("PATCH", wallet_path, "", json{{"policy_ids", ids}}, "",
                    http::Replay::kSafe);
    if (!a.response.ok()) {
      return absl::UnavailableError(
          absl::StrCat("privy ", a.what, ": ", a.response.status().message()));
    }
    if (http::Is2xx(a.response->status)) return absl::OkStatus();
    const std::string what =
        absl::StrCat("privy ", a.what, ": ", Said(*a.response));
    if (a.response->status == 401) return absl::UnauthenticatedError(what);
    if (a.response->status == 403) return absl::PermissionDeniedError(what);
    if (a.response->status == 429 || a.response->status >= 500) {
      return absl::UnavailableError(what);
    }
    return absl::FailedPreconditionError(what);
  };

  if (!frozen) {
    if (!freeze_id.has_value()) return absl::OkStatus();  // Not frozen.
    std::vector<std::string> restore;
    if (!restore_id->empty()) restore.push_back(*restore_id);
    WARDEN_RETURN_IF_ERROR(set_policies(restore));
    // The detached freeze policy is of no further use. Failing to delete it
    // leaves clutter, not a frozen wallet: the unfreeze stands.
    (void)Call("DELETE",
               absl::StrCat("/v1/policies/", http::PercentEncode(*freeze_id)),
               "", json(), "", http::Replay::kSafe);
    return absl::OkStatus();
  }
  if (freeze_id.has_value()) return absl::OkStatus();  // Already frozen.
  // An owned wallet's update must be signed by its owner: say so before
  // creating a policy that could not be attached.
  if (privy_wallet.contains("owner_id") &&
      !privy_wallet["owner_id"].is_null() && !authorization_key_.has_value()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "privy wallet ", wallet.vendor_id,
        " has an owner: freezing it needs the adapter's authorization_key"));
  }
  if (policy_ids.size() > 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "privy wallet ", wallet.vendor_id, " has ", policy_ids.size(),
        " policies; Privy supports one, and the freeze would lose the rest"));
  }
  const std::string previous = policy_ids.empty() ? "" : policy_ids[0];
  const std::string name = absl::StrCat(kFreezePrefix, previous);
  if (name.size() > kMaxPolicyName) {
    return absl::FailedPreconditionError(absl::StrCat(
        "privy wallet ", wallet.vendor_id, ": its policy id \"", previous,
        "\" is too long to remember in a freeze policy's name"));
  }
  // https://docs.privy.io/api-reference/policies/create. Any DENY that
  // applies wins, and a request no rule resolves is denied too.
  json policy = {{"version", "1.0"},
                 {"name", name},
                 {"chain_type", "ethereum"},
                 {"rules",
                  {{{"name", "warden freeze: deny everything"},
                    {"method", "*"},
                    {"conditions", json::array()},
                    {"action", "DENY"}}}}};
  // Owned by the authorization key, when there is one: changing or deleting
  // it then needs that key's signature, not only the app secret.
  if (authorization_key_.has_value()) {
    absl::StatusOr<std::string> owner = authorization_key_->PublicDerBase64();
    if (!owner.ok()) return owner.status();
    policy["owner"] = {{"public_key", *owner}};
  }
  // No idempotency key: a key would return a policy deleted by an earlier
  // unfreeze. A create whose answer is lost leaves an unused policy, and
  // the freeze is retried with a new one.
  Answer created =
      Call("POST", "/v1/policies", "", policy, "", http::Replay::kUnsafe);
  if (!created.response.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "privy ", created.what, ": ", created.response.status().message()));
  }
  if (!http::Is2xx(created.response->status)) {
    const std::string what =
        absl::StrCat("privy ", created.what, ": ", Said(*created.response));
    if (created.response->status == 401) {
      return absl::UnauthenticatedError(what);
    }
    if (created.response->status == 403) {
      return absl::PermissionDeniedError(what);
    }
    if (created.response->status == 429 || created.response->status >= 500) {
      return absl::UnavailableError(what);
    }
    return absl::FailedPreconditionError(what);
  }
  const std::string deny_id =
      StringField(json::parse(created.response->body, nullptr, false), "id");
  if (deny_id.empty()) {
    return absl::UnavailableError(
        absl::StrCat("privy ", created.what, ": the answer has no policy id"));
  }
  return set_policies({deny_id});
}

absl::StatusOr<std::vector<VendorTransaction>> PrivyAdapter::ListTransactions(
    const Wallet& wallet, absl::Time since) {
  WARDEN_RETURN_IF_ERROR(CheckWallet(wallet));
  // One query for the native coin, one per listed token: Privy takes
  // exactly one of asset or token.
  std::vector<std::pair<std::string, std::string>> queries = {
      {absl::StrCat("asset=", NativeAsset(wallet.chain)), ""}};
  if (auto it = options_.list_tokens.find(wallet.chain);
      it != options_.list_tokens.end()) {
    for (const std::string& token : it->second) {
      queries.emplace_back(absl::StrCat("token=", Lower(token)), Lower(token));
    }
  }
  const std::string path = absl::StrCat(
      "/v1/wallets/", http::PercentEncode(wallet.vendor_id), "/transactions");
  std::vector<VendorTransaction> out;
  for (const auto& [filter, asset] : queries) {
    std::string cursor;
    for (int page = 0;; ++page) {
      if (page == kMaxListPages) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "privy ", path, "?", filter, ": more than ", kMaxListPages,
            " pages of ", kListPageSize, " transactions"));
      }
      std::string query = absl::StrCat(
          "chain=", http::PercentEncode(PrivyChainName(wallet.chain)), "&",
          filter, "&limit=", kListPageSize);
      if (!cursor.empty())
        absl::StrAppend(&query, "&cursor=", http::PercentEncode(cursor));
      Answer a = Call("GET", path, query, json(), "", http::Replay::kSafe);
      if (!a.response.ok()) {
        return absl::UnavailableError(absl::StrCat(
            "privy ", a.what, ": ", a.response.status().message()));
      }
      if (!http::Is2xx(a.response->status)) {
        const std::string what = absl::StrCat("privy ", a.what, "?", filter,
                                              ": ", Said(*a.response));
        if (a.response->status == 401) return absl::UnauthenticatedError(what);
        if (a.response->status == 403) return absl::PermissionDeniedError(what);
        if (a.response->status == 429 || a.response->status >= 500) {
          return absl::UnavailableError(what);
        }
        return absl::FailedPreconditionError(what);
      }
      const json body = json::parse(a.response->body, nullptr, false);
      if (!body.is_object() || !body.contains("transactions") ||
          !body["transactions"].is_array()) {
        return absl::UnavailableError(absl::StrCat(
            "privy ", a.what, ": the answer has no transactions list"));
      }
      for (const json& t : body["transactions"]) {
        const std::string status = StringField(t, "status");
        const std::string hash = Lower(StringField(t, "transaction_hash"));
        if (hash.empty() || status == "failed" || status == "replaced" ||
            status == "execution_reverted" || status == "provider_error") {
          continue;
        }
        const json details = t.contains("details") ? t["details"] : json();
        const std::string type = StringField(details, "type");
        // What the wallet spent: money it received is no one's spend.
        if (type != "transfer_sent") continue;
        const absl::Time time = absl::FromUnixMillis(
            t.contains("created_at") && t["created_at"].is_number()
                ? t["created_at"].get<int64_t>()
                : 0);
        if (time < since) continue;
        absl::StatusOr<absl::uint128> amount =
            ParseDecimal(StringField(details, "raw_value"));
        if (!amount.ok()) {
          return absl::OutOfRangeError(absl::StrCat("privy transaction ", hash,
                                                    ": raw_value ",
                                                    amount.status().message()));
        }
        out.push_back(
            VendorTransaction{.tx_hash = hash,
                              .from = Lower(StringField(details, "sender")),
                              .to = Lower(StringField(details, "recipient")),
                              .asset = asset,
                              .amount = *amount,
                              .time = time});
      }
      cursor = StringField(body, "next_cursor");
      if (cursor.empty()) break;
    }
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const VendorTransaction& a, const VendorTransaction& b) {
                     return a.time < b.time;
                   });
  return out;
}

}  // namespace warden
