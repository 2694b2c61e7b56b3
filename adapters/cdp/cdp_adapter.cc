#include "adapters/cdp/cdp_adapter.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "adapters/evm/chains.h"
#include "adapters/evm/evm.h"
#include "adapters/evm/rlp.h"
#include "governance/status_macros.h"

namespace warden {
namespace {

using nlohmann::json;

constexpr char kAccountsPath[] = "/platform/v2/evm/accounts/";
constexpr char kPoliciesPath[] = "/platform/v2/policy-engine/policies";
// The API key JWT's lifetime, as CDP's SDKs make it.
constexpr int64_t kJwtLifetimeSeconds = 120;
// CDP remembers an idempotency key for 24 hours; a re-send after that would
// be a new transaction, so Poll stops re-sending an hour before.
constexpr absl::Duration kResendWindow = absl::Hours(23);
// vendor_ref is stored in Postgres and must stay under 4 KB; it carries the
// unsigned transaction, so calldata is bounded.
constexpr size_t kMaxVendorRefBytes = 4096;
constexpr size_t kMaxDataBytes = 1536;
// Address history: CDP's largest page, and how many pages one listing reads.
constexpr int kListPageSize = 100;
constexpr int kListMaxPages = 50;
// The freeze policy's description: CDP allows [A-Za-z0-9 ,.]{1,50}, so the
// account policy it replaced is kept as 32 hex digits after it.
constexpr char kFreezeDescription[] = "Warden freeze";

const std::map<std::string, std::string>& DefaultNetworks() {
  static const auto* const kNetworks = new std::map<std::string, std::string>{
      {"base", "base"},         {"base-sepolia", "base-sepolia"},
      {"ethereum", "ethereum"}, {"sepolia", "ethereum-sepolia"},
      {"polygon", "polygon"},   {"arbitrum", "arbitrum"},
      {"optimism", "optimism"},
  };
  return *kNetworks;
}

// CDP v2 network -> the network id of the v1 address history API.
const std::map<std::string, std::string>& AddressHistoryNetworks() {
  static const auto* const kNetworks = new std::map<std::string, std::string>{
      {"base", "base-mainnet"},         {"base-sepolia", "base-sepolia"},
      {"ethereum", "ethereum-mainnet"}, {"polygon", "polygon-mainnet"},
      {"arbitrum", "arbitrum-mainnet"},
  };
  return *kNetworks;
}

// A string member, or "" when absent or not a string (nlohmann's value()
// throws on a type mismatch, and no exception may leave the adapter).
std::string Str(const json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

bool IsTxHash(absl::string_view s) {
  return absl::ConsumePrefix(&s, "0x") && s.size() == 64 && evm::IsHexDigits(s);
}

bool IsUuid(absl::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-'
             : !absl::ascii_isxdigit(static_cast<unsigned char>(s[i]))) {
      return false;
    }
  }
  return true;
}

std::string FormatUuid(absl::string_view hex) {
  return absl::StrCat(hex.substr(0, 8), "-", hex.substr(8, 4), "-",
                      hex.substr(12, 4), "-", hex.substr(16, 4), "-",
                      hex.substr(20, 12));
}

// A UUID v4 (CDP accepts no other form) derived from `id`: the same
// operation always gets the same X-Idempotency-Key.
std::string IdempotencyKeyFor(absl::string_view id) {
  std::string b = http::Sha256(absl::StrCat("warden/cdp/send/", id));
  b.resize(16);
  b[6] = static_cast<char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<char>((b[8] & 0x3f) | 0x80);
  return FormatUuid(absl::BytesToHexString(b));
}

// 32 random hex digits (the API key JWT's header nonce).
std::string RandomHex() {
  return absl::StrReplaceAll(http::UuidV4(), {{"-", ""}});
}

// 0x02 || rlp([chain_id, nonce, max_priority_fee, max_fee, gas, to, value,
// data, access_list]) with nonce, fees and gas left empty for CDP to fill,
// as CDP's SDKs serialize a transaction for its send endpoint.
std::string UnsignedTransaction(uint64_t chain_id, const evm::Address& to,
                                absl::uint128 value, const std::string& data) {
  const std::string empty = rlp::Uint(0);
  return evm::Hex(absl::StrCat(
      "\x02",
      rlp::List({rlp::Uint(chain_id), empty, empty, empty, empty,
                 rlp::String(absl::string_view(
                     reinterpret_cast<const char*>(to.data()), to.size())),
                 rlp::Uint(value), rlp::String(data), rlp::List({})})));
}

// Rejects every EVM operation CDP's policy engine governs (a rule's
// criteria must all hold; each one here always does): transactions and
// user operations of any value, hashes, messages, and typed data for any
// verifying contract (in or not in one list). 8 of CDP's 10 rules.
json FreezeRules() {
  const json any_value = json::array(
      {{{"type", "ethValue"}, {"ethValue", "0"}, {"operator", ">="}}});
  json rules = json::array();
  for (const char* op : {"sendEvmTransaction", "signEvmTransaction",
                         "prepareUserOperation", "sendUserOperation"}) {
    rules.push_back(
        {{"action", "reject"}, {"operation", op}, {"criteria", any_value}});
  }
  rules.push_back({{"action", "reject"}, {"operation", "signEvmHash"}});
  rules.push_back({{"action", "reject"},
                   {"operation", "signEvmMessage"},
                   {"criteria", json::array({{{"type", "evmMessage"},
                                              {"match", "(?s).*"}}})}});
  for (const char* oper : {"in", "not in"}) {
    rules.push_back(
        {{"action", "reject"},
         {"operation", "signEvmTypedData"},
         {"criteria",
          json::array({{{"type", "evmTypedDataVerifyingContract"},
                        {"addresses", json::array({evm::Hex(evm::Address{})})},
                        {"operator", oper}}})}});
  }
  return rules;
}

bool IsFreezePolicy(const json& policy) {
  const std::string d = Str(policy, "description");
  return d == kFreezeDescription ||
         absl::StartsWith(d, absl::StrCat(kFreezeDescription, " "));
}

std::string FreezeDescription(const std::string& previous_policy) {
  if (!IsUuid(previous_policy)) return kFreezeDescription;
  return absl::StrCat(kFreezeDescription, " ",
                      absl::StrReplaceAll(previous_policy, {{"-", ""}}));
}

// The policy a freeze replaced, from its description; "" if none.
std::string PreviousPolicy(const json& freeze_policy) {
  const std::string description = Str(freeze_policy, "description");
  absl::string_view d = description;
  if (!absl::ConsumePrefix(&d, kFreezeDescription) ||
      !absl::ConsumePrefix(&d, " ") || d.size() != 32 || !evm::IsHexDigits(d)) {
    return "";
  }
  return absl::AsciiStrToLower(FormatUuid(d));
}

// "HTTP 403 policy_violation: <message> (correlationId ...)", from CDP's
// error body {errorType, errorMessage, correlationId, errorLink}.
std::string DescribeAnswer(const http::HttpResponse& r) {
  const json body = json::parse(r.body, nullptr, false);
  std::string out = absl::StrCat("HTTP ", r.status);
  if (const std::string type = Str(body, "errorType"); !type.empty()) {
    absl::StrAppend(&out, " ", type);
  }
  if (const std::string message = Str(body, "errorMessage"); !message.empty()) {
    absl::StrAppend(&out, ": ", message);
  }
  if (const std::string id = Str(body, "correlationId"); !id.empty()) {
    absl::StrAppend(&out, " (correlationId ", id, ")");
  }
  return out;
}

// The error a CDP answer that is not 2xx means for the caller.
absl::Status ErrorFor(const http::HttpResponse& r, const std::string& what) {
  const std::string message =
      absl::StrCat(what, ": CDP answered ", DescribeAnswer(r));
  switch (r.status) {
    case 400:
      return absl::InvalidArgumentError(message);
    case 401:
      return absl::UnauthenticatedError(message);
    case 402:
    case 422:
      return absl::FailedPreconditionError(message);
    case 403:
      return absl::PermissionDeniedError(message);
    case 404:
      return absl::NotFoundError(message);
    case 409:
      return absl::AbortedError(message);
    case 429:
    case 500:
    case 502:
    case 503:
    case 504:
      return absl::UnavailableError(message);
    default:
      return absl::UnknownError(message);
  }
}

// A base-unit amount from a uint256 given as 64 hex digits; OUT_OF_RANGE
// above 2^128-1.
absl::StatusOr<absl::uint128> Uint256Hex(absl::string_view hex) {
  absl::uint128 out = 0;
  if (hex.size() != 64 || !evm::IsHexDigits(hex) ||
      hex.substr(0, 32).find_first_not_of('0') != absl::string_view::npos ||
      !absl::SimpleHexAtoi(hex.substr(32), &out)) {
    return absl::OutOfRangeError("amount exceeds 128 bits");
  }
  return out;
}

absl::Status InvalidOption(absl::string_view option, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("cdp option ", option, ": ", what));
}

}  // namespace

