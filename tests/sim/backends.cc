// The stores the simulator runs on: MemoryBudgetStore (wrapped so that it can
// lose its state) and RedisBudgetStore on a private redis-server.

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "governance/redis/redis_budget_store.h"
#include "governance/redis/redis_client.h"
#include "governance/usage_buckets.h"
#include "tests/sim/losable_memory_budget_store.h"
#include "tests/sim/simulator.h"
#include "tests/support/redis_server.h"

namespace warden::sim {
namespace {

class MemoryBackend final : public Backend {
 public:
  std::string name() const override { return "memory"; }
  absl::Status Reset() override {
    store_ = std::make_unique<LosableMemoryBudgetStore>();
    return absl::OkStatus();
  }
  BudgetStore* store() override { return store_.get(); }
  StoreTraits traits() const override {
    return {"memory", &usage::CountedFrom, std::nullopt};
  }
  absl::Status LoseAllData() override {
    store_->Lose();
    return absl::OkStatus();
  }
  MemoryBudgetStore* LoseForEmbeddedRestart() override {
    return store_->Lose();
  }

 private:
  std::unique_ptr<LosableMemoryBudgetStore> store_ =
      std::make_unique<LosableMemoryBudgetStore>();
};

class RedisBackend final : public Backend {
 public:
  RedisBackend(std::unique_ptr<testing::RedisServer> server,
               RedisOptions options)
      : server_(std::move(server)),
        options_(std::move(options)),
        admin_(options_) {}

  std::string name() const override { return "redis"; }
  absl::Status Reset() override {
    if (absl::Status st = LoseAllData(); !st.ok()) return st;
    store_ = std::make_unique<RedisBudgetStore>(
        std::make_unique<RedisClient>(options_));
    return absl::OkStatus();
  }
  BudgetStore* store() override { return store_.get(); }
  StoreTraits traits() const override {
    return {"redis", &usage::CountedFrom, RedisBudgetStore::kMaxExactMicros,
            /*full_check_every=*/50};
  }
  absl::Status LoseAllData() override {
    absl::StatusOr<RedisReply> r = admin_.Command({"FLUSHALL"});
    if (!r.ok()) return r.status();
    return r->IsError() ? absl::UnavailableError(r->str) : absl::OkStatus();
  }

 private:
  std::unique_ptr<testing::RedisServer> server_;
  RedisOptions options_;
  RedisClient admin_;
  std::unique_ptr<RedisBudgetStore> store_;
};

}  // namespace

std::unique_ptr<Backend> NewMemoryBackend() {
  return std::make_unique<MemoryBackend>();
}

absl::StatusOr<std::unique_ptr<Backend>> NewRedisBackend() {
  // No persistence: the simulator loses data on purpose (FLUSHALL) and never
  // restarts the server, and an fsync per write would bound its speed.
  absl::StatusOr<std::unique_ptr<testing::RedisServer>> server =
      testing::RedisServer::Start({"--appendonly", "no"});
  if (!server.ok()) return server.status();
  absl::StatusOr<RedisOptions> options = ParseRedisUrl((*server)->url());
  if (!options.ok()) return options.status();
  return std::unique_ptr<Backend>(
      new RedisBackend(*std::move(server), *std::move(options)));
}

}  // namespace warden::sim
