#include "adapters/wallet_adapter.h"

#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "governance/audit_codec.h"
#include "governance/audit_log.h"
#include "governance/status_macros.h"
#include "governance/telemetry.h"

namespace warden {
namespace {

// What the registry hands out, the one boundary every vendor call crosses:
// each call is reported to the telemetry observer (the server's metrics:
// vendor, call, outcome and duration), and the vendor's text in what comes
// back is made valid UTF-8 (it is recorded in Postgres and the audit
// trail, which take nothing else).
class VendorBoundary final : public WalletAdapter {
 public:
  explicit VendorBoundary(std::unique_ptr<WalletAdapter> inner)
      : inner_(std::move(inner)), vendor_(inner_->Describe().vendor) {}

  AdapterInfo Describe() const override { return inner_->Describe(); }
  absl::Status CheckWallet(const Wallet& wallet) const override {
    return inner_->CheckWallet(wallet);
  }
  absl::Status CheckX402(const Wallet& wallet,
                         uint64_t chain_id) const override {
    return inner_->CheckX402(wallet, chain_id);
  }
  absl::StatusOr<VendorStatus> Send(const TransferIntent& intent) override {
    return Metered("send", [&] { return inner_->Send(intent); });
  }
  absl::StatusOr<VendorStatus> Poll(const Wallet& wallet,
                                    const VendorStatus& last) override {
    return Metered("poll", [&] { return inner_->Poll(wallet, last); });
  }
  absl::StatusOr<VendorFreeze> Freeze(const Wallet& wallet,
                                      const std::string& reason) override {
    return Metered("freeze", [&] { return inner_->Freeze(wallet, reason); });
  }
  absl::Status Unfreeze(const Wallet& wallet, const std::string& restore,
                        const std::string& reason) override {
    return Metered("unfreeze",
                   [&] { return inner_->Unfreeze(wallet, restore, reason); });
  }
  VendorFreeze::Strength FreezeStrength() const override {
    return inner_->FreezeStrength();
  }
  absl::StatusOr<std::vector<VendorTransaction>> ListTransactions(
      const Wallet& wallet, absl::Time since) override {
    return Metered("list",
                   [&] { return inner_->ListTransactions(wallet, since); });
  }

 private:
  template <typename Call>
  std::invoke_result_t<Call> Metered(absl::string_view call, Call run) {
    const absl::Time start = absl::Now();
    std::invoke_result_t<Call> result = run();
    ReportAdapterCall(vendor_, call, Outcome(result), absl::Now() - start);
    Clean(result);
    return result;
  }

  static void Clean(absl::Status& status) {
    if (!status.ok()) {
      status = absl::Status(status.code(), ValidUtf8(status.message()));
    }
  }
  template <typename T>
  static void Clean(absl::StatusOr<T>& result) {
    if (!result.ok()) {
      absl::Status status = result.status();
      Clean(status);
      result = status;
    } else {
      CleanValue(*result);
    }
  }
  static void CleanValue(VendorStatus& v) {
    for (std::string* text : {&v.tx_hash, &v.vendor_ref, &v.error}) {
      *text = ValidUtf8(*text);
    }
  }
  static void CleanValue(VendorFreeze& f) { f.restore = ValidUtf8(f.restore); }
  static void CleanValue(std::vector<VendorTransaction>& list) {
    for (VendorTransaction& t : list) {
      for (std::string* text : {&t.tx_hash, &t.from, &t.to, &t.asset}) {
        *text = ValidUtf8(*text);
      }
    }
  }

  static std::string Outcome(const absl::Status& status) {
    return absl::StatusCodeToString(status.code());
  }
  template <typename T>
  static std::string Outcome(const absl::StatusOr<T>& result) {
    return Outcome(result.status());
  }
  static std::string Outcome(const absl::StatusOr<VendorStatus>& result) {
    return result.ok() ? std::string(OperationStateName(result->state))
                       : Outcome(result.status());
  }

  const std::unique_ptr<WalletAdapter> inner_;
  const std::string vendor_;
};

}  // namespace

absl::Status AdapterRegistry::Add(std::unique_ptr<WalletAdapter> adapter) {
  std::string vendor = adapter->Describe().vendor;
  if (!adapters_
           .try_emplace(vendor,
                        std::make_unique<VendorBoundary>(std::move(adapter)))
           .second) {
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

absl::StatusOr<VendorFreeze> AdapterRegistry::Freeze(
    const Wallet& wallet, const std::string& reason) {
  WARDEN_ASSIGN_OR_RETURN(WalletAdapter * adapter, Serving(wallet));
  return adapter->Freeze(wallet, reason);
}

std::optional<VendorFreeze::Strength> AdapterRegistry::FreezeControl(
    const Wallet& wallet) const {
  absl::StatusOr<WalletAdapter*> adapter = Serving(wallet);
  if (!adapter.ok()) return std::nullopt;
  return (*adapter)->FreezeStrength();
}

absl::Status AdapterRegistry::Unfreeze(const Wallet& wallet,
                                       const std::string& restore,
                                       const std::string& reason) {
  WARDEN_ASSIGN_OR_RETURN(WalletAdapter * adapter, Serving(wallet));
  return adapter->Unfreeze(wallet, restore, reason);
}

absl::StatusOr<WalletAdapter*> AdapterRegistry::Serving(
    const Wallet& wallet) const {
  auto it = adapters_.find(wallet.vendor);
  if (it == adapters_.end()) {
    return absl::UnimplementedError(absl::StrCat(
        "no adapter for vendor ", wallet.vendor, " is configured"));
  }
  return it->second.get();
}

}  // namespace warden
