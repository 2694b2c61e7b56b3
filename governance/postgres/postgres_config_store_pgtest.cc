#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "governance/bundle.h"
#include "governance/engine.h"
#include "governance/memory/memory_budget_store.h"
#include "governance/memory/memory_freeze_store.h"
#include "governance/postgres/migrations.h"
#include "governance/postgres/pg.h"
#include "governance/postgres/postgres_config_store.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_audit_log.h"
#include "tests/support/migrated_postgres_test.h"

namespace warden {
namespace {

std::string Bundle(const std::string& org, const std::string& usd) {
  return absl::StrCat(R"(
org: {id: )",
                      org, R"(, timezone: Europe/Berlin}
departments: [{id: eng, limits: [{name: daily, usd: ")",
                      usd,
                      R"(", window: "calendar:day"}]}]
agents:
  - id: a
    department: eng
    rules: {chains: [base]}
    wallets: [{id: w, vendor: cdp, chain: base, address: "0x01"}]
assets: [{symbol: USDC, decimals: 6, price_usd: "1.000001"}]
)");
}

std::shared_ptr<const Policy> Versioned(const std::string& yaml,
                                        int64_t version) {
  Policy p = *ParseBundle(yaml);
  p.version = version;
  p.yaml = yaml;
  p.applied_at = absl::FromUnixSeconds(1'777'651'200);
  p.applied_by = "admin";
  return std::make_shared<const Policy>(std::move(p));
}

class PostgresConfigStoreTest : public testing::MigratedPostgresTest {};

// Versions are kept, the normalized rows are written in the same
// transaction, and a second replica sees a new version through NOTIFY long
// before its periodic refresh.
TEST_F(PostgresConfigStoreTest, VersionsAndReplicas) {
  auto a = PostgresConfigStore::Open(pg_->url("warden_app"), absl::Hours(1));
  auto b = PostgresConfigStore::Open(pg_->url("warden_app"), absl::Hours(1));
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_TRUE((*a)->Apply(Versioned(Bundle("acme", "100"), 1)).ok());
  ASSERT_TRUE((*a)->Apply(Versioned(Bundle("acme", "200"), 2)).ok());
  EXPECT_EQ((*(*a)->Active("acme"))->version, 2);

  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    absl::StatusOr<std::shared_ptr<const Policy>> seen = (*b)->Active("acme");
    if (seen.ok() && (*seen)->version == 2) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  absl::StatusOr<std::shared_ptr<const Policy>> seen = (*b)->Active("acme");
  ASSERT_TRUE(seen.ok());
  EXPECT_EQ((*seen)->version, 2);
  EXPECT_EQ((*seen)->departments.at("eng").limits[0].usd, 200 * kMicrosPerUsd);
  EXPECT_EQ((*seen)->applied_by, "admin");
  EXPECT_EQ(*(*b)->Orgs(), std::vector<std::string>{"acme"});

  absl::StatusOr<std::shared_ptr<const Policy>> v1 = (*b)->Version("acme", 1);
  ASSERT_TRUE(v1.ok());
  EXPECT_EQ((*v1)->yaml, Bundle("acme", "100"));
  EXPECT_EQ((*b)->Version("acme", 3).status().code(),
            absl::StatusCode::kNotFound);

  // A stale writer is refused and writes nothing.
  absl::Status stale = (*b)->Apply(Versioned(Bundle("acme", "300"), 2));
  EXPECT_EQ(stale.code(), absl::StatusCode::kAborted);

  auto c = pg::Connect(pg_->url());
  ASSERT_TRUE(pg::Transact(**c, "check", [&](pqxx::work& w) {
                EXPECT_EQ(
                    w.exec("SELECT count(*) FROM bundles")[0][0].as<int>(), 2);
                EXPECT_EQ(w.exec("SELECT count(*) FROM wallets WHERE version"
                                 " = 2")[0][0]
                              .as<int>(),
                          1);
                EXPECT_EQ(w.exec("SELECT price_usd::text FROM assets WHERE "
                                 "version = 2")[0][0]
                              .as<std::string>(),
                          "1.000001");
                EXPECT_EQ(w.exec("SELECT usd_micros FROM limits WHERE version"
                                 " = 2")[0][0]
                              .as<int64_t>(),
                          200 * kMicrosPerUsd);
              }).ok());

  // A new replica loads the active versions at start.
  auto d = PostgresConfigStore::Open(pg_->url("warden_app"), absl::Hours(1));
  EXPECT_EQ((*(*d)->Active("acme"))->version, 2);
}

// Four-eyes policy changes across two replicas: a loosening requested on
// one is seen and approved on the other; votes move by compare-and-set, so
// a stale writer loses (ABORTED) instead of dropping a vote; both replicas
// agree on the version in force at every step.
TEST_F(PostgresConfigStoreTest, PolicyChangesAcrossReplicas) {
  auto a = PostgresConfigStore::Open(pg_->url("warden_app"), absl::Hours(1));
  auto b = PostgresConfigStore::Open(pg_->url("warden_app"), absl::Hours(1));
  ASSERT_TRUE(a.ok() && b.ok());
  SystemClock clock;
  MemoryBudgetStore budgets;
  MemoryFreezeStore freezes;
  FakeAuditLog audit;
  Engine on_a(a->get(), &budgets, &audit, &freezes, &clock);
  Engine on_b(b->get(), &budgets, &audit, &freezes, &clock);
  auto bundle = [](const std::string& usd) {
    return absl::StrCat(
        "org: {id: fe, policy_changes: {approvals_required: 2, approvers: "
        "[user/alice, user/bob, user/carol]}}\n",
        Bundle("fe", usd).substr(Bundle("fe", usd).find("departments")));
  };
  auto in_force = [](PostgresConfigStore* s, int64_t want) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    int64_t v = 0;
    while (absl::Now() < deadline) {
      absl::StatusOr<std::shared_ptr<const Policy>> p = s->Active("fe");
      v = p.ok() ? (*p)->version : 0;
      if (v == want) break;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return v;
  };
  ASSERT_TRUE(on_a.ApplyBundle(bundle("100"), false, "user/alice").ok());
  ASSERT_EQ(in_force(b->get(), 1), 1);

  absl::StatusOr<ApplyResult> loose =
      on_a.ApplyBundle(bundle("500"), false, "user/alice");
  ASSERT_TRUE(loose.ok()) << loose.status();
  ASSERT_TRUE(loose->pending.has_value());
  const std::string id = loose->pending->id;
  absl::StatusOr<std::vector<PolicyChange>> seen =
      on_b.ListPolicyChanges("fe", true);
  ASSERT_TRUE(seen.ok()) << seen.status();
  ASSERT_EQ(seen->size(), 1u);
  EXPECT_EQ((*seen)[0].id, id);
  EXPECT_EQ((*seen)[0].loosenings, loose->pending->loosenings);

  // A vote written over a stale read is refused, not lost.
  PolicyChange stale = *(*a)->Change("fe", id);
  ASSERT_TRUE(on_b.ApprovePolicyChange({.org_id = "fe",
                                        .change_id = id,
                                        .approver = "user/bob",
                                        .actor = "user/bob"})
                  .ok());
  stale.approvals = {"user/mallory"};
  ++stale.revision;
  EXPECT_EQ((*a)->SaveChange(stale).code(), absl::StatusCode::kAborted);
  EXPECT_EQ(in_force(a->get(), 1), 1);
  EXPECT_EQ(in_force(b->get(), 1), 1);

  absl::StatusOr<PolicyChangeOutcome> carol =
      on_a.ApprovePolicyChange({.org_id = "fe",
                                .change_id = id,
                                .approver = "user/carol",
                                .actor = "user/carol"});
  ASSERT_TRUE(carol.ok()) << carol.status();
  EXPECT_EQ(carol->change.state, PolicyChange::State::kApplied);
  EXPECT_EQ(carol->change.approvals,
            (std::vector<std::string>{"user/bob", "user/carol"}));
  EXPECT_EQ(in_force(a->get(), 2), 2);
  EXPECT_EQ(in_force(b->get(), 2), 2);
  EXPECT_EQ((*(*b)->Active("fe"))->departments.at("eng").limits[0].usd,
            500 * kMicrosPerUsd);
  EXPECT_EQ((*b)->Change("fe", id)->state, PolicyChange::State::kApplied);
  EXPECT_EQ((*b)->Change("fe", "pc_none").status().code(),
            absl::StatusCode::kNotFound);
}

// Unreachable Postgres at start is UNAVAILABLE.
TEST(PostgresConfigStoreDownTest, OpenFailsClosed) {
  auto s = PostgresConfigStore::Open("postgresql://postgres@127.0.0.1:1/warden",
                                     absl::Seconds(1));
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace warden
