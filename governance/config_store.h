#ifndef WARDEN_GOVERNANCE_CONFIG_STORE_H_
#define WARDEN_GOVERNANCE_CONFIG_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "governance/policy.h"
#include "governance/policy_change.h"

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

  // Four-eyes policy changes. Stores `change` if it is new and its revision
  // is 1, or in place of the stored one whose revision is one less; else
  // ABORTED (another replica updated it first).
  virtual absl::Status SaveChange(const PolicyChange& change) = 0;
  // The change, or NOT_FOUND.
  virtual absl::StatusOr<PolicyChange> Change(const std::string& org_id,
                                              const std::string& id) = 0;
  // The org's changes, newest first: at most `max`, only pending ones when
  // `pending_only`.
  virtual absl::StatusOr<std::vector<PolicyChange>> Changes(
      const std::string& org_id, bool pending_only, size_t max) = 0;
};

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_CONFIG_STORE_H_
