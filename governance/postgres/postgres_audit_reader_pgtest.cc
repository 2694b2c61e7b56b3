#include <fstream>
#include <map>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "governance/postgres/migrations.h"
#include "governance/postgres/pg.h"
#include "governance/postgres/postgres_audit_log.h"
#include "governance/postgres/postgres_audit_reader.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/migrated_postgres_test.h"

namespace warden {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class PostgresAuditReaderTest : public testing::MigratedPostgresTest {};

// bot's $1 spend in `org`, decided ALLOW and held at `at`.
Authorization BotHold(const std::string& id, const std::string& org,
                      absl::Time at) {
  Authorization a;
  a.id = id;
  a.org_id = org;
  a.department_id = "ops";
  a.agent_id = "bot";
  a.wallet_id = "bot_w";
  a.amount = 1'000'000;
  a.amount_usd = 1'000'000;
  a.decision = Decision::kAllow;
  a.status = AuthorizationStatus::kHeld;
  a.created_at = at;
  a.hold_expires_at = at + absl::Minutes(15);
  return a;
}

absl::Time At(const char* rfc3339) {
  absl::Time t;
  std::string err;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &err)) << err;
  return t;
}

// With a read replica, finance queries (Query, SpendSummary) read the
// replica and nothing else; chain checks and rebuilds read the primary.
// Shown by pausing the replica's replay: what the primary gets next is
// missing from the finance queries only, until replay resumes.
TEST_F(PostgresAuditReaderTest, FinanceQueriesReadTheReplica) {
  const auto decided = [](const std::string& id, absl::Time at) {
    return AuditEvent::ForAuthorization(AuditEvent::Type::kAuthorizationDecided,
                                        at, "agent/bot",
                                        BotHold(id, "rep", at));
  };
  const absl::Time t0 = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()));
  PostgresAuditLog log({.url = pg_->url("warden_app")}, nullptr);
  ASSERT_TRUE(log.Append(decided("az_rep_1", t0)).ok());
  absl::StatusOr<std::unique_ptr<testing::PostgresServer>> replica =
      testing::PostgresServer::StartReplicaOf(*pg_);
  ASSERT_TRUE(replica.ok()) << replica.status();
  const std::string replica_url = (*replica)->url("warden_app");
  PostgresAuditReader reader(pg_->url("warden_app"), replica_url);
  const auto ids = [&] {
    std::vector<std::string> out;
    const absl::Status st =
        reader.Query({.org_id = "rep"}, [&](const AuditRecord& r) {
          out.push_back(r.authorization_id);
          return true;
        });
    EXPECT_TRUE(st.ok()) << st;
    return out;
  };
  const auto spent = [&] {
    absl::StatusOr<std::vector<SpendRow>> rows =
        reader.SpendSummary({.org_id = "rep",
                             .from = t0 - absl::Hours(1),
                             .to = t0 + absl::Hours(1)});
    EXPECT_TRUE(rows.ok()) << rows.status();
    UsdMicros total = 0;
    for (const SpendRow& r : rows.value_or(std::vector<SpendRow>{})) {
      total += r.held_usd + r.settled_usd;
    }
    return total;
  };
  const auto on_replica = [&](const std::string& sql) {
    absl::StatusOr<testing::CommandResult> r = testing::RunCommand(
        {"/usr/bin/psql", "-h", "127.0.0.1", "-p",
         absl::StrCat((*replica)->port()), "-U", "postgres", "-d", "warden",
         "-v", "ON_ERROR_STOP=1", "-c", sql},
        absl::Seconds(30));
    ASSERT_TRUE(r.ok() && r->exit_code == 0)
        << (r.ok() ? r->err : r.status().ToString());
  };
  // The base backup holds the first record.
  EXPECT_THAT(ids(), ::testing::ElementsAre("az_rep_1"));
  on_replica("SELECT pg_wal_replay_pause()");
  ASSERT_TRUE(log.Append(decided("az_rep_2", t0 + absl::Seconds(1))).ok());
  // The replica stands still: the finance queries do not see az_rep_2 ...
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_THAT(ids(), ::testing::ElementsAre("az_rep_1"));
  EXPECT_EQ(spent(), 1'000'000);
  // ... while the chain check and a rebuild, on the primary, do.
  absl::StatusOr<ChainVerification> chain = reader.Verify("rep");
  ASSERT_TRUE(chain.ok()) << chain.status();
  EXPECT_EQ(chain->records, 2);
  int latest = 0;
  ASSERT_TRUE(reader
                  .LatestAuthorizations("rep", t0 - absl::Hours(1),
                                        [&](const Authorization&) {
                                          ++latest;
                                          return absl::OkStatus();
                                        })
                  .ok());
  EXPECT_EQ(latest, 2);
  on_replica("SELECT pg_wal_replay_resume()");
  for (int i = 0; i < 100 && ids().size() < 2; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_THAT(ids(), ::testing::ElementsAre("az_rep_1", "az_rep_2"));
  EXPECT_EQ(spent(), 2'000'000);
}

