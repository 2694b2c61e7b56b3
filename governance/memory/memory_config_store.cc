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

absl::Status MemoryConfigStore::SaveChange(const PolicyChange& change) {
  absl::MutexLock lock(&mu_);
  std::vector<PolicyChange>& changes = changes_[change.org_id];
  for (PolicyChange& c : changes) {
    if (c.id != change.id) continue;
    if (c.revision != change.revision - 1) {
      return absl::AbortedError(absl::StrCat("policy change ", change.id,
                                             " is at revision ", c.revision));
    }
    c = change;
    return absl::OkStatus();
  }
  if (change.revision != 1) {
    return absl::AbortedError(
        absl::StrCat("policy change ", change.id, " does not exist"));
  }
  changes.push_back(change);
  return absl::OkStatus();
}

absl::StatusOr<PolicyChange> MemoryConfigStore::Change(
    const std::string& org_id, const std::string& id) {
  absl::MutexLock lock(&mu_);
  auto it = changes_.find(org_id);
  if (it != changes_.end()) {
    for (const PolicyChange& c : it->second) {
      if (c.id == id) return c;
    }
  }
  return absl::NotFoundError(
      absl::StrCat("org ", org_id, " has no policy change ", id));
}

absl::StatusOr<std::vector<PolicyChange>> MemoryConfigStore::Changes(
    const std::string& org_id, bool pending_only, size_t max) {
  absl::MutexLock lock(&mu_);
  std::vector<PolicyChange> out;
  auto it = changes_.find(org_id);
  if (it == changes_.end()) return out;
  for (auto c = it->second.rbegin(); c != it->second.rend() && out.size() < max;
       ++c) {
    if (!pending_only || c->state == PolicyChange::State::kPending) {
      out.push_back(*c);
    }
  }
  return out;
}

}  // namespace warden
