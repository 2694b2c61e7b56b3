// wardenctl: command-line client for wardend.
//
// Every command prints a readable line, or one JSON object with --json. The
// exit code is 0 whenever the call succeeded, whatever the decision; 1 when
// the call failed (the gRPC status is printed to stderr); 2 for bad usage;
// 3 when `audit verify` finds the chain broken.

#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/util/time_util.h"
#include "governance/postgres/migrations.h"
#include "governance/postgres/postgres_audit_log.h"
#include "grpcpp/grpcpp.h"
#include "nlohmann/json.hpp"
#include "warden/v1/admin.grpc.pb.h"
#include "warden/v1/authorization.grpc.pb.h"

namespace {

using Json = nlohmann::json;
namespace v1 = warden::v1;

constexpr int kCallFailed = 1;
constexpr int kUsage = 2;
constexpr int kChainBroken = 3;
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

Json AuthorizationJson(const v1::Authorization& a) {
  return {{"authorization_id", a.authorization_id()},
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
}

void PrintAuthorization(const v1::Authorization& a, bool json) {
  if (json) {
    std::cout << AuthorizationJson(a).dump() << "\n";
    return;
  }
  std::cout << a.authorization_id() << " " << StatusText(a.status()) << " "
            << a.agent_id() << " " << a.wallet_id() << " " << a.amount() << " "
            << a.asset() << " ($" << a.amount_usd() << ")";
  if (!a.settled_amount().empty()) {
    std::cout << " settled " << a.settled_amount() << " ($"
              << a.settled_amount_usd() << ")";
  }
  if (!a.tx_hash().empty()) std::cout << " tx " << a.tx_hash();
  std::cout << "\n  " << a.reason() << "\n";
}

int Fail(const grpc::Status& status) {
  std::cerr << "wardenctl: " << CodeName(status.error_code()) << ": "
            << status.error_message() << "\n";
  return kCallFailed;
}

void SetDeadline(grpc::ClientContext* context) {
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(kDeadlineSeconds));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"wardenctl: command-line client for wardend"};
  app.require_subcommand(1);
  std::string server = "127.0.0.1:7400";
  std::string org;
  bool json = false;
  app.add_option("--server", server, "wardend address, host:port")
      ->capture_default_str()
      ->envname("WARDEN_SERVER");
  app.add_option("--org", org,
                 "Org id (optional while the server serves one org)");
  app.add_flag("--json", json, "Print one JSON object");

  std::string bundle_file;
  bool dry_run = false;
  CLI::App* apply = app.add_subcommand("apply", "Apply a policy bundle");
  apply->add_option("-f,--file", bundle_file, "Bundle YAML file")
      ->required()
      ->check(CLI::ExistingFile);
  apply->add_flag("--dry-run", dry_run, "Validate and show the diff only");

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
      "verify", "Walk an org's hash chain and checkpoint signatures");
  verify->add_option("--postgres", postgres_url, "postgresql://...")
      ->required()
      ->envname("WARDEN_POSTGRES_URL");
  verify->add_option("--org", audit_org)->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : kUsage;
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
  if (*verify) {
    absl::StatusOr<warden::ChainVerification> v =
        warden::VerifyAuditChain(postgres_url, audit_org);
    if (!v.ok()) {
      std::cerr << "wardenctl: " << v.status().message() << "\n";
      return kCallFailed;
    }
    if (json) {
      std::cout << Json{{"ok", v->ok},
                        {"records", v->records},
                        {"checkpoints", v->checkpoints},
                        {"first_bad_seq", v->first_bad_seq},
                        {"problem", v->problem}}
                       .dump()
                << "\n";
    } else if (v->ok) {
      std::cout << "OK org " << audit_org << ": " << v->records << " records, "
                << v->checkpoints << " signed checkpoints verified\n";
    } else {
      std::cout << "BROKEN org " << audit_org << " at record "
                << v->first_bad_seq << ": " << v->problem << "\n";
    }
    return v->ok ? 0 : kChainBroken;
  }

  auto channel =
      grpc::CreateChannel(server, grpc::InsecureChannelCredentials());
  auto authz = v1::AuthorizationService::NewStub(channel);
  auto admin = v1::AdminService::NewStub(channel);
  grpc::ClientContext context;
  SetDeadline(&context);

  if (*apply) {
    std::ifstream in(bundle_file);
    std::stringstream text;
    text << in.rdbuf();
    v1::ApplyBundleRequest request;
    request.set_yaml(text.str());
    request.set_dry_run(dry_run);
    v1::ApplyBundleResponse response;
    grpc::Status status = admin->ApplyBundle(&context, request, &response);
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
