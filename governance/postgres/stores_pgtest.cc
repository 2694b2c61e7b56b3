// Postgres pieces without a test file of their own, on one server:
// - the OperationStore contract, on memory and on Postgres: create once,
//   get, compare-and-set updates (so that of two replicas only one sends),
//   the open list in update order, and the open counts behind the
//   warden_operations_open gauge;
// - pg::WithTimeouts: a statement that runs too long fails the call;
// - pg::Session: a read survives a server restart.

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "governance/memory/memory_operation_store.h"
#include "governance/operation.h"
#include "governance/postgres/pg.h"
#include "governance/postgres/postgres_operation_store.h"
#include "gtest/gtest.h"
#include "tests/support/migrated_postgres_test.h"

namespace warden {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

Operation Op(const std::string& org, const std::string& az, int minute) {
  return Operation{.id = OperationIdFor(az),
                   .org_id = org,
                   .authorization_id = az,
                   .agent_id = "agent",
                   .wallet_id = "w",
                   .created_at = kT0,
                   .updated_at = kT0 + absl::Minutes(minute)};
}

class OperationStoreTest : public testing::MigratedPostgresTest,
                           public ::testing::WithParamInterface<bool> {
 protected:
  void SetUp() override {
    if (GetParam()) {
      // A fresh table per case.
      auto c = pg::Connect(pg_->url());
      ASSERT_TRUE(c.ok()) << c.status();
      pqxx::work w(**c);
      w.exec("TRUNCATE operations");
      w.commit();
      store_ = std::make_unique<PostgresOperationStore>(pg_->url("warden_app"));
    } else {
      store_ = std::make_unique<MemoryOperationStore>();
    }
  }
  std::unique_ptr<OperationStore> store_;
};

TEST_P(OperationStoreTest, CreateOnceGetAndCompareAndSet) {
  Operation op = Op("acme", "az_1", 0);
  ASSERT_TRUE(store_->Create(op).ok());
  EXPECT_EQ(store_->Create(op).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->Get("other", op.id).status().code(),
            absl::StatusCode::kNotFound);

  Operation sending = op;
  sending.state = OperationState::kSending;
  EXPECT_EQ(store_->Update(sending, OperationState::kPending).value_or(false),
            true);
  // A second replica that also saw it PENDING loses the race.
  EXPECT_EQ(store_->Update(sending, OperationState::kPending).value_or(true),
            false);
  Operation sent = sending;
  sent.state = OperationState::kSubmitted;
  sent.tx_hash = "0x" + std::string(64, 'a');
  ASSERT_EQ(store_->Update(sent, OperationState::kSending).value_or(false),
            true);
  absl::StatusOr<Operation> got = store_->Get("acme", op.id);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->state, OperationState::kSubmitted);
  EXPECT_EQ(got->tx_hash, sent.tx_hash);
}

TEST_P(OperationStoreTest, ListsAndCountsOpenOperations) {
  Operation unknown = Op("acme", "az_1", 3);
  unknown.state = OperationState::kUnknown;
  Operation pending = Op("acme", "az_2", 1);
  Operation confirmed = Op("acme", "az_3", 0);
  confirmed.state = OperationState::kConfirmed;
  Operation other = Op("globex", "az_4", 2);
  other.state = OperationState::kUnknown;
  for (const Operation& op : {unknown, pending, confirmed, other}) {
    ASSERT_TRUE(store_->Create(op).ok());
  }
  absl::StatusOr<std::vector<Operation>> open = store_->ListOpen(10);
  ASSERT_TRUE(open.ok()) << open.status();
  std::vector<std::string> ids;
  for (const Operation& op : *open) ids.push_back(op.authorization_id);
  EXPECT_THAT(ids, ElementsAre("az_2", "az_4", "az_1"));
  EXPECT_EQ(store_->ListOpen(1)->size(), 1u);

  absl::StatusOr<OperationStore::OpenCounts> counts = store_->CountOpen();
  ASSERT_TRUE(counts.ok()) << counts.status();
  using Key = std::pair<std::string, OperationState>;
  EXPECT_THAT(*counts,
              ElementsAre(Pair(Key{"acme", OperationState::kPending}, 1),
                          Pair(Key{"acme", OperationState::kUnknown}, 1),
                          Pair(Key{"globex", OperationState::kUnknown}, 1)));
}