absl::StatusOr<std::unique_ptr<CdpAdapter>> CdpAdapter::Create(
    CdpOptions options, std::unique_ptr<http::HttpTransport> transport) {
  // base_url: scheme://host[:port][/path].
  absl::string_view url = absl::StripSuffix(options.base_url, "/");
  absl::string_view scheme;
  if (absl::StartsWith(url, "https://")) {
    scheme = "https://";
  } else if (absl::StartsWith(url, "http://")) {
    scheme = "http://";
  } else {
    return InvalidOption("base_url", "must start with https:// or http://");
  }
  absl::string_view rest = url.substr(scheme.size());
  const size_t slash = rest.find('/');
  const std::string host(rest.substr(0, slash));
  const std::string prefix(
      slash == absl::string_view::npos ? "" : rest.substr(slash));
  if (host.empty() || host.find_first_of("?#@ ") != std::string::npos ||
      prefix.find_first_of("?# ") != std::string::npos) {
    return InvalidOption("base_url",
                         "expected scheme://host[:port][/path], no query");
  }
  if (options.api_key_id.empty()) {
    return InvalidOption("api_key_id", "empty");
  }
  // A PEM from an environment variable often carries literal "\n"s.
  const std::string api_secret =
      absl::StrReplaceAll(options.api_key_secret, {{"\\n", "\n"}});
  absl::StatusOr<http::SigningKey> api_key =
      absl::StrContains(api_secret, "-----BEGIN")
          ? http::SigningKey::FromPem(api_secret)
          : http::SigningKey::FromBase64(
                absl::StripAsciiWhitespace(api_secret));
  if (!api_key.ok()) {
    return InvalidOption("api_key_secret",
                         absl::StrCat("expected an EC P-256 PEM or a base64 "
                                      "Ed25519 key: ",
                                      api_key.status().message()));
  }
  absl::StatusOr<http::SigningKey> wallet_key = http::SigningKey::FromBase64(
      absl::StripAsciiWhitespace(options.wallet_secret));
  if (!wallet_key.ok() || wallet_key->is_ed25519()) {
    return InvalidOption(
        "wallet_secret",
        absl::StrCat("expected a base64 DER PKCS#8 P-256 key",
                     wallet_key.ok()
                         ? ""
                         : absl::StrCat(": ", wallet_key.status().message())));
  }
  std::map<std::string, std::string> networks = DefaultNetworks();
  for (const auto& [chain, network] : options.networks) {
    if (chain.empty() || network.empty() ||
        network.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") !=
            std::string::npos) {
      return InvalidOption(
          absl::StrCat("networks[", chain, "]"),
          absl::StrCat("\"", network, "\" is not a CDP network name"));
    }
    networks[chain] = network;
  }
  options.networks = std::move(networks);
  for (const auto& [chain, rpc] : options.rpc_urls) {
    if (!options.networks.contains(chain)) {
      return InvalidOption(absl::StrCat("rpc_urls[", chain, "]"),
                           "the chain has no CDP network");
    }
    if (!absl::StartsWith(rpc, "http://") &&
        !absl::StartsWith(rpc, "https://")) {
      return InvalidOption(absl::StrCat("rpc_urls[", chain, "]"),
                           "must start with https:// or http://");
    }
  }
  if (options.retry.max_attempts < 1 ||
      options.retry.timeout <= absl::ZeroDuration()) {
    return InvalidOption("retry",
                         "max_attempts must be >= 1 and timeout positive");
  }
  if (transport == nullptr) {
    transport = std::make_unique<http::CurlTransport>();
  }
  const std::string origin = absl::StrCat(scheme, host);
  return std::unique_ptr<CdpAdapter>(new CdpAdapter(
      std::move(options), *std::move(api_key), *std::move(wallet_key), origin,
      prefix, host, std::move(transport)));
}

