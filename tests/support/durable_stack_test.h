#ifndef WARDEN_TESTS_SUPPORT_DURABLE_STACK_TEST_H_
#define WARDEN_TESTS_SUPPORT_DURABLE_STACK_TEST_H_

#include <string>

#include "gtest/gtest.h"
#include "tests/support/postgres_server.h"
#include "tests/support/redis_server.h"
#include "tests/support/subprocess.h"
#include "tests/support/wardend_process.h"

namespace warden::testing {

// A fixture whose suite shares a temp dir, a Redis and a Postgres migrated
// with `wardenctl migrate` (as an operator does it), for tests that run
// real wardend processes against them. A suite that sets up more calls
// DurableStackTest::SetUpTestSuite() first. Header-only: define
// WARDENCTL_PATH and link warden::test_support.
class DurableStackTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    auto pg = PostgresServer::Start();
    ASSERT_TRUE(pg.ok()) << pg.status();
    pg_ = pg->release();
    auto redis = RedisServer::Start();
    ASSERT_TRUE(redis.ok()) << redis.status();
    redis_ = redis->release();
    absl::StatusOr<CommandResult> migrated =
        RunCommand({WARDENCTL_PATH, "migrate", "--postgres", pg_->url()},
                   absl::Seconds(60));
    ASSERT_TRUE(migrated.ok()) << migrated.status();
    ASSERT_EQ(migrated->exit_code, 0) << migrated->err;
    migrate_output_ = migrated->out;
  }
  static void TearDownTestSuite() {
    delete redis_;
    redis_ = nullptr;
    delete pg_;
    pg_ = nullptr;
    delete dir_;
    dir_ = nullptr;
  }

  static inline TempDir* dir_ = nullptr;
  static inline PostgresServer* pg_ = nullptr;
  static inline RedisServer* redis_ = nullptr;
  static inline std::string migrate_output_;
};

}  // namespace warden::testing

#endif  // WARDEN_TESTS_SUPPORT_DURABLE_STACK_TEST_H_
