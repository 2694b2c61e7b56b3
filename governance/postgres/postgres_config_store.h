#ifndef WARDEN_GOVERNANCE_POSTGRES_POSTGRES_CONFIG_STORE_H_
#define WARDEN_GOVERNANCE_POSTGRES_POSTGRES_CONFIG_STORE_H_

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "governance/config_store.h"
#include "governance/postgres/pg.h"

namespace warden {

// Policy bundles in Postgres, the source of truth for configuration. Every
// apply is a new version, written in one transaction (the YAML and its
// normalized rows) under a per-org advisory lock, and announced with
// NOTIFY warden_bundles. Each replica keeps every org's active policy in
// memory, so Authorize never waits on Postgres for it, and refreshes it on
// a notification or at the latest every `refresh_interval`, which bounds
// how long a replica may serve an older version. Thread-safe.
class PostgresConfigStore final : public ConfigStore {
 public:
  // Loads every org's active policy; fails if Postgres is unreachable.
  static absl::StatusOr<std::unique_ptr<PostgresConfigStore>> Open(
      const std::string& url, absl::Duration refresh_interval);
  ~PostgresConfigStore() override;

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

  // Reloads every org's active policy now.
  absl::Status Refresh();

 private:
  PostgresConfigStore(std::string url, absl::Duration refresh_interval)
      : url_(url), refresh_interval_(refresh_interval), session_(url) {}
  void ListenLoop();

  const std::string url_;
  const absl::Duration refresh_interval_;
  pg::Session session_;
  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<const Policy>> active_
      ABSL_GUARDED_BY(mu_);
  absl::Notification stop_;
  std::thread listener_;
};

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_POSTGRES_POSTGRES_CONFIG_STORE_H_