CdpAdapter::CdpAdapter(CdpOptions options, http::SigningKey api_key,
                       http::SigningKey wallet_key, std::string origin,
                       std::string path_prefix, std::string host,
                       std::unique_ptr<http::HttpTransport> transport)
    : options_(std::move(options)),
      api_key_(std::move(api_key)),
      wallet_key_(std::move(wallet_key)),
      origin_(std::move(origin)),
      path_prefix_(std::move(path_prefix)),
      host_(std::move(host)),
      transport_(std::move(transport)) {}

AdapterInfo CdpAdapter::Describe() const {
  AdapterInfo info{.vendor = "cdp",
                   .async = false,
                   .vendor_policy = true,
                   .vendor_freeze = true,
                   .list_transactions = true};
  for (const auto& [chain, network] : options_.networks) {
    info.chains.push_back(chain);
  }
  return info;
}

absl::StatusOr<std::string> CdpAdapter::NetworkFor(const Wallet& wallet) const {
  auto it = options_.networks.find(wallet.chain);
  if (it == options_.networks.end()) {
    std::vector<std::string> chains;
    for (const auto& [chain, network] : options_.networks) {
      chains.push_back(chain);
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "wallet ", wallet.id, ": chain \"", wallet.chain,
        "\" (bundle field wallets[].chain) has no CDP network; the cdp "
        "adapter serves ",
        absl::StrJoin(chains, ", "), " (extend with the networks option)"));
  }
  return it->second;
}

