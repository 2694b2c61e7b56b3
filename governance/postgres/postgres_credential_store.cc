#include "governance/postgres/postgres_credential_store.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "governance/status_macros.h"

namespace warden {
namespace {

constexpr char kColumns[] =
    "token_id, org_id, principal, array_to_string(roles, ','), "
    "secret_sha256, (extract(epoch FROM created_at) * 1000000)::bigint, "
    "created_by, (extract(epoch FROM expires_at) * 1000000)::bigint, "
    "(extract(epoch FROM revoked_at) * 1000000)::bigint";

std::string RolesArray(const std::vector<Role>& roles) {
  std::vector<std::string> names;
  for (Role r : roles) names.push_back(RoleName(r));
  return absl::StrCat("{", absl::StrJoin(names, ","), "}");
}

ApiToken FromRow(const pqxx::row& r) {
  ApiToken t;
  t.token_id = r[0].as<std::string>();
  t.org_id = r[1].as<std::string>();
  t.principal = r[2].as<std::string>();
  for (absl::string_view name :
       absl::StrSplit(r[3].as<std::string>(), ',', absl::SkipEmpty())) {
    // Written by this code from the enum, so every name parses.
    if (absl::StatusOr<Role> role = ParseRole(name); role.ok()) {
      t.roles.push_back(*role);
    }
  }
  t.secret_sha256 = r[4].as<std::string>();
  t.created_at = absl::FromUnixMicros(r[5].as<int64_t>());
  t.created_by = r[6].as<std::string>();
  t.expires_at = absl::FromUnixMicros(r[7].as<int64_t>());
  if (!r[8].is_null()) t.revoked_at = absl::FromUnixMicros(r[8].as<int64_t>());
  return t;
}

}  // namespace

absl::Status PostgresCredentialStore::CreateToken(const ApiToken& t) {
  return session_.Run("create token", [&](pqxx::work& w) {
    w.exec_params(
        "INSERT INTO api_tokens (token_id, org_id, principal, roles, "
        "secret_sha256, created_at, created_by, expires_at) VALUES ($1, $2, "
        "$3, $4::text[], $5, to_timestamp($6::double precision / 1000000), "
        "$7, to_timestamp($8::double precision / 1000000))",
        t.token_id, t.org_id, t.principal, RolesArray(t.roles), t.secret_sha256,
        absl::ToUnixMicros(t.created_at), t.created_by,
        absl::ToUnixMicros(t.expires_at));
  });
}

absl::StatusOr<ApiToken> PostgresCredentialStore::FindToken(
    const std::string& token_id) {
  std::optional<ApiToken> found;
  WARDEN_RETURN_IF_ERROR(session_.Run("find token", [&](pqxx::work& w) {
    pqxx::result r =
        w.exec_params(absl::StrCat("SELECT ", kColumns,
                                   " FROM api_tokens WHERE token_id = $1"),
                      token_id);
    if (!r.empty()) found = FromRow(r[0]);
  }));
  if (!found) return absl::NotFoundError(absl::StrCat("no token ", token_id));
  return *found;
}

absl::StatusOr<std::vector<ApiToken>> PostgresCredentialStore::ListTokens(
    const std::string& org_id) {
  std::vector<ApiToken> out;
  WARDEN_RETURN_IF_ERROR(session_.Run("list tokens", [&](pqxx::work& w) {
    for (const pqxx::row& r : w.exec_params(
             absl::StrCat("SELECT ", kColumns,
                          " FROM api_tokens WHERE org_id = $1 ORDER BY "
                          "created_at, token_id"),
             org_id)) {
      out.push_back(FromRow(r));
    }
  }));
  return out;
}

absl::Status PostgresCredentialStore::RevokeToken(const std::string& org_id,
                                                  const std::string& token_id,
                                                  absl::Time now) {
  bool found = false;
  WARDEN_RETURN_IF_ERROR(session_.Run("revoke token", [&](pqxx::work& w) {
    found = !w.exec_params(
                  "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, "
                  "to_timestamp($3::double precision / 1000000)) WHERE "
                  "org_id = $1 AND token_id = $2 RETURNING token_id",
                  org_id, token_id, absl::ToUnixMicros(now))
                 .empty();
  }));
  if (!found) {
    return absl::NotFoundError(
        absl::StrCat("token_id: no token ", token_id, " in org ", org_id));
  }
  return absl::OkStatus();
}

}  // namespace warden
