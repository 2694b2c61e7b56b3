// The token cache of PostgresCredentialStore: a token is read from Postgres
// once, and a revocation reaches every replica's cache at once (a trigger
// NOTIFYs, a listener drops the token), whoever wrote it and even if the
// listener lost its connection meanwhile; with the listener unable to prove
// it is alive (a stopped server), lookups stop trusting the cache.

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "governance/credentials.h"
#include "governance/postgres/pg.h"
#include "governance/postgres/postgres_credential_store.h"
#include "gtest/gtest.h"
#include "tests/support/migrated_postgres_test.h"

namespace warden {
namespace {

// Polls `done` every 20ms for up to `limit`.
bool Eventually(const std::function<bool()>& done,
                absl::Duration limit = absl::Seconds(10)) {
  const absl::Time end = absl::Now() + limit;
  while (absl::Now() < end) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return done();
}

class TokenCacheTest : public testing::MigratedPostgresTest {
 protected:
  std::unique_ptr<PostgresCredentialStore> Replica(
      TokenCacheOptions options = {}) {
    auto store = std::make_unique<PostgresCredentialStore>(
        pg::WithTimeouts(pg_->url("warden_app"), absl::Seconds(2),
                         absl::Seconds(2)),
        options);
    EXPECT_TRUE(Eventually([&] { return store->CacheTrusted(); }));
    return store;
  }

  // A token for agent/<name>, created through `store`.
  std::string Create(CredentialStore& store, const std::string& name) {
    absl::StatusOr<MintedToken> t =
        IssueToken(store, "acme", "agent/" + name, {"agent"},
                   absl::ZeroDuration(), "user/admin", absl::Now());
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? t->record.token_id : "";
  }

  static bool Revoked(CredentialStore& store, const std::string& id) {
    absl::StatusOr<ApiToken> t = store.FindToken(id);
    return t.ok() && t->revoked_at.has_value();
  }

