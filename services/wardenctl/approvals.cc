// wardenctl approvals list | approve | reject.
#include <iostream>
#include <memory>
#include <string>

#include "services/wardenctl/cli.h"
#include "warden/v1/admin.grpc.pb.h"

namespace warden::wardenctl {
namespace {

int List(const Globals& g) {
  auto channel = Connect(g);
  if (channel == nullptr) return kUsage;
  grpc::ClientContext context;
  PrepareContext(g, &context);
  v1::ListPendingApprovalsRequest request;
  request.set_org_id(g.org);
  v1::ListPendingApprovalsResponse response;
  grpc::Status status =
      v1::AdminService::NewStub(channel)->ListPendingApprovals(
          &context, request, &response);
  if (!status.ok()) return Fail(status);
  for (const v1::Authorization& a : response.approvals()) {
    PrintAuthorization(a, g.json);
  }
  if (!g.json && response.approvals().empty()) {
    std::cout << "nothing awaits approval\n";
  }
  return 0;
}

int Answer(const Globals& g, v1::ApprovalRequest request, bool approve) {
  auto channel = Connect(g);
  if (channel == nullptr) return kUsage;
  grpc::ClientContext context;
  PrepareContext(g, &context);
  request.set_org_id(g.org);
  auto admin = v1::AdminService::NewStub(channel);
  v1::ApprovalResponse response;
  grpc::Status status = approve ? admin->Approve(&context, request, &response)
                                : admin->Reject(&context, request, &response);
  if (!status.ok()) return Fail(status);
  if (g.json) {
    Json j = AuthorizationJson(response.authorization());
    j["counted"] = response.counted();
    std::cout << j.dump() << "\n";
  } else {
    if (!response.counted()) {
      std::cout << request.approver()
                << " had already answered; not counted again\n";
    }
    PrintAuthorization(response.authorization(), false);
  }
  return 0;
}

}  // namespace

void AddApprovalCommands(CLI::App& app, const Globals& g, Commands& commands) {
  CLI::App* approvals =
      app.add_subcommand("approvals", "List, approve or reject pending spends");
  approvals->require_subcommand(1);
  CLI::App* list = approvals->add_subcommand(
      "list", "Requests awaiting approval or a delay");
  commands.Add(list, "wardenctl approvals list --json",
               [&g] { return List(g); });

  for (const bool approve : {true, false}) {
    auto request = std::make_shared<v1::ApprovalRequest>();
    CLI::App* cmd =
        approve ? approvals->add_subcommand(
                      "approve",
                      "Approve a pending request (counts once per approver)")
                : approvals->add_subcommand(
                      "reject",
                      "Reject a pending request, or cancel a delayed one");
    cmd->add_option("authorization_id", *request->mutable_authorization_id())
        ->required();
    cmd->add_option("--approver", *request->mutable_approver(),
                    "Who answers (default: the token's principal)");
    cmd->add_option("--comment", *request->mutable_comment());
    commands.Add(
        cmd,
        approve ? "wardenctl approvals approve az_0123 --comment "
                  "\"invoice 4711 checked\""
                : "wardenctl approvals reject az_0123 --comment "
                  "\"not budgeted\"",
        [&g, request, approve] { return Answer(g, *request, approve); });
  }
}

}  // namespace warden::wardenctl
