#ifndef WARDEN_GOVERNANCE_MEMORY_MEMORY_CREDENTIAL_STORE_H_
#define WARDEN_GOVERNANCE_MEMORY_MEMORY_CREDENTIAL_STORE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "governance/credentials.h"

namespace warden {

// Tokens in process memory: for tests, and for the modes without Postgres,
// where wardend prints a bootstrap admin token at each start.
class MemoryCredentialStore final : public CredentialStore {
 public:
  absl::Status CreateToken(const ApiToken& token) override {
    absl::MutexLock lock(&mu_);
    if (!tokens_.emplace(token.token_id, token).second) {
      return absl::AlreadyExistsError(
          absl::StrCat("token ", token.token_id, " exists"));
    }
    return absl::OkStatus();
  }
  absl::StatusOr<ApiToken> FindToken(const std::string& token_id) override {
    absl::MutexLock lock(&mu_);
    auto it = tokens_.find(token_id);
    if (it == tokens_.end()) {
      return absl::NotFoundError(absl::StrCat("no token ", token_id));
    }
    return it->second;
  }
  absl::StatusOr<std::vector<ApiToken>> ListTokens(
      const std::string& org_id) override {
    absl::MutexLock lock(&mu_);
    std::vector<ApiToken> out;
    for (const auto& [id, t] : tokens_) {
      if (t.org_id == org_id) out.push_back(t);
    }
    return out;
  }
  absl::Status RecordUses(
      const std::map<std::string, absl::Time>& last_use) override {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, at] : last_use) {
      auto it = tokens_.find(id);
      if (it != tokens_.end() &&
          (!it->second.last_used_at || *it->second.last_used_at < at)) {
        it->second.last_used_at = at;
      }
    }
    return absl::OkStatus();
  }
  absl::Status RevokeToken(const std::string& org_id,
                           const std::string& token_id,
                           absl::Time now) override {
    absl::MutexLock lock(&mu_);
    auto it = tokens_.find(token_id);
    if (it == tokens_.end() || it->second.org_id != org_id) {
      return absl::NotFoundError(
          absl::StrCat("token_id: no token ", token_id, " in org ", org_id));
    }
    if (!it->second.revoked_at) it->second.revoked_at = now;
    return absl::OkStatus();
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, ApiToken> tokens_ ABSL_GUARDED_BY(mu_);
};

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_MEMORY_MEMORY_CREDENTIAL_STORE_H_
