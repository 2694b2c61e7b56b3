// wardenctl authorize | submit | operation | settle | void | get: a spend
// and its record.
#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "services/wardenctl/cli.h"
#include "warden/v1/authorization.grpc.pb.h"

namespace warden::wardenctl {
namespace {

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

int Authorize(const Globals& g, v1::AuthorizeRequest request) {
  request.set_org_id(g.org);
  return Unary(
      g, &v1::AuthorizationService::Stub::Authorize, request,
      [&g](const v1::AuthorizeResponse& response) {
        if (g.json) {
          std::cout
              << Json{{"decision", DecisionText(response.decision())},
                      {"authorization_id", response.authorization_id()},
                      {"amount_usd", response.amount_usd()},
                      {"reason", response.reason()},
                      {"violations", ViolationsJson(response.violations())},
                      {"hold_expires_at", TimeText(response.hold_expires_at())},
                      {"policy_version", response.policy_version()},
                      {"replayed", response.replayed()}}
                     .dump()
              << "\n";
        } else {
          std::cout << DecisionText(response.decision()) << " "
                    << response.authorization_id() << " $"
                    << response.amount_usd()
                    << (response.replayed() ? " (replayed)" : "") << "\n  "
                    << response.reason() << "\n";
        }
        return 0;
      });
}

struct SubmitFlags {
  v1::SubmitTransactionRequest request;
  bool wait = false;
  int64_t wait_seconds = 120;
};

int Submit(const Globals& g, SubmitFlags f) {
  auto channel = Connect(g);
  if (channel == nullptr) return kUsage;
  auto authz = v1::AuthorizationService::NewStub(channel);
  grpc::ClientContext context;
  PrepareContext(g, &context);
  f.request.set_org_id(g.org);
  v1::SubmitTransactionResponse response;
  grpc::Status status =
      authz->SubmitTransaction(&context, f.request, &response);
  if (!status.ok()) return Fail(status);
  if (f.wait && response.has_operation()) {
    const auto until =
        std::chrono::steady_clock::now() + std::chrono::seconds(f.wait_seconds);
    v1::GetOperationRequest poll_request;
    poll_request.set_org_id(g.org);
    poll_request.set_operation_id(response.operation().operation_id());
    while (!OperationFinal(response.operation().state()) &&
           std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      grpc::ClientContext poll;
      PrepareContext(g, &poll);
      status = authz->GetOperation(&poll, poll_request,
                                   response.mutable_operation());
      if (!status.ok()) return Fail(status);
    }
  }
  PrintSubmission(response, g.json);
  // A script waiting for the transfer learns from the exit code whether
  // it happened.
  if (f.wait && response.has_operation() &&
      response.operation().state() != v1::OPERATION_STATE_CONFIRMED) {
    return kNotConfirmed;
  }
  return 0;
}

int GetOperation(const Globals& g, v1::GetOperationRequest request) {
  request.set_org_id(g.org);
  return Unary(g, &v1::AuthorizationService::Stub::GetOperation, request,
               [&g](const v1::Operation& operation) {
                 if (g.json) {
                   std::cout << OperationJson(operation).dump() << "\n";
                 } else {
                   std::cout << OperationLine(operation) << "\n";
                 }
                 return 0;
               });
}

// Settle, Void or GetAuthorization: each answers the record.
template <typename Request>
int Record(const Globals& g, Request request,
           grpc::Status (v1::AuthorizationService::Stub::*rpc)(
               grpc::ClientContext*, const Request&, v1::Authorization*)) {
  request.set_org_id(g.org);
  return Unary(g, rpc, request, [&g](const v1::Authorization& a) {
    PrintAuthorization(a, g.json);
    return 0;
  });
}

}  // namespace

void AddSpendCommands(CLI::App& app, const Globals& g, Commands& commands) {
  auto authorize_request = std::make_shared<v1::AuthorizeRequest>();
  CLI::App* authorize =
      app.add_subcommand("authorize", "Ask whether an agent may spend");
  authorize->add_option("--agent", *authorize_request->mutable_agent_id())
      ->required();
  authorize->add_option("--wallet", *authorize_request->mutable_wallet_id())
      ->required();
  authorize->add_option("--asset", *authorize_request->mutable_asset())
      ->required();
  authorize->add_option(
      "--amount", *authorize_request->mutable_amount(),
      "Base units (e.g. 1000000 for 1 USDC); with --calldata, may be left "
      "out (a token transfer's is in the calldata; other calls send 0)");
  authorize->add_option("--to", *authorize_request->mutable_destination(),
                        "Destination address (with --calldata: the contract)");
  authorize->add_option("--calldata", *authorize_request->mutable_calldata(),
                        "A contract call's calldata (0x-hex)");
  authorize->add_option("--idempotency-key",
                        *authorize_request->mutable_idempotency_key());
  authorize->add_option("--memo", *authorize_request->mutable_memo());

  commands.Add(
      authorize,
      "wardenctl authorize --agent procurement_bot --wallet "
      "wallet_1 --asset USDC --amount 5000000 --to 0xAbC... "
      "--idempotency-key inv-4711 --json",
      [&g, authorize_request] { return Authorize(g, *authorize_request); });

  auto submit_flags = std::make_shared<SubmitFlags>();
  CLI::App* submit = app.add_subcommand(
      "submit",
      "Authorize a spend and have Warden send it through the wallet's "
      "adapter");
  submit->add_option("--agent", *submit_flags->request.mutable_agent_id())
      ->required();
  submit->add_option("--wallet", *submit_flags->request.mutable_wallet_id())
      ->required();
  submit->add_option("--asset", *submit_flags->request.mutable_asset())
      ->required();
  submit->add_option(
      "--amount", *submit_flags->request.mutable_amount(),
      "Base units (e.g. 1000000 for 1 USDC); with --data, may be left out");
  submit
      ->add_option("--to", *submit_flags->request.mutable_destination(),
                   "Recipient address (with --data: the contract)")
      ->required();
  submit->add_option("--idempotency-key",
                     *submit_flags->request.mutable_idempotency_key(),
                     "Retrying with the same key never sends twice");
  submit->add_option("--memo", *submit_flags->request.mutable_memo());
  submit->add_option("--data", *submit_flags->request.mutable_data(),
                     "A contract call's calldata (0x-hex), sent to --to");
  submit->add_flag("--wait", submit_flags->wait,
                   "Wait until the operation is CONFIRMED or FAILED");
  submit
      ->add_option("--wait-seconds", submit_flags->wait_seconds,
                   "Give up waiting after this long (the operation goes on)")
      ->capture_default_str()
      ->check(CLI::Range(1, 86'400));

  commands.Add(submit,
               "wardenctl submit --agent procurement_bot --wallet wallet_1 "
               "--asset USDC --amount 5000000 --to 0xAbC... "
               "--idempotency-key inv-4711 --wait",
               [&g, submit_flags] { return Submit(g, *submit_flags); });

  auto operation_request = std::make_shared<v1::GetOperationRequest>();
  CLI::App* operation =
      app.add_subcommand("operation", "Show a submitted operation");
  operation->add_option("id", *operation_request->mutable_operation_id())
      ->required();
  commands.Add(
      operation, "wardenctl operation op_az_0123 --json",
      [&g, operation_request] { return GetOperation(g, *operation_request); });

  auto settle_request = std::make_shared<v1::SettleRequest>();
  CLI::App* settle = app.add_subcommand("settle", "Settle a held spend");
  settle->add_option("id", *settle_request->mutable_authorization_id())
      ->required();
  settle->add_option("--amount", *settle_request->mutable_amount(),
                     "Final base units (default: the held amount)");
  settle->add_option("--tx-hash", *settle_request->mutable_tx_hash());
  commands.Add(settle,
               "wardenctl settle az_0123 --amount 4990000 --tx-hash 0x5e...",
               [&g, settle_request] {
                 return Record(g, *settle_request,
                               &v1::AuthorizationService::Stub::Settle);
               });

  auto void_request = std::make_shared<v1::VoidRequest>();
  CLI::App* void_cmd = app.add_subcommand("void", "Release a held spend");
  void_cmd->add_option("id", *void_request->mutable_authorization_id())
      ->required();
  commands.Add(void_cmd, "wardenctl void az_0123", [&g, void_request] {
    return Record(g, *void_request, &v1::AuthorizationService::Stub::Void);
  });

  auto get_request = std::make_shared<v1::GetAuthorizationRequest>();
  CLI::App* get = app.add_subcommand("get", "Show an authorization");
  get->add_option("id", *get_request->mutable_authorization_id())->required();
  commands.Add(get, "wardenctl get az_0123 --json", [&g, get_request] {
    return Record(g, *get_request,
                  &v1::AuthorizationService::Stub::GetAuthorization);
  });
}

}  // namespace warden::wardenctl
