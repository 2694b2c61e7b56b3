// What wardenctl's commands share: the global flags, the connection to
// wardend, exit codes and the printing of the API's records.
//
// Each command group (token.cc, bundle.cc, spend.cc, pay.cc, approvals.cc,
// kill_switch.cc, audit.cc, wallet.cc, server.cc, prices.cc, budget.cc)
// declares its commands' flags and runs them in one place: its Add*Commands
// function registers each command with the code that runs it.
#ifndef WARDEN_SERVICES_WARDENCTL_CLI_H_
#define WARDEN_SERVICES_WARDENCTL_CLI_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "google/protobuf/timestamp.pb.h"
#include "grpcpp/grpcpp.h"
#include "nlohmann/json.hpp"
#include "warden/v1/authorization.pb.h"

namespace warden::wardenctl {

using Json = nlohmann::json;
namespace v1 = warden::v1;

// Exit codes: 0 whenever the call succeeded, whatever the decision.
inline constexpr int kCallFailed = 1;
inline constexpr int kUsage = 2;
// `audit verify` found the chain broken, or `report security` found
// something that needs attention.
inline constexpr int kChainBroken = 3;
inline constexpr int kFindings = 4;
inline constexpr int kNotConfirmed = 5;
// `pay` made no payment: denied, still awaiting approval, or refused by
// the server.
inline constexpr int kNotPaid = 6;

// The flags every command takes, before or after its name.
struct Globals {
  std::string server = "127.0.0.1:7400";
  std::string org;
  bool json = false;
  std::string tls_ca, tls_cert, tls_key, tls_server_name;
  std::string token;  // --token or WARDEN_TOKEN.
};

// The commands, each with what runs it once the command line is parsed.
class Commands {
 public:
  // `command` gets an example of its use at the end of its --help.
  void Add(CLI::App* command, std::string example, std::function<int()> run);
  // Runs the command that was parsed; its exit code.
  int RunParsed() const;

 private:
  std::vector<std::pair<CLI::App*, std::function<int()>>> commands_;
};

void AddTokenCommands(CLI::App& app, const Globals& g, Commands& commands);
void AddBundleCommands(CLI::App& app, const Globals& g, Commands& commands);
void AddSpendCommands(CLI::App& app, const Globals& g, Commands& commands);
void AddApprovalCommands(CLI::App& app, const Globals& g, Commands& commands);
void AddKillSwitchCommands(CLI::App& app, const Globals& g, Commands& commands);
void AddAuditCommands(CLI::App& app, const Globals& g, Commands& commands);
void AddWalletCommands(CLI::App& app, const Globals& g, Commands& commands);
void AddServerCommands(CLI::App& app, const Globals& g, Commands& commands);
void AddPriceCommands(CLI::App& app, const Globals& g, Commands& commands);
void AddBudgetCommands(CLI::App& app, const Globals& g, Commands& commands);
void AddPayCommands(CLI::App& app, const Globals& g, Commands& commands);

// The channel to wardend the global flags describe; null, having said why
// on stderr, when a TLS flag is unusable.
std::shared_ptr<grpc::Channel> Connect(const Globals& g);
// Sets a call's deadline (30 s: a hung server cannot hang the CLI) and
// credential.
void PrepareContext(const Globals& g, grpc::ClientContext* context);

// Prints the failed call's status to stderr; kCallFailed.
int Fail(const grpc::Status& status);

// One unary call (`rpc`, a method of a service's Stub) over the channel,
// deadline and credential of the global flags; `answer` shows the response
// and says the exit code. kUsage when a flag is unusable, kCallFailed when
// the call fails.
template <typename Stub, typename Request, typename Response, typename Answer>
int Unary(const Globals& g,
          grpc::Status (Stub::*rpc)(grpc::ClientContext*, const Request&,
                                    Response*),
          const Request& request, Answer&& answer) {
  std::shared_ptr<grpc::Channel> channel = Connect(g);
  if (channel == nullptr) return kUsage;
  grpc::ClientContext context;
  PrepareContext(g, &context);
  Stub stub(channel);
  Response response;
  const grpc::Status status = (stub.*rpc)(&context, request, &response);
  if (!status.ok()) return Fail(status);
  return answer(response);
}
// Prints "wardenctl: <message>" to stderr; `code`.
int Problem(const std::string& message, int code);

std::string DecisionText(v1::Decision d);
// RFC 3339, or "" for an unset timestamp.
std::string TimeText(const google::protobuf::Timestamp& ts);
// An RFC 3339 flag into `out`; false (having said why) when it is not one.
// An empty flag leaves `out` unset.
bool ParseTimeFlag(const char* flag, const std::string& text,
                   google::protobuf::Timestamp* out);

Json ViolationsJson(
    const google::protobuf::RepeatedPtrField<v1::Violation>& violations);
Json AuthorizationJson(const v1::Authorization& a);
void PrintAuthorization(const v1::Authorization& a, bool json);

// A chain check's outcome; 0, or kChainBroken.
int PrintVerification(const std::string& org, bool ok, int64_t records,
                      int64_t checkpoints, int64_t first_bad_seq,
                      const std::string& problem, bool json);

}  // namespace warden::wardenctl

#endif  // WARDEN_SERVICES_WARDENCTL_CLI_H_
