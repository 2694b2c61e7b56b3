#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "governance/postgres/migrations.h"
#include "governance/postgres/pg.h"
#include "governance/postgres/postgres_audit_log.h"
#include "gtest/gtest.h"
#include "tests/support/migrated_postgres_test.h"
#include "tests/support/tcp_forwarder.h"

namespace warden {
namespace {

using ::testing::HasSubstr;

AuditEvent Decided(const std::string& org, int i) {
  AuditEvent e;
  e.type = AuditEvent::Type::kAuthorizationDecided;
  e.time = absl::Now();
  e.org_id = org;
  e.actor = "test";
  Authorization a;
  a.id = absl::StrCat("az_", org, "_", i);
  a.org_id = org;
  a.department_id = "eng";
  a.agent_id = "agent_a";
  a.wallet_id = "w1";
  a.chain = "base";
  a.asset = "USDC";
  a.amount = 1'000'000 * (i + 1);
  a.amount_usd = 1'000'000 * (i + 1);
  a.decision = Decision::kAllow;
  a.status = AuthorizationStatus::kHeld;
  a.created_at = e.time;
  a.hold_expires_at = e.time + absl::Minutes(15);
  e.authorization = a;
  return e;
}

class PostgresAuditLogTest : public testing::MigratedPostgresTest {
 protected:
  // Appends n events to `org` through a log connected as the app role.
  static void Fill(const std::string& org, int n) {
    PostgresAuditLog log({.url = pg_->url("warden_app")}, nullptr);
    for (int i = 0; i < n; ++i) ASSERT_TRUE(log.Append(Decided(org, i)).ok());
  }

  // Runs SQL as the superuser with triggers disabled, as an attacker with
  // full access would.
  static void Tamper(const std::string& sql) {
    auto c = pg::Connect(pg_->url());
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE(pg::Transact(**c, "tamper", [&](pqxx::work& w) {
                  w.exec("SET LOCAL session_replication_role = replica");
                  w.exec(sql);
                }).ok());
  }

  static ChainVerification Verify(const std::string& org) {
    absl::StatusOr<ChainVerification> v = VerifyAuditChain(pg_->url(), org);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? *v : ChainVerification{};
  }
};

// Concurrent appends to two orgs all land, each org's chain verifies, and
// group commit put several records in one transaction.
TEST_F(PostgresAuditLogTest, ConcurrentAppendsChainPerOrg) {
  {
    auto signer = Ed25519Signer::Generate();
    PostgresAuditLog log(
        {.url = pg_->url("warden_app"), .checkpoint_every_records = 50},
        *std::move(signer));
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 50; ++i) {
          const std::string org = t % 2 ? "org_odd" : "org_even";
          EXPECT_TRUE(log.Append(Decided(org, t * 100 + i)).ok());
        }
      });
    }
    for (std::thread& th : threads) th.join();
  }
  for (const char* org : {"org_odd", "org_even"}) {
    ChainVerification v = Verify(org);
    EXPECT_TRUE(v.ok) << v.first_bad_seq << ": " << v.problem;
    EXPECT_EQ(v.records, 200);
    EXPECT_GT(v.checkpoints, 0);
  }
}

// The app role can neither update nor delete; no role can truncate.
TEST_F(PostgresAuditLogTest, AppendOnly) {
  Fill("org_ro", 3);
  auto app = pg::Connect(pg_->url("warden_app"));
  ASSERT_TRUE(app.ok());
  for (const char* sql :
       {"UPDATE audit_events SET actor = 'mallory' WHERE org_id = 'org_ro'",
        "DELETE FROM audit_events WHERE org_id = 'org_ro'"}) {
    absl::Status st =
        pg::Transact(**app, "tamper", [&](pqxx::work& w) { w.exec(sql); });
    EXPECT_FALSE(st.ok()) << sql;
    EXPECT_THAT(st.message(), HasSubstr("permission denied")) << sql;
  }
  auto super = pg::Connect(pg_->url());
  for (const char* sql :
       {"UPDATE audit_events SET actor = 'mallory' WHERE org_id = 'org_ro'",
        "DELETE FROM audit_events WHERE org_id = 'org_ro'",
        "TRUNCATE audit_events", "TRUNCATE audit_events_default"}) {
    absl::Status st =
        pg::Transact(**super, "tamper", [&](pqxx::work& w) { w.exec(sql); });
    EXPECT_THAT(st.message(), HasSubstr("append-only")) << sql;
  }
  EXPECT_TRUE(Verify("org_ro").ok);
}