absl::Status CdpAdapter::CheckWallet(const Wallet& wallet) const {
  WARDEN_RETURN_IF_ERROR(NetworkFor(wallet).status());
  if (absl::StatusOr<evm::Address> a = evm::ParseAddress(wallet.address);
      !a.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("wallet ", wallet.id,
                     ": bundle field wallets[].address: ", a.status().message(),
                     " (a CDP EVM account is named by its 0x address)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<http::HttpRequest> CdpAdapter::Build(
    const Request& request) const {
  const std::string path = absl::StrCat(path_prefix_, request.path);
  const std::string uri = absl::StrCat(request.method, " ", host_, path);
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  http::HttpRequest out;
  out.method = request.method;
  out.url = absl::StrCat(origin_, path, request.query.empty() ? "" : "?",
                         request.query);
  // The API key JWT (Bearer), as CDP's authentication docs and SDKs build
  // it: fresh for every attempt, bound to this method, host and path.
  WARDEN_ASSIGN_OR_RETURN(const std::string bearer,
                          http::SignJwt(api_key_,
                                        {{"kid", options_.api_key_id},
                                         {"typ", "JWT"},
                                         {"nonce", RandomHex()}},
                                        {{"sub", options_.api_key_id},
                                         {"iss", "cdp"},
                                         {"aud", json::array({"cdp_service"})},
                                         {"iat", now},
                                         {"nbf", now},
                                         {"exp", now + kJwtLifetimeSeconds},
                                         {"uris", json::array({uri})}}));
  out.headers.emplace_back("Authorization", absl::StrCat("Bearer ", bearer));
  out.headers.emplace_back("Accept", "application/json");
  if (request.body.has_value()) {
    // What is hashed is what is sent: the canonical (sorted-keys, compact)
    // JSON, as CDP's SDKs hash it for reqHash.
    out.body = http::CanonicalJson(*request.body);
    out.headers.emplace_back("Content-Type", "application/json");
  }
  if (request.wallet_auth) {
    json claims = {{"iat", now},
                   {"nbf", now},
                   {"jti", http::UuidV4()},
                   {"uris", json::array({uri})}};
    if (request.body.has_value() && !request.body->empty()) {
      claims["reqHash"] = http::Sha256Hex(out.body);
    }
    WARDEN_ASSIGN_OR_RETURN(
        const std::string wallet_jwt,
        http::SignJwt(wallet_key_, {{"typ", "JWT"}}, claims));
    out.headers.emplace_back("X-Wallet-Auth", wallet_jwt);
  }
  if (!request.idempotency_key.empty()) {
    out.headers.emplace_back("X-Idempotency-Key", request.idempotency_key);
  }
  return out;
}

CdpAdapter::Outcome CdpAdapter::Call(const Request& request,
                                     http::Replay replay) const {
  http::ActionRecorder recording(*transport_);
  Outcome out{
      .response = http::SendWithRetries(
          recording, [&] { return Build(request); }, replay, options_.retry)};
  out.maybe_acted = recording.may_have_acted();
  return out;
}

absl::StatusOr<json> CdpAdapter::Expect2xx(const Outcome& outcome,
                                           const std::string& what) const {
  if (!outcome.response.ok()) {
    // Build errors (signing) are ours; transport errors mean "try later".
    if (absl::IsInternal(outcome.response.status())) {
      return outcome.response.status();
    }
    return absl::UnavailableError(
        absl::StrCat(what, ": ", outcome.response.status().message()));
  }
  const http::HttpResponse& r = *outcome.response;
  if (!http::Is2xx(r.status)) return ErrorFor(r, what);
  if (r.body.empty()) return json::object();
  json body = json::parse(r.body, nullptr, false);
  if (body.is_discarded()) {
    return absl::UnknownError(
        absl::StrCat(what, ": CDP answered HTTP ", r.status, " without JSON"));
  }
  return body;
}

absl::StatusOr<VendorStatus> CdpAdapter::Send(const TransferIntent& intent) {
  WARDEN_RETURN_IF_ERROR(CheckWallet(intent.wallet));
  WARDEN_ASSIGN_OR_RETURN(const std::string network, NetworkFor(intent.wallet));
  if (intent.operation_id.empty()) {
    return absl::InvalidArgumentError(
        "operation_id: empty; the CDP idempotency key is derived from it");
  }
  if (intent.data.size() > kMaxDataBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data: ", intent.data.size(), " bytes; the cdp adapter sends at most ",
        kMaxDataBytes, " (the request is kept in vendor_ref to re-send)"));
  }
  WARDEN_ASSIGN_OR_RETURN(
      const evm::Call call,
      evm::ResolveTransfer(intent.destination, intent.token_contract,
                           intent.amount, intent.data));
  // CDP ignores the chain id (the network field decides); the real one is
  // written where known.
  const uint64_t chain_id = evm::KnownChainId(intent.wallet.chain).value_or(1);
  // Everything a re-send needs, so Poll repeats the identical request to
  // the same account, whatever the bundle says of the wallet by then.
  const std::string account = absl::AsciiStrToLower(
      evm::Hex(*evm::ParseAddress(intent.wallet.address)));
  const std::string ref =
      json{{"v", 2},
           {"account", account},
           {"network", network},
           {"transaction",
            UnsignedTransaction(chain_id, call.to, call.value, call.data)},
           {"key", IdempotencyKeyFor(intent.operation_id)},
           {"first_sent", absl::ToUnixSeconds(absl::Now())}}
          .dump();
  if (ref.size() >= kMaxVendorRefBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data: too long to keep the request in vendor_ref (", ref.size(),
        " bytes of at most ", kMaxVendorRefBytes, ")"));
  }
  return SendRecorded(ref, /*polling=*/false);
}