// A seeded quarter: SpendSummary's totals by department and by agent equal
// sums the test computes itself from what it wrote, and only authorizations
// created inside the quarter count.
// NewestHolds lists the money-holding authorizations recorded last, by
// their latest event, in their latest status: an old hold settled just now
// comes first (a failover that lost that settle must be found), a denial
// never (it held nothing), and each authorization once.
TEST_F(PostgresAuditReaderTest, NewestHoldsFollowTheLatestEvents) {
  const absl::Time t0 = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()));
  const auto event = [&](AuditEvent::Type type, const std::string& id,
                         Decision decision, AuthorizationStatus status,
                         absl::Duration after) {
    Authorization a = BotHold(id, "newest", t0);
    a.decision = decision;
    a.status = status;
    if (status == AuthorizationStatus::kSettled) {
      a.settled_amount = 1'000'000;
      a.settled_usd = 1'000'000;
    }
    return AuditEvent::ForAuthorization(type, t0 + after, "agent/bot", a);
  };
  PostgresAuditLog log({.url = pg_->url("warden_app")}, nullptr);
  using T = AuditEvent::Type;
  using S = AuthorizationStatus;
  ASSERT_TRUE(log.Append(event(T::kAuthorizationDecided, "az_old",
                               Decision::kAllow, S::kHeld, absl::Seconds(0)))
                  .ok());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(
        log.Append(event(T::kAuthorizationDecided, absl::StrCat("az_new_", i),
                         Decision::kAllow, S::kHeld, absl::Seconds(1 + i)))
            .ok());
  }
  ASSERT_TRUE(log.Append(event(T::kAuthorizationDecided, "az_denied",
                               Decision::kDeny, S::kDenied, absl::Seconds(5)))
                  .ok());
  ASSERT_TRUE(log.Append(event(T::kAuthorizationSettled, "az_old",
                               Decision::kAllow, S::kSettled, absl::Seconds(6)))
                  .ok());
  PostgresAuditReader reader(pg_->url("warden_app"));
  absl::StatusOr<std::vector<AuditReader::RecordedStatus>> newest =
      reader.NewestHolds("newest", t0 - absl::Hours(1), 2);
  ASSERT_TRUE(newest.ok()) << newest.status();
  ASSERT_EQ(newest->size(), 2u);
  EXPECT_EQ((*newest)[0].authorization_id, "az_old");
  EXPECT_EQ((*newest)[0].status, S::kSettled);
  EXPECT_EQ((*newest)[1].authorization_id, "az_new_2");
  EXPECT_EQ((*newest)[1].status, S::kHeld);
  newest = reader.NewestHolds("newest", t0 - absl::Hours(1), 100);
  ASSERT_TRUE(newest.ok()) << newest.status();
  EXPECT_EQ(newest->size(), 4u);  // No denial, each once.
}

