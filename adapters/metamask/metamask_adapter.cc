#include "adapters/metamask/metamask_adapter.h"

#include <unistd.h>

#include <algorithm>
#include <functional>
#include <optional>
#include <set>
#include <utility>

#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "adapters/evm/chains.h"
#include "adapters/evm/evm.h"
#include "adapters/evm/json_rpc.h"
#include "adapters/http/signing.h"
#include "governance/money.h"
#include "governance/status_macros.h"
#include "yaml-cpp/yaml.h"

namespace warden {
namespace {

using metamask::MmReply;
using nlohmann::json;

// `mm wallet requests watch --wallet-timeout`: Poll asks, it does not wait.
constexpr char kWatchWaitSeconds[] = "1";
// `mm tx history` pages (the CLI's maximum --limit is 50) and how many of
// them one ListTransactions reads before refusing to guess at the rest.
constexpr int kHistoryPageSize = 50;
constexpr int kHistoryMaxPages = 20;
// How far before its send time an unknown send's transaction may be dated
// (the indexer's clock is not ours).
constexpr absl::Duration kClockSlack = absl::Minutes(2);

std::string Lower(absl::string_view s) { return absl::AsciiStrToLower(s); }

// A quantity as the CLI may print it: a decimal or 0x-hex string, or a JSON
// integer.
absl::StatusOr<absl::uint128> ParseQuantity(const json& v) {
  if (v.is_number_unsigned()) return absl::uint128(v.get<uint64_t>());
  if (!v.is_string()) {
    return absl::InvalidArgumentError("not a decimal or hex quantity");
  }
  absl::string_view text = v.get_ref<const std::string&>();
  if (absl::ConsumePrefix(&text, "0x") || absl::ConsumePrefix(&text, "0X")) {
    absl::uint128 out = 0;
    if (text.empty() || text.size() > 32 || !evm::IsHexDigits(text) ||
        !absl::SimpleHexAtoi(text, &out)) {
      return absl::OutOfRangeError(absl::StrCat("\"", v.get<std::string>(),
                                                "\" is not a 128-bit hex "
                                                "quantity"));
    }
    return out;
  }
  return ParseBaseUnits(text);
}

// A time as the CLI may print it: RFC 3339, or Unix seconds or millis.
std::optional<absl::Time> ParseWhen(const json& v) {
  if (v.is_number()) {
    const double n = v.get<double>();
    if (!(n >= 0 && n < 1e16)) return std::nullopt;
    return n > 1e12 ? absl::FromUnixMillis(static_cast<int64_t>(n))
                    : absl::FromUnixSeconds(static_cast<int64_t>(n));
  }
  if (!v.is_string()) return std::nullopt;
  absl::Time t;
  std::string err;
  if (absl::ParseTime(absl::RFC3339_full, v.get<std::string>(), &t, &err)) {
    return t;
  }
  int64_t seconds = 0;
  if (absl::SimpleAtoi(v.get<std::string>(), &seconds)) {
    return seconds > 1000000000000 ? absl::FromUnixMillis(seconds)
                                   : absl::FromUnixSeconds(seconds);
  }
  return std::nullopt;
}

// The first of `keys` that `object` has; null when none.
json Field(const json& object, std::initializer_list<const char*> keys) {
  if (!object.is_object()) return json();
  for (const char* key : keys) {
    auto it = object.find(key);
    if (it != object.end() && !it->is_null()) return *it;
  }
  return json();
}

std::string Str(const json& object, std::initializer_list<const char*> keys) {
  if (!object.is_object()) return "";
  for (const char* key : keys) {
    auto it = object.find(key);
    if (it != object.end() && it->is_string()) return it->get<std::string>();
  }
  return "";
}

// A transaction hash, lowercased; empty unless it is one.
std::string TxHash(const json& object) {
  std::string hash =
      Lower(Str(object, {"hash", "txHash", "transactionHash", "tx_hash"}));
  absl::string_view digits = hash;
  if (!absl::ConsumePrefix(&digits, "0x") || digits.size() != 64 ||
      !evm::IsHexDigits(digits)) {
    return "";
  }
  return hash;
}

// "mm wallet requests list": the command words of `args`, for messages.
std::string Cmd(const std::vector<std::string>& args) {
  std::vector<std::string> words;
  for (const std::string& a : args) {
    if (absl::StartsWith(a, "-") || words.size() == 3) break;
    words.push_back(a);
  }
  return absl::StrCat("mm ", absl::StrJoin(words, " "));
}

// Error codes of the CLI
// (https://docs.metamask.io/agent-wallet/reference/error-codes/) by what they
// say about a request.
const std::set<std::string>& AuthCodes() {
  static const auto* codes = new std::set<std::string>{
      "AUTH_FAILED",          "AUTH_ERROR",    "TOKEN_INVALID",
      "TOKEN_REFRESH_FAILED", "NO_AUTH_TOKEN", "PAIRING_EXPIRED"};
  return *codes;
}
// The CLI or the wallet cannot act at all until someone sets it up.
const std::set<std::string>& SetupCodes() {
  static const auto* codes = new std::set<std::string>{"NOT_INITIALIZED",
                                                       "WRONG_WALLET_MODE",
                                                       "NO_PROJECT_ID",
                                                       "MISSING_PROJECT_ID",
                                                       "WALLET_NOT_FOUND",
                                                       "MISSING_WALLET_REF",
                                                       "MISSING_MNEMONIC",
                                                       "MNEMONIC_LOCKED",
                                                       "WRONG_PASSWORD",
                                                       "UNSUPPORTED_NODE",
                                                       "NO_TTY",
                                                       "UNKNOWN_CHAIN",
                                                       "UNSUPPORTED_CHAIN",
                                                       "INSUFFICIENT_FUNDS",
                                                       "WRONG_NAMESPACE",
                                                       "UNSUPPORTED_NAMESPACE"};
  return *codes;
}
// Refused as asked: fixing the request, not retrying it, helps.
bool IsValidationCode(const std::string& code) {
  return absl::StartsWith(code, "MISSING_") ||
         absl::StartsWith(code, "INVALID_") || code == "UNKNOWN_FLAG" ||
         code == "UNEXPECTED_ARG" || code == "CHAIN_ID_MISMATCH";
}
// Codes the CLI answers from its own argument parsing, before it calls the
// wallet service: the only error answers of a send that prove nothing was
// sent. Auth, set-up and other validation codes can come from the service,
// and from a later call of the several one send makes (TOKEN_REFRESH_FAILED
// after the request was made), so they prove nothing.
bool IsPreSendCode(const std::string& code) {
  return code == "UNKNOWN_FLAG" || code == "UNEXPECTED_ARG" ||
         absl::StartsWith(code, "MISSING_");
}
// Not documented by MetaMask; read like an HTTP 429. mm makes several calls
// per send, so it does not prove that the request was not made.
constexpr char kRateLimited[] = "RATE_LIMITED";
// Worth asking again for a read or an idempotent write.
bool IsRetryableCode(const std::string& code) {
  return code == kRateLimited || code == "NETWORK_UNREACHABLE" ||
         code == "NETWORK_TIMEOUT";
}

// The canonical status for an error answer of `what`.
absl::Status StatusFor(const MmReply& reply, const std::string& what) {
  const std::string message = absl::StrCat(what, ": ", reply.Summary());
  if (AuthCodes().contains(reply.code)) {
    return absl::UnauthenticatedError(absl::StrCat(
        message, " (sign mm in: mm login, with HOME set as for wardend)"));
  }
  if (SetupCodes().contains(reply.code)) {
    return absl::FailedPreconditionError(message);
  }
  if (IsValidationCode(reply.code)) return absl::InvalidArgumentError(message);
  if (IsRetryableCode(reply.code)) return absl::UnavailableError(message);
  return absl::UnknownError(message);
}

// How a `mm wallet requests watch` error ends the request
// (https://github.com/MetaMask/agent-skills, references/errors.md):
// terminal failures (the MFA denied or expired before a broadcast, a
// transaction that failed or reverted after submission, a relay that failed
// or was aborted) void the hold; timeouts mean it is still running;
// retryable and set-up errors are errors of the call, not of the request;
// anything else is undocumented, so nothing is concluded.
enum class WatchOutcome { kRunning, kFailed, kNotFound, kError, kUndocumented };
WatchOutcome WatchOutcomeOf(const std::string& code, bool has_hash) {
  if (code == "JOB_TIMEOUT" || code == "RELAY_TIMEOUT") {
    return WatchOutcome::kRunning;
  }
  if (code == "TX_FAILED" || code == "TX_REVERTED" || code == "RELAY_FAILED" ||
      code == "RELAY_ABORTED" || code == "ABORTED") {
    return WatchOutcome::kFailed;
  }
  // Denied or expired at the 2FA: nothing was broadcast, unless a hash
  // says otherwise (then the chain settles it).
  if (code == "TX_DENIED" || code == "TX_EXPIRED") {
    return has_hash ? WatchOutcome::kRunning : WatchOutcome::kFailed;
  }
  if (code == "REQUEST_NOT_FOUND") return WatchOutcome::kNotFound;
  if (AuthCodes().contains(code) || SetupCodes().contains(code) ||
      IsValidationCode(code) || IsRetryableCode(code)) {
    return WatchOutcome::kError;
  }
  return WatchOutcome::kUndocumented;
}

// What a request's status string means for the operation, given its hash;
// nullopt for a status this adapter does not know. AWAITING_MFA and
// pending_approval are documented
// (https://docs.metamask.io/agent-wallet/approve-requests/); COMPLETED is the
// example of `mm wallet requests watch`; the rest are the plain words a job may
// report and are read conservatively. A job with a hash was broadcast: how
// the job ended does not say how the transaction did, so it is kSubmitted
// until the wallet's history settles it (SettleOnChain).
std::optional<OperationState> MapRequestStatus(const std::string& status,
                                               bool has_hash) {
  const std::string s = absl::AsciiStrToUpper(status);
  if (s == "AWAITING_MFA" || s == "PENDING_APPROVAL" ||
      s == "AWAITING_APPROVAL") {
    return OperationState::kAwaitingApproval;
  }
  if (s == "EVALUATING" || s == "PENDING" || s == "QUEUED" || s == "CREATED" ||
      s == "PROCESSING" || s == "SIGNING" || s == "SIGNED" || s == "APPROVED" ||
      s == "SUBMITTED" || s == "BROADCAST" || s == "SENT") {
    return has_hash ? OperationState::kSubmitted : OperationState::kPending;
  }
  // A completed job without a hash cannot be settled: keep asking.
  if (s == "COMPLETED" || s == "CONFIRMED" || s == "SUCCESS" || s == "MINED") {
    return has_hash ? OperationState::kSubmitted : OperationState::kPending;
  }
  // Ended without a hash: nothing was broadcast.
  if (s == "FAILED" || s == "REVERTED" || s == "DROPPED" || s == "ERROR" ||
      s == "REJECTED" || s == "DENIED" || s == "CANCELLED" || s == "CANCELED" ||
      s == "EXPIRED") {
    return has_hash ? OperationState::kSubmitted : OperationState::kFailed;
  }
  return std::nullopt;
}

// What a `mm tx history` row says of its transaction: kConfirmed, kFailed,
// or nullopt while it is pending or says nothing readable (then the
// operation stays kSubmitted: indexed is not proof of success).
std::optional<OperationState> OnChainState(const json& row) {
  if (row.contains("isError") && row["isError"].is_boolean()) {
    if (row["isError"].get<bool>()) return OperationState::kFailed;
  }
  const std::string s = absl::AsciiStrToLower(Str(row, {"status"}));
  if (s == "failed" || s == "reverted" || s == "error" || s == "0x0") {
    return OperationState::kFailed;
  }
  if (s == "confirmed" || s == "success" || s == "succeeded" || s == "mined" ||
      s == "completed" || s == "0x1") {
    return OperationState::kConfirmed;
  }
  return std::nullopt;
}

// A request's fields, flat ({pollingId, status, hash}) or nested
// ({request: {...}, status: {status, hash}}).
json FlattenRequest(const json& r) {
  if (!r.is_object()) return json::object();
  json out = r.contains("request") && r["request"].is_object() ? r["request"]
                                                               : json(r);
  if (r.contains("status") && r["status"].is_object()) {
    for (const auto& [k, v] : r["status"].items()) out[k] = v;
  } else if (r.contains("status")) {
    out["status"] = r["status"];
  }
  return out;
}

// The operation as a request (or watch answer) shows it; `last` is kept
// where the request says nothing new.
VendorStatus FromRequest(const json& raw, const VendorStatus& last,
                         bool mfa_notice) {
  const json r = FlattenRequest(raw);
  VendorStatus out = last;
  const std::string hash = TxHash(r);
  if (!hash.empty()) out.tx_hash = hash;
  const std::string status = Str(r, {"status", "state"});
  std::optional<OperationState> state =
      MapRequestStatus(status, !out.tx_hash.empty());
  if (!state.has_value() && status.empty()) {
    state = mfa_notice            ? OperationState::kAwaitingApproval
            : out.tx_hash.empty() ? OperationState::kPending
                                  : OperationState::kSubmitted;
  }
  if (!state.has_value()) {
    out.error = absl::StrCat("MetaMask reports status \"", status,
                             "\", which Warden does not know; asking again");
    return out;
  }
  if (*state == OperationState::kPending && mfa_notice) {
    state = OperationState::kAwaitingApproval;
  }
  out.state = *state;
  out.error.clear();
  if (*state == OperationState::kFailed) {
    const std::string why =
        Str(r, {"failureReason", "reason", "error", "message"});
    out.error = absl::StrCat("MetaMask request ", Lower(status),
                             why.empty() ? "" : ": ", why);
  }
  return out;
}

// Why a request failed, as MetaMask says it; empty when it does not.
std::string RequestReason(const json& raw) {
  return Str(FlattenRequest(raw), {"failureReason", "reason", "error"});
}

// The requests of `mm wallet requests list`.
json RequestList(const json& data) {
  if (data.is_array()) return data;
  for (const char* key : {"requests", "items", "jobs"}) {
    if (data.contains(key) && data[key].is_array()) return data[key];
  }
  return json::array();
}

// The rows of one `mm tx history` page.
json HistoryList(const json& data) {
  if (data.is_array()) return data;
  for (const char* key : {"transactions", "items", "data", "results"}) {
    if (data.contains(key) && data[key].is_array()) return data[key];
  }
  return json::array();
}

// What Warden remembers of a send whose outcome is unknown (vendor_ref),
// to find it later. Small and secret-free: the calldata by hash only.
json UnknownSendRef(const TransferIntent& intent, absl::Time sent_at,
                    uint64_t chain_id, const std::string& to,
                    absl::uint128 value, const std::string& data) {
  return json{{"op", intent.operation_id},
              {"sent_at", absl::ToUnixSeconds(sent_at)},
              {"chain_id", chain_id},
              {"from", Lower(intent.wallet.address)},
              {"to", to},
              {"value", evm::Quantity(value)},
              {"data_sha256", http::Sha256Hex(data)}};
}

// The --intent text: shown to the owner when MetaMask asks for 2FA, and
// how an unknown send is found again.
std::string IntentMarker(const std::string& operation_id) {
  return absl::StrCat("Warden ", operation_id, ":");
}
// What every Warden intent starts with.
constexpr char kIntentPrefix[] = "Warden ";

std::string IntentText(const TransferIntent& intent, const std::string& chain) {
  const std::string what =
      intent.token_contract.empty()
          ? absl::StrCat(intent.asset.empty() ? "native coin" : intent.asset)
          : absl::StrCat(intent.asset, " (", Lower(intent.token_contract), ")");
  return absl::StrCat(IntentMarker(intent.operation_id), " send ",
                      FormatBaseUnits(intent.amount), " base units of ", what,
                      " to ", Lower(intent.destination), " on ", chain);
}

// Bytes of 0x-hex calldata; nullopt when it is not hex.
std::optional<std::string> HexBytes(absl::string_view hex) {
  if (!absl::ConsumePrefix(&hex, "0x") && !absl::ConsumePrefix(&hex, "0X")) {
    if (!hex.empty()) return std::nullopt;
  }
  if (hex.size() % 2 != 0 || !evm::IsHexDigits(hex)) return std::nullopt;
  return absl::HexStringToBytes(hex);
}

// The rows of `rows` that may be the send `ref` records: `by_intent` carry
// its operation's intent marker; `by_content` carry no Warden intent and
// are from `from`, to the same address with the same value and the same
// calldata (by hash: a row that shows no calldata matches only a send that
// had none), dated no earlier than the send.
struct SendMatches {
  std::vector<json> by_intent;
  std::vector<json> by_content;
};
SendMatches MatchSend(const std::vector<json>& rows, const json& ref,
                      const std::string& from) {
  SendMatches out;
  const std::string marker = IntentMarker(Str(ref, {"op"}));
  const absl::Time sent_at =
      ParseWhen(Field(ref, {"sent_at"})).value_or(absl::InfiniteFuture());
  const std::string want_to = Lower(Str(ref, {"to"}));
  absl::StatusOr<absl::uint128> want_value =
      ParseQuantity(Field(ref, {"value"}));
  const std::string want_data = Str(ref, {"data_sha256"});
  for (const json& row : rows) {
    if (TxHash(row).empty()) continue;
    const std::string intent = Str(row, {"intent"});
    if (absl::StrContains(intent, marker)) {
      out.by_intent.push_back(row);
      continue;
    }
    // Another Warden operation's transaction is never this one.
    if (absl::StrContains(intent, kIntentPrefix)) continue;
    std::optional<absl::Time> when =
        ParseWhen(Field(row, {"timestamp", "time"}));
    absl::StatusOr<absl::uint128> value = ParseQuantity(
        Field(row, {"value"}).is_null() ? json("0") : Field(row, {"value"}));
    std::optional<std::string> bytes = HexBytes(Str(row, {"input", "data"}));
    if (Lower(Str(row, {"from"})) == Lower(from) &&
        Lower(Str(row, {"to"})) == want_to && want_value.ok() && value.ok() &&
        *value == *want_value && when.has_value() &&
        *when >= sent_at - kClockSlack && bytes.has_value() &&
        !want_data.empty() && http::Sha256Hex(*bytes) == want_data) {
      out.by_content.push_back(row);
    }
  }
  return out;
}

// The rolling 24-hour outflow limit of a policy document; "unset" when it
// has none (https://docs.metamask.io/agent-wallet/reference/outflow-policy/).
std::string RollingLimit(const YAML::Node& root) {
  const YAML::Node evm = root["evm"];
  if (!evm || !evm.IsMap()) return "unset";
  const YAML::Node limits = evm["outflow_limits_usd"];
  if (!limits || !limits.IsMap() || !limits["rolling_24h"] ||
      !limits["rolling_24h"].IsScalar()) {
    return "unset";
  }
  return limits["rolling_24h"].Scalar();
}

// The policy document with its rolling 24-hour outflow limit at 0. DATA_LOSS
// when `evm` is not a mapping.
absl::StatusOr<std::string> WithZeroRollingLimit(YAML::Node root) {
  try {
    root["evm"]["outflow_limits_usd"]["rolling_24h"] = 0;
    YAML::Emitter out;
    out << root;
    return absl::StrCat(out.c_str(), "\n");
  } catch (const YAML::Exception& e) {
    return absl::DataLossError(absl::StrCat(
        "MetaMask's policy has no evm.outflow_limits_usd mapping to set: ",
        e.what()));
  }
}

// JSON text that never throws: invalid UTF-8 is replaced.
std::string Dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetaMaskAdapter>> MetaMaskAdapter::Create(
    MetaMaskOptions options) {
  if (options.mm_path.empty()) {
    return absl::InvalidArgumentError("mm_path: empty");
  }
  if (options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("timeout: must be positive");
  }
  if (options.retry.max_attempts < 1) {
    return absl::InvalidArgumentError("retry.max_attempts: must be at least 1");
  }
  if (options.chain_ids.empty()) {
    WARDEN_ASSIGN_OR_RETURN(options.chain_ids, evm::ChainIds({}, ""));
  }
  for (const auto& [name, id] : options.chain_ids) {
    if (name.empty() || id == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "chain_ids: \"", name, "\"=", id, " needs a name and a positive id"));
    }
  }
  // A path (not a name for PATH) is checked now rather than at the first
  // spend.
  if (absl::StrContains(options.mm_path, '/') &&
      ::access(options.mm_path.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "mm_path: ", options.mm_path, " is not an executable file"));
  }
  // The commands differ between majors (v6 took the polling id of `watch`
  // as a positional argument and dropped --polling-id), so the version is
  // known before the first spend, and one this adapter was not written
  // against is refused rather than misread.
  WARDEN_ASSIGN_OR_RETURN(
      metamask::MmVersion version,
      metamask::MmCli(options.mm_path, options.home, options.timeout)
          .Version());
  if (version.major < kOldestMmMajor || version.major > kNewestMmMajor) {
    return absl::FailedPreconditionError(absl::StrCat(
        "mm_path: MetaMask's CLI ", version.text, " (", options.mm_path,
        ") is not supported: Warden drives @metamask/agentic-cli ",
        kOldestMmMajor, ".x and @metamask/agent-wallet ", kNewestMmMajor,
        ".x (docs/adapters.md)"));
  }
  return std::unique_ptr<MetaMaskAdapter>(
      new MetaMaskAdapter(std::move(options), std::move(version)));
}