absl::StatusOr<VendorStatus> CdpAdapter::SendRecorded(
    const std::string& vendor_ref, bool polling) {
  const json ref = json::parse(vendor_ref, nullptr, false);
  const std::string network = Str(ref, "network");
  const std::string transaction = Str(ref, "transaction");
  const std::string key = Str(ref, "key");
  auto first = ref.is_object() ? ref.find("first_sent") : ref.end();
  if (network.empty() || transaction.empty() || !IsUuid(key) ||
      first == ref.end() || !first->is_number_integer()) {
    return absl::InvalidArgumentError(
        "vendor_ref: not a cdp send (network, transaction, key, first_sent)");
  }
  VendorStatus out{.vendor_ref = vendor_ref};
  // The account the first send went to. The key is only deduplicated on
  // that account's path, so a re-send goes there and nowhere else (never to
  // the wallet's current address, which a bundle edit may have changed).
  const absl::StatusOr<evm::Address> account =
      evm::ParseAddress(Str(ref, "account"));
  if (!account.ok()) {
    if (!polling) {
      return absl::InvalidArgumentError(
          "vendor_ref: not a cdp send (no account)");
    }
    out.state = OperationState::kUnknown;
    out.error =
        "not re-sent: vendor_ref does not record the account the first send "
        "went to, and a re-send to another account could send twice; check "
        "the account's transactions (ListTransactions) and resolve the "
        "operation by hand";
    return out;
  }
  const std::string address = absl::AsciiStrToLower(evm::Hex(*account));
  if (polling && absl::Now() - absl::FromUnixSeconds(first->get<int64_t>()) >
                     kResendWindow) {
    out.state = OperationState::kUnknown;
    out.error =
        "not re-sent: CDP keeps an idempotency key for 24 hours only, so a "
        "re-send now could send twice; check the account's transactions "
        "(ListTransactions) and resolve the operation by hand";
    return out;
  }
  const std::string what = absl::StrCat(
      polling ? "re-send from " : "send from ", address, " on ", network);
  const Request request{
      .method = "POST",
      .path = absl::StrCat(kAccountsPath, address, "/send/transaction"),
      .body = json{{"network", network}, {"transaction", transaction}},
      .idempotency_key = key,
      .wallet_auth = true};
  // Safe to replay: CDP answers a repeated key with the first answer.
  const Outcome outcome = Call(request, http::Replay::kSafe);
  if (outcome.response.ok() && http::Is2xx(outcome.response->status)) {
    const json body = json::parse(outcome.response->body, nullptr, false);
    const std::string hash = Str(body, "transactionHash");
    if (IsTxHash(hash)) {
      out.state = OperationState::kSubmitted;
      out.tx_hash = absl::AsciiStrToLower(hash);
      return out;
    }
    out.state = OperationState::kUnknown;
    out.error =
        absl::StrCat(what, ": CDP answered HTTP ", outcome.response->status,
                     " without a transactionHash");
    return out;
  }
  const absl::Status error =
      outcome.response.ok()
          ? ErrorFor(*outcome.response, what)
          : absl::UnavailableError(
                absl::StrCat(what, ": ", outcome.response.status().message()));
  // 409: a request with this key is still being processed; 422: the key was
  // used with another body. Either way something may have been sent.
  const bool key_in_use =
      outcome.response.ok() &&
      (outcome.response->status == 409 || outcome.response->status == 422);
  if (outcome.maybe_acted || key_in_use) {
    out.state = OperationState::kUnknown;
    out.error = std::string(error.message());
    return out;
  }
  // No attempt was acted on.
  if (polling) {
    // A refused re-send does not show that the first send never landed: the
    // account may have been frozen, removed or re-permissioned since, and
    // CDP does not say whether it checks those before the key. So the
    // operation stays UNKNOWN (the hold kept), never FAILED.
    out.state = OperationState::kUnknown;
    out.error = std::string(error.message());
    if (outcome.response.ok() && outcome.response->status >= 400 &&
        outcome.response->status < 500 && outcome.response->status != 401 &&
        outcome.response->status != 429) {
      absl::StrAppend(
          &out.error,
          "; a refused re-send does not show that the first send never "
          "landed: check the account's transactions (ListTransactions) and "
          "resolve the operation by hand");
    }
    return out;
  }
  if (absl::IsNotFound(error)) {
    return absl::FailedPreconditionError(
        absl::StrCat(error.message(),
                     " (is the wallet's address a CDP account of this "
                     "project?)"));
  }
  return error;
}

