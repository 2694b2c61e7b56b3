#include <memory>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "governance/audit_codec.h"
#include "governance/memory/memory_budget_store.h"
#include "governance/memory/memory_config_store.h"
#include "governance/memory/memory_freeze_store.h"
#include "governance/memory/memory_operation_store.h"
#include "governance/postgres/postgres_audit_log.h"
#include "governance/postgres/postgres_audit_reader.h"
#include "gtest/gtest.h"
#include "services/reconciler.h"
#include "tests/support/migrated_postgres_test.h"

namespace warden {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kBundle[] = R"(
org: {id: acme}
departments: [{id: ops}]
agents:
  - id: payer
    department: ops
    limits: [{name: daily, usd: "100000", window: "calendar:day"}]
    wallets:
      - {id: listed_w, vendor: privy, chain: base, vendor_id: pw1,
         address: "0x00000000000000000000000000000000000000a1"}
      - {id: quiet_w, vendor: cdp, chain: base,
         address: "0x00000000000000000000000000000000000000a2"}
      - {id: nowhere_w, vendor: metamask, chain: base,
         address: "0x00000000000000000000000000000000000000a3"}
assets:
  - {symbol: USDC, decimals: 6, price_usd: "1",
     chains: {base: "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913"}}
)";
constexpr char kUsdc[] = "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913";
constexpr char kTo[] = "0x00000000000000000000000000000000000000b0";

// A vendor whose transaction list the test writes; optionally unable to
// list at all.
class ListingAdapter final : public WalletAdapter {
 public:
  ListingAdapter(std::string vendor, bool lists)
      : vendor_(std::move(vendor)), lists_(lists) {}
  AdapterInfo Describe() const override {
    return {.vendor = vendor_, .list_transactions = lists_};
  }
  absl::StatusOr<VendorStatus> Send(const TransferIntent&) override {
    return absl::UnimplementedError("not in this test");
  }
  absl::StatusOr<VendorStatus> Poll(const Wallet&,
                                    const VendorStatus& last) override {
    return last;
  }
  absl::StatusOr<VendorFreeze> Freeze(const Wallet&,
                                      const std::string&) override {
    return absl::UnimplementedError("not in this test");
  }
  absl::Status Unfreeze(const Wallet&, const std::string&,
                        const std::string&) override {
    return absl::UnimplementedError("not in this test");
  }
  absl::StatusOr<std::vector<VendorTransaction>> ListTransactions(
      const Wallet& wallet, absl::Time since) override {
    absl::MutexLock lock(&mu_);
    std::vector<VendorTransaction> out;
    for (const VendorTransaction& tx : txs_) {
      if (tx.time >= since) out.push_back(tx);
    }
    return out;
  }
  void Add(VendorTransaction tx) {
    absl::MutexLock lock(&mu_);
    txs_.push_back(std::move(tx));
  }

 private:
  const std::string vendor_;
  const bool lists_;
  absl::Mutex mu_;
  std::vector<VendorTransaction> txs_;
};

class ReconcilerTest : public testing::MigratedPostgresTest {
 protected:
  void SetUp() override {
    audit_ = std::make_unique<PostgresAuditLog>(
        PostgresAuditOptions{.url = pg_->url("warden_app")}, nullptr);
    reader_ = std::make_unique<PostgresAuditReader>(pg_->url("warden_app"));
    engine_ = std::make_unique<Engine>(&config_, &budgets_, audit_.get(),
                                       &freezes_, &clock_);
    absl::StatusOr<ApplyResult> applied =
        engine_->ApplyBundle(kBundle, false, "test");
    ASSERT_TRUE(applied.ok()) << applied.status();
    auto privy = std::make_unique<ListingAdapter>("privy", true);
    privy_ = privy.get();
    ASSERT_TRUE(adapters_.Add(std::move(privy)).ok());
    ASSERT_TRUE(
        adapters_.Add(std::make_unique<ListingAdapter>("cdp", false)).ok());
    reconciler_ =
        std::make_unique<Reconciler>(engine_.get(), &adapters_, reader_.get(),
                                     &operations_, audit_.get(), &clock_);
  }

  // An allowed spend of `usdc` base units from listed_w.
  Authorization Spend(const std::string& usdc) {
    AuthorizeInput in{.agent_id = "payer",
                      .wallet_id = "listed_w",
                      .asset = "USDC",
                      .amount = usdc,
                      .destination = kTo,
                      .actor = "agent/payer"};
    absl::StatusOr<AuthorizeOutput> out = engine_->Authorize(in);
    EXPECT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(out->authorization.decision, Decision::kAllow);
    return out->authorization;
  }

  VendorTransaction Tx(const std::string& hash, uint64_t usdc) {
    return VendorTransaction{
        .tx_hash = hash,
        .from = "0x00000000000000000000000000000000000000a1",
        .to = kTo,
        .asset = kUsdc,
        .amount = usdc,
        .time = clock_.Now()};
  }

  std::vector<std::string> Findings() {
    std::vector<std::string> out;
    AuditQuery q{.org_id = "acme"};
    EXPECT_TRUE(reader_
                    ->Query(q,
                            [&](const AuditRecord& r) {
                              if (r.type == "reconcile.finding") {
                                out.push_back(DecodeAuditEvent(r.body)->reason);
                              }
                              return true;
                            })
                    .ok());
    return out;
  }