MetaMaskAdapter::MetaMaskAdapter(MetaMaskOptions options,
                                 metamask::MmVersion version)
    : options_(std::move(options)),
      version_(std::move(version)),
      mm_(options_.mm_path, options_.home, options_.timeout) {}

AdapterInfo MetaMaskAdapter::Describe() const {
  AdapterInfo info{.vendor = "metamask",
                   .async = true,
                   .vendor_policy = true,
                   .vendor_freeze = true,
                   .list_transactions = true};
  for (const auto& [name, id] : options_.chain_ids) info.chains.push_back(name);
  return info;
}

absl::Status MetaMaskAdapter::CheckWallet(const Wallet& wallet) const {
  if (!options_.chain_ids.contains(wallet.chain)) {
    std::vector<std::string> served;
    for (const auto& [name, id] : options_.chain_ids) served.push_back(name);
    return absl::FailedPreconditionError(absl::StrCat(
        "wallet ", wallet.id, ": field \"chain\": \"", wallet.chain,
        "\" is not a chain the metamask adapter serves (",
        absl::StrJoin(served, ", "), ")"));
  }
  absl::StatusOr<evm::Address> address = evm::ParseAddress(wallet.address);
  if (!address.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("wallet ", wallet.id,
                     ": field \"address\": ", address.status().message()));
  }
  return absl::OkStatus();
}