absl::StatusOr<VendorStatus> CdpAdapter::Poll(const Wallet& wallet,
                                              const VendorStatus& last) {
  if (!last.tx_hash.empty() && (last.state == OperationState::kSubmitted ||
                                last.state == OperationState::kUnknown)) {
    return PollReceipt(wallet, last);
  }
  if (last.state == OperationState::kUnknown && !last.vendor_ref.empty()) {
    // The wallet is not used: the re-send goes where the first send went.
    return SendRecorded(last.vendor_ref, /*polling=*/true);
  }
  return last;
}

absl::StatusOr<VendorStatus> CdpAdapter::PollReceipt(const Wallet& wallet,
                                                     const VendorStatus& last) {
  VendorStatus out = last;
  out.state = OperationState::kSubmitted;
  out.error.clear();
  // The receipt is on the network the send went to (kept in vendor_ref),
  // which a bundle edit of the wallet's chain does not change.
  std::string chain = wallet.chain;
  const std::string sent_on =
      Str(json::parse(last.vendor_ref, nullptr, false), "network");
  if (auto n = options_.networks.find(chain);
      !sent_on.empty() &&
      (n == options_.networks.end() || n->second != sent_on)) {
    chain.clear();
    for (const auto& [c, url] : options_.rpc_urls) {
      auto m = options_.networks.find(c);  // Create checked it is there.
      if (m != options_.networks.end() && m->second == sent_on) {
        chain = c;
        break;
      }
    }
  }
  auto rpc = options_.rpc_urls.find(chain);
  if (rpc == options_.rpc_urls.end()) return out;
  if (!IsTxHash(last.tx_hash)) {
    return absl::InvalidArgumentError(
        absl::StrCat("tx_hash: \"", last.tx_hash, "\" is not a hash"));
  }
  const std::string body = json{{"jsonrpc", "2.0"},
                                {"id", 1},
                                {"method", "eth_getTransactionReceipt"},
                                {"params", json::array({last.tx_hash})}}
                               .dump();
  // The URL is not quoted in errors: node URLs often carry an API key.
  const std::string what = absl::StrCat("receipt of ", last.tx_hash,
                                        " from the JSON-RPC of ", chain);
  absl::StatusOr<http::HttpResponse> r = http::SendWithRetries(
      *transport_,
      [&]() -> absl::StatusOr<http::HttpRequest> {
        return http::HttpRequest{
            "POST", rpc->second, {{"Content-Type", "application/json"}}, body};
      },
      http::Replay::kSafe, options_.retry);
  if (!r.ok()) {
    return absl::UnavailableError(
        absl::StrCat(what, ": ", r.status().message()));
  }
  const json answer = json::parse(r->body, nullptr, false);
  if (r->status != 200 || !answer.is_object()) {
    return absl::UnavailableError(
        absl::StrCat(what, ": HTTP ", r->status, " without a JSON-RPC answer"));
  }
  if (auto e = answer.find("error"); e != answer.end() && !e->is_null()) {
    return absl::UnavailableError(absl::StrCat(what, ": ", Str(*e, "message")));
  }
  auto result = answer.find("result");
  if (result == answer.end() || result->is_null()) return out;  // Not mined.
  const std::string status = Str(*result, "status");
  if (status == "0x1") {
    out.state = OperationState::kConfirmed;
  } else if (status == "0x0") {
    out.state = OperationState::kFailed;
    out.error = "the transaction reverted";
  } else {
    return absl::UnknownError(
        absl::StrCat(what, ": receipt status \"", status, "\""));
  }
  return out;
}

absl::StatusOr<std::optional<json>> CdpAdapter::AccountPolicy(
    const std::string& address) {
  const Outcome got =
      Call({.method = "GET", .path = absl::StrCat(kAccountsPath, address)},
           http::Replay::kSafe);
  absl::StatusOr<json> account =
      Expect2xx(got, absl::StrCat("get CDP account ", address));
  if (absl::IsNotFound(account.status())) {
    return absl::FailedPreconditionError(absl::StrCat(
        account.status().message(),
        " (is the wallet's address a CDP account of this project?)"));
  }
  WARDEN_RETURN_IF_ERROR(account.status());
  auto policies = account->find("policies");
  if (policies == account->end() || !policies->is_array()) return std::nullopt;
  // At most two: the project's policy and the account's.
  for (const json& id : *policies) {
    if (!id.is_string() || !IsUuid(id.get<std::string>())) continue;
    WARDEN_ASSIGN_OR_RETURN(
        json policy,
        Expect2xx(Call({.method = "GET",
                        .path = absl::StrCat(kPoliciesPath, "/",
                                             id.get<std::string>())},
                       http::Replay::kSafe),
                  absl::StrCat("get CDP policy ", id.get<std::string>())));
    if (Str(policy, "scope") == "account") return policy;
  }
  return std::nullopt;
}

