#include <memory>

#include "governance/redis/redis_budget_store.h"
#include "tests/approvals/approval_cases.h"
#include "tests/support/mark_ready.h"
#include "tests/support/redis_server.h"

namespace warden::testing {
namespace {

// One redis-server for the binary (stopped at exit), flushed for each test.
std::string RedisUrl() {
  static absl::StatusOr<std::unique_ptr<RedisServer>> redis =
      RedisServer::Start();
  if (!redis.ok()) {
    ADD_FAILURE() << redis.status();
    return "redis://127.0.0.1:1";
  }
  return (*redis)->url();
}

std::unique_ptr<BudgetStore> FreshRedisStore() {
  RedisClient admin(*ParseRedisUrl(RedisUrl()));
  EXPECT_TRUE(admin.Command({"FLUSHALL"}).ok());
  auto store = std::make_unique<RedisBudgetStore>(
      std::make_unique<RedisClient>(*ParseRedisUrl(RedisUrl())));
  EXPECT_TRUE(testing::MarkReadyNow(*store, "acme").ok());
  return store;
}

INSTANTIATE_TEST_SUITE_P(Redis, ApprovalTest,
                         ::testing::Values(&FreshRedisStore));

}  // namespace
}  // namespace warden::testing
