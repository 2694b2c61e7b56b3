#ifndef WARDEN_GOVERNANCE_CONFIG_STORE_H_
#define WARDEN_GOVERNANCE_CONFIG_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "governance/policy.h"

namespace warden {

// Applied policy bundles, versioned per org. Policies are immutable once
// stored and shared by pointer. Thread-safe.
class ConfigStore {
 public:
  ConfigStore() = default;
  ConfigStore(const ConfigStore&) = delete;
  ConfigStore& operator=(const ConfigStore&) = delete;
  virtual ~ConfigStore() = default;

  // The org's active policy, or NOT_FOUND.
  virtual absl::StatusOr<std::shared_ptr<const Policy>> Active(
      const std::string& org_id) = 0;

  // A given version (>= 1) of the org's policy, or NOT_FOUND.
  virtual absl::StatusOr<std::shared_ptr<const Policy>> Version(
      const std::string& org_id, int64_t version) = 0;

  // Ids of every org with an applied policy.
  virtual absl::StatusOr<std::vector<std::string>> Orgs() = 0;

  // Stores `policy` (its version, yaml, applied_at and applied_by already
  // set) as the org's active version if the active version is still
  // policy.version - 1 (0 for a new org); else ABORTED.
  virtual absl::Status Apply(std::shared_ptr<const Policy> policy) = 0;
};

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_CONFIG_STORE_H_