void MetaMaskAdapter::Backoff(int attempt) const {
  absl::Duration wait = options_.retry.initial_backoff;
  for (int i = 1; i < attempt && wait < options_.retry.max_backoff; ++i) {
    wait *= 2;
  }
  wait = std::min(wait, options_.retry.max_backoff);
  // Full jitter in [wait/2, wait], so callers that failed together do not
  // retry together.
  thread_local absl::BitGen gen;
  const int64_t half_us = absl::ToInt64Microseconds(wait / 2);
  absl::SleepFor(absl::Microseconds(
      half_us + absl::Uniform<int64_t>(gen, 0, std::max<int64_t>(half_us, 1))));
}

absl::StatusOr<MmReply> MetaMaskAdapter::RunRetried(
    const std::vector<std::string>& args) const {
  const std::string what = Cmd(args);
  for (int attempt = 1;; ++attempt) {
    const bool last_attempt = attempt >= options_.retry.max_attempts;
    absl::StatusOr<MmReply> ran = mm_.Run(args);
    if (!ran.ok()) {
      if (metamask::NeverStarted(ran.status()) ||
          absl::IsResourceExhausted(ran.status()) || last_attempt) {
        return absl::Status(metamask::NeverStarted(ran.status())
                                ? ran.status().code()
                                : absl::StatusCode::kUnavailable,
                            absl::StrCat(what, ": ", ran.status().message()));
      }
    } else if (ran->kind == MmReply::Kind::kOk ||
               (ran->kind == MmReply::Kind::kError &&
                (!IsRetryableCode(ran->code) || last_attempt))) {
      return ran;
    } else if (last_attempt) {
      return absl::UnavailableError(absl::StrCat(what, ": ", ran->Summary()));
    }
    Backoff(attempt);
  }
}

