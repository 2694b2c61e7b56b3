// wardenctl: command-line client for wardend.
//
// Every command prints a readable line, or one JSON object with --json. The
// exit code is 0 whenever the call succeeded, whatever the decision; 1 when
// the call failed (the gRPC status is printed to stderr); 2 for bad usage;
// 3 when `audit verify` finds the chain broken; 4 when `reconcile` finds
// shadow spend or missing settlements.

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "adapters/local/keystore.h"
#include "google/protobuf/util/time_util.h"
#include "governance/address.h"
#include "governance/audit_chain.h"
#include "governance/memory/file_audit_log.h"
#include "governance/postgres/migrations.h"
#include "governance/postgres/postgres_audit_log.h"
#include "governance/postgres/postgres_credential_store.h"
#include "governance/postgres/retention.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "nlohmann/json.hpp"
#include "warden/v1/admin.grpc.pb.h"
#include "warden/v1/audit.grpc.pb.h"
#include "warden/v1/authorization.grpc.pb.h"

namespace {

using Json = nlohmann::json;
namespace v1 = warden::v1;

constexpr int kCallFailed = 1;
constexpr int kUsage = 2;
constexpr int kChainBroken = 3;
constexpr int kFindings = 4;
constexpr int kNotConfirmed = 5;
// Every call gets a deadline so that a hung server cannot hang the CLI.
constexpr int kDeadlineSeconds = 30;

const char* CodeName(grpc::StatusCode code) {
  static const char* kNames[] = {"OK",
                                 "CANCELLED",
                                 "UNKNOWN",
                                 "INVALID_ARGUMENT",
                                 "DEADLINE_EXCEEDED",
                                 "NOT_FOUND",
                                 "ALREADY_EXISTS",
                                 "PERMISSION_DENIED",
                                 "RESOURCE_EXHAUSTED",
                                 "FAILED_PRECONDITION",
                                 "ABORTED",
                                 "OUT_OF_RANGE",
                                 "UNIMPLEMENTED",
                                 "INTERNAL",
                                 "UNAVAILABLE",
                                 "DATA_LOSS",
                                 "UNAUTHENTICATED"};
  const int i = static_cast<int>(code);
  return i >= 0 && i < 17 ? kNames[i] : "UNKNOWN";
}

std::string DecisionText(v1::Decision d) {
  switch (d) {
    case v1::DECISION_ALLOW:
      return "ALLOW";
    case v1::DECISION_DENY:
      return "DENY";
    case v1::DECISION_PENDING_APPROVAL:
      return "PENDING_APPROVAL";
    case v1::DECISION_DELAYED:
      return "DELAYED";
    default:
      return "UNSPECIFIED";
  }
}

std::string StatusText(v1::AuthorizationStatus s) {
  std::string name = v1::AuthorizationStatus_Name(s);
  const std::string prefix = "AUTHORIZATION_STATUS_";
  return name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
}

std::string TimeText(const google::protobuf::Timestamp& ts) {
  if (ts.seconds() == 0 && ts.nanos() == 0) return "";
  return google::protobuf::util::TimeUtil::ToString(ts);
}

Json ViolationsJson(
    const google::protobuf::RepeatedPtrField<v1::Violation>& vs) {
  Json out = Json::array();
  for (const v1::Violation& v : vs) {
    Json j = {{"code", v.code()},           {"scope", v.scope()},
              {"limit", v.limit()},         {"window", v.window()},
              {"spent", v.spent()},         {"requested", v.requested()},
              {"remaining", v.remaining()}, {"message", v.message()}};
    if (v.has_limit_usd()) j["limit_usd"] = v.limit_usd();
    if (v.has_limit_count()) j["limit_count"] = v.limit_count();
    out.push_back(j);
  }
  return out;
}

std::string OperationStateText(v1::OperationState s) {
  std::string name = v1::OperationState_Name(s);
  const std::string prefix = "OPERATION_STATE_";
  return name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
}

bool OperationFinal(v1::OperationState s) {
  return s == v1::OPERATION_STATE_CONFIRMED || s == v1::OPERATION_STATE_FAILED;
}

Json OperationJson(const v1::Operation& op) {
  return {{"operation_id", op.operation_id()},
          {"authorization_id", op.authorization_id()},
          {"wallet_id", op.wallet_id()},
          {"state", OperationStateText(op.state())},
          {"tx_hash", op.tx_hash()},
          {"vendor_ref", op.vendor_ref()},
          {"error", op.error()}};
}

std::string OperationLine(const v1::Operation& op) {
  std::string line =
      absl::StrCat(op.operation_id(), " ", OperationStateText(op.state()));
  if (!op.tx_hash().empty()) absl::StrAppend(&line, " tx ", op.tx_hash());
  if (!op.error().empty()) absl::StrAppend(&line, ": ", op.error());
  return line;
}

// A submission: the decision and, unless it was a denial, the operation.
void PrintSubmission(const v1::SubmitTransactionResponse& r, bool json) {
  const v1::AuthorizeResponse& a = r.authorization();
  if (json) {
    Json j = {{"decision", DecisionText(a.decision())},
              {"authorization_id", a.authorization_id()},
              {"amount_usd", a.amount_usd()},
              {"reason", a.reason()},
              {"violations", ViolationsJson(a.violations())},
              {"replayed", a.replayed()},
              {"operation_id", nullptr},
              {"state", nullptr},
              {"tx_hash", nullptr}};
    if (r.has_operation()) {
      j.update(OperationJson(r.operation()));
    }
    std::cout << j.dump() << "\n";
    return;
  }
  std::cout << DecisionText(a.decision()) << " " << a.authorization_id() << " $"
            << a.amount_usd() << (a.replayed() ? " (replayed)" : "") << "\n  "
            << a.reason() << "\n";
  if (r.has_operation()) {
    std::cout << "  operation " << OperationLine(r.operation()) << "\n";
  } else {
    std::cout << "  nothing was sent\n";
  }
}

Json AuthorizationJson(const v1::Authorization& a) {
  Json votes = Json::array();
  for (const v1::ApprovalVote& v : a.votes()) {
    votes.push_back({{"approver", v.approver()},
                     {"approve", v.approve()},
                     {"comment", v.comment()},
                     {"at", TimeText(v.at())}});
  }
  Json j = {{"authorization_id", a.authorization_id()},
            {"org_id", a.org_id()},
            {"agent_id", a.agent_id()},
            {"wallet_id", a.wallet_id()},
            {"chain", a.chain()},
            {"asset", a.asset()},
            {"amount", a.amount()},
            {"amount_usd", a.amount_usd()},
            {"destination", a.destination()},
            {"decision", DecisionText(a.decision())},
            {"status", StatusText(a.status())},
            {"reason", a.reason()},
            {"violations", ViolationsJson(a.violations())},
            {"created_at", TimeText(a.created_at())},
            {"hold_expires_at", TimeText(a.hold_expires_at())},
            {"settled_amount", a.settled_amount()},
            {"settled_amount_usd", a.settled_amount_usd()},
            {"tx_hash", a.tx_hash()},
            {"policy_version", a.policy_version()}};
  if (a.has_release_at()) j["release_at"] = TimeText(a.release_at());
  if (a.approvals_required() > 0) {
    j["approvals_required"] = a.approvals_required();
    j["approvers"] =
        std::vector<std::string>(a.approvers().begin(), a.approvers().end());
    j["votes"] = votes;
  }
  return j;
}

void PrintAuthorization(const v1::Authorization& a, bool json) {
  if (json) {
    std::cout << AuthorizationJson(a).dump() << "\n";
    return;
  }
  std::cout << a.authorization_id() << " " << DecisionText(a.decision()) << " "
            << StatusText(a.status()) << " " << a.agent_id() << " "
            << a.wallet_id() << " " << a.amount() << " " << a.asset() << " ($"
            << a.amount_usd() << ")";
  if (!a.settled_amount().empty()) {
    std::cout << " settled " << a.settled_amount() << " ($"
              << a.settled_amount_usd() << ")";
  }
  if (!a.tx_hash().empty()) std::cout << " tx " << a.tx_hash();
  std::cout << "\n  " << a.reason() << "\n";
  for (const v1::ApprovalVote& v : a.votes()) {
    std::cout << "  " << (v.approve() ? "approved" : "rejected") << " by "
              << v.approver() << " at " << TimeText(v.at())
              << (v.comment().empty() ? "" : ": ") << v.comment() << "\n";
  }
}

int Fail(const grpc::Status& status) {
  std::cerr << "wardenctl: " << CodeName(status.error_code()) << ": "
            << status.error_message() << "\n";
  return kCallFailed;
}

// The bearer token every call carries (--token or WARDEN_TOKEN).
std::string& Token() {
  static auto* token = new std::string;
  return *token;
}

// Sets the call's deadline and credential.
void PrepareContext(grpc::ClientContext* context) {
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(kDeadlineSeconds));
  if (!Token().empty()) {
    context->AddMetadata("authorization", "Bearer " + Token());
  }
}

