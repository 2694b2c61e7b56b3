#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "governance/redis/redis_budget_store.h"
#include "gtest/gtest.h"
#include "tests/fakes/reserve_requests.h"
#include "tests/support/mark_ready.h"
#include "tests/support/redis_server.h"

namespace warden {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using Outcome = ReserveResult::Outcome;

// Near the real time: Redis expires keys by its own clock, so TTLs derived
// from a fake clock far in the past would delete them at once.
const absl::Time kT0 =
    absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()) / 3600 * 3600);

ReserveRequest Hold(const std::string& id, UsdMicros usd, int64_t cap,
                    const std::string& key = "") {
  return TestHold(id, usd, cap, kT0, key);
}

class RedisBudgetStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<testing::RedisServer>> r =
        testing::RedisServer::Start();
    ASSERT_TRUE(r.ok()) << r.status();
    redis_ = r->release();
  }
  static void TearDownTestSuite() { delete redis_; }

  void SetUp() override {
    ASSERT_TRUE(admin_.Command({"FLUSHALL"}).ok());
    ASSERT_TRUE(testing::MarkReadyNow(store_, "acme").ok());
  }

  static testing::RedisServer* redis_;
  RedisClient admin_{*ParseRedisUrl(redis_->url())};
  RedisBudgetStore store_{
      std::make_unique<RedisClient>(*ParseRedisUrl(redis_->url()))};
};

testing::RedisServer* RedisBudgetStoreTest::redis_ = nullptr;

