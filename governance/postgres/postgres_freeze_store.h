#ifndef WARDEN_GOVERNANCE_POSTGRES_POSTGRES_FREEZE_STORE_H_
#define WARDEN_GOVERNANCE_POSTGRES_POSTGRES_FREEZE_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "governance/freeze_store.h"
#include "pqxx/pqxx"

namespace warden {

// Frozen scopes in the frozen_scopes table. One connection, reconnected
// after a failure; every call is one transaction.
class PostgresFreezeStore final : public FreezeStore {
 public:
  explicit PostgresFreezeStore(std::string url) : url_(std::move(url)) {}

  absl::Status Freeze(const std::string& org_id,
                      const FrozenScope& frozen) override;
  absl::Status Unfreeze(const std::string& org_id,
                        const std::string& scope) override;
  absl::StatusOr<std::vector<FrozenScope>> List(
      const std::string& org_id) override;

 private:
  absl::Status Run(absl::string_view op,
                   const std::function<void(pqxx::work&)>& fn);

  const std::string url_;
  absl::Mutex mu_;
  std::unique_ptr<pqxx::connection> conn_ ABSL_GUARDED_BY(mu_);
};

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_POSTGRES_POSTGRES_FREEZE_STORE_H_
