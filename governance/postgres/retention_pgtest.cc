#include <sys/stat.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "governance/audit_chain.h"
#include "governance/postgres/migrations.h"
#include "governance/postgres/pg.h"
#include "governance/postgres/postgres_audit_log.h"
#include "governance/postgres/retention.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/postgres_server.h"
#include "tests/support/wardend_process.h"

namespace warden {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

AuditEvent Event(const std::string& org, absl::Time t) {
  AuditEvent e;
  e.type = AuditEvent::Type::kBundleApplied;
  e.time = t;
  e.org_id = org;
  e.actor = "admin";
  e.policy_version = 1;
  return e;
}

// Old partitions are exported, then dropped; the org's chain still
// verifies from its anchor, and a partition whose export failed is kept.
TEST(RetentionTest, ExportsThenDrops) {
  auto pg = testing::PostgresServer::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  ASSERT_TRUE(ApplyMigrations((*pg)->url()).ok());
  auto c = pg::Connect((*pg)->url());
  ASSERT_TRUE(pg::Transact(**c, "old partitions", [](pqxx::work& w) {
                w.exec(
                    "CREATE TABLE audit_events_y2018m01 PARTITION OF "
                    "audit_events FOR VALUES FROM ('2018-01-01 00:00+00') "
                    "TO ('2018-02-01 00:00+00')");
              }).ok());
  const absl::Time jan2018 = absl::FromUnixSeconds(1515000000);  // 2018-01-03
  {
    PostgresAuditLog log({.url = (*pg)->url("warden_app")}, nullptr);
    for (int i = 0; i < 5; ++i) {
      ASSERT_TRUE(log.Append(Event("old", jan2018 + absl::Hours(i))).ok());
    }
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(log.Append(Event("old", absl::Now())).ok());
    }
  }
  testing::TempDir dir;

  // An export that cannot be written keeps the partition.
  absl::StatusOr<RetentionReport> failed =
      ApplyRetention({.url = (*pg)->url(), .export_dir = "/nonexistent"});
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(failed.status().message(), HasSubstr("cannot write export"));

  // Export only: nothing dropped.
  absl::StatusOr<RetentionReport> exported = ApplyRetention(
      {.url = (*pg)->url(), .export_dir = dir.path(), .export_only = true});
  ASSERT_TRUE(exported.ok()) << exported.status();
  EXPECT_THAT(exported->exported, SizeIs(1));
  EXPECT_TRUE(exported->dropped.empty());
  const std::string file = dir.path() + "/audit_events_y2018m01_old.jsonl";
  std::ifstream in(file);
  std::string line, prev = kGenesisHash;
  int lines = 0;
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line);
    EXPECT_EQ(j["prev_hash"], prev);
    EXPECT_EQ(ChainHash(prev, j["body"].get<std::string>()), j["hash"]);
    prev = j["hash"];
    ++lines;
  }
  EXPECT_EQ(lines, 5);

  // Drop: the exported partition goes; the chain verifies from its anchor.
  absl::StatusOr<RetentionReport> dropped =
      ApplyRetention({.url = (*pg)->url(), .export_dir = dir.path()});
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_THAT(dropped->dropped,
              ::testing::ElementsAre("audit_events_y2018m01"));
  EXPECT_TRUE(dropped->exported.empty());  // Already exported.
  absl::StatusOr<ChainVerification> v = VerifyAuditChain((*pg)->url(), "old");
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->ok) << v->first_bad_seq << " " << v->problem;
  EXPECT_EQ(v->records, 3);
  // Recent partitions are untouched by a 7-year retention.
  EXPECT_TRUE(ApplyRetention({.url = (*pg)->url(), .export_dir = dir.path()})
                  ->dropped.empty());
}

}  // namespace
}  // namespace warden
