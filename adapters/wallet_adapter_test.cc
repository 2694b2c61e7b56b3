#include "adapters/wallet_adapter.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "governance/audit_codec.h"
#include "governance/audit_log.h"
#include "governance/telemetry.h"
#include "gtest/gtest.h"

namespace warden {
namespace {

using ::testing::ElementsAre;

// Answers every call with what the test set.
class ScriptedAdapter final : public WalletAdapter {
 public:
  AdapterInfo Describe() const override { return {.vendor = "acme"}; }
  absl::StatusOr<VendorStatus> Send(const TransferIntent&) override {
    return send;
  }
  absl::StatusOr<VendorStatus> Poll(const Wallet&,
                                    const VendorStatus&) override {
    return poll;
  }
  absl::StatusOr<VendorFreeze> Freeze(const Wallet&,
                                      const std::string&) override {
    if (!freeze.ok()) return freeze;
    return VendorFreeze{.restore = restore};
  }
  absl::Status Unfreeze(const Wallet&, const std::string&,
                        const std::string&) override {
    return freeze;
  }
  absl::StatusOr<std::vector<VendorTransaction>> ListTransactions(
      const Wallet&, absl::Time) override {
    return list;
  }

  absl::StatusOr<VendorStatus> send;
  absl::StatusOr<VendorStatus> poll;
  absl::Status freeze;
  std::string restore;
  absl::StatusOr<std::vector<VendorTransaction>> list;
};

// Keeps each adapter call it is told of as "vendor call outcome".
class RecordingObserver final : public TelemetryObserver {
 public:
  void BackendCall(absl::string_view, absl::string_view, absl::Duration,
                   bool) override {}
  void AuditCommit(size_t, absl::Duration, bool) override {}
  void AdapterCall(absl::string_view vendor, absl::string_view call,
                   absl::string_view outcome, absl::Duration took) override {
    absl::MutexLock lock(&mu_);
    EXPECT_GE(took, absl::ZeroDuration());
    calls_.push_back(absl::StrCat(vendor, " ", call, " ", outcome));
  }
  std::vector<std::string> calls() {
    absl::MutexLock lock(&mu_);
    return calls_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> calls_ ABSL_GUARDED_BY(mu_);
};

TEST(AdapterRegistryTest, FindsAdaptersByVendor) {
  AdapterRegistry registry;
  ASSERT_TRUE(registry.Add(std::make_unique<ScriptedAdapter>()).ok());
  EXPECT_EQ(registry.Add(std::make_unique<ScriptedAdapter>()).code(),
            absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(registry.For("acme").ok());
  EXPECT_EQ((*registry.For("acme"))->Describe().vendor, "acme");
  const absl::StatusOr<WalletAdapter*> missing = registry.For("privy");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(missing.status().message()),
              testing::HasSubstr("\"privy\""));
  EXPECT_EQ(registry.Freeze(Wallet{.id = "w", .vendor = "privy"}, "x")
                .status()
                .code(),
            absl::StatusCode::kUnimplemented);
}

TEST(AdapterRegistryTest, ReportsEveryVendorCallWithItsOutcome) {
  auto owned = std::make_unique<ScriptedAdapter>();
  ScriptedAdapter* adapter = owned.get();
  adapter->send = VendorStatus{.state = OperationState::kSubmitted};
  adapter->poll = absl::UnavailableError("down");
  adapter->freeze = absl::OkStatus();
  adapter->list = std::vector<VendorTransaction>{};
  AdapterRegistry registry;
  ASSERT_TRUE(registry.Add(std::move(owned)).ok());

  RecordingObserver observer;
  SetTelemetryObserver(&observer);
  WalletAdapter* found = *registry.For("acme");
  const Wallet wallet{.id = "w", .vendor = "acme"};
  EXPECT_EQ(found->Send(TransferIntent{})->state, OperationState::kSubmitted);
  EXPECT_EQ(found->Poll(wallet, {}).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_TRUE(registry.Freeze(wallet, "leak").ok());
  adapter->freeze = absl::PermissionDeniedError("no");
  EXPECT_EQ(registry.Unfreeze(wallet, "", "").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(found->ListTransactions(wallet, absl::UnixEpoch()).ok());
  EXPECT_TRUE(found->CheckWallet(wallet).ok());  // Local: not a vendor call.
  SetTelemetryObserver(nullptr);

  EXPECT_THAT(observer.calls(),
              ElementsAre("acme send SUBMITTED", "acme poll UNAVAILABLE",
                          "acme freeze OK", "acme unfreeze PERMISSION_DENIED",
                          "acme list OK"));
}

// A vendor's text is recorded in Postgres and the audit trail, which take
// only valid UTF-8: whatever bytes the vendor sent, what comes out is valid.
TEST(AdapterRegistryTest, VendorTextComesOutValidUtf8) {
  auto owned = std::make_unique<ScriptedAdapter>();
  ScriptedAdapter* adapter = owned.get();
  const std::string bad = "refused: \xff\xfe caf\xc3";  // Cut mid-character.
  adapter->send = VendorStatus{.state = OperationState::kFailed, .error = bad};
  adapter->poll = absl::UnavailableError(bad);
  adapter->freeze = absl::InternalError(bad);
  adapter->restore = bad;
  adapter->list = std::vector<VendorTransaction>{{.tx_hash = bad}};
  AdapterRegistry registry;
  ASSERT_TRUE(registry.Add(std::move(owned)).ok());
  WalletAdapter* found = *registry.For("acme");
  const Wallet wallet{.id = "w", .vendor = "acme"};
  const std::string clean = "refused: \xef\xbf\xbd\xef\xbf\xbd caf\xef\xbf\xbd";
  EXPECT_EQ(found->Send(TransferIntent{})->error, clean);
  EXPECT_EQ(found->Poll(wallet, {}).status().message(), clean);
  EXPECT_EQ(found->Poll(wallet, {}).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(registry.Freeze(wallet, "").status().message(), clean);
  adapter->freeze = absl::OkStatus();
  EXPECT_EQ(registry.Freeze(wallet, "")->restore, clean);
  EXPECT_EQ((*found->ListTransactions(wallet, absl::UnixEpoch()))[0].tx_hash,
            clean);
  EXPECT_EQ(ValidUtf8("plain \xe2\x82\xac"), "plain \xe2\x82\xac");
}

}  // namespace
}  // namespace warden