int PrintVerification(const std::string& org, bool ok, int64_t records,
                      int64_t checkpoints, int64_t first_bad_seq,
                      const std::string& problem, bool json) {
  if (json) {
    std::cout << Json{{"ok", ok},
                      {"records", records},
                      {"checkpoints", checkpoints},
                      {"first_bad_seq", first_bad_seq},
                      {"problem", problem}}
                     .dump()
              << "\n";
  } else if (ok) {
    std::cout << "OK org " << org << ": " << records << " records, "
              << checkpoints << " signed checkpoints verified\n";
  } else {
    std::cout << "BROKEN org " << org << " at record " << first_bad_seq << ": "
              << problem << "\n";
  }
  return ok ? 0 : kChainBroken;
}

bool ParseTimeFlag(const char* flag, const std::string& text,
                   google::protobuf::Timestamp* out) {
  if (text.empty()) return true;
  if (!google::protobuf::util::TimeUtil::FromString(text, out)) {
    std::cerr
        << "wardenctl: " << flag << ": \"" << text
        << "\" is not an RFC 3339 time (e.g. 2026-04-01T00:00:00-04:00)\n";
    return false;
  }
  return true;
}

Json RecordJson(const v1::AuditRecord& r) {
  return {{"org_id", r.org_id()},
          {"seq", r.seq()},
          {"time", TimeText(r.time())},
          {"type", r.type()},
          {"actor", r.actor()},
          {"gateway", r.gateway()},
          {"authorization_id", r.authorization_id()},
          {"agent_id", r.agent_id()},
          {"department_id", r.department_id()},
          {"wallet_id", r.wallet_id()},
          {"decision", r.decision()},
          {"status", r.status()},
          {"charged_usd", r.charged_usd()},
          {"body", r.body()},
          {"prev_hash", r.prev_hash()},
          {"hash", r.hash()}};
}

constexpr const char* kCsvHeader =
    "org_id,seq,time,type,actor,authorization_id,agent_id,department_id,"
    "wallet_id,decision,status,charged_usd,prev_hash,hash,body";

// RFC 4180: every field quoted, quotes doubled.
std::string CsvLine(const v1::AuditRecord& r) {
  std::string line;
  auto field = [&](const std::string& v) {
    if (!line.empty()) line += ',';
    line += '"';
    for (char c : v) {
      if (c == '"') line += '"';
      line += c;
    }
    line += '"';
  };
  for (const std::string& v :
       {r.org_id(), std::to_string(r.seq()), TimeText(r.time()), r.type(),
        r.actor(), r.authorization_id(), r.agent_id(), r.department_id(),
        r.wallet_id(), r.decision(), r.status(), r.charged_usd(), r.prev_hash(),
        r.hash(), r.body()}) {
    field(v);
  }
  return line;
}

// Pages through QueryEvents with the seq cursor until `max` events or the
// end, calling fn on each.
grpc::Status ForEachEvent(
    v1::AuditService::Stub& stub, v1::QueryEventsRequest request, int64_t max,
    const std::function<void(const v1::AuditRecord&)>& fn) {
  constexpr int kPage = 2000;
  int64_t seen = 0;
  while (seen < max) {
    request.set_page_size(
        static_cast<int>(std::min<int64_t>(kPage, max - seen)));
    grpc::ClientContext context;
    PrepareContext(&context);
    auto reader = stub.QueryEvents(&context, request);
    v1::AuditRecord r;
    int got = 0;
    while (reader->Read(&r)) {
      fn(r);
      request.set_after_seq(r.seq());
      ++got;
    }
    grpc::Status status = reader->Finish();
    if (!status.ok()) return status;
    seen += got;
    if (got < request.page_size()) break;
  }
  return grpc::Status::OK;
}

