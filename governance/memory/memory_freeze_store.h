#ifndef WARDEN_GOVERNANCE_MEMORY_MEMORY_FREEZE_STORE_H_
#define WARDEN_GOVERNANCE_MEMORY_MEMORY_FREEZE_STORE_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "governance/freeze_store.h"

namespace warden {

// Frozen scopes (and wallets frozen at their vendors) in process memory, for
// the embedded mode and tests. (In embedded mode the audit file, not this
// store, makes them survive a restart: they are replayed from it.)
class MemoryFreezeStore final : public FreezeStore {
 public:
  absl::Status Freeze(const std::string& org_id,
                      const FrozenScope& frozen) override {
    absl::MutexLock lock(&mu_);
    auto [it, inserted] = frozen_.try_emplace({org_id, frozen.scope}, frozen);
    if (!inserted && frozen.decommissioned) it->second.decommissioned = true;
    return absl::OkStatus();
  }
  absl::Status Unfreeze(const std::string& org_id,
                        const std::string& scope) override {
    absl::MutexLock lock(&mu_);
    auto it = frozen_.find({org_id, scope});
    if (it == frozen_.end()) {
      return absl::NotFoundError(absl::StrCat(scope, " is not frozen"));
    }
    if (it->second.decommissioned) {
      return absl::FailedPreconditionError(
          absl::StrCat(scope, " was decommissioned and cannot be unfrozen"));
    }
    frozen_.erase(it);
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<FrozenScope>> List(
      const std::string& org_id) override {
    absl::MutexLock lock(&mu_);
    std::vector<FrozenScope> out;
    for (const auto& [key, f] : frozen_) {
      if (key.first == org_id) out.push_back(f);
    }
    return out;
  }
  absl::Status SetVendorFrozen(const std::string& org_id,
                               const VendorFrozenWallet& wallet) override {
    absl::MutexLock lock(&mu_);
    vendor_[{org_id, wallet.wallet_id}] = wallet;
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<VendorFrozenWallet>> VendorFrozen(
      const std::string& org_id, const std::string& wallet_id) override {
    absl::MutexLock lock(&mu_);
    auto it = vendor_.find({org_id, wallet_id});
    if (it == vendor_.end()) return std::nullopt;
    return it->second;
  }
  absl::Status ClearVendorFrozen(const std::string& org_id,
                                 const std::string& wallet_id) override {
    absl::MutexLock lock(&mu_);
    vendor_.erase({org_id, wallet_id});
    return absl::OkStatus();
  }

 private:
  absl::Mutex mu_;
  std::map<std::pair<std::string, std::string>, FrozenScope> frozen_
      ABSL_GUARDED_BY(mu_);
  std::map<std::pair<std::string, std::string>, VendorFrozenWallet> vendor_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_MEMORY_MEMORY_FREEZE_STORE_H_
