// Invariant 5 with Redis: kill Redis in the middle of a stream of Authorize
// calls to two replicas. Every call gets UNAVAILABLE or a correct decision,
// never a wrong allow, and once Redis is back calls succeed again without
// restarting wardend.

#include <atomic>
#include <thread>

#include "absl/time/clock.h"
#include "tests/integration/replicas.h"

namespace warden::testing {
namespace {

constexpr const char* kBundle = R"(
org: {id: faults}
departments: [{id: ops}]
agents:
  - id: steady
    department: ops
    limits: [{name: budget, usd: "1000", window: "rolling:24h"}]
    wallets: [{id: steady_w, vendor: local, chain: base, address: "0x01"}]
  - id: tight
    department: ops
    limits: [{name: budget, usd: "10", window: "rolling:24h"}]
    wallets: [{id: tight_w, vendor: local, chain: base, address: "0x02"}]
  - id: hasty
    department: ops
    limits: [{name: budget, usd: "1", window: "rolling:24h"}]
    wallets: [{id: hasty_w, vendor: local, chain: base, address: "0x03"}]
assets:
  - {symbol: USDC, decimals: 6, price_usd: "1"}
)";

class RedisFaultTest : public ReplicasTest {
 protected:
  static void SetUpTestSuite() { StartReplicas(kBundle); }
};

TEST_F(RedisFaultTest, KillRedisMidStreamFailsClosedAndRecovers) {
  std::atomic<bool> stop{false};
  std::atomic<int> allowed{0}, denied{0}, unavailable{0}, other{0};
  std::atomic<int> sent{0};
  auto client = [&](int replica) {
    // Bounded: at most 2,000 calls per client, and it stops when told.
    for (int i = 0; i < 2000 && !stop; ++i) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() +
                           std::chrono::seconds(5));
      v1::AuthorizeResponse response;
      const grpc::Status s = replicas_[replica]->authz().Authorize(
          &context, Spend("steady", "steady_w", 1), &response);
      ++sent;
      if (s.ok() && response.decision() == v1::DECISION_ALLOW) {
        ++allowed;
      } else if (s.ok() && response.decision() == v1::DECISION_DENY) {
        ++denied;
      } else if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
        ++unavailable;
      } else {
        ++other;
        ADD_FAILURE() << s.error_code() << " " << s.error_message();
      }
      absl::SleepFor(absl::Milliseconds(2));
    }
  };
  std::vector<std::thread> clients;
  for (int i = 0; i < 4; ++i) clients.emplace_back(client, i % 2);

  absl::SleepFor(absl::Milliseconds(300));
  const int allowed_before = allowed;
  redis_->Kill();
  absl::SleepFor(absl::Milliseconds(700));
  const int unavailable_during = unavailable;
  ASSERT_TRUE(redis_->Restart().ok());
  absl::SleepFor(absl::Milliseconds(1500));
  stop = true;
  for (std::thread& t : clients) t.join();

  EXPECT_GT(allowed_before, 0);
  EXPECT_GT(unavailable_during, 0) << "the outage was never observed";
  EXPECT_EQ(other, 0);
  // The budget is $1,000 in $1 spends: whatever happened, never more than
  // 1,000 allows (Redis persisted every acknowledged write).
  EXPECT_LE(allowed, 1000);
  // After the restart, calls were decided again by the same processes.
  v1::AuthorizeResponse after;
  grpc::ClientContext context;
  const grpc::Status s = replicas_[0]->authz().Authorize(
      &context, Spend("steady", "steady_w", 1), &after);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_GT(allowed + denied, allowed_before);
  std::cerr << "sent " << sent << ", allowed " << allowed << ", denied "
            << denied << ", unavailable " << unavailable << "\n";
}