// The whole lifecycle: hold, over-limit with the requester's wallet's part,
// settle releasing the difference, void, and the records' states.
TEST_F(RedisBudgetStoreTest, Lifecycle) {
  ASSERT_EQ(store_.Reserve(Hold("az_1", 600, 1000))->outcome,
            Outcome::kReserved);
  ReserveRequest w2 = Hold("az_2", 300, 1000);
  w2.authorization.wallet_id = "w2";
  ASSERT_EQ(store_.Reserve(w2)->outcome, Outcome::kReserved);
  absl::StatusOr<ReserveResult> over = store_.Reserve(Hold("az_3", 101, 1000));
  ASSERT_TRUE(over.ok()) << over.status();
  ASSERT_EQ(over->outcome, Outcome::kOverLimit);
  ASSERT_EQ(over->exceeded.size(), 1u);
  EXPECT_EQ(over->exceeded[0].used, 900);
  EXPECT_EQ(over->exceeded[0].child_used, 600);  // Through wallet w1.
  EXPECT_EQ(over->exceeded[0].pending, 0);

  absl::StatusOr<Authorization> settled =
      store_.Settle("acme", "az_1", 500, 400, "0xtx", kT0);
  ASSERT_TRUE(settled.ok()) << settled.status();
  EXPECT_EQ(settled->status, AuthorizationStatus::kSettled);
  EXPECT_EQ(settled->settled_usd, 400);
  EXPECT_EQ(*settled->settled_amount, 500);
  EXPECT_EQ(settled->tx_hash, "0xtx");
  // Retried settle: unchanged. Different settle: refused.
  EXPECT_TRUE(store_.Settle("acme", "az_1", 500, 400, "0xtx", kT0).ok());
  EXPECT_EQ(store_.Settle("acme", "az_1", 1, 1, "0xother", kT0).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // 400 + 300 used: 300 fits exactly, 301 does not.
  EXPECT_EQ(store_.Reserve(Hold("az_4", 301, 1000))->outcome,
            Outcome::kOverLimit);
  ASSERT_EQ(store_.Reserve(Hold("az_5", 300, 1000))->outcome,
            Outcome::kReserved);
  ASSERT_TRUE(store_.Void("acme", "az_5", kT0).ok());
  EXPECT_TRUE(store_.Void("acme", "az_5", kT0).ok());  // Retried void.
  EXPECT_EQ(store_.Get("acme", "az_5")->status, AuthorizationStatus::kVoided);
  EXPECT_EQ(store_.Get("acme", "nope").status().code(),
            absl::StatusCode::kNotFound);
  // StatusesOf reads the statuses alone, in one call.
  absl::StatusOr<std::vector<std::optional<AuthorizationStatus>>> statuses =
      store_.StatusesOf("acme", {"az_5", "az_2", "nope", "az_1"});
  ASSERT_TRUE(statuses.ok()) << statuses.status();
  EXPECT_THAT(*statuses, ElementsAre(AuthorizationStatus::kVoided,
                                     AuthorizationStatus::kHeld, std::nullopt,
                                     AuthorizationStatus::kSettled));
  EXPECT_THAT(*store_.StatusesOf("acme", {}), IsEmpty());
  EXPECT_EQ(store_.Settle("acme", "az_2", 1, 1, "", kT0 + absl::Minutes(15))
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
}

// Usage reads the sums a Reserve checks, in one call.
TEST_F(RedisBudgetStoreTest, UsageReadsWhatReserveCounts) {
  ASSERT_EQ(store_.Reserve(Hold("az_1", 600, 1000))->outcome,
            Outcome::kReserved);
  ReserveRequest w2 = Hold("az_2", 300, 1000);
  w2.authorization.wallet_id = "w2";
  absl::StatusOr<ReserveResult> second = store_.Reserve(w2);
  ASSERT_EQ(second->outcome, Outcome::kReserved);
  // What the limit held before this charge.
  EXPECT_THAT(second->used_before, ElementsAre(600));
  absl::StatusOr<std::vector<int64_t>> used =
      store_.Usage("acme", TestUsageQueries(kT0), kT0);
  ASSERT_TRUE(used.ok()) << used.status();
  EXPECT_THAT(*used, ElementsAre(900, 2, 600, 0));
  ASSERT_TRUE(store_.Void("acme", "az_2", kT0).ok());
  EXPECT_THAT(*store_.Usage("acme", TestUsageQueries(kT0), kT0),
              ElementsAre(600, 1, 600, 0));
  EXPECT_THAT(*store_.Usage("acme", {}, kT0), IsEmpty());
}

// Breakdown splits Usage's sums into settled, held and awaiting approval,
// and finds the oldest usage at the window's finest level.
TEST_F(RedisBudgetStoreTest, BreakdownSplitsWhatHoldsHold) {
  ASSERT_TRUE(SeedBreakdown(store_, kT0));
  ExpectSeededBreakdown(store_, kT0);
}

// Breakdown fails closed as Reserve does: UNAVAILABLE on a Redis that lost
// the org's state, and within its command timeout on one that stopped
// answering (SIGSTOP), never hanging.
TEST_F(RedisBudgetStoreTest, BreakdownFailsClosed) {
  ASSERT_TRUE(admin_.Command({"FLUSHALL"}).ok());
  absl::StatusOr<std::vector<UsageBreakdown>> lost =
      store_.Breakdown("acme", TestUsageQueries(kT0), kT0);
  EXPECT_TRUE(absl::IsUnavailable(lost.status())) << lost.status();
  EXPECT_THAT(lost.status().message(), HasSubstr("rebuilding"));
  ASSERT_TRUE(testing::MarkReadyNow(store_, "acme").ok());
  RedisOptions options = *ParseRedisUrl(redis_->url());
  options.command_timeout = absl::Milliseconds(500);
  RedisBudgetStore stalled(std::make_unique<RedisClient>(options));
  ASSERT_TRUE(stalled.Breakdown("acme", TestUsageQueries(kT0), kT0).ok());
  redis_->Pause();
  const absl::Time start = absl::Now();
  absl::StatusOr<std::vector<UsageBreakdown>> got =
      stalled.Breakdown("acme", TestUsageQueries(kT0), kT0);
  const absl::Duration took = absl::Now() - start;
  redis_->Resume();
  EXPECT_TRUE(absl::IsUnavailable(got.status())) << got.status();
  EXPECT_LT(took, absl::Seconds(3));
}

// Past kMaxBreakdownHolds held records Breakdown refuses rather than hold
// Redis for one long script.
TEST_F(RedisBudgetStoreTest, BreakdownIsBounded) {
  std::vector<std::string> zadd = {"ZADD", "{acme}:x"};
  for (int64_t i = 0; i <= kMaxBreakdownHolds; ++i) {
    zadd.insert(zadd.end(), {"1", absl::StrCat("az_", i)});
  }
  ASSERT_TRUE(admin_.Command(zadd).ok());
  absl::StatusOr<std::vector<UsageBreakdown>> got =
      store_.Breakdown("acme", TestUsageQueries(kT0), kT0);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(got.status().message(), HasSubstr("100001 or more held spends"));
}

// Idempotency keys return the first record; Abandon forgets both.
TEST_F(RedisBudgetStoreTest, IdempotencyAndAbandon) {
  ASSERT_EQ(store_.Reserve(Hold("az_1", 600, 1000, "k"))->outcome,
            Outcome::kReserved);
  absl::StatusOr<ReserveResult> dup =
      store_.Reserve(Hold("az_2", 600, 1000, "k"));
  ASSERT_EQ(dup->outcome, Outcome::kDuplicate);
  EXPECT_EQ(dup->authorization.id, "az_1");
  ASSERT_TRUE(store_.Abandon("acme", "az_1").ok());
  EXPECT_EQ(store_.Get("acme", "az_1").status().code(),
            absl::StatusCode::kNotFound);
  // The key and the charge are gone: a full-size hold fits again.
  EXPECT_EQ(store_.Reserve(Hold("az_3", 1000, 1000, "k"))->outcome,
            Outcome::kReserved);
  // A record without an idempotency key is abandoned too (its charge
  // released).
  ASSERT_TRUE(store_.Abandon("acme", "az_3").ok());
  ASSERT_EQ(store_.Reserve(Hold("az_4", 1000, 1000))->outcome,
            Outcome::kReserved);
  ASSERT_TRUE(store_.Abandon("acme", "az_4").ok());
  EXPECT_EQ(store_.Reserve(Hold("az_5", 1000, 1000))->outcome,
            Outcome::kReserved);
}

// Expiry follows each hold's on_expiry, and every replica may sweep.
TEST_F(RedisBudgetStoreTest, ExpiryCountsOrReleases) {
  ReserveRequest counted = Hold("az_1", 400, 1000);
  ReserveRequest released = Hold("az_2", 400, 1000);
  released.authorization.on_expiry = ExpiredHolds::kRelease;
  ASSERT_EQ(store_.Reserve(counted)->outcome, Outcome::kReserved);
  ASSERT_EQ(store_.Reserve(released)->outcome, Outcome::kReserved);
  EXPECT_TRUE(store_.ExpireDue("acme", kT0, 10)->empty());
  absl::StatusOr<std::vector<Authorization>> expired =
      store_.ExpireDue("acme", kT0 + absl::Minutes(15), 10);
  ASSERT_TRUE(expired.ok()) << expired.status();
  EXPECT_EQ(expired->size(), 2u);
  EXPECT_TRUE(store_.Get("acme", "az_1")->expired_counted);
  EXPECT_FALSE(store_.Get("acme", "az_2")->expired_counted);
  EXPECT_TRUE(store_.ExpireDue("acme", kT0 + absl::Hours(1), 10)->empty());
  // 400 still counts: 600 fits, 601 does not.
  EXPECT_EQ(store_.Reserve(Hold("az_3", 601, 1000))->outcome,
            Outcome::kOverLimit);
  EXPECT_EQ(store_.Reserve(Hold("az_4", 600, 1000))->outcome,
            Outcome::kReserved);
}

// A frozen flag anywhere on the path refuses the spend atomically.
TEST_F(RedisBudgetStoreTest, FrozenScopeRefuses) {
  ASSERT_TRUE(
      admin_.Command({"SET", "{acme}:frozen:department/eng", "1"}).ok());
  absl::StatusOr<ReserveResult> r = store_.Reserve(Hold("az_1", 1, 1000));
  ASSERT_EQ(r->outcome, Outcome::kFrozen);
  EXPECT_EQ(r->frozen_scope, "department/eng");
  EXPECT_EQ(store_.Get("acme", "az_1").status().code(),
            absl::StatusCode::kNotFound);
}

// After SCRIPT FLUSH (as after a Redis restart) scripts are reloaded.
TEST_F(RedisBudgetStoreTest, ReloadsScriptsOnNoscript) {
  ASSERT_EQ(store_.Reserve(Hold("az_1", 1, 1000))->outcome, Outcome::kReserved);
  ASSERT_TRUE(admin_.Command({"SCRIPT", "FLUSH"}).ok());
  EXPECT_EQ(store_.Reserve(Hold("az_2", 1, 1000))->outcome, Outcome::kReserved);
}

// Every key the store writes has a TTL and the org's hash tag.
TEST_F(RedisBudgetStoreTest, EveryKeyHasTtlAndTag) {
  ASSERT_TRUE(store_.Reserve(Hold("az_1", 1, 1000, "k")).ok());
  ReserveRequest denied = Hold("az_2", 1, 1000, "k2");
  denied.authorization.status = AuthorizationStatus::kDenied;
  ASSERT_TRUE(store_.Reserve(denied).ok());
  ReserveRequest cal = Hold("az_3", 1, 1000);
  cal.limits[0].calendar = true;
  cal.limits[0].interval = {kT0 - absl::Hours(2), kT0 + absl::Hours(22)};
  ASSERT_EQ(store_.Reserve(cal)->outcome, Outcome::kReserved);
  absl::StatusOr<RedisReply> keys = admin_.Command({"KEYS", "*"});
  ASSERT_TRUE(keys.ok());
  EXPECT_GT(keys->elements.size(), 10u);
  for (const RedisReply& k : keys->elements) {
    EXPECT_EQ(k.str.rfind("{acme}:", 0), 0u) << k.str;
    absl::StatusOr<RedisReply> ttl = admin_.Command({"TTL", k.str});
    EXPECT_GT(ttl->integer, 0) << k.str;
  }
}

// The script returns the reason's figures itself: what went through the
// request's own wallet and what awaits approval, in one round trip.
TEST_F(RedisBudgetStoreTest, OverLimitFiguresComeWithTheRefusal) {
  ReserveRequest awaiting = Hold("az_1", 300, 1000);
  awaiting.authorization.decision = Decision::kPendingApproval;
  ASSERT_EQ(store_.Reserve(awaiting)->outcome, Outcome::kReserved);
  ReserveRequest other = Hold("az_2", 500, 1000);
  other.authorization.wallet_id = "w2";
  ASSERT_EQ(store_.Reserve(other)->outcome, Outcome::kReserved);
  absl::StatusOr<ReserveResult> over = store_.Reserve(Hold("az_3", 201, 1000));
  ASSERT_EQ(over->outcome, Outcome::kOverLimit);
  EXPECT_EQ(over->exceeded[0].used, 800);
  EXPECT_EQ(over->exceeded[0].child_used, 300);
  EXPECT_EQ(over->exceeded[0].pending, 300);
}

// A usage hash keeps a bounded number of buckets per level: a charge that
// starts a bucket deletes those that fell out, and releases of a charge
// older than what a level keeps leave it alone.
TEST_F(RedisBudgetStoreTest, UsageHashesStayBounded) {
  for (int minute = 0; minute < 300; ++minute) {
    ReserveRequest r = Hold(absl::StrCat("az_", minute), 1, 1'000'000);
    r.authorization.created_at = kT0 + absl::Minutes(minute);
    r.authorization.hold_expires_at = kT0 + absl::Hours(6);
    r.limits[0].interval.start = r.authorization.created_at - absl::Hours(1);
    ASSERT_EQ(store_.Reserve(r)->outcome, Outcome::kReserved) << minute;
  }
  ASSERT_TRUE(store_.Void("acme", "az_0", kT0 + absl::Minutes(300)).ok());
  absl::StatusOr<RedisReply> fields =
      admin_.Command({"HKEYS", "{acme}:u:agent/agent_a"});
  ASSERT_TRUE(fields.ok());
  int minutes = 0;
  for (const RedisReply& f : fields->elements) {
    if (f.str[0] == 'm' && f.str.size() > 1) ++minutes;
  }
  EXPECT_EQ(minutes, 2 * 134);  // u and c of the newest bucket and 133 more.
}

// The most limits a scope may have, each a year long, read more bucket
// fields than one Lua unpack takes: the script reads them in parts.
TEST_F(RedisBudgetStoreTest, ThirtyTwoYearLongLimits) {
  ReserveRequest r = Hold("az_1", 1, 1000);
  const LimitCheck year = r.limits[0];
  r.limits.clear();
  for (int i = 0; i < 32; ++i) {
    LimitCheck c = year;
    c.interval.start = kT0 - absl::Hours(24 * 366) + absl::Hours(i);
    r.limits.push_back(c);
  }
  ASSERT_EQ(store_.Reserve(r)->outcome, Outcome::kReserved);
  r.authorization.id = "az_2";
  r.authorization.amount_usd = 1000;
  absl::StatusOr<ReserveResult> over = store_.Reserve(r);
  ASSERT_TRUE(over.ok()) << over.status();
  ASSERT_EQ(over->outcome, Outcome::kOverLimit);
  EXPECT_EQ(over->exceeded.size(), 32u);
}

// A charge that would take a scope's bucket past the largest exact sum is
// refused, and nothing is written.
TEST_F(RedisBudgetStoreTest, BucketsStayExact) {
  ReserveRequest big = Hold("az_1", RedisBudgetStore::kMaxExactMicros,
                            RedisBudgetStore::kMaxExactMicros);
  big.limits.clear();
  ASSERT_EQ(store_.Reserve(big)->outcome, Outcome::kReserved);
  ReserveRequest more = Hold("az_2", 1, 1000);
  more.limits.clear();
  EXPECT_EQ(store_.Reserve(more).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_.Get("acme", "az_2").status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(store_.Void("acme", "az_1", kT0).ok());
  EXPECT_EQ(store_.Reserve(more)->outcome, Outcome::kReserved);
}

// A Redis that lost its data refuses spends until the state is rebuilt;
// restoring records is idempotent and brings their charges back.
TEST_F(RedisBudgetStoreTest, LostStateRefusesUntilRebuilt) {
  ASSERT_EQ(store_.Reserve(Hold("az_1", 600, 1000))->outcome,
            Outcome::kReserved);
  const Authorization held = *store_.Get("acme", "az_1");
  ASSERT_TRUE(admin_.Command({"FLUSHALL"}).ok());
  EXPECT_EQ(store_.CheckReady("acme")->state,
            BudgetStore::Readiness::State::kEmpty);
  absl::StatusOr<ReserveResult> refused = store_.Reserve(Hold("az_2", 1, 1000));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(refused.status().message(), HasSubstr("rebuilding"));
  EXPECT_EQ(store_.Void("acme", "az_1", kT0).status().code(),
            absl::StatusCode::kNotFound);
  for (int i = 0; i < 2; ++i) {  // Twice: a second rebuild charges nothing.
    ASSERT_TRUE(
        store_.Restore(held, kT0 + absl::Hours(48), absl::UTCTimeZone()).ok());
  }
  ASSERT_TRUE(testing::MarkReadyNow(store_, "acme").ok());
  EXPECT_EQ(store_.Reserve(Hold("az_3", 401, 1000))->outcome,
            Outcome::kOverLimit);
  EXPECT_EQ(store_.Reserve(Hold("az_4", 400, 1000))->outcome,
            Outcome::kReserved);
  // The restored hold can still be voided, releasing its charge.
  ASSERT_TRUE(store_.Void("acme", "az_1", kT0).ok());
  EXPECT_EQ(store_.Reserve(Hold("az_5", 600, 1000))->outcome,
            Outcome::kReserved);
}

// A ready mark of another replication history (a promoted replica keeps
// the mark its old primary set; and the "1" of releases before this check)
// refuses the org's spends, settles and status reads until the engine has
// checked its state and marked it on this Redis's own history; a mark for a
// history that is no longer this Redis's is refused.
TEST_F(RedisBudgetStoreTest, AnotherHistoryIsCheckedBeforeSpends) {
  ASSERT_EQ(store_.Reserve(Hold("az_1", 600, 1000))->outcome,
            Outcome::kReserved);
  absl::StatusOr<BudgetStore::Readiness> ready = store_.CheckReady("acme");
  ASSERT_TRUE(ready.ok()) << ready.status();
  ASSERT_EQ(ready->state, BudgetStore::Readiness::State::kReady);
  ASSERT_EQ(ready->history.size(), 40u);
  for (const std::string& mark : {std::string(40, '0'), std::string("1")}) {
    ASSERT_TRUE(admin_.Command({"SET", "{acme}:ok", mark}).ok());
    absl::StatusOr<BudgetStore::Readiness> moved = store_.CheckReady("acme");
    ASSERT_TRUE(moved.ok()) << moved.status();
    EXPECT_EQ(moved->state, BudgetStore::Readiness::State::kUnverified);
    EXPECT_EQ(moved->history, ready->history);
    absl::StatusOr<ReserveResult> refused =
        store_.Reserve(Hold("az_2", 1, 1000));
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_THAT(refused.status().message(), HasSubstr("failed over"));
    EXPECT_EQ(store_.Void("acme", "az_1", kT0).status().code(),
              absl::StatusCode::kUnavailable);
    EXPECT_EQ(store_.Breakdown("acme", {}, kT0).status().code(),
              absl::StatusCode::kUnavailable);
    // A recovery holds for as long as it was asked, on Redis's clock; a
    // second replica joins it (same token, same deadline).
    absl::StatusOr<BudgetStore::Recovery> recovery =
        store_.BeginRecovery("acme", moved->history, absl::Hours(1));
    ASSERT_TRUE(recovery.ok()) << recovery.status();
    EXPECT_GT(recovery->hold_left, absl::Minutes(59));
    absl::StatusOr<BudgetStore::Recovery> joined =
        store_.BeginRecovery("acme", moved->history, absl::ZeroDuration());
    ASSERT_TRUE(joined.ok()) << joined.status();
    EXPECT_EQ(joined->token, recovery->token);
    EXPECT_GT(joined->hold_left, absl::Minutes(59));
    // Neither another history nor another token marks it ready.
    absl::Status refused_mark =
        store_.MarkReady("acme", std::string(40, 'f'), recovery->token, "");
    EXPECT_EQ(refused_mark.code(), absl::StatusCode::kUnavailable)
        << refused_mark;
    refused_mark = store_.MarkReady("acme", moved->history, "another", "");
    EXPECT_EQ(refused_mark.code(), absl::StatusCode::kUnavailable)
        << refused_mark;
    EXPECT_EQ(store_.CheckReady("acme")->state,
              BudgetStore::Readiness::State::kUnverified);
    ASSERT_TRUE(
        store_.MarkReady("acme", moved->history, recovery->token, "").ok());
    EXPECT_EQ(store_.Reserve(Hold("az_3", 401, 1000))->outcome,
              Outcome::kOverLimit);
  }
}

// Replicas whose audit bounds differ wait for the longest hold any of them
// asked for, from when the first saw the failover.
TEST_F(RedisBudgetStoreTest, TheLongestHoldAskedFor) {
  ASSERT_TRUE(admin_.Command({"SET", "{acme}:ok", std::string(40, '0')}).ok());
  absl::StatusOr<BudgetStore::Readiness> moved = store_.CheckReady("acme");
  ASSERT_TRUE(moved.ok()) << moved.status();
  absl::StatusOr<BudgetStore::Recovery> first =
      store_.BeginRecovery("acme", moved->history, absl::Seconds(1));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_LE(first->hold_left, absl::Seconds(1));
  absl::StatusOr<BudgetStore::Recovery> longer =
      store_.BeginRecovery("acme", moved->history, absl::Hours(1));
  ASSERT_TRUE(longer.ok()) << longer.status();
  EXPECT_EQ(longer->token, first->token);
  EXPECT_GT(longer->hold_left, absl::Minutes(59));
  absl::StatusOr<BudgetStore::Recovery> shorter =
      store_.BeginRecovery("acme", moved->history, absl::ZeroDuration());
  ASSERT_TRUE(shorter.ok()) << shorter.status();
  EXPECT_GT(shorter->hold_left, absl::Minutes(59));
}

// While the org is unchecked after a failover its holds do not expire (a
// lost settle must not let one expire and release its money); they do
// once it is ready. Restoring a record that is already there leaves it as
// it is, its state included.
TEST_F(RedisBudgetStoreTest, NoExpiryWhileUncheckedAndRestoreKeeps) {
  ReserveRequest r = Hold("az_1", 400, 1000);
  r.authorization.hold_expires_at = kT0 + absl::Minutes(1);
  ASSERT_EQ(store_.Reserve(r)->outcome, Outcome::kReserved);
  Authorization settled = *store_.Get("acme", "az_1");
  settled.status = AuthorizationStatus::kSettled;
  settled.settled_amount = 400;
  settled.settled_usd = 400;
  settled.tx_hash = "0xabc";
  ASSERT_TRUE(
      store_.Restore(settled, kT0 + absl::Hours(48), absl::UTCTimeZone()).ok());
  absl::StatusOr<RedisReply> fields =
      admin_.Command({"HMGET", "{acme}:r:az_1", "st", "tx"});
  ASSERT_TRUE(fields.ok()) << fields.status();
  EXPECT_EQ(fields->elements[0].str, "HELD");
  EXPECT_EQ(fields->elements[1].type, RedisReply::Type::kNil);

  ASSERT_TRUE(admin_.Command({"SET", "{acme}:ok", std::string(40, '0')}).ok());
  absl::StatusOr<std::vector<Authorization>> expired =
      store_.ExpireDue("acme", kT0 + absl::Hours(1), 10);
  EXPECT_EQ(expired.status().code(), absl::StatusCode::kUnavailable)
      << expired.status();
  EXPECT_EQ(store_.Get("acme", "az_1")->status, AuthorizationStatus::kHeld);
  ASSERT_TRUE(testing::MarkReadyNow(store_, "acme").ok());
  expired = store_.ExpireDue("acme", kT0 + absl::Hours(1), 10);
  ASSERT_TRUE(expired.ok()) << expired.status();
  ASSERT_EQ(expired->size(), 1u);
  EXPECT_EQ(store_.Get("acme", "az_1")->status, AuthorizationStatus::kExpired);
}

// A flush during a rebuild voids it: the recovery's token is gone, so the
// half-rebuilt state is never marked ready, and the next recovery starts
// afresh (a new token, no hold left over). A replica's claim on a recovery
// keeps every other replica from marking it ready.
TEST_F(RedisBudgetStoreTest, AFlushDuringARebuildVoidsIt) {
  ASSERT_TRUE(admin_.Command({"FLUSHALL"}).ok());
  absl::StatusOr<BudgetStore::Readiness> empty = store_.CheckReady("acme");
  ASSERT_TRUE(empty.ok()) << empty.status();
  ASSERT_EQ(empty->state, BudgetStore::Readiness::State::kEmpty);
  absl::StatusOr<BudgetStore::Recovery> first =
      store_.BeginRecovery("acme", empty->history, absl::ZeroDuration());
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->hold_left, absl::ZeroDuration());
  ASSERT_TRUE(admin_.Command({"FLUSHALL"}).ok());
  const absl::Status voided =
      store_.MarkReady("acme", empty->history, first->token, "");
  EXPECT_EQ(voided.code(), absl::StatusCode::kUnavailable) << voided;
  EXPECT_THAT(voided.message(), HasSubstr("starting over"));
  EXPECT_EQ(store_.CheckReady("acme")->state,
            BudgetStore::Readiness::State::kEmpty);
  absl::StatusOr<BudgetStore::Recovery> second =
      store_.BeginRecovery("acme", empty->history, absl::ZeroDuration());
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_NE(second->token, first->token);
  absl::StatusOr<std::string> claim = store_.ClaimRecovery("acme");
  ASSERT_TRUE(claim.ok()) << claim.status();
  ASSERT_FALSE(claim->empty());
  EXPECT_EQ(*store_.ClaimRecovery("acme"), "");
  // Given up, it can be claimed again.
  ASSERT_TRUE(store_.ReleaseClaim("acme", *claim).ok());
  claim = store_.ClaimRecovery("acme");
  ASSERT_TRUE(claim.ok()) << claim.status();
  ASSERT_FALSE(claim->empty());
  EXPECT_EQ(store_.MarkReady("acme", empty->history, second->token, "").code(),
            absl::StatusCode::kUnavailable);
  ASSERT_TRUE(
      store_.MarkReady("acme", empty->history, second->token, *claim).ok());
  EXPECT_EQ(store_.CheckReady("acme")->state,
            BudgetStore::Readiness::State::kReady);
}

// Promoting a replica gives it a history of its own: the state it copied
// from its primary is kUnverified there.
TEST(RedisFailoverTest, APromotedReplicaIsUnverified) {
  absl::StatusOr<std::unique_ptr<testing::RedisServer>> primary =
      testing::RedisServer::Start();
  ASSERT_TRUE(primary.ok()) << primary.status();
  absl::StatusOr<std::unique_ptr<testing::RedisServer>> replica =
      testing::RedisServer::Start(
          {"--replicaof", "127.0.0.1", absl::StrCat((*primary)->port())});
  ASSERT_TRUE(replica.ok()) << replica.status();
  RedisBudgetStore on_primary(
      std::make_unique<RedisClient>(*ParseRedisUrl((*primary)->url())));
  ASSERT_TRUE(testing::MarkReadyNow(on_primary, "acme").ok());
  RedisClient replica_admin(*ParseRedisUrl((*replica)->url()));
  bool copied = false;
  for (int i = 0; i < 100 && !copied; ++i) {  // Bounded: 10 s at most.
    absl::StatusOr<RedisReply> got =
        replica_admin.Command({"GET", "{acme}:ok"});
    copied = got.ok() && got->type == RedisReply::Type::kString;
    if (!copied) absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_TRUE(copied) << "the replica never copied the ready mark";
  ASSERT_TRUE(replica_admin.Command({"REPLICAOF", "NO", "ONE"}).ok());
  RedisBudgetStore on_replica(
      std::make_unique<RedisClient>(*ParseRedisUrl((*replica)->url())));
  absl::StatusOr<BudgetStore::Readiness> promoted =
      on_replica.CheckReady("acme");
  ASSERT_TRUE(promoted.ok()) << promoted.status();
  EXPECT_EQ(promoted->state, BudgetStore::Readiness::State::kUnverified);
  EXPECT_EQ(on_primary.CheckReady("acme")->state,
            BudgetStore::Readiness::State::kReady);
}

// A stalled Redis (SIGSTOP) fails each reserve within its own timeouts,
// however many reserves are in doubt: one caller at a time resolves them,
// the others do not wait for it.
TEST(RedisBudgetStoreFailureTest, InDoubtReservesDoNotQueueCallers) {
  absl::StatusOr<std::unique_ptr<testing::RedisServer>> redis =
      testing::RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  RedisOptions options = *ParseRedisUrl((*redis)->url());
  options.command_timeout = absl::Milliseconds(300);
  RedisBudgetStore store(std::make_unique<RedisClient>(options));
  ASSERT_TRUE(testing::MarkReadyNow(store, "acme").ok());
  (*redis)->Pause();
  const auto reserve_all = [&](int from, int n) {
    std::atomic<int64_t> slowest_ms{0};
    std::vector<std::thread> threads;
    for (int i = from; i < from + n; ++i) {
      threads.emplace_back([&, i] {
        const absl::Time start = absl::Now();
        EXPECT_FALSE(store.Reserve(Hold(absl::StrCat("az_", i), 1, 1000)).ok());
        const int64_t ms = absl::ToInt64Milliseconds(absl::Now() - start);
        int64_t seen = slowest_ms;
        while (ms > seen && !slowest_ms.compare_exchange_weak(seen, ms)) {
        }
      });
    }
    for (std::thread& t : threads) t.join();
    return slowest_ms.load();
  };
  reserve_all(0, 16);  // Sent and unanswered: in doubt.
  // Each now also meets the in-doubt queue; serialised behind it, the last
  // would wait 16 timeouts.
  EXPECT_LE(reserve_all(100, 16), 2000);
  (*redis)->Resume();
}

// A reserve Redis would run after its caller stopped waiting (a stall
// shorter than the command timeout, longer than the call's deadline) is not
// made: it charges nothing.
TEST(RedisBudgetStoreFailureTest, NothingIsReservedPastTheCallersDeadline) {
  absl::StatusOr<std::unique_ptr<testing::RedisServer>> redis =
      testing::RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  RedisOptions options = *ParseRedisUrl((*redis)->url());
  options.command_timeout = absl::Seconds(3);
  RedisBudgetStore store(std::make_unique<RedisClient>(options));
  ASSERT_TRUE(testing::MarkReadyNow(store, "acme").ok());
  // $1 spent (and the script loaded, so that the next call is sent at once).
  ASSERT_TRUE(store.Reserve(Hold("az_warm", 1, 1000)).ok());
  (*redis)->Pause();
  std::thread resume([&] {
    absl::SleepFor(absl::Milliseconds(600));
    (*redis)->Resume();
  });
  ReserveRequest late = Hold("az_late", 1, 2);
  late.not_after = absl::Now() + absl::Milliseconds(200);
  const absl::StatusOr<ReserveResult> r = store.Reserve(late);
  resume.join();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("past its deadline"));
  // $1 of the $2 cap is still there.
  absl::StatusOr<ReserveResult> next = store.Reserve(Hold("az_next", 1, 2));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->outcome, Outcome::kReserved);
  // And one whose deadline passed before it could be sent is not sent.
  ReserveRequest gone = Hold("az_gone", 1, 1000);
  gone.not_after = absl::Now() - absl::Milliseconds(1);
  const absl::Status st = store.Reserve(gone).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kDeadlineExceeded) << st;
  EXPECT_TRUE(RedisClient::NeverSent(st));
}