absl::Status MetaMaskAdapter::SelectWallet(const Wallet& wallet) const {
  WARDEN_ASSIGN_OR_RETURN(
      MmReply reply, RunRetried({"wallet", "select", Lower(wallet.address)}));
  if (reply.kind != MmReply::Kind::kOk) {
    return StatusFor(reply,
                     absl::StrCat("wallet ", wallet.id, ": mm wallet select ",
                                  wallet.address));
  }
  return absl::OkStatus();
}

absl::StatusOr<VendorStatus> MetaMaskAdapter::Send(
    const TransferIntent& intent) {
  WARDEN_RETURN_IF_ERROR(CheckWallet(intent.wallet));
  const uint64_t chain_id = options_.chain_ids.at(intent.wallet.chain);
  WARDEN_ASSIGN_OR_RETURN(
      const evm::Call call,
      evm::ResolveTransfer(intent.destination, intent.token_contract,
                           intent.amount, intent.data));
  // https://docs.metamask.io/agent-wallet/reference/commands/: the payload
  // needs `to`; `value` is 0x-hex, never decimal.
  json payload{{"to", evm::Hex(call.to)}, {"value", evm::Quantity(call.value)}};
  if (!call.data.empty()) payload["data"] = evm::Hex(call.data);
  const std::vector<std::string> args = {
      "wallet",     "send-transaction",
      "--chain-id", absl::StrCat(chain_id),
      "--payload",  Dump(payload),
      "--intent",   IntentText(intent, intent.wallet.chain)};
  const std::string what =
      absl::StrCat("wallet ", intent.wallet.id, ": mm wallet send-transaction");
  // The record an unknown send is found by: dated from before the first
  // run, so that a transaction it made is never older than it.
  const json ref = UnknownSendRef(intent, absl::Now(), chain_id,
                                  evm::Hex(call.to), call.value, call.data);
  auto unknown = [&](absl::string_view why) {
    VendorStatus out;
    out.state = OperationState::kUnknown;
    out.vendor_ref = Dump(ref);
    out.error = absl::StrCat(
        what, " ", why,
        "; the send may have happened: Poll looks for it by operation id and "
        "never sends again");
    return out;
  };

  absl::MutexLock lock(&active_mu_);
  // Nothing is sent if this fails.
  WARDEN_RETURN_IF_ERROR(SelectWallet(intent.wallet));
  for (int attempt = 1;; ++attempt) {
    absl::StatusOr<MmReply> ran = mm_.Run(args);
    if (!ran.ok()) {
      if (metamask::NeverStarted(ran.status())) {
        return absl::Status(ran.status().code(),
                            absl::StrCat(what, ": ", ran.status().message(),
                                         "; nothing was sent"));
      }
      return unknown(ran.status().message());
    }
    const MmReply& reply = *ran;
    if (reply.kind == MmReply::Kind::kNoAnswer) {
      return unknown(absl::StrCat("gave ", reply.Summary()));
    }
    if (reply.kind == MmReply::Kind::kOk) {
      const std::string polling_id = Str(reply.data, {"pollingId", "id"});
      if (polling_id.empty()) {
        return unknown("answered without a pollingId");
      }
      VendorStatus last;
      last.vendor_ref = polling_id;
      return FromRequest(reply.data, last, reply.HasNotice("AWAITING_MFA"));
    }
    // A rate limit may have hit any of the calls one send makes, the
    // request's own included: run it again only when the wallet shows no
    // trace of it (this wallet is still selected: active_mu_ is held).
    if (reply.code == kRateLimited) {
      Backoff(attempt);
      absl::StatusOr<bool> seen = SendSeen(intent.wallet, ref);
      if (!seen.ok()) {
        return unknown(absl::StrCat(
            "failed with ", reply.Summary(),
            ", and whether MetaMask made the request could not be checked (",
            seen.status().message(), ")"));
      }
      if (*seen) {
        return unknown(absl::StrCat(
            "failed with ", reply.Summary(),
            " after MetaMask made the request or a transaction like it"));
      }
      if (attempt < options_.retry.max_attempts) continue;
      return absl::UnavailableError(
          absl::StrCat(what, ": ", reply.Summary(), " after ", attempt,
                       " attempts, and the wallet shows no request or "
                       "transaction of it; nothing was sent"));
    }
    // Refused by the CLI's own argument parsing, before it called MetaMask.
    if (IsPreSendCode(reply.code)) {
      absl::Status st = StatusFor(reply, what);
      return absl::Status(st.code(),
                          absl::StrCat(st.message(), "; nothing was sent"));
    }
    // Authentication, set-up, validation by the service, WALLET_ERROR,
    // NETWORK_TIMEOUT, anything else: it may have gone out.
    return unknown(absl::StrCat("failed with ", reply.Summary()));
  }
}

