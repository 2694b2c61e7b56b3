#ifndef WARDEN_GOVERNANCE_POSTGRES_POSTGRES_FREEZE_STORE_H_
#define WARDEN_GOVERNANCE_POSTGRES_POSTGRES_FREEZE_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "governance/freeze_store.h"
#include "governance/postgres/pg.h"

namespace warden {

// Frozen scopes in the frozen_scopes table; every call is one transaction.
class PostgresFreezeStore final : public FreezeStore {
 public:
  explicit PostgresFreezeStore(std::string url) : session_(std::move(url)) {}

  absl::Status Freeze(const std::string& org_id,
                      const FrozenScope& frozen) override;
  absl::Status Unfreeze(const std::string& org_id,
                        const std::string& scope) override;
  absl::StatusOr<std::vector<FrozenScope>> List(
      const std::string& org_id) override;
  absl::Status SetVendorFrozen(const std::string& org_id,
                               const VendorFrozenWallet& wallet) override;
  absl::StatusOr<std::optional<VendorFrozenWallet>> VendorFrozen(
      const std::string& org_id, const std::string& wallet_id) override;
  absl::Status ClearVendorFrozen(const std::string& org_id,
                                 const std::string& wallet_id) override;

 private:
  pg::Session session_;
};

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_POSTGRES_POSTGRES_FREEZE_STORE_H_