class PgTimeoutsTest : public testing::MigratedPostgresTest {};

TEST_F(PgTimeoutsTest, AStatementPastItsTimeoutFailsTheCall) {
  for (const std::string& url :
       {pg_->url("warden_app"),
        // The keyword/value form of the same connection.
        absl::StrCat("host=127.0.0.1 port=", pg_->port(),
                     " user=warden_app dbname=warden")}) {
    pg::Session session(
        pg::WithTimeouts(url, absl::Seconds(1), absl::Milliseconds(300)));
    const absl::Time start = absl::Now();
    const absl::Status st = session.Run(
        "sleep", [](pqxx::work& w) { w.exec("SELECT pg_sleep(5)"); });
    EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << url << st;
    EXPECT_LT(absl::Now() - start, absl::Seconds(4)) << url;
    // Statements within the bound run.
    EXPECT_TRUE(session
                    .Run("quick",
                         [](pqxx::work& w) { w.exec("SELECT pg_sleep(0.01)"); })
                    .ok())
        << url;
  }
}

// A connection kept from before a server restart: a read runs again on a
// new connection and succeeds; a write (which may have landed) is not run
// twice: it fails, and the next call connects afresh.
TEST_F(PgTimeoutsTest, AReadSurvivesAServerRestart) {
  pg::Session session(pg_->url("warden_app"));
  auto select = [](pqxx::work& w) { w.exec("SELECT 1"); };
  ASSERT_TRUE(session.Run("read", select, /*read_only=*/true).ok());
  pg_->Kill();
  ASSERT_TRUE(pg_->Restart().ok());
  EXPECT_TRUE(session.Run("read", select, /*read_only=*/true).ok());
  pg_->Kill();
  ASSERT_TRUE(pg_->Restart().ok());
  EXPECT_EQ(session.Run("write", select).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_TRUE(session.Run("write", select).ok());
}

// The bounds join what the URL already says instead of replacing it.
TEST_F(PgTimeoutsTest, OwnOptionsAndTimeoutsAreKept) {
  const std::string uri = pg_->url("warden_app");
  EXPECT_EQ(pg::WithTimeouts(uri + "?", absl::Seconds(5), absl::Seconds(30)),
            uri + "?connect_timeout=5&options=-c%20statement_timeout%3D30000");
  EXPECT_EQ(pg::WithTimeouts(uri + "?connect_timeout=9&sslmode=disable",
                             absl::Milliseconds(1), absl::Seconds(1)),
            uri +
                "?connect_timeout=9&sslmode=disable&options=-c%20statement_"
                "timeout%3D1000");
  EXPECT_EQ(pg::WithTimeouts("host=pg options='-c search_path=x'",
                             absl::Seconds(1), absl::Seconds(1)),
            "host=pg options='-c search_path=x -c statement_timeout=1000' "
            "connect_timeout=2");
  EXPECT_EQ(pg::WithTimeouts("host=pg options=-csearch_path=x",
                             absl::Seconds(1), absl::Seconds(1)),
            "host=pg options='-csearch_path=x -c statement_timeout=1000' "
            "connect_timeout=2");

  // Against the server: the URL's own setting and the bound both hold.
  for (const std::string& url :
       {uri + "?options=-c%20search_path%3Dwarden_test",
        absl::StrCat("host=127.0.0.1 port=", pg_->port(),
                     " user=warden_app dbname=warden "
                     "options='-c search_path=warden_test'")}) {
    pg::Session session(
        pg::WithTimeouts(url, absl::Seconds(1), absl::Milliseconds(300)));
    std::string search_path;
    ASSERT_TRUE(session
                    .Run("show",
                         [&](pqxx::work& w) {
                           search_path =
                               w.exec1("SHOW search_path")[0].as<std::string>();
                         })
                    .ok())
        << url;
    EXPECT_EQ(search_path, "warden_test") << url;
    EXPECT_EQ(
        session
            .Run("sleep", [](pqxx::work& w) { w.exec("SELECT pg_sleep(5)"); })
            .code(),
        absl::StatusCode::kUnavailable)
        << url;
  }
}

INSTANTIATE_TEST_SUITE_P(Stores, OperationStoreTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& store) {
                           return store.param ? "Postgres" : "Memory";
                         });

}  // namespace
}  // namespace warden