// A dead Redis is UNAVAILABLE naming the operation, never an outcome.
TEST(RedisBudgetStoreFailureTest, UnreachableIsUnavailable) {
  absl::StatusOr<int> port = testing::FreeLoopbackPort();
  RedisOptions options =
      *ParseRedisUrl(absl::StrCat("redis://127.0.0.1:", *port));
  RedisBudgetStore store(std::make_unique<RedisClient>(options));
  absl::StatusOr<ReserveResult> r = store.Reserve(Hold("az_1", 1, 1000));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(r.status().message(), HasSubstr("redis connect"));
  EXPECT_EQ(store.Get("acme", "az_1").status().code(),
            absl::StatusCode::kUnavailable);
}

// Redis URLs parse, and bad ones name the problem.
TEST(RedisUrlTest, Parse) {
  RedisOptions o = *ParseRedisUrl("redis://10.0.0.5:6380/2");
  EXPECT_EQ(o.host, "10.0.0.5");
  EXPECT_EQ(o.port, 6380);
  EXPECT_EQ(o.db, 2);
  EXPECT_EQ(ParseRedisUrl("redis://[::1]:6379")->host, "::1");
  EXPECT_THAT(ParseRedisUrl("http://x:1").status().message(),
              HasSubstr("must look like redis://"));
  EXPECT_THAT(ParseRedisUrl("redis://x").status().message(),
              HasSubstr("needs HOST:PORT"));
  EXPECT_THAT(ParseRedisUrl("redis://x:1/db").status().message(),
              HasSubstr("database must be a number"));
  // Credentials: requirepass, an ACL user, percent-encoding; errors never
  // quote them.
  o = *ParseRedisUrl("redis://:s3cr%40t@cache:6379/1");
  EXPECT_EQ(o.user, "");
  EXPECT_EQ(o.password, "s3cr@t");
  EXPECT_EQ(o.host, "cache");
  EXPECT_EQ(o.db, 1);
  o = *ParseRedisUrl("redis://warden:pw@[::1]:6379");
  EXPECT_EQ(o.user, "warden");
  EXPECT_EQ(o.password, "pw");
  EXPECT_EQ(o.host, "::1");
  for (const char* bad : {"redis://:hunter2@cache", "redis://hunter2@cache:1",
                          "redis://:hunter2%4@cache:1", "redis://u:@cache:1",
                          "redis://:hunter2@cache:1/x"}) {
    const absl::Status st = ParseRedisUrl(bad).status();
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(st.message(), Not(HasSubstr("hunter2"))) << bad;
  }
}