// Recomputes the chain of a JSONL export (or of an embedded-mode audit
// file): each line's hash must be SHA-256(prev_hash || body), and each
// prev_hash the previous line's hash.
// Verifies a JSONL export line by line: each hash, each link, and seq
// rising by one (seq is outside the hash). The first line must be the
// trail's first record (seq 1, genesis prev_hash), or link to `anchor`:
// the hash of the record before it, taken from a trusted copy or a signed
// checkpoint. Without one, a file whose head was cut off would verify.
int VerifyExportFile(const std::string& path, const std::string& anchor,
                     bool json) {
  std::ifstream in(path);
  std::string text, prev = anchor.empty() ? warden::kGenesisHash : anchor;
  int64_t n = 0, prev_seq = 0;
  while (std::getline(in, text)) {
    ++n;
    absl::StatusOr<warden::ChainLine> line = warden::ParseChainLine(text);
    if (!line.ok()) {
      return PrintVerification(path, false, n, 0, n,
                               std::string(line.status().message()), json);
    }
    if (n == 1 && anchor.empty() &&
        (line->seq != 1 || line->prev_hash != prev)) {
      return PrintVerification(
          path, false, n, 0, line->seq,
          absl::StrCat("the file starts at seq ", line->seq,
                       ", not at the "
                       "trail's first record: the records before it are not "
                       "here to check; verify from a trusted hash of record ",
                       line->seq - 1,
                       " with --anchor (this line's prev_hash "
                       "is ",
                       line->prev_hash, ")"),
          json);
    }
    if (n > 1 && line->seq != prev_seq + 1) {
      return PrintVerification(
          path, false, n, 0, line->seq,
          absl::StrCat("seq ", line->seq, " follows seq ", prev_seq,
                       " (a record is missing, or a seq was changed)"),
          json);
    }
    if (line->prev_hash != prev) {
      return PrintVerification(path, false, n, 0, line->seq,
                               n == 1 ? "does not link to --anchor"
                                      : "does not link to the previous line",
                               json);
    }
    if (warden::ChainHash(line->prev_hash, line->body) != line->hash) {
      return PrintVerification(path, false, n, 0, line->seq,
                               "its body does not match its hash", json);
    }
    prev = line->hash;
    prev_seq = line->seq;
  }
  return PrintVerification(path, true, n, 0, 0, "", json);
}

