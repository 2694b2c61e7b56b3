#include "governance/memory/memory_budget_store.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/reserve_requests.h"

namespace warden {
namespace {

using Outcome = ReserveResult::Outcome;

const absl::Time kT0 = absl::FromUnixSeconds(1'777'651'200);

ReserveRequest Hold(const std::string& id, UsdMicros usd, int64_t cap,
                    const std::string& key = "") {
  return TestHold(id, usd, cap, kT0, key);
}

// Many threads racing for one budget admit exactly cap / amount.
TEST(MemoryBudgetStoreTest, ConcurrentReservationsNeverOverAdmit) {
  MemoryBudgetStore store;
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        absl::StatusOr<ReserveResult> r =
            store.Reserve(Hold(absl::StrCat("az_", t, "_", i), 7, 700));
        if (r.ok() && r->outcome == Outcome::kReserved) ++admitted;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(admitted.load(), 100);
}

// Usage reads the sums a Reserve checks.
TEST(MemoryBudgetStoreTest, UsageReadsWhatReserveCounts) {
  MemoryBudgetStore store;
  ASSERT_EQ(store.Reserve(Hold("az_1", 600, 1000))->outcome,
            Outcome::kReserved);
  ReserveRequest w2 = Hold("az_2", 300, 1000);
  w2.authorization.wallet_id = "w2";
  absl::StatusOr<ReserveResult> second = store.Reserve(w2);
  ASSERT_EQ(second->outcome, Outcome::kReserved);
  // What the limit held before this charge.
  EXPECT_THAT(second->used_before, ::testing::ElementsAre(600));
  EXPECT_THAT(*store.Usage("acme", TestUsageQueries(kT0), kT0),
              ::testing::ElementsAre(900, 2, 600, 0));
  // A day later, nothing is in the window.
  EXPECT_THAT(*store.Usage("acme", TestUsageQueries(kT0 + absl::Hours(25)),
                           kT0 + absl::Hours(25)),
              ::testing::ElementsAre(0, 0, 0, 0));
}

// Breakdown splits Usage's sums into settled, held and awaiting approval,
// and finds the oldest usage at the window's finest level.
TEST(MemoryBudgetStoreTest, BreakdownSplitsWhatHoldsHold) {
  MemoryBudgetStore store;
  ASSERT_TRUE(SeedBreakdown(store, kT0));
  ExpectSeededBreakdown(store, kT0);
}

// Past kMaxBreakdownHolds held records Breakdown refuses rather than hold
// the lock for long.
TEST(MemoryBudgetStoreTest, BreakdownIsBounded) {
  MemoryBudgetStore store;
  for (int64_t i = 0; i <= kMaxBreakdownHolds; ++i) {
    ReserveRequest r = Hold(absl::StrCat("az_", i), 1, 1'000'000'000);
    r.limits.clear();
    ASSERT_EQ(store.Reserve(r)->outcome, Outcome::kReserved);
  }
  absl::StatusOr<std::vector<UsageBreakdown>> got =
      store.Breakdown("acme", TestUsageQueries(kT0), kT0);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(got.status().message(),
              ::testing::HasSubstr("100001 or more held spends"));
}

// Abandon forgets the record, its charge and its idempotency key.
TEST(MemoryBudgetStoreTest, AbandonForgetsEverything) {
  MemoryBudgetStore store;
  ASSERT_EQ(store.Reserve(Hold("az_1", 100, 100, "k"))->outcome,
            Outcome::kReserved);
  ASSERT_TRUE(store.Abandon("acme", "az_1").ok());
  EXPECT_EQ(store.Get("acme", "az_1").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store.Reserve(Hold("az_2", 100, 100, "k"))->outcome,
            Outcome::kReserved);
  EXPECT_EQ(store.Abandon("acme", "az_1").code(), absl::StatusCode::kNotFound);
}

// Over-limit results carry the usage, the part of it that went through the
// request's own wallet, and the part awaiting approval.
TEST(MemoryBudgetStoreTest, OverLimitUsage) {
  MemoryBudgetStore store;
  ASSERT_EQ(store.Reserve(Hold("az_1", 60, 100))->outcome, Outcome::kReserved);
  ReserveRequest second = Hold("az_2", 30, 100);
  second.authorization.wallet_id = "w2";
  ASSERT_EQ(store.Reserve(second)->outcome, Outcome::kReserved);
  absl::StatusOr<ReserveResult> r = store.Reserve(Hold("az_3", 11, 100));
  ASSERT_EQ(r->outcome, Outcome::kOverLimit);
  ASSERT_EQ(r->exceeded.size(), 1u);
  EXPECT_EQ(r->exceeded[0].used, 90);
  EXPECT_EQ(r->exceeded[0].child_used, 60);
  EXPECT_EQ(r->exceeded[0].pending, 0);
  EXPECT_EQ(store.Get("acme", "az_3").status().code(),
            absl::StatusCode::kNotFound);

  // A hold awaiting approval counts, and is reported as pending.
  ReserveRequest awaiting = Hold("az_4", 5, 100);
  awaiting.authorization.decision = Decision::kPendingApproval;
  ASSERT_EQ(store.Reserve(awaiting)->outcome, Outcome::kReserved);
  r = store.Reserve(Hold("az_5", 6, 100));
  ASSERT_EQ(r->outcome, Outcome::kOverLimit);
  EXPECT_EQ(r->exceeded[0].used, 95);
  EXPECT_EQ(r->exceeded[0].pending, 5);
}

// Usage outlives the records: a window that a later policy lengthens still
// counts spends whose records were dropped under the shorter one.
TEST(MemoryBudgetStoreTest, DroppedRecordsStillCount) {
  MemoryBudgetStore store;
  ASSERT_EQ(store.Reserve(Hold("az_1", 100, 100))->outcome, Outcome::kReserved);
  ASSERT_TRUE(store.Settle("acme", "az_1", 1000, 100, "0xtx", kT0).ok());
  ASSERT_TRUE(store.ExpireDue("acme", kT0 + absl::Hours(48), 10).ok());
  ASSERT_EQ(store.Get("acme", "az_1").status().code(),
            absl::StatusCode::kNotFound);
  ReserveRequest weekly = Hold("az_2", 1, 100);
  weekly.authorization.created_at = kT0 + absl::Hours(48);
  weekly.limits[0].interval.start = kT0 - absl::Hours(24 * 5);
  absl::StatusOr<ReserveResult> r = store.Reserve(weekly);
  ASSERT_EQ(r->outcome, Outcome::kOverLimit);
  EXPECT_EQ(r->exceeded[0].used, 100);
}

// Records are dropped after their retention, once they are no longer held.
TEST(MemoryBudgetStoreTest, RetentionDropsOldRecords) {
  MemoryBudgetStore store;
  ASSERT_EQ(store.Reserve(Hold("az_1", 100, 100, "k"))->outcome,
            Outcome::kReserved);
  ASSERT_TRUE(store.ExpireDue("acme", kT0 + absl::Hours(47), 10).ok());
  EXPECT_TRUE(store.Get("acme", "az_1").ok());
  ASSERT_TRUE(store.ExpireDue("acme", kT0 + absl::Hours(48), 10).ok());
  EXPECT_EQ(store.Get("acme", "az_1").status().code(),
            absl::StatusCode::kNotFound);
  // The key is forgotten with it.
  ReserveRequest again = Hold("az_2", 100, 100, "k");
  again.authorization.created_at = kT0 + absl::Hours(48);
  again.limits[0].interval.start = kT0 + absl::Hours(24);
  EXPECT_EQ(store.Reserve(again)->outcome, Outcome::kReserved);
}

// ExpireDue moves at most max_records per call.
TEST(MemoryBudgetStoreTest, ExpireDueIsBounded) {
  MemoryBudgetStore store;
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(store.Reserve(Hold(absl::StrCat("az_", i), 1, 100)).ok());
  }
  const absl::Time later = kT0 + absl::Minutes(15);
  EXPECT_EQ(store.ExpireDue("acme", later, 3)->size(), 3u);
  EXPECT_EQ(store.ExpireDue("acme", later, 3)->size(), 2u);
  EXPECT_EQ(store.ExpireDue("acme", later, 3)->size(), 0u);
}

// Restore loads a record as it was, charges included.
TEST(MemoryBudgetStoreTest, RestoreCharges) {
  MemoryBudgetStore store;
  Authorization a = Hold("az_1", 80, 100).authorization;
  a.status = AuthorizationStatus::kSettled;
  a.settled_amount = 1;
  a.settled_usd = 70;
  store.Replace(a, kT0 + absl::Hours(48));
  EXPECT_EQ(store.Reserve(Hold("az_2", 31, 100))->outcome, Outcome::kOverLimit);
  EXPECT_EQ(store.Reserve(Hold("az_3", 30, 100))->outcome, Outcome::kReserved);
}

}  // namespace
}  // namespace warden