TEST_F(PostgresAuditReaderTest, SpendSummaryMatchesIndependentSum) {
  // Calendar Q2 2026 in New York.
  const absl::Time q2_start = At("2026-04-01T04:00:00Z");
  const absl::Time q2_end = At("2026-07-01T04:00:00Z");
  std::mt19937 rng(7);
  auto uniform = [&](int lo, int hi) {
    return std::uniform_int_distribution<int>(lo, hi)(rng);
  };
  std::map<std::string, UsdMicros> by_dept, by_agent;
  std::map<std::string, int64_t> count_by_dept;
  // Per New York week (from Monday) and chain, and per month and department.
  const absl::TimeZone ny = [] {
    absl::TimeZone z;
    EXPECT_TRUE(absl::LoadTimeZone("America/New_York", &z));
    return z;
  }();
  std::map<std::pair<absl::Time, std::string>, UsdMicros> by_week_chain,
      by_month_dept;
  {
    PostgresAuditLog log({.url = pg_->url("warden_app")}, nullptr);
    for (int i = 0; i < 400; ++i) {
      Authorization a;
      a.id = absl::StrCat("az_", i);
      a.org_id = "fin";
      a.department_id = absl::StrCat("dept_", uniform(1, 3));
      a.agent_id = absl::StrCat(a.department_id, "_agent_", uniform(1, 4));
      a.wallet_id = a.agent_id + "_w";
      a.chain = uniform(0, 1) ? "base" : "ethereum";
      a.asset = "USDC";
      a.amount_usd = uniform(1, 100000) * 10'000;
      a.amount = static_cast<uint64_t>(a.amount_usd);
      // Mid-March to mid-August: some before, most inside, some after Q2.
      a.created_at =
          At("2026-03-15T00:00:00Z") + absl::Minutes(uniform(0, 150 * 24 * 60));
      a.hold_expires_at = a.created_at + absl::Minutes(15);
      a.decision = Decision::kAllow;
      a.status = AuthorizationStatus::kHeld;
      AuditEvent e{.type = AuditEvent::Type::kAuthorizationDecided,
                   .time = a.created_at,
                   .org_id = "fin",
                   .actor = "seed",
                   .authorization = a};
      ASSERT_TRUE(log.Append(e).ok());
      switch (uniform(0, 4)) {
        case 0:  // Still held.
          break;
        case 1:
          a.status = AuthorizationStatus::kSettled;
          a.settled_amount = 1;
          a.settled_usd = a.amount_usd / uniform(1, 3);
          e.type = AuditEvent::Type::kAuthorizationSettled;
          break;
        case 2:
          a.status = AuthorizationStatus::kVoided;
          e.type = AuditEvent::Type::kAuthorizationVoided;
          break;
        case 3:
          a.status = AuthorizationStatus::kExpired;
          a.expired_counted = true;
          e.type = AuditEvent::Type::kAuthorizationExpired;
          break;
        default:
          a.status = AuthorizationStatus::kExpired;
          a.expired_counted = false;
          e.type = AuditEvent::Type::kAuthorizationExpired;
      }
      if (a.status != AuthorizationStatus::kHeld) {
        e.time = a.created_at + absl::Minutes(5);
        e.authorization = a;
        ASSERT_TRUE(log.Append(e).ok());
      }
      if (a.created_at >= q2_start && a.created_at < q2_end && a.Charges() &&
          a.ChargedUsd() > 0) {
        by_dept[a.department_id] += a.ChargedUsd();
        by_agent[a.agent_id] += a.ChargedUsd();
        ++count_by_dept[a.department_id];
        const absl::CivilDay day = absl::ToCivilDay(a.created_at, ny);
        const absl::Time monday = absl::FromCivil(
            absl::PrevWeekday(day + 1, absl::Weekday::monday), ny);
        by_week_chain[{monday, a.chain}] += a.ChargedUsd();
        by_month_dept[{absl::FromCivil(absl::CivilMonth(day), ny),
                       a.department_id}] += a.ChargedUsd();
      }
    }
  }
  PostgresAuditReader reader(pg_->url("warden_app"));
  const SpendQuery q2{.org_id = "fin",
                      .group = SpendGroup::kDepartment,
                      .from = q2_start,
                      .to = q2_end};
  absl::StatusOr<std::vector<SpendRow>> rows = reader.SpendSummary(q2);
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), by_dept.size());
  for (const SpendRow& r : *rows) {
    EXPECT_EQ(r.settled_usd + r.held_usd, by_dept[r.key]) << r.key;
    EXPECT_EQ(r.count, count_by_dept[r.key]) << r.key;
  }
  SpendQuery q = q2;
  q.group = SpendGroup::kAgent;
  rows = reader.SpendSummary(q);
  ASSERT_EQ(rows->size(), by_agent.size());
  for (const SpendRow& r : *rows) {
    EXPECT_EQ(r.settled_usd + r.held_usd, by_agent[r.key]) << r.key;
  }

  // Over time, in the org's zone: Postgres's date_trunc agrees with the
  // civil periods the test computes, and rows come in period order.
  auto over_time = [&](SpendGroup group, Window::Period period) {
    SpendQuery t = q2;
    t.group = group;
    t.period = period;
    t.zone = ny;
    absl::StatusOr<std::vector<SpendRow>> got = reader.SpendSummary(t);
    EXPECT_TRUE(got.ok()) << got.status();
    std::map<std::pair<absl::Time, std::string>, UsdMicros> out;
    absl::Time last = absl::InfinitePast();
    for (const SpendRow& r : got.value_or(std::vector<SpendRow>{})) {
      EXPECT_GE(r.period_start, last);
      last = r.period_start;
      out[{r.period_start, r.key}] = r.settled_usd + r.held_usd;
    }
    return out;
  };
  EXPECT_EQ(over_time(SpendGroup::kChain, Window::Period::kWeek),
            by_week_chain);
  EXPECT_EQ(over_time(SpendGroup::kDepartment, Window::Period::kMonth),
            by_month_dept);
  EXPECT_EQ(by_month_dept.size(), 9u);  // Three months, three departments.

  // The reporting views, read as warden_reporting, agree with SpendSummary
  // per day (no bundle was applied, so the org's zone is UTC), count every
  // decision, and are all that role may read.
  q = {.org_id = "fin",
       .group = SpendGroup::kDepartment,
       .from = At("2026-01-01T00:00:00Z"),
       .period = Window::Period::kDay};
  absl::StatusOr<std::vector<SpendRow>> days = reader.SpendSummary(q);
  ASSERT_TRUE(days.ok()) << days.status();
  std::map<std::pair<std::string, std::string>, UsdMicros> want, daily;
  for (const SpendRow& r : *days) {
    want[{absl::FormatTime("%Y-%m-%d", r.period_start, absl::UTCTimeZone()),
          r.key}] = r.settled_usd + r.held_usd;
  }
  pqxx::connection reporting(pg_->url("warden_reporting"));
  {
    pqxx::work w(reporting);
    for (const pqxx::row& r :
         w.exec("SELECT day::text, department_id, "
                "(sum(total_usd) * 1000000)::bigint FROM reporting.spend_daily "
                "WHERE org_id = 'fin' GROUP BY 1, 2")) {
      daily[{r[0].as<std::string>(), r[1].as<std::string>()}] =
          r[2].as<int64_t>();
    }
    EXPECT_EQ(w.exec("SHOW statement_timeout")[0][0].as<std::string>(), "1min");
    EXPECT_EQ(w.exec("SELECT count(*) FROM reporting.decisions WHERE "
                     "org_id = 'fin'")[0][0]
                  .as<int64_t>(),
              400);
  }
  EXPECT_EQ(daily, want);
  EXPECT_GT(want.size(), 100u);
  // The Grafana dashboard's SQL runs as warden_reporting, its macros
  // expanded as Grafana would, and its spend panels find the seeded spend
  // (the seed has no denials and no bundle, so the others may be empty).
  std::ifstream file(std::string(WARDEN_SOURCE_DIR) +
                     "/helm/warden/dashboards/warden.json");
  const nlohmann::json dashboard = nlohmann::json::parse(file);
  std::vector<std::string> queries = {
      dashboard["templating"]["list"][3]["query"].get<std::string>()};
  for (const auto& panel : dashboard["panels"]) {
    for (const auto& target : panel.value("targets", nlohmann::json::array())) {
      if (target.contains("rawSql")) queries.push_back(target["rawSql"]);
    }
  }
  ASSERT_EQ(queries.size(), 5u);
  for (std::string sql : queries) {
    absl::StrReplaceAll({{"$__timeFrom()", "'2026-03-01T00:00:00Z'"},
                         {"$__timeTo()", "'2026-09-01T00:00:00Z'"},
                         {"$org", "fin"}},
                        &sql);
    pqxx::work w(reporting);
    try {
      const pqxx::result result = w.exec(sql);
      if (absl::StrContains(sql, "spend_daily")) {
        EXPECT_FALSE(result.empty()) << sql;
      }
    } catch (const pqxx::sql_error& e) {
      ADD_FAILURE() << e.what() << "\n" << sql;
    }
  }

  for (const char* sql :
       {"SELECT count(*) FROM audit_events", "SELECT count(*) FROM api_tokens",
        "INSERT INTO reporting.events (org_id, seq, time, type, actor) "
        "VALUES ('fin', 999999, now(), 'x', 'x')",
        "DELETE FROM reporting.decisions",
        // Nothing that holds wardend up or fills the disk.
        "SELECT pg_advisory_lock(hashtext('fin'))",
        "SELECT pg_try_advisory_xact_lock(1, 2)",
        "SELECT lo_from_bytea(0, 'x')", "SELECT lo_create(0)",
        "CREATE TEMP TABLE t (a int)"}) {
    pqxx::work w(reporting);
    EXPECT_THROW(w.exec(sql), pqxx::insufficient_privilege) << sql;
  }

  // Paging by the seq cursor returns every event of an agent exactly once.
  int64_t expected = 0;
  ASSERT_TRUE(reader
                  .Query({.org_id = "fin",
                          .agent_id = "dept_1_agent_1",
                          .limit = kMaxAuditPage},
                         [&](const AuditRecord&) {
                           ++expected;
                           return true;
                         })
                  .ok());
  ASSERT_GT(expected, 0);
  int64_t paged = 0, after = 0;
  while (true) {
    int64_t got = 0;
    ASSERT_TRUE(reader
                    .Query({.org_id = "fin",
                            .agent_id = "dept_1_agent_1",
                            .after_seq = after,
                            .limit = 7},
                           [&](const AuditRecord& r) {
                             EXPECT_GT(r.seq, after);
                             EXPECT_EQ(r.agent_id, "dept_1_agent_1");
                             after = r.seq;
                             ++got;
                             return true;
                           })
                    .ok());
    paged += got;
    if (got < 7) break;
  }
  EXPECT_EQ(paged, expected);
  EXPECT_TRUE(reader.Verify("fin")->ok);
}