// A write refused with READONLY (the node was demoted, as on a managed
// endpoint's failover) is UNAVAILABLE and its connection is not reused, so
// the next call reaches whichever node the address now names.
TEST(RedisClientTest, AReadonlyReplyDropsTheConnection) {
  absl::StatusOr<std::unique_ptr<testing::RedisServer>> redis =
      testing::RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  absl::StatusOr<int> nowhere = testing::FreeLoopbackPort();
  ASSERT_TRUE(nowhere.ok());
  RedisOptions options = *ParseRedisUrl((*redis)->url());
  options.pool_size = 1;
  RedisClient client(options);
  RedisClient admin(*ParseRedisUrl((*redis)->url()));
  const auto id = [&] {
    absl::StatusOr<RedisReply> r = client.Command({"CLIENT", "ID"});
    return r.ok() ? r->integer : -1;
  };
  const int64_t first = id();
  ASSERT_GT(first, 0);
  EXPECT_EQ(id(), first);  // Pooled.
  ASSERT_TRUE(
      admin.Command({"REPLICAOF", "127.0.0.1", absl::StrCat(*nowhere)}).ok());
  absl::StatusOr<RedisReply> refused = client.Command({"SET", "k", "v"});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(refused.status().message(), HasSubstr("READONLY"));
  ASSERT_TRUE(admin.Command({"REPLICAOF", "NO", "ONE"}).ok());
  EXPECT_NE(id(), first);  // A new connection.
  EXPECT_TRUE(client.Command({"SET", "k", "v"}).ok());
}

