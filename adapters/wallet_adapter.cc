#include "adapters/wallet_adapter.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace warden {

absl::Status AdapterRegistry::Add(std::unique_ptr<WalletAdapter> adapter) {
  std::string vendor = adapter->Describe().vendor;
  if (!adapters_.try_emplace(vendor, std::move(adapter)).second) {
    return absl::AlreadyExistsError(
        absl::StrCat("vendor ", vendor, " has an adapter already"));
  }
  return absl::OkStatus();
}

absl::StatusOr<WalletAdapter*> AdapterRegistry::For(
    const std::string& vendor) const {
  auto it = adapters_.find(vendor);
  if (it == adapters_.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat("no wallet adapter for vendor \"", vendor,
                     "\" is configured on this server (see docs/adapters.md)"));
  }
  return it->second.get();
}

std::vector<AdapterInfo> AdapterRegistry::Describe() const {
  std::vector<AdapterInfo> out;
  for (const auto& [vendor, adapter] : adapters_) {
    out.push_back(adapter->Describe());
  }
  return out;
}

absl::Status AdapterRegistry::SetFrozen(const Wallet& wallet, bool frozen,
                                        const std::string& reason) {
  auto it = adapters_.find(wallet.vendor);
  if (it == adapters_.end()) {
    return absl::UnimplementedError(absl::StrCat(
        "no adapter for vendor ", wallet.vendor, " is configured"));
  }
  return it->second->SetFrozen(wallet, frozen, reason);
}

}  // namespace warden