// On a table of a million events, the finance queries use indexes, not
// sequential scans, and answer in milliseconds.
TEST_F(PostgresAuditReaderTest, QueriesUseIndexesOnAMillionRows) {
  auto c = pg::Connect(pg_->url());
  ASSERT_TRUE(c.ok());
  const absl::Time start = absl::Now();
  ASSERT_TRUE(
      pg::Transact(
          **c, "seed",
          [&](pqxx::work& w) {
            w.exec(
                "INSERT INTO audit_events (org_id, seq, time, type, actor,"
                " gateway, authorization_id, department_id, agent_id, "
                "wallet_id, chain, asset, decision, status, created_at, "
                "amount_usd, charged_usd, policy_version, body, prev_hash,"
                " hash) SELECT 'big', g, timestamptz '2026-01-01' + "
                "g * interval '20 seconds', 'authorization.decided', "
                "'seed', 'seed', 'az_' || g, 'dept_' || (g % 10), "
                "'agent_' || (g % 1000), 'wallet_' || (g % 2000), 'base', "
                "'USDC', 'ALLOW', 'HELD', timestamptz '2026-01-01' + g * "
                "interval '20 seconds', 1000000, 1000000, 1, '{}', '', '' "
                "FROM generate_series(1, 1000000) g");
            w.exec("ANALYZE audit_events");
          },
          // A bulk load on a shared 2-core machine.
          absl::Minutes(5))
          .ok());
  std::cerr << "seeded 1,000,000 events in "
            << absl::FormatDuration(absl::Now() - start) << "\n";
  auto plan = [&](const std::string& sql) {
    std::string text;
    EXPECT_TRUE(pg::Transact(**c, "explain", [&](pqxx::work& w) {
                  for (const pqxx::row& r :
                       w.exec("EXPLAIN (ANALYZE, BUFFERS) " + sql)) {
                    absl::StrAppend(&text, r[0].as<std::string>(), "\n");
                  }
                }).ok());
    return text;
  };
  const std::string by_agent = plan(
      "SELECT seq FROM audit_events WHERE org_id = 'big' AND seq > 0 AND "
      "('agent_7' = '' OR agent_id = 'agent_7') ORDER BY seq LIMIT 500");
  // Rows seeded in the past sit in the default partition; the monthly
  // partitions ahead are empty, and scanning those costs nothing.
  EXPECT_THAT(by_agent, HasSubstr("Index"));
  EXPECT_THAT(by_agent, Not(HasSubstr("Seq Scan on audit_events_default")));
  const std::string summary = plan(
      "SELECT DISTINCT ON (authorization_id) department_id, charged_usd "
      "FROM audit_events WHERE org_id = 'big' AND authorization_id IS NOT "
      "NULL AND created_at >= '2026-03-01' AND created_at < '2026-03-08' "
      "ORDER BY authorization_id, seq DESC");
  EXPECT_THAT(summary, HasSubstr("org_id_created_at_idx"));
  EXPECT_THAT(summary, Not(HasSubstr("Seq Scan on audit_events_default")));
  for (const std::string* p : {&by_agent, &summary}) {
    std::cerr << p->substr(p->find("Execution Time"));
  }
}

}  // namespace
}  // namespace warden