absl::StatusOr<VendorStatus> MetaMaskAdapter::Poll(const Wallet& wallet,
                                                   const VendorStatus& last) {
  if (IsFinal(last.state)) return last;
  if (absl::StartsWith(last.vendor_ref, "{")) {
    return ResolveUnknownSend(wallet, last);
  }
  if (last.vendor_ref.empty()) {
    return absl::InvalidArgumentError(
        "vendor_ref: empty; a MetaMask operation is polled by its pollingId");
  }
  return PollRequest(wallet, last, last.vendor_ref);
}

absl::StatusOr<VendorStatus> MetaMaskAdapter::PollRequest(
    const Wallet& wallet, const VendorStatus& last,
    const std::string& polling_id) {
  VendorStatus out;
  std::string reason;  // MetaMask's, for a failed transaction.
  {
    // The request list is the active wallet's: select it, and keep it
    // selected until the request has been read.
    absl::MutexLock lock(&active_mu_);
    WARDEN_RETURN_IF_ERROR(SelectWallet(wallet));
    // Pending requests first: it answers at once, where watch waits.
    WARDEN_ASSIGN_OR_RETURN(MmReply list,
                            RunRetried({"wallet", "requests", "list"}));
    if (list.kind != MmReply::Kind::kOk) {
      return StatusFor(list, "mm wallet requests list");
    }
    bool listed = false;
    for (const json& r : RequestList(list.data)) {
      if (Str(FlattenRequest(r), {"pollingId", "id"}) == polling_id) {
        out = FromRequest(r, last, false);
        reason = RequestReason(r);
        listed = true;
        break;
      }
    }
    if (!listed) {
      // No longer pending: watch reports how it ended. v6 takes the polling
      // id as a positional argument; v5 took --polling-id.
      std::vector<std::string> watch_args = {"wallet", "requests", "watch"};
      if (version_.major >= 6) {
        watch_args.push_back(polling_id);
      } else {
        watch_args.insert(watch_args.end(), {"--polling-id", polling_id});
      }
      watch_args.insert(watch_args.end(),
                        {"--wallet-timeout", kWatchWaitSeconds});
      WARDEN_ASSIGN_OR_RETURN(MmReply watch, RunRetried(watch_args));
      if (watch.kind == MmReply::Kind::kOk) {
        out = FromRequest(watch.data, last, watch.HasNotice("AWAITING_MFA"));
        reason = RequestReason(watch.data);
      } else {
        switch (WatchOutcomeOf(watch.code, !last.tx_hash.empty())) {
          case WatchOutcome::kRunning:
            out = last;
            if (watch.HasNotice("AWAITING_MFA")) {
              out.state = OperationState::kAwaitingApproval;
            }
            break;
          case WatchOutcome::kFailed:
            out = last;
            out.state = OperationState::kFailed;
            out.error = absl::StrCat("MetaMask request ", watch.Summary(),
                                     watch.failure_reason.empty() ? "" : " (",
                                     watch.failure_reason,
                                     watch.failure_reason.empty() ? "" : ")");
            break;
          case WatchOutcome::kNotFound:
            return absl::NotFoundError(
                absl::StrCat("wallet ", wallet.id, ": MetaMask has no request ",
                             polling_id));
          case WatchOutcome::kError:
            return StatusFor(watch, "mm wallet requests watch");
          case WatchOutcome::kUndocumented:
            // Not concluded either way: the hold stays, and the operation
            // is counted among the UNKNOWN ones until someone looks.
            out = last;
            out.state = OperationState::kUnknown;
            out.error = absl::StrCat(
                "MetaMask ended the request with ", watch.Summary(),
                ", which its documentation does not list; the hold is kept "
                "until someone checks the wallet");
            break;
        }
      }
    }
  }
  out.vendor_ref = polling_id;
  if (out.state == OperationState::kSubmitted && !out.tx_hash.empty()) {
    return SettleOnChain(wallet, out, reason);
  }
  return out;
}