// Concurrent callers share the few pipelined connections: each gets its own
// reply, in any interleaving, and no more connections open than configured.
TEST(RedisClientTest, ConcurrentCallsShareThePipelinedConnections) {
  absl::StatusOr<std::unique_ptr<testing::RedisServer>> redis =
      testing::RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  RedisOptions options = *ParseRedisUrl((*redis)->url());
  options.pool_size = 2;
  RedisClient client(options);
  std::atomic<int> wrong{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 32; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const std::string mine = absl::StrCat(t, "-", i);
        absl::StatusOr<RedisReply> r = client.Command({"ECHO", mine});
        if (!r.ok()) {
          ++failed;
        } else if (r->str != mine) {
          ++wrong;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(wrong, 0);
  RedisClient admin(*ParseRedisUrl((*redis)->url()));
  absl::StatusOr<RedisReply> list = admin.Command({"CLIENT", "LIST"});
  ASSERT_TRUE(list.ok());
  // The two lanes, and the admin's own connection.
  EXPECT_EQ(std::count(list->str.begin(), list->str.end(), '\n'), 3)
      << list->str;
}

// A stopped Redis (SIGSTOP: connections hang, nothing answers) fails every
// caller, the one sending and those queued behind it, within a bound, and
// the client works again once Redis resumes.
TEST(RedisClientTest, AStoppedRedisFailsQueuedCallersInTime) {
  absl::StatusOr<std::unique_ptr<testing::RedisServer>> redis =
      testing::RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  RedisOptions options = *ParseRedisUrl((*redis)->url());
  options.pool_size = 1;
  options.command_timeout = absl::Milliseconds(300);
  RedisClient client(options);
  ASSERT_TRUE(client.Command({"PING"}).ok());
  (*redis)->Pause();
  std::atomic<int> unavailable{0};
  std::atomic<int64_t> slowest_ms{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&] {
      const absl::Time start = absl::Now();
      absl::StatusOr<RedisReply> r = client.Command({"PING"});
      const int64_t ms = absl::ToInt64Milliseconds(absl::Now() - start);
      int64_t seen = slowest_ms;
      while (ms > seen && !slowest_ms.compare_exchange_weak(seen, ms)) {
      }
      if (r.status().code() == absl::StatusCode::kUnavailable) ++unavailable;
    });
  }
  for (std::thread& t : threads) t.join();
  (*redis)->Resume();
  EXPECT_EQ(unavailable, 16);
  // Queued: at most command_timeout; sent: its batch's read timeout, after
  // a reconnect at worst (connect, then the handshake's timeout).
  EXPECT_LE(slowest_ms, 1500);
  EXPECT_TRUE(client.Command({"PING"}).ok());
}

