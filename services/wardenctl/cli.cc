#include "services/wardenctl/cli.h"

#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/str_join.h"
#include "google/protobuf/util/time_util.h"

namespace warden::wardenctl {
namespace {

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

std::string StatusText(v1::AuthorizationStatus s) {
  std::string name = v1::AuthorizationStatus_Name(s);
  const std::string prefix = "AUTHORIZATION_STATUS_";
  return name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
}

}  // namespace

void Commands::Add(CLI::App* command, std::string example,
                   std::function<int()> run) {
  command->footer("Example:\n  " + example);
  commands_.emplace_back(command, std::move(run));
}

int Commands::RunParsed() const {
  for (const auto& [command, run] : commands_) {
    if (command->parsed()) return run();
  }
  return kUsage;  // CLI11 requires a command; not reached.
}

std::shared_ptr<grpc::Channel> Connect(const Globals& g) {
  std::shared_ptr<grpc::ChannelCredentials> creds =
      grpc::InsecureChannelCredentials();
  if (!g.tls_ca.empty()) {
    grpc::SslCredentialsOptions ssl;
    for (auto [path, out] : {std::pair{&g.tls_ca, &ssl.pem_root_certs},
                             std::pair{&g.tls_cert, &ssl.pem_cert_chain},
                             std::pair{&g.tls_key, &ssl.pem_private_key}}) {
      if (path->empty()) continue;
      std::ifstream in(*path);
      std::stringstream text;
      text << in.rdbuf();
      if (!in) {
        std::cerr << "wardenctl: cannot read " << *path << "\n";
        return nullptr;
      }
      *out = text.str();
    }
    creds = grpc::SslCredentials(ssl);
  }
  if (!g.tls_server_name.empty() && g.tls_ca.empty()) {
    std::cerr << "wardenctl: --tls-server-name needs --tls-ca\n";
    return nullptr;
  }
  grpc::ChannelArguments channel_args;
  if (!g.tls_server_name.empty()) {
    channel_args.SetSslTargetNameOverride(g.tls_server_name);
  }
  return grpc::CreateCustomChannel(g.server, creds, channel_args);
}

void PrepareContext(const Globals& g, grpc::ClientContext* context) {
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(30));
  if (!g.token.empty()) {
    context->AddMetadata("authorization", "Bearer " + g.token);
  }
}

int Fail(const grpc::Status& status) {
  std::cerr << "wardenctl: " << CodeName(status.error_code()) << ": "
            << status.error_message() << "\n";
  return kCallFailed;
}

int Problem(const std::string& message, int code) {
  std::cerr << "wardenctl: " << message << "\n";
  return code;
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
    if (!v.pending().empty()) j["pending"] = v.pending();
    out.push_back(j);
  }
  return out;
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
            {"price_usd", a.price_usd()},
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
  if (!a.price_source().empty()) {
    j["price_source"] = a.price_source();
    j["price_at"] = TimeText(a.price_at());
  }
  if (a.anomalies_size() > 0) {
    j["anomalies"] =
        std::vector<std::string>(a.anomalies().begin(), a.anomalies().end());
  }
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
  if (!a.price_source().empty()) {
    std::cout << "  priced at $" << a.price_usd() << " by " << a.price_source()
              << " as of " << TimeText(a.price_at()) << "\n";
  }
  if (a.anomalies_size() > 0) {
    std::cout << "  anomalies: "
              << absl::StrJoin(a.anomalies().begin(), a.anomalies().end(), ", ")
              << "\n";
  }
  for (const v1::ApprovalVote& v : a.votes()) {
    std::cout << "  " << (v.approve() ? "approved" : "rejected") << " by "
              << v.approver() << " at " << TimeText(v.at())
              << (v.comment().empty() ? "" : ": ") << v.comment() << "\n";
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

}  // namespace warden::wardenctl
