#include "governance/memory/memory_config_store.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace warden {

absl::StatusOr<std::shared_ptr<const Policy>> MemoryConfigStore::Active(
    const std::string& org_id) {
  absl::MutexLock lock(&mu_);
  auto it = versions_.find(org_id);
  if (it == versions_.end()) {
    return absl::NotFoundError(absl::StrCat("unknown org \"", org_id, "\""));
  }
  return it->second.back();
}

absl::StatusOr<std::shared_ptr<const Policy>> MemoryConfigStore::Version(
    const std::string& org_id, int64_t version) {
  absl::MutexLock lock(&mu_);
  auto it = versions_.find(org_id);
  if (it == versions_.end() || version < 1 ||
      version > static_cast<int64_t>(it->second.size())) {
    return absl::NotFoundError(
        absl::StrCat("org ", org_id, " has no version ", version));
  }
  return it->second[version - 1];
}

absl::StatusOr<std::vector<std::string>> MemoryConfigStore::Orgs() {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> orgs;
  for (const auto& [org, unused] : versions_) orgs.push_back(org);
  return orgs;
}

absl::Status MemoryConfigStore::Apply(std::shared_ptr<const Policy> policy) {
  absl::MutexLock lock(&mu_);
  auto& versions = versions_[policy->org.id];
  if (policy->version != static_cast<int64_t>(versions.size()) + 1) {
    const size_t active = versions.size();
    if (versions.empty()) versions_.erase(policy->org.id);
    return absl::AbortedError(
        absl::StrCat("org ", policy->org.id, " is at version ", active,
                     "; cannot apply version ", policy->version));
  }
  versions.push_back(std::move(policy));
  return absl::OkStatus();
}

}  // namespace warden