absl::Status CdpAdapter::FreezeAddress(const std::string& address) {
  WARDEN_ASSIGN_OR_RETURN(std::optional<json> current, AccountPolicy(address));
  std::string previous;
  if (current.has_value()) {
    if (IsFreezePolicy(*current)) return absl::OkStatus();  // Frozen already.
    previous = absl::AsciiStrToLower(Str(*current, "id"));
  }
  // A fresh key per call: retries within this call are deduplicated; a
  // later call after a failure between create and attach leaves at most an
  // unattached (harmless) policy behind.
  const Request create{
      .method = "POST",
      .path = kPoliciesPath,
      .body = json{{"scope", "account"},
                   {"description", FreezeDescription(previous)},
                   {"rules", FreezeRules()}},
      .idempotency_key = http::UuidV4()};
  WARDEN_ASSIGN_OR_RETURN(
      const json policy,
      Expect2xx(Call(create, http::Replay::kSafe),
                absl::StrCat("create the freeze policy for ", address)));
  const std::string id = Str(policy, "id");
  if (!IsUuid(id)) {
    return absl::UnknownError(absl::StrCat("create the freeze policy for ",
                                           address, ": CDP answered no id"));
  }
  // Setting a field is idempotent by nature: safe to repeat. CDP's SDKs
  // send X-Wallet-Auth on every write to /accounts; so does this.
  const Request attach{.method = "PUT",
                       .path = absl::StrCat(kAccountsPath, address),
                       .body = json{{"accountPolicy", id}},
                       .wallet_auth = true};
  return Expect2xx(Call(attach, http::Replay::kSafe),
                   absl::StrCat("attach freeze policy ", id, " to ", address))
      .status();
}

absl::Status CdpAdapter::UnfreezeAddress(const std::string& address) {
  WARDEN_ASSIGN_OR_RETURN(std::optional<json> current, AccountPolicy(address));
  if (!current.has_value() || !IsFreezePolicy(*current)) {
    return absl::OkStatus();  // Not frozen by Warden.
  }
  const std::string id = Str(*current, "id");
  std::string previous = PreviousPolicy(*current);
  auto restore = [&](const std::string& policy) {
    return Expect2xx(
        Call({.method = "PUT",
              .path = absl::StrCat(kAccountsPath, address),
              .body = json{{"accountPolicy", policy}},
              .wallet_auth = true},
             http::Replay::kSafe),
        absl::StrCat("restore account policy \"", policy, "\" on ", address));
  };
  absl::StatusOr<json> restored = restore(previous);
  if (!restored.ok() && !previous.empty() &&
      (absl::IsInvalidArgument(restored.status()) ||
       absl::IsNotFound(restored.status()))) {
    // The replaced policy is gone: leave the account without one.
    restored = restore("");
  }
  WARDEN_RETURN_IF_ERROR(restored.status());
  // The account is unfrozen now. A policy that cannot be deleted (in use
  // elsewhere, or CDP unreachable) is detached and harmless: not an error.
  (void)Call({.method = "DELETE", .path = absl::StrCat(kPoliciesPath, "/", id)},
             http::Replay::kSafe);
  return absl::OkStatus();
}

absl::Status CdpAdapter::SetFrozen(const Wallet& wallet, bool frozen,
                                   const std::string& reason) {
  // CDP keeps no free-text reason (a policy description allows 50 chars of
  // [A-Za-z0-9 ,.]); Warden's audit log has it.
  (void)reason;
  absl::StatusOr<evm::Address> address = evm::ParseAddress(wallet.address);
  if (!address.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "wallet ", wallet.id,
        ": bundle field wallets[].address: ", address.status().message()));
  }
  const std::string hex = evm::Hex(*address);
  return frozen ? FreezeAddress(hex) : UnfreezeAddress(hex);
}

