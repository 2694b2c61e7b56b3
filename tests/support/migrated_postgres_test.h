#ifndef WARDEN_TESTS_SUPPORT_MIGRATED_POSTGRES_TEST_H_
#define WARDEN_TESTS_SUPPORT_MIGRATED_POSTGRES_TEST_H_

#include "governance/postgres/migrations.h"
#include "gtest/gtest.h"
#include "tests/support/postgres_server.h"

namespace warden::testing {

// A fixture whose suite shares one private PostgreSQL with the schema
// migrated. Header-only: link warden::governance_postgres and
// warden::test_support.
class MigratedPostgresTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<PostgresServer>> pg =
        PostgresServer::Start();
    ASSERT_TRUE(pg.ok()) << pg.status();
    pg_ = pg->release();
    absl::StatusOr<int> version = ApplyMigrations(pg_->url());
    ASSERT_TRUE(version.ok()) << version.status();
    ASSERT_EQ(*version, kSchemaVersion);
  }
  static void TearDownTestSuite() {
    delete pg_;
    pg_ = nullptr;
  }

  static inline PostgresServer* pg_ = nullptr;
};

}  // namespace warden::testing

#endif  // WARDEN_TESTS_SUPPORT_MIGRATED_POSTGRES_TEST_H_
