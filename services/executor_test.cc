#include "services/executor.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace warden {
namespace {

// Every task submitted from several threads runs exactly once, and the
// destructor runs what is still queued.
TEST(ExecutorTest, RunsEveryTask) {
  std::atomic<int> ran{0};
  {
    Executor executor(4, 10000);
    std::vector<std::thread> submitters;
    for (int t = 0; t < 4; ++t) {
      submitters.emplace_back([&] {
        for (int i = 0; i < 500; ++i) {
          ASSERT_TRUE(executor.Submit([&] { ++ran; }));
        }
      });
    }
    for (std::thread& t : submitters) t.join();
  }
  EXPECT_EQ(ran.load(), 2000);
}

// With every worker busy, the queue holds max_queued tasks and refuses more.
TEST(ExecutorTest, QueueIsBounded) {
  absl::Notification release;
  std::atomic<int> ran{0};
  {
    Executor executor(1, 2);
    absl::Notification started;
    ASSERT_TRUE(executor.Submit([&] {
      started.Notify();
      release.WaitForNotification();
    }));
    started.WaitForNotification();
    EXPECT_TRUE(executor.Submit([&] { ++ran; }));
    EXPECT_TRUE(executor.Submit([&] { ++ran; }));
    EXPECT_FALSE(executor.Submit([&] { ++ran; }));
    EXPECT_EQ(executor.load().queued, 2u);
    EXPECT_EQ(executor.load().running, 1u);
    release.Notify();
  }
  EXPECT_EQ(ran.load(), 2);
}

// Calls awaiting their answer (an audit sync) hold queue slots: a stalled
// disk sheds new calls as a busy pool does, and the pool is idle only once
// they are answered.
TEST(ExecutorTest, AwaitedAnswersHoldQueueSlots) {
  Executor executor(1, 2);
  executor.Await();
  executor.Await();
  EXPECT_FALSE(executor.Submit([] {}));
  EXPECT_FALSE(executor.WaitIdle(absl::Now() + absl::Milliseconds(50)));
  executor.Answered();
  EXPECT_TRUE(executor.Submit([] {}));
  executor.Answered();
  EXPECT_TRUE(executor.WaitIdle(absl::Now() + absl::Seconds(10)));
}

}  // namespace
}  // namespace warden