int WalletCommand(const std::string& dir, const std::string& password_file,
                  const std::string& key_file,
                  const warden::evm::KdfParams& kdf, bool create, bool import) {
  absl::StatusOr<std::string> password =
      warden::evm::KeystorePassword(password_file, "--password-file");
  if (!password.ok()) {
    std::cerr << "wardenctl: " << password.status().message() << "\n";
    return kUsage;
  }
  if (create || import) {
    std::string key;
    if (import) {
      std::ifstream in(key_file);
      std::string hex;
      std::getline(in, hex);
      absl::string_view digits = absl::StripAsciiWhitespace(hex);
      absl::ConsumePrefix(&digits, "0x");
      if (!in || digits.size() != 64) {
        std::cerr << "wardenctl: --private-key-file: expected 64 hex digits\n";
        return kUsage;
      }
      key = absl::HexStringToBytes(digits);
    }
    absl::StatusOr<warden::evm::Address> address =
        warden::evm::Keystore::Add(dir, *password, kdf, key);
    if (!address.ok()) {
      std::cerr << "wardenctl: " << address.status().message() << "\n";
      return kCallFailed;
    }
    std::cout << warden::Eip55(warden::evm::Hex(*address)) << "\n";
    return 0;
  }
  absl::StatusOr<warden::evm::Keystore> ks =
      warden::evm::Keystore::Open(dir, *password);
  if (!ks.ok()) {
    std::cerr << "wardenctl: " << ks.status().message() << "\n";
    return kCallFailed;
  }
  for (const warden::evm::Address& a : ks->Addresses()) {
    std::cout << warden::Eip55(warden::evm::Hex(a)) << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"wardenctl: command-line client for wardend"};
  app.require_subcommand(1);
  // Global flags anywhere, as kubectl-style CLIs take them:
  // `wardenctl authorize ... --json` as well as `wardenctl --json authorize`.
  app.fallthrough();
  std::string server = "127.0.0.1:7400";
  std::string org;
  bool json = false;
  app.add_option("--server", server, "wardend address, host:port")
      ->capture_default_str()
      ->envname("WARDEN_SERVER");
  app.add_option("--org", org,
                 "Org id (optional while the server serves one org)");
  app.add_flag("--json", json, "Print one JSON object");
  std::string tls_ca, tls_cert, tls_key, tls_server_name;
  app.add_option("--tls-ca", tls_ca,
                 "Connect over TLS, trusting this CA (PEM) for the server")
      ->envname("WARDEN_TLS_CA");
  app.add_option("--tls-server-name", tls_server_name,
                 "The name to check the server's certificate against, when "
                 "--server does not carry it (a port-forward to localhost)")
      ->envname("WARDEN_TLS_SERVER_NAME");
  app.add_option("--tls-cert", tls_cert, "Client certificate (PEM), for mTLS")
      ->envname("WARDEN_TLS_CERT");
  app.add_option("--tls-key", tls_key, "Client private key (PEM), for mTLS")
      ->envname("WARDEN_TLS_KEY");
  app.add_option("--token", Token(),
                 "Bearer token (prefer WARDEN_TOKEN: flags show in ps)")
      ->envname("WARDEN_TOKEN");

  CLI::App* token_cmd = app.add_subcommand("token", "API tokens");
  token_cmd->require_subcommand(1);
  CLI::App* token_create = token_cmd->add_subcommand(
      "create",
      "Create a token; prints it once (with --postgres, directly "
      "in the database: the bootstrap)");
  v1::CreateTokenRequest token_request;
  int64_t ttl_days = 90;
  std::string token_postgres;
  token_create
      ->add_option("--principal", *token_request.mutable_principal(),
                   "agent/<id> or user/<id>")
      ->required();
  std::vector<std::string> token_roles;
  token_create
      ->add_option("--role", token_roles,
                   "agent, approver, auditor, admin or operator; repeatable")
      ->required();
  token_create->add_option("--ttl-days", ttl_days)
      ->capture_default_str()
      ->check(CLI::Range(1, 366));
  token_create->add_option(
      "--postgres", token_postgres,
      "Write the token straight into this database (needs --org) instead of "
      "asking the server: how the first admin token is made");
  CLI::App* token_list = token_cmd->add_subcommand("list", "List tokens");
  CLI::App* token_revoke =
      token_cmd->add_subcommand("revoke", "Revoke a token at once");
  v1::RevokeTokenRequest revoke_request;
  token_revoke->add_option("token_id", *revoke_request.mutable_token_id())
      ->required();

  std::string bundle_file;
  bool dry_run = false;
  CLI::App* apply = app.add_subcommand("apply", "Apply a policy bundle");
  apply->add_option("-f,--file", bundle_file, "Bundle YAML file")
      ->required()
      ->check(CLI::ExistingFile);
  apply->add_flag("--dry-run", dry_run, "Validate and show the diff only");

  int64_t rollback_version = 0;
  CLI::App* bundle = app.add_subcommand("bundle", "Policy bundle versions")
                         ->require_subcommand(1);
  CLI::App* rollback = bundle->add_subcommand(
      "rollback",
      "Make an earlier version active again (as a new version, audited)");
  rollback->add_option("version", rollback_version, "The version to restore")
      ->required()
      ->check(CLI::PositiveNumber);

  int64_t bundle_version = 0;
  CLI::App* get_bundle =
      app.add_subcommand("get-bundle", "Print an applied policy bundle");
  get_bundle->add_option("--version", bundle_version,
                         "Version (default: the active one)");

  v1::AuthorizeRequest authorize_request;
  CLI::App* authorize =
      app.add_subcommand("authorize", "Ask whether an agent may spend");
  authorize->add_option("--agent", *authorize_request.mutable_agent_id())
      ->required();
  authorize->add_option("--wallet", *authorize_request.mutable_wallet_id())
      ->required();
  authorize->add_option("--asset", *authorize_request.mutable_asset())
      ->required();
  authorize
      ->add_option("--amount", *authorize_request.mutable_amount(),
                   "Base units (e.g. 1000000 for 1 USDC)")
      ->required();
  authorize->add_option("--to", *authorize_request.mutable_destination(),
                        "Destination address");
  authorize->add_option("--idempotency-key",
                        *authorize_request.mutable_idempotency_key());
  authorize->add_option("--memo", *authorize_request.mutable_memo());

  v1::SubmitTransactionRequest submit_request;
  bool submit_wait = false;
  int64_t submit_wait_seconds = 120;
  CLI::App* submit = app.add_subcommand(
      "submit",
      "Authorize a spend and have Warden send it through the wallet's "
      "adapter");
  submit->add_option("--agent", *submit_request.mutable_agent_id())->required();
  submit->add_option("--wallet", *submit_request.mutable_wallet_id())
      ->required();
  submit->add_option("--asset", *submit_request.mutable_asset())->required();
  submit
      ->add_option("--amount", *submit_request.mutable_amount(),
                   "Base units (e.g. 1000000 for 1 USDC)")
      ->required();
  submit
      ->add_option("--to", *submit_request.mutable_destination(),
                   "Recipient address")
      ->required();
  submit->add_option("--idempotency-key",
                     *submit_request.mutable_idempotency_key(),
                     "Retrying with the same key never sends twice");
  submit->add_option("--memo", *submit_request.mutable_memo());
  submit->add_option("--data", *submit_request.mutable_data(),
                     "Calldata (0x-hex) for a native-coin transfer");
  submit->add_flag("--wait", submit_wait,
                   "Wait until the operation is CONFIRMED or FAILED");
  submit
      ->add_option("--wait-seconds", submit_wait_seconds,
                   "Give up waiting after this long (the operation goes on)")
      ->capture_default_str()
      ->check(CLI::Range(1, 86'400));

  std::string health_service;
  CLI::App* health = app.add_subcommand(
      "health",
      "Ask the standard gRPC health service; exit 0 only when SERVING");
  health->add_option("--service", health_service,
                     "\"\" (readiness: backends reachable) or \"liveness\"");

  v1::GetOperationRequest operation_request;
  CLI::App* operation =
      app.add_subcommand("operation", "Show a submitted operation");
  operation->add_option("id", *operation_request.mutable_operation_id())
      ->required();

  v1::SettleRequest settle_request;
  CLI::App* settle = app.add_subcommand("settle", "Settle a held spend");
  settle->add_option("id", *settle_request.mutable_authorization_id())
      ->required();
  settle->add_option("--amount", *settle_request.mutable_amount(),
                     "Final base units (default: the held amount)");
  settle->add_option("--tx-hash", *settle_request.mutable_tx_hash());

  v1::VoidRequest void_request;
  CLI::App* void_cmd = app.add_subcommand("void", "Release a held spend");
  void_cmd->add_option("id", *void_request.mutable_authorization_id())
      ->required();

  v1::GetAuthorizationRequest get_request;
  CLI::App* get = app.add_subcommand("get", "Show an authorization");
  get->add_option("id", *get_request.mutable_authorization_id())->required();

  // The kill switch.
  v1::DecommissionAgentRequest decommission_request;
  CLI::App* decommission = app.add_subcommand(
      "decommission", "Retire an agent for good: it and all its wallets");
  decommission->add_option("agent", *decommission_request.mutable_agent_id())
      ->required();
  decommission->add_option("--reason", *decommission_request.mutable_reason())
      ->required();
  v1::FreezeScopeRequest freeze_request;
  // ScopeRef is a oneof: options fill these, and the request is built after
  // parsing.
  std::string freeze_agent, freeze_department, freeze_wallet;
  bool freeze_org = false;
  auto scope_options = [&](CLI::App* cmd) {
    auto* group = cmd->add_option_group("scope");
    group->add_option("--agent", freeze_agent);
    group->add_option("--department", freeze_department);
    group->add_option("--wallet", freeze_wallet);
    group->add_flag("--org", freeze_org, "the whole org (emergency stop)");
    group->require_option(1);
    cmd->add_option("--reason", *freeze_request.mutable_reason())->required();
  };
  CLI::App* approvals =
      app.add_subcommand("approvals", "List, approve or reject pending spends");
  approvals->require_subcommand(1);
  CLI::App* approvals_list = approvals->add_subcommand(
      "list", "Requests awaiting approval or a delay");
  v1::ApprovalRequest approval_request;
  auto approval_options = [&](CLI::App* cmd) {
    cmd->add_option("authorization_id",
                    *approval_request.mutable_authorization_id())
        ->required();
    cmd->add_option("--approver", *approval_request.mutable_approver(),
                    "Who answers (default: the token's principal)");
    cmd->add_option("--comment", *approval_request.mutable_comment());
  };
  CLI::App* approve = approvals->add_subcommand(
      "approve", "Approve a pending request (counts once per approver)");
  approval_options(approve);
  CLI::App* reject = approvals->add_subcommand(
      "reject", "Reject a pending request, or cancel a delayed one");
  approval_options(reject);

  CLI::App* freeze =
      app.add_subcommand("freeze", "Stop all spend under a scope now");
  scope_options(freeze);
  CLI::App* unfreeze = app.add_subcommand("unfreeze", "Lift a freeze");
  scope_options(unfreeze);

  // The local wallet's keystore, on this machine.
  CLI::App* wallet = app.add_subcommand("wallet", "Local wallet keystore");
  wallet->require_subcommand(1);
  std::string keystore_dir, password_file, private_key_file;
  warden::evm::KdfParams kdf;
  auto keystore_options = [&](CLI::App* cmd) {
    cmd->add_option("--keystore", keystore_dir, "Keystore directory")
        ->required()
        ->envname("WARDEN_KEYSTORE");
    cmd->add_option("--password-file", password_file,
                    "File whose first line is the password (else "
                    "WARDEN_KEYSTORE_PASSWORD)");
  };
  CLI::App* create_local = wallet->add_subcommand(
      "create-local", "Make a new key; prints its address");
  auto kdf_options = [&](CLI::App* cmd) {
    cmd->add_option("--scrypt-n", kdf.n, "scrypt cost: a power of 2, >= 1024")
        ->capture_default_str();
    cmd->add_option("--scrypt-r", kdf.r, "scrypt block size: 1..32")
        ->capture_default_str();
    cmd->add_option("--scrypt-p", kdf.p, "scrypt parallelism: 1..16")
        ->capture_default_str();
  };
  keystore_options(create_local);
  kdf_options(create_local);
  CLI::App* import_local = wallet->add_subcommand(
      "import-local",
      "Encrypt an existing key (hex in a file); prints its "
      "address");
  keystore_options(import_local);
  import_local->add_option("--private-key-file", private_key_file)->required();
  kdf_options(import_local);
  CLI::App* wallet_address = wallet->add_subcommand(
      "address", "Decrypt the keystore and print its addresses");
  keystore_options(wallet_address);

  // Commands that talk to Postgres directly, for operators and auditors.
  std::string postgres_url;
  CLI::App* migrate =
      app.add_subcommand("migrate", "Apply the database schema migrations");
  migrate->add_option("--postgres", postgres_url, "postgresql://...")
      ->required()
      ->envname("WARDEN_POSTGRES_URL");
  CLI::App* audit = app.add_subcommand("audit", "Audit trail commands");
  audit->require_subcommand(1);
  std::string audit_org;
  CLI::App* verify = audit->add_subcommand(
      "verify",
      "Walk an org's hash chain and checkpoint signatures (through the "
      "server, or directly with --postgres)");
  verify->add_option("--postgres", postgres_url, "postgresql://...")
      ->envname("WARDEN_POSTGRES_URL");
  verify->add_option("--org", audit_org);

  v1::QueryEventsRequest query_request;
  std::string from_text, to_text, decision_text, out_path, format = "jsonl";
  int64_t max_events = 100000;
  auto add_filters = [&](CLI::App* cmd) {
    cmd->add_option("--department", *query_request.mutable_department_id());
    cmd->add_option("--agent", *query_request.mutable_agent_id());
    cmd->add_option("--wallet", *query_request.mutable_wallet_id());
    cmd->add_option("--chain", *query_request.mutable_chain());
    cmd->add_option("--asset", *query_request.mutable_asset());
    cmd->add_option("--decision", decision_text,
                    "ALLOW, DENY or PENDING_APPROVAL")
        ->check(CLI::IsMember({"ALLOW", "DENY", "PENDING_APPROVAL"}));
    cmd->add_option("--from", from_text, "RFC 3339, inclusive");
    cmd->add_option("--to", to_text, "RFC 3339, exclusive");
    cmd->add_option("--max", max_events, "stop after this many events")
        ->capture_default_str();
  };
  CLI::App* query =
      audit->add_subcommand("query", "Print audit events as JSON lines");
  add_filters(query);
  CLI::App* export_cmd = audit->add_subcommand(
      "export", "Write audit events to a file an auditor can verify offline");
  add_filters(export_cmd);
  export_cmd->add_option("--format", format)
      ->check(CLI::IsMember({"csv", "jsonl"}))
      ->capture_default_str();
  export_cmd->add_option("--out", out_path)->required();
  CLI::App* verify_file = audit->add_subcommand(
      "verify-file", "Check the hash chain of a JSONL export, offline");
  verify_file->add_option("file", out_path)
      ->required()
      ->check(CLI::ExistingFile);
  std::string anchor;
  verify_file
      ->add_option("--anchor", anchor,
                   "For a file that starts after the trail's first record: "
                   "the hash of the record before its first line, from a "
                   "trusted copy or a signed checkpoint")
      ->check([](const std::string& v) -> std::string {
        return v.size() == 64 && v.find_first_not_of("0123456789abcdef") ==
                                     std::string::npos
                   ? ""
                   : "must be 64 lower-case hex digits (a record's hash)";
      });

  std::string export_dir;
  int64_t retention_days = 365 * 7 + 2;
  bool export_only = false;
  CLI::App* retention = audit->add_subcommand(
      "retention",
      "Export, then drop, monthly partitions older than the retention");
  retention->add_option("--postgres", postgres_url, "an owner role's URL")
      ->required()
      ->envname("WARDEN_POSTGRES_URL");
  retention->add_option("--export-dir", export_dir)
      ->required()
      ->check(CLI::ExistingDirectory);
  retention->add_option("--retention-days", retention_days)
      ->capture_default_str()
      ->check(CLI::Range(int64_t{31}, int64_t{36500}));
  retention->add_flag("--export-only", export_only, "drop nothing");

  v1::SpendSummaryRequest summary_request;
  std::string group_text;
  CLI::App* summary = audit->add_subcommand(
      "summary", "Settled and held spend, grouped, over a period");
  summary
      ->add_option("--group-by", group_text,
                   "department, agent, wallet, chain or asset")
      ->required()
      ->check(
          CLI::IsMember({"department", "agent", "wallet", "chain", "asset"}));
  summary->add_option("--from", from_text, "RFC 3339, inclusive");
  summary->add_option("--to", to_text, "RFC 3339, exclusive");

  CLI::App* reconcile = app.add_subcommand(
      "reconcile",
      "Compare each wallet's vendor transactions with Warden's "
      "authorizations: report shadow spend and missing settlements");
  std::string reconcile_org, since_text;
  reconcile->add_option("--org", reconcile_org,
                        "Org id (optional while the server serves one org)");
  reconcile
      ->add_option("--since", since_text,
                   "RFC 3339 time, or how long ago (e.g. 24h, 90m)")
      ->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : kUsage;
  }

  if (*token_create && !token_postgres.empty()) {
    if (org.empty()) {
      std::cerr << "wardenctl: --org is required with --postgres\n";
      return kUsage;
    }
    warden::PostgresCredentialStore store(token_postgres);
    absl::StatusOr<warden::MintedToken> minted =
        warden::IssueToken(store, org, token_request.principal(), token_roles,
                           absl::Hours(24 * ttl_days),
                           "wardenctl token create --postgres", absl::Now());
    if (!minted.ok()) {
      std::cerr << "wardenctl: " << minted.status().message() << "\n";
      return kCallFailed;
    }
    std::cout << minted->token << "\n";
    std::cerr << "created " << minted->record.token_id << " for "
              << minted->record.principal
              << "; the token above is shown once\n";
    return 0;
  }
  if (*create_local || *import_local || *wallet_address) {
    return WalletCommand(keystore_dir, password_file, private_key_file, kdf,
                         create_local->parsed(), import_local->parsed());
  }
  if (*migrate) {
    absl::StatusOr<int> version = warden::ApplyMigrations(postgres_url);
    if (!version.ok()) {
      std::cerr << "wardenctl: " << version.status().message() << "\n";
      return kCallFailed;
    }
    std::cout << "schema at version " << *version << "\n";
    return 0;
  }
  if (*verify_file) {
    return VerifyExportFile(out_path, anchor, json);
  }
  if (*retention) {
    absl::StatusOr<warden::RetentionReport> r =
        warden::ApplyRetention({.url = postgres_url,
                                .retention = absl::Hours(24 * retention_days),
                                .export_dir = export_dir,
                                .export_only = export_only});
    if (!r.ok()) {
      std::cerr << "wardenctl: " << r.status().message() << "\n";
      return kCallFailed;
    }
    for (const std::string& e : r->exported)
      std::cout << "exported " << e << "\n";
    for (const std::string& d : r->dropped)
      std::cout << "dropped " << d << "\n";
    if (r->exported.empty() && r->dropped.empty()) {
      std::cout << "nothing older than " << retention_days << " days\n";
    }
    return 0;
  }
  if (*verify && !postgres_url.empty()) {
    absl::StatusOr<warden::ChainVerification> v =
        warden::VerifyAuditChain(postgres_url, audit_org);
    if (!v.ok()) {
      std::cerr << "wardenctl: " << v.status().message() << "\n";
      return kCallFailed;
    }
    return PrintVerification(audit_org, v->ok, v->records, v->checkpoints,
                             v->first_bad_seq, v->problem, json);
  }

  std::shared_ptr<grpc::ChannelCredentials> creds =
      grpc::InsecureChannelCredentials();
  if (!tls_ca.empty()) {
    grpc::SslCredentialsOptions ssl;
    for (auto [path, out] : {std::pair{&tls_ca, &ssl.pem_root_certs},
                             std::pair{&tls_cert, &ssl.pem_cert_chain},
                             std::pair{&tls_key, &ssl.pem_private_key}}) {
      if (path->empty()) continue;
      std::ifstream in(*path);
      std::stringstream text;
      text << in.rdbuf();
      if (!in) {
        std::cerr << "wardenctl: cannot read " << *path << "\n";
        return kUsage;
      }
      *out = text.str();
    }
    creds = grpc::SslCredentials(ssl);
  }
  if (!tls_server_name.empty() && tls_ca.empty()) {
    std::cerr << "wardenctl: --tls-server-name needs --tls-ca\n";
    return kUsage;
  }
  grpc::ChannelArguments channel_args;
  if (!tls_server_name.empty()) {
    channel_args.SetSslTargetNameOverride(tls_server_name);
  }
  auto channel = grpc::CreateCustomChannel(server, creds, channel_args);
  auto authz = v1::AuthorizationService::NewStub(channel);
  auto admin = v1::AdminService::NewStub(channel);
  grpc::ClientContext context;
  PrepareContext(&context);

  auto audit_stub = v1::AuditService::NewStub(channel);
  if (*health) {
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(health_service);
    grpc::health::v1::HealthCheckResponse response;
    grpc::Status status = grpc::health::v1::Health::NewStub(channel)->Check(
        &context, request, &response);
    if (!status.ok()) return Fail(status);
    const std::string name =
        grpc::health::v1::HealthCheckResponse::ServingStatus_Name(
            response.status());
    if (json) {
      std::cout << Json{{"service", health_service}, {"status", name}}.dump()
                << "\n";
    } else {
      std::cout << name << "\n";
    }
    return response.status() == grpc::health::v1::HealthCheckResponse::SERVING
               ? 0
               : 1;
  }
  auto print_token = [&](const v1::ApiToken& t) {
    std::vector<std::string> roles(t.roles().begin(), t.roles().end());
    if (json) {
      std::cout << Json{{"token_id", t.token_id()},
                        {"principal", t.principal()},
                        {"roles", roles},
                        {"created_at", TimeText(t.created_at())},
                        {"created_by", t.created_by()},
                        {"expires_at", TimeText(t.expires_at())},
                        {"revoked_at",
                         t.has_revoked_at() ? TimeText(t.revoked_at()) : ""}}
                       .dump()
                << "\n";
    } else {
      std::cout << t.token_id() << " " << t.principal() << " ["
                << absl::StrJoin(roles, ",") << "] expires "
                << TimeText(t.expires_at())
                << (t.has_revoked_at() ? " REVOKED" : "") << "\n";
    }
  };
  if (*token_create) {
    token_request.set_org_id(org);
    for (const std::string& r : token_roles) token_request.add_roles(r);
    token_request.set_ttl_seconds(ttl_days * 86400);
    v1::CreateTokenResponse response;
    grpc::Status status =
        admin->CreateToken(&context, token_request, &response);
    if (!status.ok()) return Fail(status);
    std::cout << response.bearer_token() << "\n";
    std::cerr << "created " << response.token().token_id() << " for "
              << response.token().principal()
              << "; the token above is shown once\n";
    return 0;
  }
  if (*token_list) {
    v1::ListTokensRequest request;
    request.set_org_id(org);
    v1::ListTokensResponse response;
    grpc::Status status = admin->ListTokens(&context, request, &response);
    if (!status.ok()) return Fail(status);
    for (const v1::ApiToken& t : response.tokens()) print_token(t);
    return 0;
  }
  if (*token_revoke) {
    revoke_request.set_org_id(org);
    v1::ApiToken response;
    grpc::Status status =
        admin->RevokeToken(&context, revoke_request, &response);
    if (!status.ok()) return Fail(status);
    print_token(response);
    return 0;
  }
  if (*approvals_list) {
    v1::ListPendingApprovalsRequest request;
    request.set_org_id(org);
    v1::ListPendingApprovalsResponse response;
    grpc::Status status =
        admin->ListPendingApprovals(&context, request, &response);
    if (!status.ok()) return Fail(status);
    for (const v1::Authorization& a : response.approvals()) {
      PrintAuthorization(a, json);
    }
    if (!json && response.approvals().empty()) {
      std::cout << "nothing awaits approval\n";
    }
    return 0;
  }
  if (*approve || *reject) {
    approval_request.set_org_id(org);
    v1::ApprovalResponse response;
    grpc::Status status =
        *approve ? admin->Approve(&context, approval_request, &response)
                 : admin->Reject(&context, approval_request, &response);
    if (!status.ok()) return Fail(status);
    if (json) {
      Json j = AuthorizationJson(response.authorization());
      j["counted"] = response.counted();
      std::cout << j.dump() << "\n";
    } else {
      if (!response.counted()) {
        std::cout << approval_request.approver()
                  << " had already answered; not counted again\n";
      }
      PrintAuthorization(response.authorization(), false);
    }
    return 0;
  }
  if (*decommission || *freeze || *unfreeze) {
    v1::FreezeResponse response;
    grpc::Status status;
    if (*decommission) {
      decommission_request.set_org_id(org);
      status =
          admin->DecommissionAgent(&context, decommission_request, &response);
    } else {
      freeze_request.set_org_id(org);
      v1::ScopeRef* scope = freeze_request.mutable_scope();
      if (freeze_org) scope->set_org(true);
      if (!freeze_agent.empty()) scope->set_agent_id(freeze_agent);
      if (!freeze_department.empty()) {
        scope->set_department_id(freeze_department);
      }
      if (!freeze_wallet.empty()) scope->set_wallet_id(freeze_wallet);
      status = *freeze
                   ? admin->FreezeScope(&context, freeze_request, &response)
                   : admin->UnfreezeScope(&context, freeze_request, &response);
    }
    if (!status.ok()) return Fail(status);
    auto outcome = [](const v1::VendorFreeze& v) {
      return absl::AsciiStrToLower(v1::VendorFreeze::Outcome_Name(v.outcome()));
    };
    if (json) {
      Json vendors = Json::array();
      for (const v1::VendorFreeze& v : response.vendor_results()) {
        vendors.push_back({{"wallet_id", v.wallet_id()},
                           {"vendor", v.vendor()},
                           {"outcome", outcome(v)},
                           {"reason", v.reason()}});
      }
      std::cout << Json{{"scope", response.scope()},
                        {"wallets_frozen", response.wallets_frozen()},
                        {"holds_voided", response.holds_voided()},
                        {"vendors", vendors}}
                       .dump()
                << "\n";
    } else {
      std::cout << (*unfreeze ? "unfroze " : "froze ") << response.scope()
                << ": " << response.wallets_frozen() << " wallets, "
                << response.holds_voided() << " holds voided\n";
      for (const v1::VendorFreeze& v : response.vendor_results()) {
        std::cout << "  wallet/" << v.wallet_id() << " at " << v.vendor()
                  << ": " << outcome(v) << (v.reason().empty() ? "" : ": ")
                  << v.reason() << "\n";
      }
    }
    return 0;
  }
  if (*reconcile) {
    v1::ReconcileRequest request;
    request.set_org_id(reconcile_org.empty() ? org : reconcile_org);
    absl::Duration ago;
    if (absl::ParseDuration(since_text, &ago) && ago > absl::ZeroDuration()) {
      *request.mutable_since() =
          google::protobuf::util::TimeUtil::SecondsToTimestamp(
              absl::ToUnixSeconds(absl::Now() - ago));
    } else if (!ParseTimeFlag("--since", since_text, request.mutable_since())) {
      return kUsage;
    }
    v1::ReconcileResponse response;
    grpc::Status status = audit_stub->Reconcile(&context, request, &response);
    if (!status.ok()) return Fail(status);
    auto kind = [](const v1::ReconcileFinding& f) {
      return f.kind() == v1::ReconcileFinding::SHADOW_SPEND
                 ? "shadow_spend"
                 : "missing_settlement";
    };
    if (json) {
      Json findings = Json::array();
      for (const v1::ReconcileFinding& f : response.findings()) {
        findings.push_back({{"kind", kind(f)},
                            {"wallet_id", f.wallet_id()},
                            {"vendor", f.vendor()},
                            {"tx_hash", f.tx_hash()},
                            {"from", f.from()},
                            {"to", f.to()},
                            {"asset", f.asset()},
                            {"amount", f.amount()},
                            {"time", TimeText(f.time())},
                            {"authorization_id", f.authorization_id()},
                            {"authorization_status", f.authorization_status()},
                            {"description", f.description()}});
      }
      std::cout << Json{{"org_id", response.org_id()},
                        {"wallets_checked", response.wallets_checked()},
                        {"vendor_transactions", response.vendor_transactions()},
                        {"unchecked",
                         std::vector<std::string>(response.unchecked().begin(),
                                                  response.unchecked().end())},
                        {"findings", findings},
                        {"audited", response.audited()}}
                       .dump()
                << "\n";
    } else {
      std::cout << "org " << response.org_id() << ": "
                << response.wallets_checked() << " wallet(s) checked, "
                << response.vendor_transactions() << " vendor transaction(s), "
                << response.findings_size() << " finding(s) ("
                << response.audited()
                << " newly recorded in the audit trail)\n";
      for (const v1::ReconcileFinding& f : response.findings()) {
        std::cout << "  " << f.description() << "\n";
      }
      for (const std::string& u : response.unchecked()) {
        std::cout << "  not checked: " << u << "\n";
      }
    }
    return response.findings_size() > 0 ? kFindings : 0;
  }
  if (*verify) {
    v1::VerifyChainRequest request;
    request.set_org_id(audit_org.empty() ? org : audit_org);
    v1::VerifyChainResponse response;
    grpc::Status status = audit_stub->VerifyChain(&context, request, &response);
    if (!status.ok()) return Fail(status);
    return PrintVerification(
        request.org_id().empty() ? "(default)" : request.org_id(),
        response.ok(), response.records(), response.checkpoints(),
        response.first_bad_seq(), response.problem(), json);
  }
  if (*query || *export_cmd) {
    query_request.set_org_id(org);
    if (!decision_text.empty()) {
      v1::Decision d = v1::DECISION_UNSPECIFIED;
      v1::Decision_Parse("DECISION_" + decision_text, &d);
      query_request.set_decision(d);
    }
    if (!ParseTimeFlag("--from", from_text, query_request.mutable_from()) ||
        !ParseTimeFlag("--to", to_text, query_request.mutable_to())) {
      return kUsage;
    }
    std::ofstream file;
    std::ostream* out = &std::cout;
    if (*export_cmd) {
      file.open(out_path);
      if (!file) {
        std::cerr << "wardenctl: --out: cannot write " << out_path << "\n";
        return kUsage;
      }
      out = &file;
      if (format == "csv") *out << kCsvHeader << "\n";
    }
    int64_t written = 0;
    const grpc::Status status = ForEachEvent(
        *audit_stub, query_request, max_events, [&](const v1::AuditRecord& r) {
          if (*export_cmd && format == "csv") {
            *out << CsvLine(r) << "\n";
          } else {
            *out << RecordJson(r).dump() << "\n";
          }
          ++written;
        });
    if (!status.ok()) return Fail(status);
    if (*export_cmd) {
      std::cerr << "wrote " << written << " events to " << out_path << "\n";
    }
    return 0;
  }
  if (*summary) {
    summary_request.set_org_id(org);
    static const std::map<std::string, v1::SpendSummaryRequest::GroupBy>
        kGroups = {{"department", v1::SpendSummaryRequest::GROUP_BY_DEPARTMENT},
                   {"agent", v1::SpendSummaryRequest::GROUP_BY_AGENT},
                   {"wallet", v1::SpendSummaryRequest::GROUP_BY_WALLET},
                   {"chain", v1::SpendSummaryRequest::GROUP_BY_CHAIN},
                   {"asset", v1::SpendSummaryRequest::GROUP_BY_ASSET}};
    summary_request.set_group_by(kGroups.at(group_text));
    if (!ParseTimeFlag("--from", from_text, summary_request.mutable_from()) ||
        !ParseTimeFlag("--to", to_text, summary_request.mutable_to())) {
      return kUsage;
    }
    v1::SpendSummaryResponse response;
    grpc::Status status =
        audit_stub->SpendSummary(&context, summary_request, &response);
    if (!status.ok()) return Fail(status);
    auto row_json = [](const v1::SpendRow& r) {
      return Json{{"key", r.key()},
                  {"settled_usd", r.settled_usd()},
                  {"held_usd", r.held_usd()},
                  {"total_usd", r.total_usd()},
                  {"count", r.count()}};
    };
    if (json) {
      Json rows = Json::array();
      for (const v1::SpendRow& r : response.rows()) rows.push_back(row_json(r));
      std::cout
          << Json{{"rows", rows}, {"total", row_json(response.total())}}.dump()
          << "\n";
    } else {
      std::cout << group_text << "\tsettled_usd\theld_usd\ttotal_usd\tcount\n";
      for (const v1::SpendRow& r : response.rows()) {
        std::cout << r.key() << "\t" << r.settled_usd() << "\t" << r.held_usd()
                  << "\t" << r.total_usd() << "\t" << r.count() << "\n";
      }
      const v1::SpendRow& t = response.total();
      std::cout << "total\t" << t.settled_usd() << "\t" << t.held_usd() << "\t"
                << t.total_usd() << "\t" << t.count() << "\n";
    }
    return 0;
  }
  if (*apply || *rollback) {
    v1::ApplyBundleResponse response;
    grpc::Status status;
    if (*apply) {
      std::ifstream in(bundle_file);
      std::stringstream text;
      text << in.rdbuf();
      v1::ApplyBundleRequest request;
      request.set_yaml(text.str());
      request.set_dry_run(dry_run);
      status = admin->ApplyBundle(&context, request, &response);
    } else {
      v1::RollbackBundleRequest request;
      request.set_org_id(org);
      request.set_version(rollback_version);
      status = admin->RollbackBundle(&context, request, &response);
    }
    if (!status.ok()) return Fail(status);
    if (json) {
      std::cout << Json{{"org_id", response.org_id()},
                        {"version", response.version()},
                        {"changed", response.changed()},
                        {"dry_run", response.dry_run()},
                        {"diff",
                         std::vector<std::string>(response.diff().begin(),
                                                  response.diff().end())}}
                       .dump()
                << "\n";
    } else {
      std::cout << "org " << response.org_id() << ": "
                << (!response.changed()
                        ? "unchanged"
                        : absl::StrCat(
                              response.dry_run() ? "would apply" : "applied",
                              " version ", response.version()))
                << "\n";
      for (const std::string& line : response.diff()) {
        std::cout << "  " << line << "\n";
      }
    }
    return 0;
  }
  if (*get_bundle) {
    v1::GetBundleRequest request;
    request.set_org_id(org);
    request.set_version(bundle_version);
    v1::GetBundleResponse response;
    grpc::Status status = admin->GetBundle(&context, request, &response);
    if (!status.ok()) return Fail(status);
    if (json) {
      std::cout << Json{{"org_id", response.org_id()},
                        {"version", response.version()},
                        {"applied_at", TimeText(response.applied_at())},
                        {"applied_by", response.applied_by()},
                        {"yaml", response.yaml()}}
                       .dump()
                << "\n";
    } else {
      std::cout << "# org " << response.org_id() << " version "
                << response.version() << ", applied "
                << TimeText(response.applied_at()) << " by "
                << response.applied_by() << "\n"
                << response.yaml();
    }
    return 0;
  }
  if (*authorize) {
    authorize_request.set_org_id(org);
    v1::AuthorizeResponse response;
    grpc::Status status =
        authz->Authorize(&context, authorize_request, &response);
    if (!status.ok()) return Fail(status);
    if (json) {
      std::cout << Json{{"decision", DecisionText(response.decision())},
                        {"authorization_id", response.authorization_id()},
                        {"amount_usd", response.amount_usd()},
                        {"reason", response.reason()},
                        {"violations", ViolationsJson(response.violations())},
                        {"hold_expires_at",
                         TimeText(response.hold_expires_at())},
                        {"policy_version", response.policy_version()},
                        {"replayed", response.replayed()}}
                       .dump()
                << "\n";
    } else {
      std::cout << DecisionText(response.decision()) << " "
                << response.authorization_id() << " $" << response.amount_usd()
                << (response.replayed() ? " (replayed)" : "") << "\n  "
                << response.reason() << "\n";
    }
    return 0;
  }

  if (*submit) {
    submit_request.set_org_id(org);
    v1::SubmitTransactionResponse response;
    grpc::Status status =
        authz->SubmitTransaction(&context, submit_request, &response);
    if (!status.ok()) return Fail(status);
    if (submit_wait && response.has_operation()) {
      const auto until = std::chrono::steady_clock::now() +
                         std::chrono::seconds(submit_wait_seconds);
      v1::GetOperationRequest poll_request;
      poll_request.set_org_id(org);
      poll_request.set_operation_id(response.operation().operation_id());
      while (!OperationFinal(response.operation().state()) &&
             std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
        grpc::ClientContext poll;
        PrepareContext(&poll);
        status = authz->GetOperation(&poll, poll_request,
                                     response.mutable_operation());
        if (!status.ok()) return Fail(status);
      }
    }
    PrintSubmission(response, json);
    // A script waiting for the transfer learns from the exit code whether
    // it happened.
    if (submit_wait && response.has_operation() &&
        response.operation().state() != v1::OPERATION_STATE_CONFIRMED) {
      return kNotConfirmed;
    }
    return 0;
  }
  if (*operation) {
    operation_request.set_org_id(org);
    v1::Operation response;
    grpc::Status status =
        authz->GetOperation(&context, operation_request, &response);
    if (!status.ok()) return Fail(status);
    if (json) {
      std::cout << OperationJson(response).dump() << "\n";
    } else {
      std::cout << OperationLine(response) << "\n";
    }
    return 0;
  }

  v1::Authorization result;
  grpc::Status status;
  if (*settle) {
    settle_request.set_org_id(org);
    status = authz->Settle(&context, settle_request, &result);
  } else if (*void_cmd) {
    void_request.set_org_id(org);
    status = authz->Void(&context, void_request, &result);
  } else {
    get_request.set_org_id(org);
    status = authz->GetAuthorization(&context, get_request, &result);
  }
  if (!status.ok()) return Fail(status);
  PrintAuthorization(result, json);
  return 0;
}