absl::StatusOr<VendorStatus> MetaMaskAdapter::SettleOnChain(
    const Wallet& wallet, const VendorStatus& last,
    const std::string& reason) const {
  // History names the wallet (--addresses): no selection needed.
  WARDEN_ASSIGN_OR_RETURN(
      std::vector<json> rows,
      HistoryRows(wallet, absl::InfinitePast(), last.tx_hash));
  for (const json& row : rows) {
    if (TxHash(row) != last.tx_hash) continue;
    std::optional<OperationState> state = OnChainState(row);
    if (!state.has_value()) return last;  // Pending.
    VendorStatus out = last;
    out.state = *state;
    out.error.clear();
    if (*state == OperationState::kFailed) {
      out.error = absl::StrCat("the transaction failed on chain",
                               reason.empty() ? "" : ": ", reason);
    }
    return out;
  }
  return last;  // Not indexed yet.
}

absl::StatusOr<std::vector<json>> MetaMaskAdapter::HistoryRows(
    const Wallet& wallet, absl::Time since,
    const std::string& stop_at_hash) const {
  const uint64_t chain_id = options_.chain_ids.at(wallet.chain);
  std::vector<json> rows;
  std::string cursor;
  for (int page = 0; page < kHistoryMaxPages; ++page) {
    std::vector<std::string> args = {
        "tx",          "history",
        "--addresses", Lower(wallet.address),
        "--chain-ids", absl::StrCat(chain_id),
        "--limit",     absl::StrCat(kHistoryPageSize)};
    if (!cursor.empty()) {
      args.push_back("--after");
      args.push_back(cursor);
    }
    WARDEN_ASSIGN_OR_RETURN(MmReply reply, RunRetried(args));
    if (reply.kind != MmReply::Kind::kOk) {
      return StatusFor(reply,
                       absl::StrCat("wallet ", wallet.id, ": mm tx history"));
    }
    bool done = false;
    for (const json& row : HistoryList(reply.data)) {
      std::optional<absl::Time> when =
          ParseWhen(Field(row, {"timestamp", "time"}));
      if (when.has_value() && *when < since) done = true;
      if (!stop_at_hash.empty() && TxHash(row) == stop_at_hash) done = true;
      rows.push_back(row);
    }
    cursor = Str(reply.data, {"endCursor"});
    const bool more = reply.data.is_object() &&
                      Field(reply.data, {"hasNextPage"}) == json(true) &&
                      !cursor.empty();
    if (!more || done) return rows;
  }
  if (!stop_at_hash.empty()) return rows;  // Not among the newest: pending.
  return absl::OutOfRangeError(absl::StrCat(
      "wallet ", wallet.id, ": more than ", kHistoryMaxPages * kHistoryPageSize,
      " MetaMask transactions since ",
      absl::FormatTime(absl::RFC3339_sec, since, absl::UTCTimeZone()),
      "; list a shorter period"));
}

absl::StatusOr<std::optional<json>> MetaMaskAdapter::FindRequest(
    const Wallet& wallet, const std::string& marker) const {
  WARDEN_ASSIGN_OR_RETURN(MmReply list,
                          RunRetried({"wallet", "requests", "list"}));
  if (list.kind != MmReply::Kind::kOk) {
    return StatusFor(
        list, absl::StrCat("wallet ", wallet.id, ": mm wallet requests list"));
  }
  for (const json& r : RequestList(list.data)) {
    if (absl::StrContains(Str(FlattenRequest(r), {"intent"}), marker)) {
      return std::optional<json>(r);
    }
  }
  return std::optional<json>();
}

absl::StatusOr<bool> MetaMaskAdapter::SendSeen(const Wallet& wallet,
                                               const json& ref) const {
  WARDEN_ASSIGN_OR_RETURN(std::optional<json> request,
                          FindRequest(wallet, IntentMarker(Str(ref, {"op"}))));
  if (request.has_value()) return true;
  // A request that already ended may have left the list: its transaction
  // may be in the history.
  const absl::Time sent_at =
      ParseWhen(Field(ref, {"sent_at"})).value_or(absl::UnixEpoch());
  WARDEN_ASSIGN_OR_RETURN(std::vector<json> rows,
                          HistoryRows(wallet, sent_at - kClockSlack));
  const SendMatches matches = MatchSend(rows, ref, wallet.address);
  return !matches.by_intent.empty() || !matches.by_content.empty();
}