// A Redis that stopped answering (SIGSTOP) fails calls with UNAVAILABLE
// within its command timeout (1 s) and a second's slack, never hangs them;
// once it answers again, so does every replica.
TEST_F(RedisFaultTest, StalledRedisFailsCallsWithinTheBound) {
  redis_->Pause();
  std::vector<std::thread> callers;
  std::atomic<int> unavailable{0}, other{0};
  std::atomic<int64_t> slowest_ms{0};
  for (int i = 0; i < 6; ++i) {
    callers.emplace_back([&, i] {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() +
                           std::chrono::seconds(20));
      v1::AuthorizeResponse response;
      const absl::Time start = absl::Now();
      const grpc::Status s = replicas_[i % 2]->authz().Authorize(
          &context, Spend("steady", "steady_w", 1), &response);
      const int64_t ms = absl::ToInt64Milliseconds(absl::Now() - start);
      int64_t prev = slowest_ms.load();
      while (ms > prev && !slowest_ms.compare_exchange_weak(prev, ms)) {
      }
      (s.error_code() == grpc::StatusCode::UNAVAILABLE ? unavailable : other)++;
    });
  }
  for (std::thread& t : callers) t.join();
  redis_->Resume();
  EXPECT_EQ(unavailable, 6);
  EXPECT_EQ(other, 0);
  EXPECT_LE(slowest_ms.load(), 3000);
  std::cerr << "stalled Redis: slowest call answered UNAVAILABLE after "
            << slowest_ms.load() << " ms\n";
  grpc::Status s;
  for (int i = 0; i < 50; ++i) {
    grpc::ClientContext context;
    v1::AuthorizeResponse after;
    s = replicas_[0]->authz().Authorize(&context,
                                        Spend("steady", "steady_w", 1), &after);
    if (s.ok()) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_TRUE(s.ok()) << s.error_message();
}

// A reservation sent to a stalled Redis, whose caller was answered
// UNAVAILABLE, must not take effect when Redis wakes and runs it: no caller
// was told of that hold, no audit record names it, and it would count
// against the budget (and answer a retry with the same key as a replay of a
// decision nobody saw). Redis refuses a reserve past its deadline.
TEST_F(RedisFaultTest, ReserveRunLateByAStalledRedisTakesNoEffect) {
  redis_->Pause();
  v1::AuthorizeRequest first = Spend("tight", "tight_w", 10);
  first.set_idempotency_key("stalled-key");
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(20));
    v1::AuthorizeResponse response;
    const grpc::Status s =
        replicas_[0]->authz().Authorize(&context, first, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE)
        << s.error_message();
  }
  redis_->Resume();
  absl::SleepFor(absl::Milliseconds(300));  // Redis runs what was queued.
  // The other replica has no memory of the failed call: only Redis's own
  // deadline check keeps the queued script from reserving $10.
  v1::AuthorizeResponse retried, other;
  grpc::Status s;
  for (int i = 0; i < 50; ++i) {
    grpc::ClientContext context;
    s = replicas_[1]->authz().Authorize(&context, first, &retried);
    if (s.ok()) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(retried.decision(), v1::DECISION_ALLOW);
  EXPECT_FALSE(retried.replayed()) << "a retry replayed a decision no one saw";
  grpc::ClientContext context;
  v1::AuthorizeRequest more = Spend("tight", "tight_w", 1);
  ASSERT_TRUE(replicas_[1]->authz().Authorize(&context, more, &other).ok());
  // $10 of $10 is held by the retry; a phantom would have denied the retry.
  EXPECT_EQ(other.decision(), v1::DECISION_DENY);
}

// A call whose own deadline is shorter than the command timeout: Redis,
// stalled past that deadline but not past the command timeout, must not
// make the reservation when it wakes (its caller already gave up).
TEST_F(RedisFaultTest, NothingIsReservedAfterTheCallersDeadline) {
  {
    // Connections open and scripts loaded, so the call is sent at once.
    grpc::ClientContext context;
    v1::AuthorizeResponse warm;
    ASSERT_TRUE(replicas_[0]
                    ->authz()
                    .Authorize(&context, Spend("steady", "steady_w", 1), &warm)
                    .ok());
  }
  redis_->Pause();
  std::thread resume([&] {
    // Past the call's 100 ms, within the script's own deadline (the
    // replicas' command timeout is 500 ms, so 375 ms).
    absl::SleepFor(absl::Milliseconds(250));
    redis_->Resume();
  });
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(100));
    v1::AuthorizeResponse response;
    const grpc::Status s = replicas_[0]->authz().Authorize(
        &context, Spend("hasty", "hasty_w", 1), &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
        << s.error_message();
  }
  resume.join();
  absl::SleepFor(absl::Milliseconds(500));  // Redis runs what was queued.
  // The whole $1 is still there.
  grpc::Status s;
  v1::AuthorizeResponse after;
  for (int i = 0; i < 50; ++i) {
    grpc::ClientContext context;
    s = replicas_[1]->authz().Authorize(&context, Spend("hasty", "hasty_w", 1),
                                        &after);
    if (s.ok()) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(after.decision(), v1::DECISION_ALLOW) << after.reason();
}

}  // namespace
}  // namespace warden::testing