absl::StatusOr<std::vector<VendorTransaction>> CdpAdapter::ListTransactions(
    const Wallet& wallet, absl::Time since) {
  WARDEN_RETURN_IF_ERROR(CheckWallet(wallet));
  WARDEN_ASSIGN_OR_RETURN(const std::string network, NetworkFor(wallet));
  auto history = AddressHistoryNetworks().find(network);
  if (history == AddressHistoryNetworks().end()) {
    return absl::UnimplementedError(
        absl::StrCat("wallet ", wallet.id,
                     ": CDP's address history does not serve network ", network,
                     " (it serves base, base-sepolia, ethereum, polygon and "
                     "arbitrum)"));
  }
  const std::string self = absl::AsciiStrToLower(wallet.address);
  const std::string path =
      absl::StrCat("/platform/v1/networks/", history->second, "/addresses/",
                   self, "/transactions");
  const absl::Time now = absl::Now();
  std::vector<VendorTransaction> out;
  std::string page;
  for (int pages = 0; pages < kListMaxPages; ++pages) {
    std::string query = absl::StrCat("limit=", kListPageSize);
    if (!page.empty())
      absl::StrAppend(&query, "&page=", http::PercentEncode(page));
    WARDEN_ASSIGN_OR_RETURN(
        const json list,
        Expect2xx(
            Call({.method = "GET", .path = path, .query = query},
                 http::Replay::kSafe),
            absl::StrCat("list transactions of ", self, " on ", network)));
    bool reached_since = false;
    auto data = list.find("data");
    if (data != list.end() && data->is_array()) {
      // Newest first (by block height): stop at the first one before since.
      for (const json& tx : *data) {
        if (Str(tx, "status") == "failed") continue;  // Nothing moved.
        const json empty = json::object();
        auto c = tx.find("content");
        const json& content = c != tx.end() && c->is_object() ? *c : empty;
        std::string hash = Str(content, "hash");
        if (hash.empty()) hash = Str(tx, "transaction_hash");
        if (hash.empty()) continue;
        hash = absl::AsciiStrToLower(hash);
        std::string from = Str(content, "from");
        if (from.empty()) from = Str(tx, "from_address_id");
        std::string to = Str(content, "to");
        if (to.empty()) to = Str(tx, "to_address_id");
        from = absl::AsciiStrToLower(from);
        to = absl::AsciiStrToLower(to);
        // Not yet in a block: listed as of now.
        absl::Time time = now;
        if (const std::string ts = Str(content, "block_timestamp");
            !ts.empty()) {
          std::string err;
          if (!absl::ParseTime(absl::RFC3339_full, ts, &time, &err)) {
            return absl::UnknownError(absl::StrCat(
                "transaction ", hash, ": block_timestamp \"", ts, "\": ", err));
          }
          if (time < since) {
            reached_since = true;
            break;
          }
        }
        const bool outgoing = from == self;
        auto amount_of = [&](const std::string& text)
            -> absl::StatusOr<std::optional<absl::uint128>> {
          absl::uint128 v = 0;
          if (text.empty()) return std::optional<absl::uint128>(0);
          if (absl::SimpleAtoi(text, &v)) return std::optional(v);
          // Only an outgoing amount Warden cannot read is an error: an
          // incoming one (a spam token's) must not stop reconciliation.
          if (!outgoing) return std::optional<absl::uint128>();
          return absl::OutOfRangeError(
              absl::StrCat("transaction ", hash, ": amount \"", text,
                           "\" is not a base-unit amount below 2^128"));
        };
        size_t listed = out.size();
        if (auto t = content.find("token_transfers");
            t != content.end() && t->is_array()) {
          for (const json& transfer : *t) {
            if (Str(transfer, "token_transfer_type") != "erc20") continue;
            const std::string tf =
                absl::AsciiStrToLower(Str(transfer, "from_address"));
            const std::string tt =
                absl::AsciiStrToLower(Str(transfer, "to_address"));
            if (tf != self && tt != self) continue;
            WARDEN_ASSIGN_OR_RETURN(std::optional<absl::uint128> amount,
                                    amount_of(Str(transfer, "value")));
            if (!amount.has_value()) continue;
            out.push_back({.tx_hash = hash,
                           .from = tf,
                           .to = tt,
                           .asset = absl::AsciiStrToLower(
                               Str(transfer, "contract_address")),
                           .amount = *amount,
                           .time = time});
          }
        }
        // Without decoded transfers, an outgoing transfer() call is read
        // from its calldata.
        const std::string calldata = Str(content, "input");
        absl::string_view input = calldata;
        if (out.size() == listed && outgoing &&
            absl::ConsumePrefix(&input, "0x") &&
            absl::ConsumePrefix(&input, evm::kTransferSelector) &&
            input.size() == 128) {
          WARDEN_ASSIGN_OR_RETURN(absl::uint128 amount,
                                  Uint256Hex(input.substr(64)));
          out.push_back({.tx_hash = hash,
                         .from = from,
                         .to = absl::AsciiStrToLower(
                             absl::StrCat("0x", input.substr(24, 40))),
                         .asset = to,
                         .amount = amount,
                         .time = time});
        }
        WARDEN_ASSIGN_OR_RETURN(std::optional<absl::uint128> value,
                                amount_of(Str(content, "value")));
        if (value.has_value() && (*value > 0 || out.size() == listed)) {
          out.push_back({.tx_hash = hash,
                         .from = from,
                         .to = to,
                         .asset = "",
                         .amount = *value,
                         .time = time});
        }
      }
    }
    auto more = list.find("has_more");
    page = Str(list, "next_page");
    if (reached_since || more == list.end() || !more->is_boolean() ||
        !more->get<bool>() || page.empty()) {
      return out;
    }
  }
  return absl::ResourceExhaustedError(
      absl::StrCat("list transactions of ", self, " on ", network,
                   ": more than ", kListMaxPages * kListPageSize,
                   " transactions since the given time; ask for a later one"));
}

}  // namespace warden