// Editing an amount, deleting a record and swapping two records are each
// found, naming the first affected record.
TEST_F(PostgresAuditLogTest, TamperingIsNamed) {
  Fill("org_amount", 5);
  Tamper(
      "UPDATE audit_events SET amount_usd = 1 "
      "WHERE org_id = 'org_amount' AND seq = 3");
  ChainVerification v = Verify("org_amount");
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_seq, 3);
  EXPECT_THAT(v.problem, HasSubstr("altered"));

  Fill("org_body", 5);
  Tamper(
      "UPDATE audit_events SET body = replace(body, '\"amount_usd\":"
      "\"2.00\"', '\"amount_usd\":\"0.02\"') "
      "WHERE org_id = 'org_body' AND seq = 2");
  v = Verify("org_body");
  EXPECT_EQ(v.first_bad_seq, 2);
  EXPECT_THAT(v.problem, HasSubstr("altered"));

  Fill("org_delete", 5);
  Tamper("DELETE FROM audit_events WHERE org_id = 'org_delete' AND seq = 4");
  v = Verify("org_delete");
  EXPECT_EQ(v.first_bad_seq, 4);
  EXPECT_THAT(v.problem, HasSubstr("missing"));

  Fill("org_swap", 5);
  Tamper(
      "UPDATE audit_events SET seq = CASE seq WHEN 2 THEN 3 ELSE 2 END "
      "WHERE org_id = 'org_swap' AND seq IN (2, 3)");
  v = Verify("org_swap");
  EXPECT_EQ(v.first_bad_seq, 2);
  EXPECT_THAT(v.problem, HasSubstr("reordered"));

  Fill("org_tail", 5);
  Tamper("DELETE FROM audit_events WHERE org_id = 'org_tail' AND seq = 5");
  v = Verify("org_tail");
  EXPECT_EQ(v.first_bad_seq, 5);
  EXPECT_THAT(v.problem, HasSubstr("truncated"));

  Fill("org_clean", 5);
  EXPECT_TRUE(Verify("org_clean").ok);
}

// A forged checkpoint signature is found.
TEST_F(PostgresAuditLogTest, ForgedCheckpoint) {
  {
    auto signer = Ed25519Signer::Generate();
    PostgresAuditLog log(
        {.url = pg_->url("warden_app"), .checkpoint_every_records = 1},
        *std::move(signer));
    for (int i = 0; i < 3; ++i)
      ASSERT_TRUE(log.Append(Decided("org_cp", i)).ok());
  }
  EXPECT_TRUE(Verify("org_cp").ok);
  Tamper(
      "UPDATE audit_checkpoints SET signature = repeat('0', 128) "
      "WHERE org_id = 'org_cp' AND seq = 2");
  ChainVerification v = Verify("org_cp");
  EXPECT_EQ(v.first_bad_seq, 2);
  EXPECT_THAT(v.problem, HasSubstr("signature"));
}

// With Postgres down, appends fail with UNAVAILABLE; once it is back, the
// same log writes again.
TEST_F(PostgresAuditLogTest, OutageIsUnavailableThenRecovers) {
  PostgresAuditLog log({.url = pg_->url("warden_app")}, nullptr);
  ASSERT_TRUE(log.Append(Decided("org_outage", 0)).ok());
  pg_->Kill();
  absl::Status down = log.Append(Decided("org_outage", 1));
  EXPECT_EQ(down.code(), absl::StatusCode::kUnavailable) << down;
  ASSERT_TRUE(pg_->Restart().ok());
  EXPECT_TRUE(log.Append(Decided("org_outage", 2)).ok());
  ChainVerification v = Verify("org_outage");
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.records, 2);
}

// A stopped (SIGSTOPped) Postgres: every queued record is answered
// UNAVAILABLE within its bound, including those queued behind a batch that
// hangs and a reconnect that hangs after it; nothing is recorded for them,
// and once Postgres answers again the same log writes again.
TEST_F(PostgresAuditLogTest, StoppedPostgresAnswersEveryRecordInTime) {
  const absl::Duration saved = pg::CallTimeout();
  pg::SetCallTimeout(absl::Seconds(1));
  {
    // As the server connects: a stalled connect fails after 2 s.
    PostgresAuditLog log(
        {.url = pg::WithTimeouts(pg_->url("warden_app"), absl::Seconds(2),
                                 absl::Milliseconds(500))},
        nullptr);
    ASSERT_TRUE(log.Append(Decided("org_stopped", 0)).ok());
    pg_->Pause();
    struct Answer {
      absl::Time queued;
      absl::Time answered;
      absl::Status status;
    };
    std::vector<Answer> answers(11);
    absl::Mutex mu;
    int left = 11;
    for (int i = 0; i < 11; ++i) {
      if (i == 1) absl::SleepFor(absl::Milliseconds(300));
      answers[i].queued = absl::Now();
      log.AppendAsync(Decided("org_stopped", i + 1), [&, i](absl::Status st) {
        absl::MutexLock lock(&mu);
        answers[i].answered = absl::Now();
        answers[i].status = std::move(st);
        --left;
      });
    }
    {
      absl::MutexLock lock(&mu);
      mu.AwaitWithTimeout(absl::Condition(
                              +[](int* n) { return *n == 0; }, &left),
                          absl::Seconds(10));
      ASSERT_EQ(left, 0) << "records left unanswered";
    }
    for (const Answer& a : answers) {
      EXPECT_TRUE(absl::IsUnavailable(a.status)) << a.status;
      EXPECT_LT(a.answered - a.queued, absl::Milliseconds(1900))
          << "answered only after the hung reconnect";
    }
    pg_->Resume();
    EXPECT_TRUE(log.Append(Decided("org_stopped", 12)).ok());
    log.Drain();
  }
  pg::SetCallTimeout(saved);
  ChainVerification v = Verify("org_stopped");
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.records, 2);
}

