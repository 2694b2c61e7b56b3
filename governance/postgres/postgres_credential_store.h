#ifndef WARDEN_GOVERNANCE_POSTGRES_POSTGRES_CREDENTIAL_STORE_H_
#define WARDEN_GOVERNANCE_POSTGRES_POSTGRES_CREDENTIAL_STORE_H_

#include <string>
#include <vector>

#include "governance/credentials.h"
#include "governance/postgres/pg.h"

namespace warden {

// API tokens in the api_tokens table; every call is one transaction.
class PostgresCredentialStore final : public CredentialStore {
 public:
  explicit PostgresCredentialStore(std::string url)
      : session_(std::move(url)) {}

  absl::Status CreateToken(const ApiToken& token) override;
  absl::StatusOr<ApiToken> FindToken(const std::string& token_id) override;
  absl::StatusOr<std::vector<ApiToken>> ListTokens(
      const std::string& org_id) override;
  absl::Status RevokeToken(const std::string& org_id,
                           const std::string& token_id,
                           absl::Time now) override;

 private:
  pg::Session session_;
};

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_POSTGRES_POSTGRES_CREDENTIAL_STORE_H_