// TLS (rediss://): budgets work over a verified, mutually authenticated
// connection, and every way the trust can fail is UNAVAILABLE naming it,
// never a silent plaintext connection.
TEST(RedisTlsTest, VerifiedMutualTls) {
  absl::StatusOr<std::unique_ptr<testing::RedisServer>> redis =
      testing::RedisServer::StartTls(/*client_certs=*/true);
  ASSERT_TRUE(redis.ok()) << redis.status();
  const std::string certs = (*redis)->cert_dir();
  const auto options = [&](RedisTls tls) {
    RedisOptions o = *ParseRedisUrl((*redis)->tls_url());
    EXPECT_TRUE(o.tls.enabled);
    tls.enabled = true;
    o.tls = tls;
    o.command_timeout = absl::Milliseconds(500);
    return o;
  };
  const RedisTls good = {.ca_file = certs + "/ca.pem",
                         .cert_file = certs + "/redis-client.pem",
                         .key_file = certs + "/redis-client.key"};
  {
    RedisBudgetStore store(std::make_unique<RedisClient>(options(good)));
    ASSERT_TRUE(testing::MarkReadyNow(store, "acme").ok());
    absl::StatusOr<ReserveResult> r = store.Reserve(Hold("az_1", 1, 1000));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->outcome, Outcome::kReserved);
  }
  RedisTls by_ip = good;
  by_ip.server_name = "127.0.0.1";  // The certificate's IP SAN.
  EXPECT_TRUE(RedisClient(options(by_ip)).Command({"PING"}).ok());

  struct Refused {
    const char* why;
    RedisTls tls;
    const char* says;
  };
  RedisTls no_client_cert = good;
  no_client_cert.cert_file = no_client_cert.key_file = "";
  RedisTls untrusted = good;
  untrusted.ca_file = certs + "/redis-client.pem";  // Not the server's CA.
  RedisTls other_name = good;
  other_name.server_name = "redis.example.com";
  for (const Refused& c :
       {Refused{"no client certificate", no_client_cert, "redis"},
        Refused{"another CA", untrusted, "certificate is refused"},
        Refused{"another name", other_name,
                "refused for \"redis.example.com\""}}) {
    absl::StatusOr<RedisReply> r =
        RedisClient(options(c.tls)).Command({"PING"});
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << c.why;
    EXPECT_THAT(r.status().message(), HasSubstr(c.says)) << c.why;
  }
  // TLS to the plaintext port, and plaintext to the TLS port: refused,
  // within the timeouts.
  RedisOptions to_plain = options(good);
  to_plain.port = (*redis)->port();
  EXPECT_EQ(RedisClient(to_plain).Command({"PING"}).status().code(),
            absl::StatusCode::kUnavailable);
  RedisOptions plain = options(good);
  plain.tls = RedisTls();
  EXPECT_EQ(RedisClient(plain).Command({"PING"}).status().code(),
            absl::StatusCode::kUnavailable);

  // Stopped (SIGSTOP) mid-session: UNAVAILABLE within the bounds, then
  // back by itself.
  RedisClient client(options(good));
  ASSERT_TRUE(client.Command({"PING"}).ok());
  (*redis)->Pause();
  const absl::Time start = absl::Now();
  EXPECT_EQ(client.Command({"PING"}).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_LE(absl::Now() - start, absl::Seconds(2));
  (*redis)->Resume();
  EXPECT_TRUE(client.Command({"PING"}).ok());
}

// The TLS settings are read and checked before any connection.
TEST(RedisTlsTest, BadSettingsNameTheFile) {
  absl::StatusOr<std::unique_ptr<testing::RedisServer>> redis =
      testing::RedisServer::StartTls(/*client_certs=*/false);
  ASSERT_TRUE(redis.ok()) << redis.status();
  const std::string certs = (*redis)->cert_dir();
  struct Case {
    RedisTls tls;
    std::string says;
  };
  for (const Case& c : std::vector<Case>{
           {{.ca_file = certs + "/missing.pem"},
            "CA file \"" + certs + "/missing.pem\""},
           {{.ca_file = certs + "/ca.key"}, "CA file"},
           {{.cert_file = certs + "/redis-client.pem"},
            "a client certificate and its key go together"},
           {{.cert_file = certs + "/redis-client.pem",
           .key_file = certs + "/server.key"},
            "client key \"" + certs + "/server.key\""},
           {{.cert_file = certs + "/ca.key", .key_file = certs + "/ca.key"},
            "client certificate"},
       }) {
    const absl::Status st = MakeRedisTlsContext(c.tls).status();
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << c.says;
    EXPECT_THAT(st.message(), HasSubstr(c.says));
  }
  // A client built with them fails every call, naming the problem.
  RedisOptions o = *ParseRedisUrl((*redis)->tls_url());
  o.tls.ca_file = certs + "/missing.pem";
  absl::StatusOr<RedisReply> r = RedisClient(o).Command({"PING"});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(r.status().message(), HasSubstr("missing.pem"));
  // Without client certificates required, the CA alone is enough.
  o.tls.ca_file = certs + "/ca.pem";
  EXPECT_TRUE(RedisClient(o).Command({"PING"}).ok());
}

