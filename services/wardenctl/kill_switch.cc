// wardenctl freeze | unfreeze | frozen | decommission | denylist: the kill
// switch, and the org's denylist (frozen destinations).
#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/ascii.h"
#include "services/wardenctl/cli.h"
#include "warden/v1/admin.grpc.pb.h"

namespace warden::wardenctl {
namespace {

void PrintFreeze(const v1::FreezeResponse& response, bool unfreeze, bool json) {
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
    return;
  }
  std::cout << (unfreeze ? "unfroze " : "froze ") << response.scope() << ": "
            << response.wallets_frozen() << " wallets, "
            << response.holds_voided() << " holds voided\n";
  for (const v1::VendorFreeze& v : response.vendor_results()) {
    std::cout << "  wallet/" << v.wallet_id() << " at " << v.vendor() << ": "
              << outcome(v) << (v.reason().empty() ? "" : ": ") << v.reason()
              << "\n";
  }
}

// ScopeRef is a oneof: the options fill these, and the request is built
// after parsing.
struct ScopeFlags {
  std::string agent, department, wallet, destination, reason;
  bool org = false;
};

int FreezeOrUnfreeze(const Globals& g, const ScopeFlags& f, bool freeze) {
  v1::FreezeScopeRequest request;
  request.set_org_id(g.org);
  request.set_reason(f.reason);
  v1::ScopeRef* scope = request.mutable_scope();
  if (f.org) scope->set_org(true);
  if (!f.agent.empty()) scope->set_agent_id(f.agent);
  if (!f.department.empty()) scope->set_department_id(f.department);
  if (!f.wallet.empty()) scope->set_wallet_id(f.wallet);
  if (!f.destination.empty()) scope->set_destination(f.destination);
  return Unary(g,
               freeze ? &v1::AdminService::Stub::FreezeScope
                      : &v1::AdminService::Stub::UnfreezeScope,
               request, [&g, freeze](const v1::FreezeResponse& response) {
                 PrintFreeze(response, !freeze, g.json);
                 return 0;
               });
}

int Decommission(const Globals& g, v1::DecommissionAgentRequest request) {
  request.set_org_id(g.org);
  return Unary(g, &v1::AdminService::Stub::DecommissionAgent, request,
               [&g](const v1::FreezeResponse& response) {
                 PrintFreeze(response, false, g.json);
                 return 0;
               });
}

// The frozen scopes, or only the denylist (the destinations, shown as
// addresses).
int ListFrozen(const Globals& g, bool denylist) {
  v1::ListFrozenScopesRequest request;
  request.set_org_id(g.org);
  return Unary(
      g, &v1::AdminService::Stub::ListFrozenScopes, request,
      [&g, denylist](const v1::ListFrozenScopesResponse& response) {
        constexpr char kPrefix[] = "destination/";
        Json out = Json::array();
        for (const v1::FrozenScope& f : response.scopes()) {
          const bool destination = f.scope().rfind(kPrefix, 0) == 0;
          if (denylist && !destination) continue;
          const std::string what =
              denylist ? f.scope().substr(sizeof(kPrefix) - 1) : f.scope();
          if (g.json) {
            out.push_back({{denylist ? "address" : "scope", what},
                           {"frozen_at", TimeText(f.frozen_at())},
                           {"actor", f.actor()},
                           {"reason", f.reason()},
                           {"decommissioned", f.decommissioned()}});
          } else {
            std::cout << what << "  " << TimeText(f.frozen_at()) << "  "
                      << f.actor() << "  " << f.reason()
                      << (f.decommissioned() ? "  (decommissioned)" : "")
                      << "\n";
          }
        }
        if (g.json) std::cout << out.dump() << "\n";
        return 0;
      });
}

}  // namespace

void AddKillSwitchCommands(CLI::App& app, const Globals& g,
                           Commands& commands) {
  auto decommission = std::make_shared<v1::DecommissionAgentRequest>();
  CLI::App* decommission_cmd = app.add_subcommand(
      "decommission", "Retire an agent for good: it and all its wallets");
  decommission_cmd->add_option("agent", *decommission->mutable_agent_id())
      ->required();
  decommission_cmd->add_option("--reason", *decommission->mutable_reason())
      ->required();
  commands.Add(decommission_cmd,
               "wardenctl decommission procurement_bot --reason \"key "
               "leaked\"",
               [&g, decommission] { return Decommission(g, *decommission); });

  for (const bool freeze : {true, false}) {
    auto flags = std::make_shared<ScopeFlags>();
    CLI::App* cmd = freeze ? app.add_subcommand(
                                 "freeze", "Stop all spend under a scope now")
                           : app.add_subcommand("unfreeze", "Lift a freeze");
    auto* group = cmd->add_option_group("scope");
    group->add_option("--agent", flags->agent);
    group->add_option("--department", flags->department);
    group->add_option("--wallet", flags->wallet);
    group->add_flag("--org", flags->org, "the whole org (emergency stop)");
    group->require_option(1);
    cmd->add_option("--reason", flags->reason)->required();
    commands.Add(
        cmd,
        freeze ? "wardenctl freeze --agent procurement_bot --reason "
                 "\"unusual spend\""
               : "wardenctl unfreeze --agent procurement_bot "
                 "--reason \"reviewed\"",
        [&g, flags, freeze] { return FreezeOrUnfreeze(g, *flags, freeze); });
  }

  CLI::App* frozen = app.add_subcommand(
      "frozen", "List the frozen scopes, the denylist included");
  commands.Add(frozen, "wardenctl frozen --json",
               [&g] { return ListFrozen(g, /*denylist=*/false); });

  // The denylist is the frozen destinations: one mechanism, so an entry
  // binds every replica at once (the reserve step checks it) and is
  // audited like any freeze.
  CLI::App* denylist = app.add_subcommand(
      "denylist", "The org's denylist: addresses no agent may pay");
  denylist->require_subcommand(1);
  for (const bool add : {true, false}) {
    auto flags = std::make_shared<ScopeFlags>();
    CLI::App* cmd =
        add ? denylist->add_subcommand(
                  "add",
                  "Deny an address now, on every replica; its live "
                  "holds are voided")
            : denylist->add_subcommand("remove", "Take an address off");
    cmd->add_option("address", flags->destination)->required();
    cmd->add_option("--reason", flags->reason)->required();
    commands.Add(cmd,
                 add ? "wardenctl denylist add 0x000000000000000000000000000000"
                       "000000dEaD --reason \"phishing report\""
                     : "wardenctl denylist remove 0x0000000000000000000000000"
                       "00000000000dEaD --reason \"cleared\"",
                 [&g, flags, add] { return FreezeOrUnfreeze(g, *flags, add); });
  }
  CLI::App* list = denylist->add_subcommand("list", "The denied addresses");
  commands.Add(list, "wardenctl denylist list --json",
               [&g] { return ListFrozen(g, /*denylist=*/true); });
}

}  // namespace warden::wardenctl
