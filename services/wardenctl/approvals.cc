// wardenctl approvals list | approve | reject.
#include <iostream>
#include <memory>
#include <string>

#include "services/wardenctl/cli.h"
#include "warden/v1/admin.grpc.pb.h"

namespace warden::wardenctl {
namespace {

int List(const Globals& g) {
  v1::ListPendingApprovalsRequest request;
  request.set_org_id(g.org);
  return Unary(g, &v1::AdminService::Stub::ListPendingApprovals, request,
               [&g](const v1::ListPendingApprovalsResponse& response) {
                 for (const v1::Authorization& a : response.approvals()) {
                   PrintAuthorization(a, g.json);
                 }
                 if (!g.json && response.approvals().empty()) {
                   std::cout << "nothing awaits approval\n";
                 }
                 return 0;
               });
}

int Answer(const Globals& g, v1::ApprovalRequest request, bool approve) {
  request.set_org_id(g.org);
  return Unary(g,
               approve ? &v1::AdminService::Stub::Approve
                       : &v1::AdminService::Stub::Reject,
               request, [&g, &request](const v1::ApprovalResponse& response) {
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
               });
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