// Redis Cluster (3 primaries, 3 replicas): every org's reserves go to its
// slot's primary, so orgs on different shards each admit exactly their cap
// under concurrency; a manual failover moves a shard and calls follow
// MOVED; a killed primary fails its orgs closed (never an admission) until
// its replica takes over, while the other shards keep deciding.
TEST(RedisClusterTest, OrgsOnEveryShard) {
  absl::StatusOr<std::unique_ptr<testing::RedisCluster>> cluster =
      testing::RedisCluster::Start(3);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  absl::StatusOr<RedisOptions> options =
      ParseRedisClusterUrls((*cluster)->urls());
  ASSERT_TRUE(options.ok()) << options.status();
  options->command_timeout = absl::Milliseconds(500);
  RedisBudgetStore store(std::make_unique<RedisClient>(*options));
  // One org per shard: all of an org's keys carry its {org} tag.
  std::map<testing::RedisServer*, std::string> org_on;
  for (int i = 0; org_on.size() < 3 && i < 200; ++i) {
    const std::string org = absl::StrCat("org", i);
    org_on.emplace((*cluster)->PrimaryOf(absl::StrCat("{", org, "}")), org);
  }
  ASSERT_EQ(org_on.size(), 3u);
  ASSERT_EQ(org_on.count(nullptr), 0u);
  const auto hold = [](const std::string& org, const std::string& id,
                       int64_t cap) {
    ReserveRequest r = Hold(id, 1, cap);
    r.authorization.org_id = org;
    return r;
  };
  // 3 orgs x 30 racing $1 spends under a $10 cap: exactly 10 each.
  std::map<std::string, std::atomic<int>> reserved;
  for (const auto& [node, org] : org_on) {
    ASSERT_TRUE(testing::MarkReadyNow(store, org).ok()) << org;
    reserved[org] = 0;
  }
  std::vector<std::thread> threads;
  std::atomic<int> failed{0};
  for (int t = 0; t < 12; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 30; ++i) {
        for (const auto& [node, org] : org_on) {
          if ((i + t) % 4 != 0) continue;
          absl::StatusOr<ReserveResult> r =
              store.Reserve(hold(org, absl::StrCat("az_", t, "_", i), 10));
          if (!r.ok()) {
            ++failed;
          } else if (r->outcome == Outcome::kReserved) {
            ++reserved[org];
          }
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failed, 0);
  for (const auto& [node, org] : org_on) EXPECT_EQ(reserved[org], 10) << org;

  // A manual failover of the first org's shard: its replica becomes the
  // primary; the client's map still names the old one, which answers MOVED.
  const std::string moved_org = org_on.begin()->second;
  testing::RedisServer* old_primary = org_on.begin()->first;
  ASSERT_TRUE(testing::MarkReadyNow(store, "fresh").ok());
  for (const std::unique_ptr<testing::RedisServer>& n : (*cluster)->nodes()) {
    RedisClient direct(*ParseRedisUrl(n->url()));
    absl::StatusOr<RedisReply> role = direct.Command({"ROLE"});
    if (!role.ok() || role->elements.size() < 3 ||
        role->elements[0].str != "slave" ||
        role->elements[2].integer != old_primary->port()) {
      continue;
    }
    ASSERT_TRUE(direct.Command({"CLUSTER", "FAILOVER"}).ok());
  }
  for (int i = 0; i < 100 && (*cluster)->PrimaryOf(absl::StrCat(
                                 "{", moved_org, "}")) == old_primary;
       ++i) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_NE((*cluster)->PrimaryOf(absl::StrCat("{", moved_org, "}")),
            old_primary);
  // The promoted replica has a history of its own: the org is refused
  // until checked (the engine's part; here nothing was lost).
  absl::StatusOr<ReserveResult> after =
      store.Reserve(hold(moved_org, "az_unchecked", 10));
  EXPECT_EQ(after.status().code(), absl::StatusCode::kUnavailable)
      << after.status();
  absl::StatusOr<BudgetStore::Readiness> moved = store.CheckReady(moved_org);
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(moved->state, BudgetStore::Readiness::State::kUnverified);
  ASSERT_TRUE(testing::MarkReadyNow(store, moved_org).ok());
  // Its $10 are still spent (the replica had them), and it still decides.
  after = store.Reserve(hold(moved_org, "az_after", 10));
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->outcome, Outcome::kOverLimit);
  after = store.Reserve(hold(moved_org, "az_after_2", 100));
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->outcome, Outcome::kReserved);

  // Kill the primary of the last org's shard: that org fails closed until
  // the replica is promoted (node timeout 1 s) and checked; another shard's
  // org keeps deciding all along.
  const std::string killed_org = org_on.rbegin()->second;
  const std::string other_org = std::next(org_on.begin())->second;
  testing::RedisServer* victim =
      (*cluster)->PrimaryOf(absl::StrCat("{", killed_org, "}"));
  ASSERT_NE(victim, nullptr);
  victim->Kill();
  const absl::Time killed = absl::Now();
  // Bounded by time, not calls: a loaded machine can take several seconds
  // to notice the dead primary and elect its replica.
  const absl::Time deadline = killed + absl::Seconds(30);
  int unavailable = 0, other_ok = 0, n = 0;
  bool served = false;
  std::string last_refusal;
  absl::Duration outage;
  for (; absl::Now() < deadline; ++n) {
    absl::StatusOr<ReserveResult> r =
        store.Reserve(hold(killed_org, absl::StrCat("az_k", n), 1000));
    if (store.Reserve(hold(other_org, absl::StrCat("az_o", n), 1000)).ok()) {
      ++other_ok;
    }
    if (r.ok()) {
      EXPECT_EQ(r->outcome, Outcome::kReserved);
      outage = absl::Now() - killed;
      served = true;
      break;
    }
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
    last_refusal = r.status().ToString();
    // Once promoted, the replica's state is checked (as the engine would,
    // finding nothing lost).
    absl::StatusOr<BudgetStore::Readiness> ready = store.CheckReady(killed_org);
    if (ready.ok() &&
        ready->state == BudgetStore::Readiness::State::kUnverified) {
      ASSERT_TRUE(testing::MarkReadyNow(store, killed_org).ok());
    }
    ++unavailable;
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_GT(unavailable, 0);
  EXPECT_TRUE(served) << "the replica never took over in 30 s; last refusal: "
                      << last_refusal;
  if (!served) {
    for (const std::unique_ptr<testing::RedisServer>& node :
         (*cluster)->nodes()) {
      if (node.get() == victim) continue;
      RedisClient direct(*ParseRedisUrl(node->url()));
      for (const std::vector<std::string>& asked :
           {std::vector<std::string>{"CLUSTER", "NODES"},
            std::vector<std::string>{"INFO", "replication"}}) {
        absl::StatusOr<RedisReply> seen = direct.Command(asked);
        std::cerr << node->url() << " " << asked[0] << ":\n"
                  << (seen.ok() ? seen->str : seen.status().ToString()) << "\n";
      }
    }
  }
  EXPECT_EQ(other_ok, served ? n + 1 : n);
  std::cerr << "killed primary: " << unavailable
            << " calls UNAVAILABLE, served again after "
            << absl::FormatDuration(outage) << "\n";
}

