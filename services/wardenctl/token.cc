// wardenctl token create | list | revoke.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "governance/postgres/postgres_credential_store.h"
#include "services/wardenctl/cli.h"
#include "warden/v1/admin.grpc.pb.h"

namespace warden::wardenctl {
namespace {

void PrintToken(const v1::ApiToken& t, bool json) {
  std::vector<std::string> roles(t.roles().begin(), t.roles().end());
  if (json) {
    std::cout << Json{{"token_id", t.token_id()},
                      {"principal", t.principal()},
                      {"roles", roles},
                      {"created_at", TimeText(t.created_at())},
                      {"created_by", t.created_by()},
                      {"expires_at", TimeText(t.expires_at())},
                      {"revoked_at",
                       t.has_revoked_at() ? TimeText(t.revoked_at()) : ""},
                      {"last_used_at",
                       t.has_last_used_at() ? TimeText(t.last_used_at()) : ""}}
                     .dump()
              << "\n";
  } else {
    std::cout << t.token_id() << " " << t.principal() << " ["
              << absl::StrJoin(roles, ",") << "] expires "
              << TimeText(t.expires_at())
              << (t.has_last_used_at()
                      ? " last used " + TimeText(t.last_used_at())
                      : " never used")
              << (t.has_revoked_at() ? " REVOKED" : "") << "\n";
  }
}

struct CreateFlags {
  v1::CreateTokenRequest request;
  std::vector<std::string> roles;
  int64_t ttl_days = 90;
  std::string postgres;
};

// Straight into the database: how the first admin token is made.
int CreateInPostgres(const Globals& g, const CreateFlags& f) {
  if (g.org.empty())
    return Problem("--org is required with --postgres", kUsage);
  // One call: no token cache (nor its listening connection).
  PostgresCredentialStore store(f.postgres, TokenCacheOptions{.cache = false});
  absl::StatusOr<MintedToken> minted =
      IssueToken(store, g.org, f.request.principal(), f.roles,
                 absl::Hours(24 * f.ttl_days),
                 "wardenctl token create --postgres", absl::Now());
  if (!minted.ok()) {
    return Problem(std::string(minted.status().message()), kCallFailed);
  }
  std::cout << minted->token << "\n";
  std::cerr << "created " << minted->record.token_id << " for "
            << minted->record.principal << "; the token above is shown once\n";
  return 0;
}

int Create(const Globals& g, CreateFlags f) {
  if (!f.postgres.empty()) return CreateInPostgres(g, f);
  f.request.set_org_id(g.org);
  for (const std::string& r : f.roles) f.request.add_roles(r);
  f.request.set_ttl_seconds(f.ttl_days * 86400);
  return Unary(g, &v1::AdminService::Stub::CreateToken, f.request,
               [](const v1::CreateTokenResponse& response) {
                 std::cout << response.bearer_token() << "\n";
                 std::cerr << "created " << response.token().token_id()
                           << " for " << response.token().principal()
                           << "; the token above is shown once\n";
                 return 0;
               });
}

int List(const Globals& g) {
  v1::ListTokensRequest request;
  request.set_org_id(g.org);
  return Unary(g, &v1::AdminService::Stub::ListTokens, request,
               [&g](const v1::ListTokensResponse& response) {
                 for (const v1::ApiToken& t : response.tokens()) {
                   PrintToken(t, g.json);
                 }
                 return 0;
               });
}

int Revoke(const Globals& g, v1::RevokeTokenRequest request) {
  request.set_org_id(g.org);
  return Unary(g, &v1::AdminService::Stub::RevokeToken, request,
               [&g](const v1::ApiToken& token) {
                 PrintToken(token, g.json);
                 return 0;
               });
}

}  // namespace

void AddTokenCommands(CLI::App& app, const Globals& g, Commands& commands) {
  CLI::App* token = app.add_subcommand("token", "API tokens");
  token->require_subcommand(1);

  auto create = std::make_shared<CreateFlags>();
  CLI::App* create_cmd = token->add_subcommand(
      "create",
      "Create a token; prints it once (with --postgres, directly "
      "in the database: the bootstrap)");
  create_cmd
      ->add_option("--principal", *create->request.mutable_principal(),
                   "agent/<id> or user/<id>")
      ->required();
  create_cmd
      ->add_option("--role", create->roles,
                   "agent, approver, auditor, admin or operator; repeatable")
      ->required();
  create_cmd->add_option("--ttl-days", create->ttl_days)
      ->capture_default_str()
      ->check(CLI::Range(1, 366));
  create_cmd->add_option(
      "--postgres", create->postgres,
      "Write the token straight into this database (needs --org) instead of "
      "asking the server: how the first admin token is made");
  commands.Add(create_cmd,
               "wardenctl token create --principal agent/procurement_bot "
               "--role agent --ttl-days 30",
               [&g, create] { return Create(g, *create); });

  CLI::App* list = token->add_subcommand("list", "List tokens");
  commands.Add(list, "wardenctl token list --json", [&g] { return List(g); });

  auto revoke = std::make_shared<v1::RevokeTokenRequest>();
  CLI::App* revoke_cmd =
      token->add_subcommand("revoke", "Revoke a token at once");
  revoke_cmd->add_option("token_id", *revoke->mutable_token_id())->required();
  commands.Add(revoke_cmd, "wardenctl token revoke tok_0123abcd",
               [&g, revoke] { return Revoke(g, *revoke); });
}

}  // namespace warden::wardenctl