// Recorded: whether the trail holds an authorization's decision.
TEST_F(PostgresAuditLogTest, RecordedSaysWhetherTheDecisionLanded) {
  using Recording = AuditLog::Recording;
  PostgresAuditLog log({.url = pg_->url("warden_app")}, nullptr);
  const absl::Time now = absl::Now();
  auto recorded = [&](const std::string& org, const std::string& id,
                      absl::Time created) {
    absl::StatusOr<Recording> r = log.Recorded(org, id, created);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.value_or(Recording::kRecorded);
  };
  EXPECT_EQ(recorded("org_rec", "az_org_rec_0", now), Recording::kInFlight);
  ASSERT_TRUE(log.Append(Decided("org_rec", 0)).ok());
  EXPECT_EQ(recorded("org_rec", "az_org_rec_0", now), Recording::kRecorded);
  // Per org, and per id.
  EXPECT_EQ(recorded("org_other", "az_org_rec_0", now), Recording::kInFlight);
  EXPECT_EQ(recorded("org_rec", "az_org_rec_1", now), Recording::kInFlight);
  // Made longer ago than an append and its commit can take: never.
  EXPECT_EQ(recorded("org_rec", "az_org_rec_1",
                     now - pg::CallTimeout() - absl::Seconds(16)),
            Recording::kNever);
  EXPECT_EQ(recorded("org_rec", "az_org_rec_0", now - absl::Hours(1)),
            Recording::kRecorded);
}

// The schema check names the command to run.
TEST_F(PostgresAuditLogTest, SchemaCheck) {
  auto c = pg::Connect(pg_->url());
  EXPECT_TRUE(RequireSchema(**c).ok());
}

// A COMMIT that reached Postgres whose answer was lost: the caller was told
// UNAVAILABLE (so its hold was released and a retry decides afresh), yet
// the record landed. Once Postgres answers again, the trail gets a void for
// it, so no one (a summary, a rebuild) counts a hold no caller was given.
TEST_F(PostgresAuditLogTest, ADecisionCommittedInDoubtIsVoided) {
  auto forwarder = testing::TcpForwarder::Start(pg_->port(), "127.0.0.1");
  ASSERT_TRUE(forwarder.ok()) << forwarder.status();
  const absl::Duration saved = pg::CallTimeout();
  pg::SetCallTimeout(absl::Seconds(1));
  {
    PostgresAuditLog log(
        {.url = absl::StrCat("postgresql://warden_app@127.0.0.1:",
                             (*forwarder)->port(), "/warden")},
        nullptr);
    ASSERT_TRUE(log.Append(Decided("doubt", 0)).ok());
    (*forwarder)->LoseRepliesAfter("COMMIT");
    const absl::Status lost = log.Append(Decided("doubt", 1));
    EXPECT_TRUE(absl::IsUnavailable(lost)) << lost;
    ASSERT_TRUE(log.Append(Decided("doubt", 2)).ok());
  }
  pg::SetCallTimeout(saved);
  auto c = pg::Connect(pg_->url());
  ASSERT_TRUE(c.ok());
  std::vector<std::string> rows;
  ASSERT_TRUE(pg::Transact(**c, "read", [&](pqxx::work& w) {
                for (const pqxx::row& r : w.exec(
                         "SELECT authorization_id, type, status, actor FROM "
                         "audit_events WHERE org_id = 'doubt' ORDER BY seq")) {
                  rows.push_back(absl::StrCat(
                      r[0].as<std::string>(), " ", r[1].as<std::string>(), " ",
                      r[2].as<std::string>(), " ", r[3].as<std::string>()));
                }
              }).ok());
  ASSERT_EQ(rows.size(), 4u) << ::testing::PrintToString(rows);
  EXPECT_EQ(rows[1], "az_doubt_1 authorization.decided HELD test");
  EXPECT_THAT(rows[2], HasSubstr("az_doubt_1 authorization.voided VOIDED "
                                 "system (audit commit in doubt"));
  EXPECT_EQ(rows[3], "az_doubt_2 authorization.decided HELD test");
  EXPECT_TRUE(Verify("doubt").ok);
}

}  // namespace
}  // namespace warden