// A listening socket on a free loopback port (set in *port); -1 on failure.
int ListenOnLoopback(int* port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      ::listen(fd, 8) != 0) {
    if (fd >= 0) ::close(fd);
    return -1;
  }
  *port = ntohs(addr.sin_port);
  return fd;
}

// A server that drips its reply a byte at a time cannot hold a call past
// the command timeout (each read moving is not enough), nor can a reply
// larger than the cap be read.
TEST(RedisClientTest, SlowOrHugeRepliesAreBounded) {
  int port = 0;
  const int listener = ListenOnLoopback(&port);
  ASSERT_GE(listener, 0);
  std::atomic<bool> stop{false};
  // Each connection: reads what comes, then sends `reply` in pieces.
  const auto serve = [&](std::string reply, size_t piece,
                         absl::Duration pause) {
    const int fd = ::accept(listener, nullptr, nullptr);
    if (fd < 0) return;
    char buf[4096];
    (void)::recv(fd, buf, sizeof(buf), 0);
    for (size_t at = 0; at < reply.size() && !stop; at += piece) {
      if (::send(fd, reply.data() + at, std::min(piece, reply.size() - at),
                 MSG_NOSIGNAL) <= 0) {
        break;
      }
      absl::SleepFor(pause);
    }
    ::close(fd);
  };
  RedisOptions o = *ParseRedisUrl(absl::StrCat("redis://127.0.0.1:", port));
  o.pool_size = 1;
  o.command_timeout = absl::Milliseconds(300);
  {
    // TIME's reply, a byte every 50 ms: never whole within 300 ms.
    std::thread drip(serve, "*2\r\n$10\r\n1700000000\r\n$1\r\n0\r\n", 1,
                     absl::Milliseconds(50));
    const absl::Time start = absl::Now();
    const absl::Status st = RedisClient(o).Command({"PING"}).status();
    EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
    EXPECT_LE(absl::Now() - start, absl::Seconds(1));
    stop = true;
    drip.join();
    stop = false;
  }
  {
    // A 20 MiB string, at once.
    std::string huge = absl::StrCat("$", 20 << 20, "\r\n");
    huge.append(20 << 20, 'x');
    o.command_timeout = absl::Seconds(5);
    std::thread flood(serve, huge, 1 << 20, absl::ZeroDuration());
    const absl::Status st = RedisClient(o).Command({"PING"}).status();
    EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
    EXPECT_THAT(st.message(), HasSubstr("MiB"));
    stop = true;
    flood.join();
  }
  ::close(listener);
}

// A cluster node that redirects every call to an address its own slot map
// does not name: the client never goes there (the password would go with
// it) and fails closed after a few hops.
TEST(RedisClusterTest, RedirectsOnlyToNodesOfTheSlotMap) {
  int node_port = 0, sink_port = 0;
  const int node = ListenOnLoopback(&node_port);
  const int sink = ListenOnLoopback(&sink_port);
  ASSERT_GE(node, 0);
  ASSERT_GE(sink, 0);
  std::atomic<bool> stop{false};
  std::thread fake([&] {
    while (!stop) {
      pollfd p{.fd = node, .events = POLLIN, .revents = 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int fd = ::accept(node, nullptr, nullptr);
      char buf[4096];
      ssize_t n;
      while (!stop && (n = ::recv(fd, buf, sizeof(buf), 0)) > 0) {
        const std::string got(buf, static_cast<size_t>(n));
        const std::string reply =
            absl::StrContains(got, "SLOTS")
                ? absl::StrCat(
                      "*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$9\r\n"
                      "127.0.0.1\r\n:",
                      node_port, "\r\n")
            : absl::StrContains(got, "TIME")
                ? "*2\r\n$10\r\n1700000000\r\n$1\r\n0\r\n"
                : absl::StrCat("-MOVED 1 127.0.0.1:", sink_port, "\r\n");
        (void)::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL);
      }
      ::close(fd);
    }
  });
  RedisOptions o = *ParseRedisClusterUrls(
      absl::StrCat("redis://:secret@127.0.0.1:", node_port));
  o.pool_size = 1;
  o.command_timeout = absl::Milliseconds(500);
  // The fake asks no AUTH but answers it like any call: with MOVED, which
  // fails the handshake; so this test runs without a password.
  o.password.clear();
  const absl::Status st = RedisClient(o).Command({"GET", "{acme}:ok"}).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
  EXPECT_THAT(st.message(), HasSubstr("redirected"));
  pollfd p{.fd = sink, .events = POLLIN, .revents = 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0) << "a connection reached the redirect target";
  stop = true;
  fake.join();
  ::close(node);
  ::close(sink);
}

// Seed lists are split at commas: a malformed piece (a comma in a password
// not written %2C) is refused without quoting it.
TEST(RedisUrlTest, ClusterSeedErrorsQuoteNoSecret) {
  const absl::Status st =
      ParseRedisClusterUrls("redis://warden:Sup3rS3cret,tail@127.0.0.1:1")
          .status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), Not(HasSubstr("Sup3rS3cret")));
  EXPECT_THAT(st.message(), HasSubstr("%2C"));
  absl::StatusOr<RedisOptions> ok = ParseRedisClusterUrls(
      "rediss://:pw@a:1, rediss://:pw@b:2 ,rediss://:pw@c:3");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_TRUE(ok->cluster);
  EXPECT_TRUE(ok->tls.enabled);
  EXPECT_EQ(ok->seeds.size(), 3u);
  EXPECT_EQ(RedisKeySlot("{acme}:r:1"), RedisKeySlot("{acme}:u:agent/a"));
  EXPECT_EQ(RedisKeySlot("123456789"), 12739);  // CRC16 XMODEM 0x31C3.
}

// A Redis that requires a password (or an ACL user) is reached with the
// URL's credentials; wrong ones are UNAVAILABLE naming AUTH, not the secret.
TEST(RedisAuthTest, CredentialsFromTheUrl) {
  absl::StatusOr<std::unique_ptr<testing::RedisServer>> redis =
      testing::RedisServer::Start({"--requirepass", "main-pw", "--user",
                                   "warden", "on", ">acl-pw", "~*", "&*",
                                   "+@all"});
  ASSERT_TRUE(redis.ok()) << redis.status();
  const std::string at = absl::StrCat("127.0.0.1:", (*redis)->port());
  for (const std::string& url :
       {absl::StrCat("redis://:main-pw@", at),
        absl::StrCat("redis://warden:acl-pw@", at, "/3")}) {
    RedisBudgetStore store(std::make_unique<RedisClient>(*ParseRedisUrl(url)));
    ASSERT_TRUE(testing::MarkReadyNow(store, "acme").ok()) << url;
    absl::StatusOr<ReserveResult> r = store.Reserve(Hold("az_1", 1, 1000));
    ASSERT_TRUE(r.ok()) << url << ": " << r.status();
  }
  for (const std::string& url :
       {absl::StrCat("redis://", at), absl::StrCat("redis://:wrong-pw@", at),
        absl::StrCat("redis://warden:main-pw@", at)}) {
    RedisBudgetStore store(std::make_unique<RedisClient>(*ParseRedisUrl(url)));
    const absl::Status st = testing::MarkReadyNow(store, "acme");
    EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << url << st;
    EXPECT_THAT(st.message(), HasSubstr("AUTH")) << url;
    EXPECT_THAT(st.message(), Not(HasSubstr("-pw"))) << url;
  }
}

}  // namespace
}  // namespace warden
