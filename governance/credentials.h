#ifndef WARDEN_GOVERNANCE_CREDENTIALS_H_
#define WARDEN_GOVERNANCE_CREDENTIALS_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

// Who may call Warden, and as whom. A principal is "<kind>/<id>" within one
// org: "agent/agent_a" (an agent, acting for itself), "user/alice" (a
// person or a service account). What it may do comes from its roles.
namespace warden {

enum class Role { kAgent, kApprover, kAuditor, kAdmin, kOperator };

const char* RoleName(Role role);  // "agent", "approver", ...
absl::StatusOr<Role> ParseRole(absl::string_view name);

// Whether `role` may be held by `principal`: agent/<id> holds agent and
// approver, user/<id> any role but agent.
bool RoleFits(absl::string_view principal, Role role);

struct Principal {
  std::string org_id;
  std::string name;  // "agent/agent_a", "user/alice".
  std::vector<Role> roles;
  // Where the call came from ("ipv4:10.1.2.3:5555", "http:..."), set by
  // the gatekeeper that admitted it, for refusals made after admission.
  std::string address;

  bool Has(Role role) const;
  // "agent", "user".
  std::string Kind() const;
  std::string Id() const;
};

// `bytes` bytes from OpenSSL's CSPRNG, in hex: for secrets.
std::string RandomHex(size_t bytes);

// INVALID_ARGUMENT unless `name` is "<kind>/<id>" with kind agent or user
// and an id of 1-64 characters of A-Z, a-z, 0-9, _, - and .; `field` names
// the request field in the message.
absl::Status ValidatePrincipalName(absl::string_view field,
                                   absl::string_view name);

// An API token's record. The token itself ("wdn_<token_id>_<secret>", the
// secret 256 random bits in hex) is shown once, at creation; only its
// SHA-256 is kept.
struct ApiToken {
  std::string token_id;  // "tok_" and 64 random bits in hex; public.
  std::string org_id;
  std::string principal;
  std::vector<Role> roles;
  absl::Time created_at;
  std::string created_by;
  absl::Time expires_at;
  std::optional<absl::Time> revoked_at;
  std::string secret_sha256;  // Hex SHA-256 of the whole token.
  // The last authentication with it that was recorded (RecordUses; about a
  // minute behind); ListTokens fills it in.
  std::optional<absl::Time> last_used_at;
};

struct MintedToken {
  ApiToken record;
  std::string token;  // The bearer value; never stored.
};

// A new token for `principal` with `roles`, valid for `ttl` from `now`.
MintedToken MintToken(const std::string& org_id, const std::string& principal,
                      std::vector<Role> roles, absl::Duration ttl,
                      const std::string& created_by, absl::Time now);

// The token id in a bearer value, or nullopt if it is not shaped like one.
std::optional<std::string> TokenIdOf(absl::string_view token);

// Whether `token` hashes to `record.secret_sha256`, compared in constant
// time.
bool TokenMatches(const ApiToken& record, absl::string_view token);

// Where tokens are kept. Thread-safe.
class CredentialStore {
 public:
  CredentialStore() = default;
  CredentialStore(const CredentialStore&) = delete;
  CredentialStore& operator=(const CredentialStore&) = delete;
  virtual ~CredentialStore() = default;

  virtual absl::Status CreateToken(const ApiToken& token) = 0;
  // The token with this id, or NOT_FOUND.
  virtual absl::StatusOr<ApiToken> FindToken(const std::string& token_id) = 0;
  virtual absl::StatusOr<std::vector<ApiToken>> ListTokens(
      const std::string& org_id) = 0;
  // Records that each token authenticated a call at that time (keeping the
  // latest use of each).
  virtual absl::Status RecordUses(
      const std::map<std::string, absl::Time>& last_use) = 0;
  // Marks the token revoked at `now`; NOT_FOUND if the org has no such
  // token. Revoking a revoked token keeps the first time.
  virtual absl::Status RevokeToken(const std::string& org_id,
                                   const std::string& token_id,
                                   absl::Time now) = 0;
};

inline constexpr absl::Duration kDefaultTokenTtl = absl::Hours(24 * 90);
inline constexpr absl::Duration kMaxTokenTtl = absl::Hours(24 * 366);

// Validates the request (principal name, at least one role, roles that
// fit the principal's kind, ttl within (0, kMaxTokenTtl]; zero
// means kDefaultTokenTtl), mints the token and stores its record.
// INVALID_ARGUMENT names the field.
absl::StatusOr<MintedToken> IssueToken(
    CredentialStore& store, const std::string& org_id,
    const std::string& principal, const std::vector<std::string>& roles,
    absl::Duration ttl, const std::string& created_by, absl::Time now);

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_CREDENTIALS_H_
