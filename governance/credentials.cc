#include "governance/credentials.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "governance/audit_chain.h"

namespace warden {
namespace {

constexpr std::pair<Role, const char*> kRoles[] = {
    {Role::kAgent, "agent"},
    {Role::kApprover, "approver"},
    {Role::kAuditor, "auditor"},
    {Role::kAdmin, "admin"},
    {Role::kOperator, "operator"}};

bool IsHex(absl::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isdigit(static_cast<unsigned char>(c)) ||
           (c >= 'a' && c <= 'f');
  });
}

}  // namespace

std::string RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  // RAND_bytes fails only without an entropy source, which no supported
  // system lacks; a token is never made from anything weaker.
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()),
                 static_cast<int>(bytes)) != 1) {
    std::abort();
  }
  return absl::BytesToHexString(raw);
}

const char* RoleName(Role role) {
  for (const auto& [r, name] : kRoles) {
    if (r == role) return name;
  }
  return "unknown";
}

absl::StatusOr<Role> ParseRole(absl::string_view name) {
  for (const auto& [r, n] : kRoles) {
    if (name == n) return r;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "role: \"", name,
      "\" is not one of agent, approver, auditor, admin, operator"));
}

bool RoleFits(absl::string_view principal, Role role) {
  // Agents spend and may approve another agent's spend (second_agent); the
  // other roles are for people and services.
  return absl::StartsWith(principal, "agent/")
             ? (role == Role::kAgent || role == Role::kApprover)
             : role != Role::kAgent;
}

bool Principal::Has(Role role) const {
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

std::string Principal::Kind() const { return name.substr(0, name.find('/')); }

std::string Principal::Id() const {
  const size_t slash = name.find('/');
  return slash == std::string::npos ? "" : name.substr(slash + 1);
}

absl::Status ValidatePrincipalName(absl::string_view field,
                                   absl::string_view name) {
  const size_t slash = name.find('/');
  const absl::string_view kind = name.substr(0, slash);
  const absl::string_view id =
      slash == absl::string_view::npos ? "" : name.substr(slash + 1);
  bool ok =
      (kind == "agent" || kind == "user") && !id.empty() && id.size() <= 64;
  for (char c : id) {
    ok = ok && (absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
                c == '_' || c == '-' || c == '.');
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      field, ": \"", absl::CHexEscape(name.substr(0, 80)),
      "\" is not a principal (agent/<id> or user/<id>, ids of 1-64 "
      "characters of A-Z, a-z, 0-9, _, - and .)"));
}

MintedToken MintToken(const std::string& org_id, const std::string& principal,
                      std::vector<Role> roles, absl::Duration ttl,
                      const std::string& created_by, absl::Time now) {
  MintedToken out;
  ApiToken& t = out.record;
  t.token_id = absl::StrCat("tok_", RandomHex(8));
  t.org_id = org_id;
  t.principal = principal;
  t.roles = std::move(roles);
  t.created_at = now;
  t.created_by = created_by;
  t.expires_at = now + ttl;
  out.token = absl::StrCat("wdn_", t.token_id, "_", RandomHex(32));
  t.secret_sha256 = Sha256Hex(out.token);
  return out;
}

std::optional<std::string> TokenIdOf(absl::string_view token) {
  // wdn_tok_<16 hex>_<64 hex>
  constexpr size_t kLength = 4 + 4 + 16 + 1 + 64;
  if (token.size() != kLength || !absl::StartsWith(token, "wdn_tok_") ||
      token[24] != '_' || !IsHex(token.substr(8, 16)) ||
      !IsHex(token.substr(25))) {
    return std::nullopt;
  }
  return std::string(token.substr(4, 20));
}

bool TokenMatches(const ApiToken& record, absl::string_view token) {
  const std::string hash = Sha256Hex(token);
  return hash.size() == record.secret_sha256.size() &&
         CRYPTO_memcmp(hash.data(), record.secret_sha256.data(), hash.size()) ==
             0;
}

absl::StatusOr<MintedToken> IssueToken(
    CredentialStore& store, const std::string& org_id,
    const std::string& principal, const std::vector<std::string>& roles,
    absl::Duration ttl, const std::string& created_by, absl::Time now) {
  if (org_id.empty()) return absl::InvalidArgumentError("org_id: is required");
  if (absl::Status st = ValidatePrincipalName("principal", principal);
      !st.ok()) {
    return st;
  }
  if (roles.empty()) {
    return absl::InvalidArgumentError(
        "roles: at least one of agent, approver, auditor, admin, operator");
  }
  std::vector<Role> parsed;
  for (const std::string& name : roles) {
    absl::StatusOr<Role> role = ParseRole(name);
    if (!role.ok()) return role.status();
    if (std::find(parsed.begin(), parsed.end(), *role) == parsed.end()) {
      parsed.push_back(*role);
    }
  }
  for (Role r : parsed) {
    if (!RoleFits(principal, r)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "roles: ", RoleName(r), " does not fit ", principal,
          " (agent/<id> principals may hold agent and approver; user/<id> "
          "principals any role but agent)"));
    }
  }
  if (ttl == absl::ZeroDuration()) ttl = kDefaultTokenTtl;
  if (ttl < absl::ZeroDuration() || ttl > kMaxTokenTtl) {
    return absl::InvalidArgumentError(
        absl::StrCat("ttl: must be above 0 and at most ",
                     absl::FormatDuration(kMaxTokenTtl)));
  }
  MintedToken minted =
      MintToken(org_id, principal, std::move(parsed), ttl, created_by, now);
  if (absl::Status st = store.CreateToken(minted.record); !st.ok()) return st;
  return minted;
}

}  // namespace warden