absl::StatusOr<VendorStatus> MetaMaskAdapter::ResolveUnknownSend(
    const Wallet& wallet, const VendorStatus& last) {
  const json ref = json::parse(last.vendor_ref, nullptr, false);
  if (!ref.is_object() || Str(ref, {"op"}).empty() ||
      !ParseWhen(Field(ref, {"sent_at"})).has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "vendor_ref: not a pollingId nor an unknown send's record"));
  }
  // Found before: its hash settles it, whatever else the history shows.
  if (!last.tx_hash.empty()) return SettleOnChain(wallet, last, "");
  const std::string op = Str(ref, {"op"});
  const absl::Time sent_at =
      ParseWhen(Field(ref, {"sent_at"})).value_or(absl::UnixEpoch());

  // 1. The request, by the operation id in its intent, in the wallet's
  // request list (the active wallet's: selected, and kept so).
  {
    absl::MutexLock lock(&active_mu_);
    WARDEN_RETURN_IF_ERROR(SelectWallet(wallet));
    WARDEN_ASSIGN_OR_RETURN(std::optional<json> request,
                            FindRequest(wallet, IntentMarker(op)));
    if (request.has_value()) {
      const std::string polling_id =
          Str(FlattenRequest(*request), {"pollingId", "id"});
      VendorStatus found = last;
      found.state = OperationState::kPending;
      found.error.clear();
      found = FromRequest(*request, found, false);
      if (!polling_id.empty()) found.vendor_ref = polling_id;
      return found;
    }
  }

  // 2. The transaction, in the wallet's history (named by --addresses): by
  // intent, or, when exactly one row fits, by what was sent.
  WARDEN_ASSIGN_OR_RETURN(std::vector<json> rows,
                          HistoryRows(wallet, sent_at - kClockSlack));
  const SendMatches matches = MatchSend(rows, ref, wallet.address);
  const std::vector<json>& hits =
      matches.by_intent.empty() ? matches.by_content : matches.by_intent;
  if (matches.by_intent.empty() && matches.by_content.size() > 1) {
    VendorStatus out = last;
    out.state = OperationState::kUnknown;
    out.error = absl::StrCat(
        matches.by_content.size(), " transactions in wallet ", wallet.id,
        "'s MetaMask history fit the unknown send of ", op,
        " and none names it: a person must check which (if any) it is");
    return out;
  }
  if (!hits.empty()) {
    VendorStatus found = last;
    found.tx_hash = TxHash(hits.front());
    found.error.clear();
    found.state =
        OnChainState(hits.front()).value_or(OperationState::kSubmitted);
    if (found.state == OperationState::kFailed) {
      found.error = "the transaction failed on chain";
    }
    return found;
  }

  // 3. Nothing found. That does not prove nothing was sent (the history may
  // lag, a request may sit in 2FA unlisted): keep the hold for a person.
  VendorStatus out = last;
  out.state = OperationState::kUnknown;
  out.error = absl::StrCat(
      "no MetaMask request or transaction of ", op, " found in the ",
      absl::FormatDuration(
          absl::Trunc(absl::Now() - sent_at, absl::Seconds(1))),
      " since the send; Warden keeps the hold and keeps looking. A person "
      "should check wallet ",
      wallet.id,
      " (mm wallet requests list, mm tx "
      "history) and resolve the operation by hand if nothing was sent");
  return out;
}

absl::StatusOr<std::vector<VendorTransaction>>
MetaMaskAdapter::ListTransactions(const Wallet& wallet, absl::Time since) {
  WARDEN_RETURN_IF_ERROR(CheckWallet(wallet));
  WARDEN_ASSIGN_OR_RETURN(std::vector<json> rows, HistoryRows(wallet, since));
  const std::string self = Lower(wallet.address);
  std::vector<VendorTransaction> out;
  for (const json& row : rows) {
    VendorTransaction tx;
    tx.tx_hash = TxHash(row);
    tx.from = Lower(Str(row, {"from"}));
    // Spend only: what the wallet sent (reconciliation flags the rest as
    // shadow spend).
    if (tx.tx_hash.empty() || tx.from != self) continue;
    std::optional<absl::Time> when =
        ParseWhen(Field(row, {"timestamp", "time"}));
    if (!when.has_value()) {
      return absl::DataLossError(
          absl::StrCat("wallet ", wallet.id, ": MetaMask transaction ",
                       tx.tx_hash, " has no readable timestamp"));
    }
    if (*when < since) continue;
    tx.time = *when;
    tx.to = Lower(Str(row, {"to"}));
    absl::StatusOr<absl::uint128> value = ParseQuantity(
        Field(row, {"value"}).is_null() ? json("0") : Field(row, {"value"}));
    if (!value.ok()) {
      return absl::DataLossError(
          absl::StrCat("wallet ", wallet.id, ": MetaMask transaction ",
                       tx.tx_hash, " value: ", value.status().message()));
    }
    tx.amount = *value;
    // An ERC-20 transfer: report the token, its recipient and amount.
    const std::string calldata = Str(row, {"input", "data"});
    absl::string_view input = calldata;
    if (absl::ConsumePrefix(&input, "0x") &&
        absl::StartsWith(Lower(input), evm::kTransferSelector) &&
        input.size() == 8 + 64 + 64 && evm::IsHexDigits(input)) {
      const absl::string_view recipient = input.substr(8 + 24, 40);
      const absl::string_view amount = input.substr(8 + 64, 64);
      absl::uint128 units = 0;
      if (amount.substr(0, 32) != std::string(32, '0') ||
          !absl::SimpleHexAtoi(amount.substr(32), &units)) {
        return absl::DataLossError(
            absl::StrCat("wallet ", wallet.id, ": MetaMask transaction ",
                         tx.tx_hash, " transfers more token units than 2^128"));
      }
      tx.asset = tx.to;
      tx.to = absl::StrCat("0x", Lower(recipient));
      tx.amount = units;
    }
    out.push_back(std::move(tx));
  }
  return out;
}

namespace {

// The active wallet's trading mode ("guard" or "beast") and policy YAML.
struct WalletPolicy {
  std::string mode;
  std::string yaml;
  YAML::Node root;
};

// Reads the selected wallet's trading mode and policy with `run` (which
// retries); the caller holds the adapter's active_mu_.
absl::StatusOr<WalletPolicy> ReadPolicy(
    const Wallet& wallet,
    const std::function<absl::StatusOr<MmReply>(std::vector<std::string>)>&
        run) {
  const std::string where = absl::StrCat("wallet ", wallet.id, ": ");
  WARDEN_ASSIGN_OR_RETURN(MmReply mode,
                          run({"wallet", "trading-mode", "get", "--address",
                               Lower(wallet.address)}));
  if (mode.kind != MmReply::Kind::kOk) {
    return StatusFor(mode, absl::StrCat(where, "mm wallet trading-mode get"));
  }
  WARDEN_ASSIGN_OR_RETURN(MmReply policy, run({"wallet", "policy", "get"}));
  if (policy.kind != MmReply::Kind::kOk) {
    return StatusFor(policy, absl::StrCat(where, "mm wallet policy get"));
  }
  WalletPolicy out;
  out.mode = Lower(Str(mode.data, {"mode", "tradingMode", "trading_mode"}));
  out.yaml = Str(policy.data, {"policy", "policyYaml"});
  try {
    out.root = YAML::Load(out.yaml);
  } catch (const YAML::Exception& e) {
    return absl::DataLossError(
        absl::StrCat(where, "MetaMask's policy is not YAML: ", e.what()));
  }
  if (!out.root.IsMap()) {
    return absl::DataLossError(
        absl::StrCat(where, "MetaMask's policy is not a YAML mapping"));
  }
  return out;
}

}  // namespace