  // Runs `sql` as the database owner, outside Warden.
  void ByHand(const std::string& sql) {
    auto c = pg::Connect(pg_->url());
    ASSERT_TRUE(c.ok()) << c.status();
    pqxx::work w(**c);
    w.exec(sql);
    w.commit();
  }
};

TEST_F(TokenCacheTest, ReadsOnceAndHearsOfEveryRevocation) {
  auto a = Replica();
  auto b = Replica();
  const std::string by_b = Create(*b, "one");
  const std::string by_hand = Create(*b, "two");
  const std::string deleted = Create(*b, "three");
  for (const std::string& id : {by_b, by_hand, deleted}) {
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(a->FindToken(id).ok()) << id;
  }
  EXPECT_EQ(a->database_reads(), 3);

  // Revoked on the other replica, by hand, deleted by hand: each reaches
  // a's cache (which would otherwise answer from the row it read).
  ASSERT_TRUE(b->RevokeToken("acme", by_b, absl::Now()).ok());
  ByHand("UPDATE api_tokens SET revoked_at = now() WHERE token_id = '" +
         by_hand + "'");
  ByHand("DELETE FROM api_tokens WHERE token_id = '" + deleted + "'");
  EXPECT_TRUE(Eventually([&] { return Revoked(*a, by_b); }));
  EXPECT_TRUE(Eventually([&] { return Revoked(*a, by_hand); }));
  EXPECT_TRUE(Eventually(
      [&] { return absl::IsNotFound(a->FindToken(deleted).status()); }));
  // The replica that revoked knows at once.
  EXPECT_TRUE(Revoked(*b, by_b));
}

// Uses are kept per token, the latest of every replica's, and recording
// them drops no cached token.
TEST_F(TokenCacheTest, UsesKeepTheLatestAndLeaveTheCache) {
  auto a = Replica();
  auto b = Replica();
  const std::string id = Create(*a, "used");
  const std::string idle = Create(*a, "idle");
  ASSERT_TRUE(a->FindToken(id).ok());
  const int64_t reads = a->database_reads();
  const absl::Time t0 = absl::FromUnixSeconds(1'777'651'200);
  ASSERT_TRUE(a->RecordUses({{id, t0 + absl::Minutes(2)}}).ok());
  ASSERT_TRUE(b->RecordUses({{id, t0 + absl::Minutes(1)}}).ok());
  ASSERT_TRUE(a->RecordUses({}).ok());
  absl::StatusOr<std::vector<ApiToken>> tokens = b->ListTokens("acme");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  for (const ApiToken& t : *tokens) {
    if (t.token_id == id) {
      EXPECT_EQ(t.last_used_at, t0 + absl::Minutes(2));
    } else if (t.token_id == idle) {
      EXPECT_FALSE(t.last_used_at.has_value());
    }
  }
  absl::SleepFor(absl::Milliseconds(300));  // A notification would be in.
  ASSERT_TRUE(a->FindToken(id).ok());
  EXPECT_EQ(a->database_reads(), reads);
}

// A TRUNCATE fires no row trigger: its own statement trigger empties every
// cache. And a token is read again once older than max_age, whatever was
// heard.
TEST_F(TokenCacheTest, TruncateAndAgeEmptyTheCache) {
  auto a = Replica(TokenCacheOptions{.max_age = absl::Milliseconds(300)});
  const std::string id = Create(*a, "six");
  ASSERT_TRUE(a->FindToken(id).ok());
  ASSERT_TRUE(a->FindToken(id).ok());
  EXPECT_EQ(a->database_reads(), 1);
  absl::SleepFor(absl::Milliseconds(400));
  ASSERT_TRUE(a->FindToken(id).ok());
  EXPECT_EQ(a->database_reads(), 2);
  auto b = Replica();
  ASSERT_TRUE(b->FindToken(id).ok());
  ByHand("TRUNCATE api_tokens");
  EXPECT_TRUE(
      Eventually([&] { return absl::IsNotFound(b->FindToken(id).status()); }));
}

// Without the cache (a one-off command) every lookup reads Postgres.
TEST_F(TokenCacheTest, NoCacheReadsEveryTime) {
  PostgresCredentialStore a(pg_->url("warden_app"),
                            TokenCacheOptions{.cache = false});
  const std::string id = Create(a, "seven");
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(a.FindToken(id).ok());
  EXPECT_EQ(a.database_reads(), 3);
  EXPECT_FALSE(a.CacheTrusted());
}

TEST_F(TokenCacheTest, ALostListenerStartsOverWithAnEmptyCache) {
  auto a = Replica();
  const std::string id = Create(*a, "four");
  ASSERT_TRUE(a->FindToken(id).ok());
  ASSERT_TRUE(a->FindToken(id).ok());
  ASSERT_EQ(a->database_reads(), 1);
  // The listener's connection dies and the token is revoked while it is
  // gone, so its notification reaches nobody.
  ByHand(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
      "backend_type = 'client backend' AND usename = 'warden_app' AND "
      "query = 'SELECT 1'");
  ByHand("UPDATE api_tokens SET revoked_at = now() WHERE token_id = '" + id +
         "'");
  EXPECT_TRUE(Eventually([&] { return Revoked(*a, id); }));
  EXPECT_TRUE(Eventually([&] { return a->CacheTrusted(); }));
}

TEST_F(TokenCacheTest, AStoppedServerIsNotAnsweredFromTheCache) {
  pg::SetCallTimeout(absl::Seconds(2));
  auto a = Replica();
  const std::string id = Create(*a, "five");
  ASSERT_TRUE(a->FindToken(id).ok());
  pg_->Pause();
  // Within the trust window (3s) the listener's heartbeat is overdue, and
  // from then on a lookup goes to the stopped server and fails.
  EXPECT_TRUE(Eventually([&] { return !a->CacheTrusted(); }));
  EXPECT_EQ(a->FindToken(id).status().code(), absl::StatusCode::kUnavailable);
  pg_->Resume();
  EXPECT_TRUE(Eventually([&] { return a->CacheTrusted(); }, absl::Seconds(20)));
  EXPECT_TRUE(a->FindToken(id).ok());
  pg::SetCallTimeout(absl::Seconds(31));
}

}  // namespace
}  // namespace warden
