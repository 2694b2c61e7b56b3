#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "governance/redis/redis_budget_store.h"
#include "governance/usage_buckets.h"
#include "gtest/gtest.h"
#include "tests/model/budget_model.h"
#include "tests/support/mark_ready.h"
#include "tests/support/redis_server.h"

namespace warden {
namespace {

// RedisBudgetStore on a real Redis makes exactly the model's decisions,
// with windows counted from usage::CountedFrom (the stated bucket bound),
// over long random runs.
TEST(BudgetModelRedisTest, RedisStoreMatchesModel) {
  absl::StatusOr<std::unique_ptr<testing::RedisServer>> redis =
      testing::RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  std::vector<std::set<std::string>> refused;
  for (uint32_t seed : {1u, 2u, 3u}) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    RedisBudgetStore store(
        std::make_unique<RedisClient>(*ParseRedisUrl((*redis)->url())));
    RedisClient admin(*ParseRedisUrl((*redis)->url()));
    ASSERT_TRUE(admin.Command({"FLUSHALL"}).ok());
    ASSERT_TRUE(testing::MarkReadyNow(store, "acme").ok());
    // Real time, not the DST start: Redis expires keys by its own clock.
    testing::BudgetModel model(&store, seed, absl::Now());
    model.Run(2000);
    refused.push_back(model.refused_by());
  }
  testing::BudgetModel::ExpectEveryLimitRefused(refused);
}

}  // namespace
}  // namespace warden
