// wardenctl apply | bundle rollback | get-bundle.
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "services/wardenctl/cli.h"
#include "warden/v1/admin.grpc.pb.h"

namespace warden::wardenctl {
namespace {

void PrintApplied(const v1::ApplyBundleResponse& response, bool json) {
  if (json) {
    std::cout << Json{{"org_id", response.org_id()},
                      {"version", response.version()},
                      {"changed", response.changed()},
                      {"dry_run", response.dry_run()},
                      {"diff", std::vector<std::string>(response.diff().begin(),
                                                        response.diff().end())}}
                     .dump()
              << "\n";
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

  auto get_version = std::make_shared<int64_t>(0);
  CLI::App* get_bundle =
      app.add_subcommand("get-bundle", "Print an applied policy bundle");
  get_bundle->add_option("--version", *get_version,
                         "Version (default: the active one)");
  commands.Add(get_bundle, "wardenctl get-bundle --version 2 > v2.yaml",
               [&g, get_version] { return GetBundle(g, *get_version); });
}

}  // namespace warden::wardenctl