absl::StatusOr<VendorFreeze> MetaMaskAdapter::Freeze(
    const Wallet& wallet, const std::string& reason) {
  WARDEN_RETURN_IF_ERROR(CheckWallet(wallet));
  absl::MutexLock lock(&active_mu_);
  WARDEN_RETURN_IF_ERROR(SelectWallet(wallet));
  const std::string where = absl::StrCat("wallet ", wallet.id, ": ");
  auto run = [this](std::vector<std::string> args) { return RunRetried(args); };
  WARDEN_ASSIGN_OR_RETURN(WalletPolicy p, ReadPolicy(wallet, run));
  // Warden keeps the exact document and mode to put back: the policy
  // itself cannot hold it (MetaMask may re-serialize it and drop comments),
  // and a limit of 0 already there says nothing of who set it.
  VendorFreeze out{
      .strength = VendorFreeze::Strength::kOwnerApproval,
      .restore = Dump(json{{"trading_mode", p.mode}, {"policy", p.yaml}})};
  // Tightening applies at once, with no 2FA
  // (https://docs.metamask.io/agent-wallet/switch-modes-and-wallets/).
  auto expect_confirmed = [&](const MmReply& reply,
                              const std::string& what) -> absl::Status {
    if (reply.kind != MmReply::Kind::kOk) {
      return StatusFor(reply, absl::StrCat(where, what));
    }
    const std::string status = Lower(Str(reply.data, {"status"}));
    if (!status.empty() && status != "confirmed") {
      return absl::FailedPreconditionError(
          absl::StrCat(where, what, " answered status \"", status,
                       "\" where tightening should apply at once (request ",
                       Str(reply.data, {"requestId", "pollingId"}), ")"));
    }
    return absl::OkStatus();
  };
  if (p.mode != "guard") {
    // The outflow limit binds in Guard Mode only.
    WARDEN_ASSIGN_OR_RETURN(
        MmReply set,
        RunRetried({"wallet", "trading-mode", "set", "guard", "--address",
                    Lower(wallet.address), "--no-wait"}));
    WARDEN_RETURN_IF_ERROR(
        expect_confirmed(set, "mm wallet trading-mode set guard"));
  }
  if (RollingLimit(p.root) != "0") {
    WARDEN_ASSIGN_OR_RETURN(const std::string yaml,
                            WithZeroRollingLimit(p.root));
    WARDEN_ASSIGN_OR_RETURN(
        MmReply set,
        RunRetried({"wallet", "policy", "set", "--policy", yaml, "--no-wait"}));
    WARDEN_RETURN_IF_ERROR(expect_confirmed(set, "mm wallet policy set"));
  }
  (void)reason;  // MetaMask's policy has no place for it; the trail has it.
  return out;
}

absl::Status MetaMaskAdapter::Unfreeze(const Wallet& wallet,
                                       const std::string& restore,
                                       const std::string& reason) {
  (void)reason;
  WARDEN_RETURN_IF_ERROR(CheckWallet(wallet));
  const std::string where = absl::StrCat("wallet ", wallet.id, ": ");
  // Nothing recorded: Warden did not freeze it there, so nothing to undo.
  if (restore.empty()) return absl::OkStatus();
  const json saved = json::parse(restore, nullptr, false);
  if (!saved.is_object() || !saved.contains("policy") ||
      !saved["policy"].is_string() || !saved.contains("trading_mode") ||
      !saved["trading_mode"].is_string()) {
    return absl::DataLossError(absl::StrCat(
        where, "the state Warden kept to restore at MetaMask does not read"));
  }
  const std::string policy = saved["policy"].get<std::string>();
  const std::string mode = saved["trading_mode"].get<std::string>();
  absl::MutexLock lock(&active_mu_);
  WARDEN_RETURN_IF_ERROR(SelectWallet(wallet));
  auto run = [this](std::vector<std::string> args) { return RunRetried(args); };
  WARDEN_ASSIGN_OR_RETURN(WalletPolicy p, ReadPolicy(wallet, run));
  // Loosening needs the owner's 2FA: the CLI returns pending_approval and a
  // request id (https://docs.metamask.io/agent-wallet/approve-requests/).
  std::vector<std::string> pending;
  auto loosen = [&](std::vector<std::string> args,
                    const std::string& what) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(MmReply set, RunRetried(args));
    if (set.kind == MmReply::Kind::kError &&
        absl::EndsWith(set.code, "_APPROVAL_IN_PROGRESS")) {
      pending.push_back(absl::StrCat(what, " (already awaiting approval)"));
      return absl::OkStatus();
    }
    if (set.kind != MmReply::Kind::kOk) {
      return StatusFor(set, absl::StrCat(where, what));
    }
    const std::string status = Lower(Str(set.data, {"status"}));
    if (status == "pending_approval" || status == "awaiting_mfa") {
      pending.push_back(absl::StrCat(
          what, " (request ", Str(set.data, {"requestId", "pollingId"}), ")"));
    }
    return absl::OkStatus();
  };
  // The exact document from before the freeze, unless it is already back.
  if (p.yaml != policy) {
    WARDEN_RETURN_IF_ERROR(
        loosen({"wallet", "policy", "set", "--policy", policy, "--no-wait"},
               "the policy from before the freeze"));
  }
  if (!mode.empty() && mode != p.mode) {
    WARDEN_RETURN_IF_ERROR(
        loosen({"wallet", "trading-mode", "set", mode, "--address",
                Lower(wallet.address), "--no-wait"},
               absl::StrCat("trading mode back to ", mode)));
  }
  if (!pending.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        where,
        "unfreeze requested at MetaMask, but loosening its policy "
        "needs the owner's 2FA approval: ",
        absl::StrJoin(pending, ", "),
        ". Until approved, MetaMask holds every spend from the wallet for "
        "2FA; unfreeze again once approved"));
  }
  return absl::OkStatus();
}

}  // namespace warden