  ManualClock clock_{absl::Now()};
  MemoryConfigStore config_;
  MemoryBudgetStore budgets_;
  MemoryFreezeStore freezes_;
  MemoryOperationStore operations_;
  std::unique_ptr<PostgresAuditLog> audit_;
  std::unique_ptr<PostgresAuditReader> reader_;
  std::unique_ptr<Engine> engine_;
  AdapterRegistry adapters_;
  ListingAdapter* privy_ = nullptr;
  std::unique_ptr<Reconciler> reconciler_;
};

// The vendor's three transactions: one settled through Warden (matches),
// one Warden allowed but never settled, one Warden never saw.
TEST_F(ReconcilerTest, ReportsShadowSpendAndMissingSettlementsOnce) {
  const absl::Time since = clock_.Now() - absl::Minutes(1);
  const Authorization settled = Spend("5000000");
  ASSERT_TRUE(engine_
                  ->Settle(SettleInput{.authorization_id = settled.id,
                                       .tx_hash = "0xAAA1",
                                       .actor = "agent/payer"})
                  .ok());
  privy_->Add(Tx("0xaaa1", 5'000'000));
  // Held, its operation sent as 0xbbb2, which the vendor shows.
  const Authorization held = Spend("7000000");
  Operation op{.id = OperationIdFor(held.id),
               .org_id = "acme",
               .authorization_id = held.id,
               .agent_id = "payer",
               .wallet_id = "listed_w",
               .state = OperationState::kSubmitted,
               .tx_hash = "0xbbb2",
               .created_at = clock_.Now(),
               .updated_at = clock_.Now()};
  ASSERT_TRUE(operations_.Create(op).ok());
  privy_->Add(Tx("0xbbb2", 7'000'000));
  privy_->Add(Tx("0xccc3", 9'000'000));  // Around the gateway.

  // A server shutting down stops before the vendors and records nothing.
  absl::Notification stop;
  stop.Notify();
  EXPECT_EQ(reconciler_->Run("", since, "system", &stop).status().code(),
            absl::StatusCode::kCancelled);
  EXPECT_THAT(Findings(), ::testing::IsEmpty());

  absl::StatusOr<ReconcileReport> r = reconciler_->Run("", since, "user/cfo");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->org_id, "acme");
  EXPECT_EQ(r->wallets_checked, 1);
  EXPECT_EQ(r->vendor_transactions, 3);
  EXPECT_THAT(r->unchecked,
              ElementsAre(HasSubstr("wallet/nowhere_w at metamask: no adapter"),
                          HasSubstr("wallet/quiet_w at cdp: the vendor cannot "
                                    "list transactions")));
  ASSERT_EQ(r->findings.size(), 2u);
  const ReconcileFinding& missing = r->findings[0];
  EXPECT_EQ(missing.kind, ReconcileFinding::Kind::kMissingSettlement);
  EXPECT_EQ(missing.authorization_id, held.id);
  EXPECT_EQ(missing.authorization_status, "HELD");
  EXPECT_EQ(missing.asset, "USDC");
  const ReconcileFinding& shadow = r->findings[1];
  EXPECT_EQ(shadow.kind, ReconcileFinding::Kind::kShadowSpend);
  EXPECT_EQ(shadow.transaction.tx_hash, "0xccc3");
  EXPECT_EQ(shadow.transaction.amount, absl::uint128(9'000'000));
  EXPECT_THAT(shadow.description,
              HasSubstr("shadow_spend wallet/listed_w tx 0xccc3 at privy: "
                        "9000000 USDC to " +
                        std::string(kTo)));
  EXPECT_EQ(r->audited, 2);
  EXPECT_THAT(Findings(),
              ElementsAre(HasSubstr("missing_settlement wallet/listed_w tx "
                                    "0xbbb2"),
                          HasSubstr("shadow_spend wallet/listed_w tx 0xccc3")));

  // Found again, recorded once.
  clock_.Advance(absl::Minutes(5));
  r = reconciler_->Run("acme", since, "system");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->findings.size(), 2u);
  EXPECT_EQ(r->audited, 0);
  EXPECT_EQ(Findings().size(), 2u);

  // Settling the held one clears its finding.
  ASSERT_TRUE(engine_
                  ->Settle(SettleInput{.authorization_id = held.id,
                                       .tx_hash = "0xbbb2",
                                       .actor = "agent/payer"})
                  .ok());
  r = reconciler_->Run("acme", since, "system");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->findings.size(), 1u);
  EXPECT_EQ(r->findings[0].kind, ReconcileFinding::Kind::kShadowSpend);
}

TEST_F(ReconcilerTest, TransactionsBeforeSinceAreNotCompared) {
  privy_->Add(Tx("0xddd4", 1));
  clock_.Advance(absl::Hours(1));
  absl::StatusOr<ReconcileReport> r =
      reconciler_->Run("", clock_.Now() - absl::Minutes(5), "system");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->vendor_transactions, 0);
  EXPECT_THAT(r->findings, IsEmpty());
}

}  // namespace
}  // namespace warden
