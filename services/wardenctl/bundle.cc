// wardenctl apply | bundle rollback | pending | show | approve | reject |
// get-bundle.
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/wardenctl/cli.h"
#include "warden/v1/admin.grpc.pb.h"

namespace warden::wardenctl {
namespace {

template <typename Lines>
std::vector<std::string> Strings(const Lines& lines) {
  return std::vector<std::string>(lines.begin(), lines.end());
}

Json ChangeJson(const v1::PolicyChange& c) {
  return Json{{"change_id", c.change_id()},
              {"org_id", c.org_id()},
              {"state", c.state()},
              {"author", c.author()},
              {"base_version", c.base_version()},
              {"diff", Strings(c.diff())},
              {"loosenings", Strings(c.loosenings())},
              {"requested_at", TimeText(c.requested_at())},
              {"expires_at", TimeText(c.expires_at())},
              {"approvals_required", c.approvals_required()},
              {"approvers", Strings(c.approvers())},
              {"approvals", Strings(c.approvals())},
              {"closed_by", c.closed_by()},
              {"close_reason", c.close_reason()},
              {"yaml", c.yaml()}};
}

void PrintChange(const v1::PolicyChange& c) {
  std::cout << c.change_id() << " " << c.state() << ": by " << c.author()
            << " against v" << c.base_version() << ", requested "
            << TimeText(c.requested_at()) << ", expires "
            << TimeText(c.expires_at()) << "\n  approvals "
            << c.approvals_size() << " of " << c.approvals_required()
            << " from [" << absl::StrJoin(c.approvers(), ", ") << "]"
            << (c.approvals().empty()
                    ? ""
                    : absl::StrCat(": ", absl::StrJoin(c.approvals(), ", ")))
            << "\n";
  if (!c.close_reason().empty()) std::cout << "  " << c.close_reason() << "\n";
  std::cout << "  loosens:\n";
  for (const std::string& line : c.loosenings()) {
    std::cout << "    " << line << "\n";
  }
  std::cout << "  diff:\n";
  for (const std::string& line : c.diff()) std::cout << "    " << line << "\n";
}

void PrintApplied(const v1::ApplyBundleResponse& response, bool json) {
  if (json) {
    Json j{{"org_id", response.org_id()},
           {"version", response.version()},
           {"changed", response.changed()},
           {"dry_run", response.dry_run()},
           {"diff", Strings(response.diff())},
           {"loosenings", Strings(response.loosenings())}};
    if (response.has_pending_change()) {
      j["pending_change"] = ChangeJson(response.pending_change());
    }
    std::cout << j.dump() << "\n";
    return;
  }
  if (response.has_pending_change()) {
    std::cout << "org " << response.org_id() << ": pending approval (version "
              << response.version() << " stays in force)\n";
    PrintChange(response.pending_change());
    return;
  }
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
  if (!response.loosenings().empty()) {
    std::cout << (response.dry_run() ? "would wait for approval: it loosens"
                                     : "it loosens")
              << ":\n";
    for (const std::string& line : response.loosenings()) {
      std::cout << "  " << line << "\n";
    }
  }
}

// Every recent change (`all`), the pending ones, or the one `id` names
// with its bundle.
int ListChanges(const Globals& g, bool all, const std::string& id) {
  v1::ListPolicyChangesRequest request;
  request.set_org_id(g.org);
  request.set_pending_only(!all && id.empty());
  request.set_change_id(id);
  return Unary(g, &v1::AdminService::Stub::ListPolicyChanges, request,
               [&g, all](const v1::ListPolicyChangesResponse& response) {
                 for (const v1::PolicyChange& c : response.changes()) {
                   if (g.json) {
                     std::cout << ChangeJson(c).dump() << "\n";
                   } else {
                     PrintChange(c);
                     if (!c.yaml().empty()) {
                       std::cout << "  bundle:\n" << c.yaml();
                     }
                   }
                 }
                 if (!g.json && response.changes().empty()) {
                   std::cout << (all ? "no policy changes\n"
                                     : "no policy change awaits approval\n");
                 }
                 return 0;
               });
}

int AnswerChange(const Globals& g, v1::PolicyChangeVoteRequest request,
                 bool approve) {
  request.set_org_id(g.org);
  return Unary(g,
               approve ? &v1::AdminService::Stub::ApprovePolicyChange
                       : &v1::AdminService::Stub::RejectPolicyChange,
               request, [&g](const v1::PolicyChangeVoteResponse& response) {
                 if (g.json) {
                   Json j = ChangeJson(response.change());
                   j["counted"] = response.counted();
                   std::cout << j.dump() << "\n";
                 } else {
                   if (!response.counted()) {
                     std::cout << "already approved; not counted again\n";
                   }
                   PrintChange(response.change());
                 }
                 return 0;
               });
}

struct ApplyFlags {
  std::string file;
  bool dry_run = false;
};

int Apply(const Globals& g, const ApplyFlags& f) {
  std::ifstream in(f.file);
  std::stringstream text;
  text << in.rdbuf();
  v1::ApplyBundleRequest request;
  request.set_yaml(text.str());
  request.set_dry_run(f.dry_run);
  return Unary(g, &v1::AdminService::Stub::ApplyBundle, request,
               [&g](const v1::ApplyBundleResponse& response) {
                 PrintApplied(response, g.json);
                 return 0;
               });
}

int Rollback(const Globals& g, int64_t version) {
  v1::RollbackBundleRequest request;
  request.set_org_id(g.org);
  request.set_version(version);
  return Unary(g, &v1::AdminService::Stub::RollbackBundle, request,
               [&g](const v1::ApplyBundleResponse& response) {
                 PrintApplied(response, g.json);
                 return 0;
               });
}

int GetBundle(const Globals& g, int64_t version) {
  v1::GetBundleRequest request;
  request.set_org_id(g.org);
  request.set_version(version);
  return Unary(g, &v1::AdminService::Stub::GetBundle, request,
               [&g](const v1::GetBundleResponse& response) {
                 if (g.json) {
                   std::cout
                       << Json{{"org_id", response.org_id()},
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
               });
}

}  // namespace

void AddBundleCommands(CLI::App& app, const Globals& g, Commands& commands) {
  auto apply = std::make_shared<ApplyFlags>();
  CLI::App* apply_cmd = app.add_subcommand("apply", "Apply a policy bundle");
  apply_cmd->add_option("-f,--file", apply->file, "Bundle YAML file")
      ->required()
      ->check(CLI::ExistingFile);
  apply_cmd->add_flag("--dry-run", apply->dry_run,
                      "Validate and show the diff only");
  commands.Add(apply_cmd, "wardenctl apply -f acme.yaml --dry-run",
               [&g, apply] { return Apply(g, *apply); });

  CLI::App* bundle = app.add_subcommand("bundle", "Policy bundle versions")
                         ->require_subcommand(1);
  auto rollback_version = std::make_shared<int64_t>(0);
  CLI::App* rollback = bundle->add_subcommand(
      "rollback",
      "Make an earlier version active again (as a new version, audited)");
  rollback->add_option("version", *rollback_version, "The version to restore")
      ->required()
      ->check(CLI::PositiveNumber);
  commands.Add(rollback, "wardenctl bundle rollback 3", [&g, rollback_version] {
    return Rollback(g, *rollback_version);
  });

  auto all = std::make_shared<bool>(false);
  CLI::App* pending = bundle->add_subcommand(
      "pending", "Policy changes awaiting approval (four eyes)");
  pending->add_flag("--all", *all,
                    "Every recent change, applied, rejected and expired too");
  commands.Add(pending, "wardenctl bundle pending --json",
               [&g, all] { return ListChanges(g, *all, ""); });
  auto show_id = std::make_shared<std::string>();
  CLI::App* show = bundle->add_subcommand(
      "show", "One policy change, with the bundle it puts in force");
  show->add_option("change_id", *show_id)->required();
  commands.Add(show, "wardenctl bundle show pc_0123",
               [&g, show_id] { return ListChanges(g, false, *show_id); });
  for (const bool approve : {true, false}) {
    auto request = std::make_shared<v1::PolicyChangeVoteRequest>();
    CLI::App* cmd =
        approve ? bundle->add_subcommand(
                      "approve",
                      "Approve a pending policy change (not its author's)")
                : bundle->add_subcommand("reject",
                                         "Reject a pending policy change");
    cmd->add_option("change_id", *request->mutable_change_id())->required();
    cmd->add_option("--approver", *request->mutable_approver(),
                    "Who answers (default: the token's principal)");
    cmd->add_option("--comment", *request->mutable_comment());
    commands.Add(
        cmd,
        approve ? "wardenctl bundle approve pc_0123 --comment "
                  "\"limit raise agreed with finance\""
                : "wardenctl bundle reject pc_0123 --comment "
                  "\"not budgeted\"",
        [&g, request, approve] { return AnswerChange(g, *request, approve); });
  }

  auto get_version = std::make_shared<int64_t>(0);
  CLI::App* get_bundle =
      app.add_subcommand("get-bundle", "Print an applied policy bundle");
  get_bundle->add_option("--version", *get_version,
                         "Version (default: the active one)");
  commands.Add(get_bundle, "wardenctl get-bundle --version 2 > v2.yaml",
               [&g, get_version] { return GetBundle(g, *get_version); });
}

}  // namespace warden::wardenctl
