#ifndef WARDEN_GOVERNANCE_MEMORY_MEMORY_CONFIG_STORE_H_
#define WARDEN_GOVERNANCE_MEMORY_MEMORY_CONFIG_STORE_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "governance/config_store.h"

namespace warden {

// Keeps every applied version of every org's policy in process memory.
class MemoryConfigStore final : public ConfigStore {
 public:
  absl::StatusOr<std::shared_ptr<const Policy>> Active(
      const std::string& org_id) override;
  absl::StatusOr<std::shared_ptr<const Policy>> Version(
      const std::string& org_id, int64_t version) override;
  absl::StatusOr<std::vector<std::string>> Orgs() override;
  absl::Status Apply(std::shared_ptr<const Policy> policy) override;
  absl::Status SaveChange(const PolicyChange& change) override;
  absl::StatusOr<PolicyChange> Change(const std::string& org_id,
                                      const std::string& id) override;
  absl::StatusOr<std::vector<PolicyChange>> Changes(const std::string& org_id,
                                                    bool pending_only,
                                                    size_t max) override;

 private:
  absl::Mutex mu_;
  // org -> versions, index i holding version i + 1.
  std::map<std::string, std::vector<std::shared_ptr<const Policy>>> versions_
      ABSL_GUARDED_BY(mu_);
  // org -> changes in the order they were requested.
  std::map<std::string, std::vector<PolicyChange>> changes_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_MEMORY_MEMORY_CONFIG_STORE_H_
