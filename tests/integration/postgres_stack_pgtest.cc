// The full stack: wardend replicas on Redis (budgets) and Postgres
// (configuration and audit trail). Invariant 3: no decision reaches a
// client before its audit record is durable, even when wardend is killed;
// when Postgres is down, calls get UNAVAILABLE and keep no reservation, and
// the readiness probe says so until it is back.

#include <signal.h>

#include <atomic>
#include <fstream>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "governance/postgres/migrations.h"
#include "governance/postgres/pg.h"
#include "governance/redis/redis_client.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/durable_stack_test.h"
#include "tests/support/wardend_process.h"

namespace warden::testing {
namespace {

using ::testing::HasSubstr;

constexpr const char* kBundle = R"(
org: {id: stack}
departments: [{id: ops}, {id: cold}]
agents:
  - id: durable
    department: ops
    limits: [{name: budget, usd: "1000000", window: "rolling:24h"}]
    wallets: [{id: durable_w, vendor: local, chain: base, address: "0x01"}]
  - id: finance
    department: ops
    wallets: [{id: finance_w, vendor: cdp, chain: base, address: "0x03"}]
  - id: doomed
    department: ops
    wallets:
      - {id: doomed_w1, vendor: metamask, chain: base, address: "0x04"}
      - {id: doomed_w2, vendor: cdp, chain: ethereum, address: "0x05"}
  - id: survivor
    department: ops
    limits: [{name: budget, usd: "1000", window: "rolling:24h"}]
    wallets: [{id: survivor_w, vendor: local, chain: base, address: "0x07"}]
  - id: promoted
    department: ops
    limits: [{name: budget, usd: "1000", window: "rolling:24h"}]
    wallets: [{id: promoted_w, vendor: local, chain: base, address: "0x09"}]
  - id: refrozen
    department: ops
    wallets: [{id: refrozen_w, vendor: local, chain: base, address: "0x0b"}]
  - id: split
    department: ops
    limits: [{name: budget, usd: "1000", window: "rolling:24h"}]
    wallets: [{id: split_w, vendor: local, chain: base, address: "0x0a"}]
  - id: bulk
    department: ops
    wallets: [{id: bulk_w, vendor: local, chain: base, address: "0x08"}]
  - id: chilly
    department: cold
    wallets: [{id: chilly_w, vendor: local, chain: base, address: "0x06"}]
  - id: outage
    department: ops
    limits: [{name: budget, usd: "200", window: "rolling:24h"}]
    wallets: [{id: outage_w, vendor: local, chain: base, address: "0x02"}]
assets:
  - {symbol: USDC, decimals: 6, price_usd: "1"}
)";

class PostgresStackTest : public DurableStackTest {
 protected:
  static void SetUpTestSuite() {
    DurableStackTest::SetUpTestSuite();
    if (HasFatalFailure()) return;
    EXPECT_THAT(migrate_output_,
                HasSubstr(absl::StrCat("schema at version ", kSchemaVersion)));
    bundle_ = dir_->Write("bundle.yaml", kBundle);
    key_ = dir_->Write("audit.pem", "");
    ASSERT_EQ(std::system(absl::StrCat("openssl genpkey -algorithm ed25519 "
                                       "-out ",
                                       key_, " 2>/dev/null")
                              .c_str()),
              0);
  }
  static void TearDownTestSuite() { DurableStackTest::TearDownTestSuite(); }

  // On the suite's Redis, or on `redis_url`.
  static std::unique_ptr<WardendProcess> StartWardend(
      const std::string& redis_url = "",
      const std::vector<std::string>& extra_args = {}) {
    std::vector<std::string> args = {
        "--redis",
        redis_url.empty() ? redis_->url() : redis_url,
        "--postgres",
        pg_->url("warden_app"),
        "--bundle",
        bundle_,
        "--audit-signing-key",
        key_,
        "--shutdown-grace-ms",
        "1000"};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    absl::StatusOr<std::unique_ptr<WardendProcess>> w =
        WardendProcess::Start(WARDEND_PATH, args);
    EXPECT_TRUE(w.ok()) << w.status();
    return w.ok() ? *std::move(w) : nullptr;
  }

  static v1::AuthorizeRequest Spend(const std::string& agent) {
    v1::AuthorizeRequest r;
    r.set_agent_id(agent);
    r.set_wallet_id(agent + "_w");
    r.set_asset("USDC");
    r.set_amount("1000000");
    return r;
  }

  // `agent` spends `dollars` through `w`; the call's status in *status.
  static v1::AuthorizeResponse SpendUsd(WardendProcess& w,
                                        const std::string& agent,
                                        int64_t dollars, grpc::Status* status) {
    v1::AuthorizeRequest r = Spend(agent);
    r.set_amount(std::to_string(dollars * 1'000'000));
    grpc::ClientContext context;
    v1::AuthorizeResponse response;
    *status = w.authz().Authorize(&context, r, &response);
    return response;
  }

  // Settles `id` through `w` in full.
  static grpc::Status Settle(WardendProcess& w, const std::string& id) {
    grpc::ClientContext context;
    v1::SettleRequest settle;
    settle.set_authorization_id(id);
    v1::Authorization settled;
    return w.authz().Settle(&context, settle, &settled);
  }

  // Authorization ids the audit trail holds a decision for.
  static std::set<std::string> AuditedDecisions(const std::string& agent) {
    std::set<std::string> ids;
    auto c = pg::Connect(pg_->url());
    EXPECT_TRUE(c.ok());
    EXPECT_TRUE(pg::Transact(**c, "read", [&](pqxx::work& w) {
                  for (const pqxx::row& r : w.exec_params(
                           "SELECT authorization_id FROM audit_events WHERE "
                           "type = 'authorization.decided' AND agent_id = $1",
                           agent)) {
                    ids.insert(r[0].as<std::string>());
                  }
                }).ok());
    return ids;
  }

  static std::string bundle_;
  static std::string key_;
};

std::string PostgresStackTest::bundle_;
std::string PostgresStackTest::key_;

// SIGKILL wardend in the middle of a stream: every decision a client got
// has its record in Postgres, and the chain verifies.
TEST_F(PostgresStackTest, KilledGatewayLosesNoAnsweredDecision) {
  std::unique_ptr<WardendProcess> w = StartWardend();
  ASSERT_NE(w, nullptr);
  absl::Mutex mu;
  std::set<std::string> answered;
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int t = 0; t < 8; ++t) {
    clients.emplace_back([&] {
      for (int i = 0; i < 5000 && !stop; ++i) {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::seconds(5));
        v1::AuthorizeResponse response;
        if (w->authz().Authorize(&context, Spend("durable"), &response).ok()) {
          absl::MutexLock lock(&mu);
          answered.insert(response.authorization_id());
        } else {
          return;  // The gateway is gone.
        }
      }
    });
  }
  absl::SleepFor(absl::Milliseconds(500));
  w->process().Signal(SIGKILL);
  stop = true;
  for (std::thread& t : clients) t.join();
  ASSERT_GT(answered.size(), 10u);
  const std::set<std::string> audited = AuditedDecisions("durable");
  for (const std::string& id : answered) {
    EXPECT_TRUE(audited.contains(id)) << id << " answered but not audited";
  }
  absl::StatusOr<CommandResult> verify =
      RunCommand({WARDENCTL_PATH, "audit", "verify", "--postgres", pg_->url(),
                  "--org", "stack"},
                 absl::Seconds(60));
  ASSERT_TRUE(verify.ok());
  EXPECT_EQ(verify->exit_code, 0) << verify->out << verify->err;
  EXPECT_THAT(verify->out, HasSubstr("OK org stack"));
  std::cerr << answered.size() << " answered decisions, all audited\n";
}

// Postgres down mid-stream: calls get UNAVAILABLE, never an unrecorded
// answer, and keep no reservation: once Postgres is back the $200 budget
// still admits exactly 200 $1 spends in all.
TEST_F(PostgresStackTest, PostgresOutageFailsClosedAndReleases) {
  std::unique_ptr<WardendProcess> w = StartWardend();
  ASSERT_NE(w, nullptr);
  std::atomic<int> unavailable{0}, other_errors{0};
  absl::Mutex mu;
  std::set<std::string> allowed;
  auto call = [&] {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(5));
    v1::AuthorizeResponse response;
    const grpc::Status s =
        w->authz().Authorize(&context, Spend("outage"), &response);
    if (s.ok() && response.decision() == v1::DECISION_ALLOW) {
      absl::MutexLock lock(&mu);
      allowed.insert(response.authorization_id());
    } else if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
      ++unavailable;
    } else if (!s.ok()) {
      ++other_errors;
      ADD_FAILURE() << s.error_message();
    }
  };
  // The readiness probe (gRPC health service "") reaches `want` within
  // a few sweeps.
  auto readiness_becomes =
      [&](grpc::health::v1::HealthCheckResponse::ServingStatus want) {
        auto health = grpc::health::v1::Health::NewStub(grpc::CreateChannel(
            w->address(), grpc::InsecureChannelCredentials()));
        grpc::health::v1::HealthCheckResponse::ServingStatus got =
            grpc::health::v1::HealthCheckResponse::UNKNOWN;
        for (int i = 0; i < 100 && got != want; ++i) {
          grpc::ClientContext c;
          grpc::health::v1::HealthCheckResponse r;
          if (health->Check(&c, {}, &r).ok()) got = r.status();
          if (got != want) absl::SleepFor(absl::Milliseconds(100));
        }
        return got == want;
      };
  for (int i = 0; i < 50; ++i) call();
  EXPECT_TRUE(
      readiness_becomes(grpc::health::v1::HealthCheckResponse::SERVING));
  pg_->Kill();
  for (int i = 0; i < 50; ++i) call();
  EXPECT_EQ(unavailable, 50);
  EXPECT_TRUE(
      readiness_becomes(grpc::health::v1::HealthCheckResponse::NOT_SERVING));
  ASSERT_TRUE(pg_->Restart().ok());
  EXPECT_TRUE(
      readiness_becomes(grpc::health::v1::HealthCheckResponse::SERVING));
  for (int i = 0; i < 300; ++i) call();
  EXPECT_EQ(other_errors, 0);
  EXPECT_EQ(allowed.size(), 200u);
  const std::set<std::string> audited = AuditedDecisions("outage");
  for (const std::string& id : allowed) EXPECT_TRUE(audited.contains(id));
}

// Finance and auditors through wardenctl: the spend summary adds up, an
// export verifies offline, and an edited export does not.
TEST_F(PostgresStackTest, AuditCommandsOverGrpc) {
  std::unique_ptr<WardendProcess> w = StartWardend();
  ASSERT_NE(w, nullptr);
  for (int i = 0; i < 10; ++i) {
    grpc::ClientContext context;
    v1::AuthorizeResponse response;
    ASSERT_TRUE(
        w->authz().Authorize(&context, Spend("finance"), &response).ok());
    if (i < 4) {  // Settle four of them at $0.25.
      grpc::ClientContext settle_context;
      v1::SettleRequest settle;
      settle.set_authorization_id(response.authorization_id());
      settle.set_amount("250000");
      v1::Authorization settled;
      ASSERT_TRUE(w->authz().Settle(&settle_context, settle, &settled).ok());
    }
  }
  auto ctl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {WARDENCTL_PATH, "--server", w->address()});
    absl::StatusOr<CommandResult> r = RunCommand(args, absl::Seconds(60));
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : CommandResult{};
  };
  CommandResult summary =
      ctl({"--json", "audit", "summary", "--group-by", "agent"});
  ASSERT_EQ(summary.exit_code, 0) << summary.err;
  EXPECT_THAT(summary.out,
              HasSubstr("{\"count\":10,\"held_usd\":\"6.00\",\"key\":"
                        "\"finance\",\"settled_usd\":\"1.00\",\"total_usd\":"
                        "\"7.00\"}"));

  CommandResult verify = ctl({"audit", "verify", "--org", "stack"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;

  const std::string path = dir_->path() + "/export.jsonl";
  CommandResult exported = ctl({"audit", "export", "--agent", "finance",
                                "--format", "jsonl", "--out", path});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  EXPECT_THAT(exported.err, HasSubstr("wrote 14 events"));
  const std::string all = dir_->path() + "/all.jsonl";
  ASSERT_EQ(
      ctl({"audit", "export", "--format", "jsonl", "--out", all}).exit_code, 0);
  CommandResult offline = ctl({"audit", "verify-file", all});
  EXPECT_EQ(offline.exit_code, 0) << offline.out;
  std::vector<std::string> lines;
  {
    std::ifstream in(all);
    for (std::string l; std::getline(in, l);) lines.push_back(l);
  }
  ASSERT_GT(lines.size(), 3u);
  // Writes lines[from..] to `name`, with line `edited` replaced by `edit`.
  auto write = [&](const std::string& name, size_t from, size_t edited = 0,
                   const std::string& edit = "") {
    const std::string p = dir_->path() + "/" + name;
    std::ofstream out(p);
    for (size_t i = from; i < lines.size(); ++i) {
      out << (i == edited && !edit.empty() ? edit : lines[i]) << "\n";
    }
    return p;
  };
  // The head cut off: refused unless anchored to the record before it.
  const std::string headless = write("headless.jsonl", 2);
  offline = ctl({"audit", "verify-file", headless});
  EXPECT_EQ(offline.exit_code, 3) << offline.out;
  EXPECT_THAT(offline.out, HasSubstr("not at the trail's first record"));
  const std::string second_hash =
      nlohmann::json::parse(lines[1])["hash"].get<std::string>();
  offline = ctl({"audit", "verify-file", headless, "--anchor", second_hash});
  EXPECT_EQ(offline.exit_code, 0) << offline.out;
  offline = ctl({"audit", "verify-file", all, "--anchor", second_hash});
  EXPECT_EQ(offline.exit_code, 3) << offline.out;
  EXPECT_THAT(offline.out, HasSubstr("does not link to --anchor"));
  // seq is outside the hash: checked on its own.
  nlohmann::json third = nlohmann::json::parse(lines[2]);
  third["seq"] = third["seq"].get<int64_t>() + 1000;
  const std::string renumbered = write("renumbered.jsonl", 0, 2, third.dump());
  offline = ctl({"audit", "verify-file", renumbered});
  EXPECT_EQ(offline.exit_code, 3) << offline.out;
  EXPECT_THAT(offline.out, HasSubstr("follows seq 2"));
  // Edit one amount inside one record's hashed body (not the copy of it
  // beside the body).
  nlohmann::json edited = nlohmann::json::parse(lines[2]);
  std::string body = edited["body"].get<std::string>();
  const size_t at = body.find("amount_usd");
  ASSERT_NE(at, std::string::npos);
  body.replace(at, 10, "amount_USD");
  edited["body"] = body;
  lines[2] = edited.dump();
  {
    std::ofstream out(all);
    for (const std::string& l : lines) out << l << "\n";
  }
  offline = ctl({"audit", "verify-file", all});
  EXPECT_EQ(offline.exit_code, 3);
  EXPECT_THAT(offline.out, HasSubstr("BROKEN"));
  EXPECT_THAT(offline.out, HasSubstr("at record 3"));
  const std::string csv = dir_->path() + "/all.csv";
  ASSERT_EQ(ctl({"audit", "export", "--format", "csv", "--out", csv}).exit_code,
            0);
}

// Invariant 4: DecommissionAgent in the middle of a steady stream to two
// replicas. Once it returns, neither replica admits anything for the agent
// (checked in the audit trail by decision time), and none of its holds is
// left live.
TEST_F(PostgresStackTest, DecommissionUnderLoad) {
  std::unique_ptr<WardendProcess> replicas[2] = {StartWardend(),
                                                 StartWardend()};
  ASSERT_NE(replicas[0], nullptr);
  ASSERT_NE(replicas[1], nullptr);
  std::atomic<bool> stop{false};
  std::atomic<int> allows{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      for (int i = 0; i < 20000 && !stop; ++i) {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::seconds(5));
        v1::AuthorizeRequest r = Spend("doomed");
        r.set_wallet_id(i % 2 ? "doomed_w1" : "doomed_w2");
        v1::AuthorizeResponse response;
        if (replicas[(t + i) % 2]
                ->authz()
                .Authorize(&context, r, &response)
                .ok() &&
            response.decision() == v1::DECISION_ALLOW) {
          ++allows;
        }
      }
    });
  }
  absl::SleepFor(absl::Milliseconds(400));
  v1::DecommissionAgentRequest kill;
  kill.set_agent_id("doomed");
  kill.set_reason("credentials leaked");
  v1::FreezeResponse killed;
  grpc::ClientContext kill_context;
  const grpc::Status s =
      replicas[0]->admin().DecommissionAgent(&kill_context, kill, &killed);
  const absl::Time returned = absl::Now();
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(killed.wallets_frozen(), 2);
  absl::SleepFor(absl::Milliseconds(400));
  stop = true;
  for (std::thread& t : clients) t.join();
  ASSERT_GT(allows, 0);

  auto c = pg::Connect(pg_->url());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(
      pg::Transact(**c, "check", [&](pqxx::work& w) {
        const int64_t late =
            w.exec_params1(
                 "SELECT count(*) FROM audit_events WHERE agent_id = "
                 "'doomed' AND type = 'authorization.decided' AND "
                 "decision = 'ALLOW' AND time > to_timestamp($1::double "
                 "precision / 1000000)",
                 absl::ToUnixMicros(returned))[0]
                .as<int64_t>();
        EXPECT_EQ(late, 0) << "allows after the kill returned";
        const int64_t live =
            w.exec(
                 "SELECT count(*) FROM (SELECT DISTINCT ON "
                 "(authorization_id) status FROM audit_events WHERE "
                 "agent_id = 'doomed' ORDER BY authorization_id, seq DESC)"
                 " latest WHERE status = 'HELD'")[0][0]
                .as<int64_t>();
        EXPECT_EQ(live, 0) << "holds left live";
        EXPECT_EQ(w.exec("SELECT count(*) FROM frozen_scopes WHERE "
                         "decommissioned AND scope IN "
                         "('agent/doomed', 'wallet/doomed_w1', "
                         "'wallet/doomed_w2')")[0][0]
                      .as<int>(),
                  3);
      }).ok());
  std::cerr << allows << " allows before the kill, " << killed.holds_voided()
            << " holds voided\n";
}

// A department freeze is durable: it survives Redis losing everything
// (FLUSHALL) and a wardend restart, and wardenctl unfreeze lifts it.
TEST_F(PostgresStackTest, FreezeSurvivesRedisFlushAndRestart) {
  std::unique_ptr<WardendProcess> w = StartWardend();
  ASSERT_NE(w, nullptr);
  auto ctl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {WARDENCTL_PATH, "--server", w->address()});
    absl::StatusOr<CommandResult> r = RunCommand(args, absl::Seconds(60));
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : CommandResult{};
  };
  CommandResult froze =
      ctl({"freeze", "--department", "cold", "--reason", "audit"});
  ASSERT_EQ(froze.exit_code, 0) << froze.err;
  EXPECT_THAT(froze.out, HasSubstr("froze department/cold: 1 wallets"));
  auto decision = [&] {
    grpc::ClientContext context;
    v1::AuthorizeResponse response;
    EXPECT_TRUE(
        w->authz().Authorize(&context, Spend("chilly"), &response).ok());
    return response;
  };
  EXPECT_EQ(decision().decision(), v1::DECISION_DENY);

  RedisClient redis(*ParseRedisUrl(redis_->url()));
  ASSERT_TRUE(redis.Command({"FLUSHALL"}).ok());
  w.reset();
  w = StartWardend();
  ASSERT_NE(w, nullptr);
  v1::AuthorizeResponse after = decision();
  EXPECT_EQ(after.decision(), v1::DECISION_DENY);
  ASSERT_GT(after.violations_size(), 0);
  EXPECT_EQ(after.violations(0).code(), "SCOPE_FROZEN");

  CommandResult thawed =
      ctl({"unfreeze", "--department", "cold", "--reason", "cleared"});
  ASSERT_EQ(thawed.exit_code, 0) << thawed.err;
  EXPECT_EQ(decision().decision(), v1::DECISION_ALLOW);
}

// Budgets survive Redis losing everything: $900 of $1,000 spent, FLUSHALL,
// and the running gateway notices, answers UNAVAILABLE while it rebuilds
// from Postgres, then denies $200 and allows exactly the $100 left. No
// request in between is allowed.
TEST_F(PostgresStackTest, BudgetsSurviveRedisLoss) {
  std::unique_ptr<WardendProcess> w = StartWardend();
  ASSERT_NE(w, nullptr);
  auto spend = [&](int64_t dollars, grpc::Status* status) {
    return SpendUsd(*w, "survivor", dollars, status);
  };
  grpc::Status status;
  v1::AuthorizeResponse first = spend(900, &status);
  ASSERT_EQ(first.decision(), v1::DECISION_ALLOW);
  ASSERT_TRUE(Settle(*w, first.authorization_id()).ok());

  RedisClient redis(*ParseRedisUrl(redis_->url()));
  ASSERT_TRUE(redis.Command({"FLUSHALL"}).ok());
  int unavailable = 0;
  v1::AuthorizeResponse after;
  for (int i = 0; i < 200; ++i) {  // Bounded: 10 s at most.
    after = spend(200, &status);
    if (status.ok()) break;
    ASSERT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
        << status.error_message();
    ++unavailable;
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_TRUE(status.ok()) << "never rebuilt: " << status.error_message();
  EXPECT_EQ(after.decision(), v1::DECISION_DENY) << after.reason();
  EXPECT_THAT(after.reason(), HasSubstr("spend $900.00"));
  EXPECT_EQ(spend(100, &status).decision(), v1::DECISION_ALLOW);
  std::cerr << unavailable << " calls refused while rebuilding\n";
}

// After a failover, a wardend whose audit appends are bounded by 2 s (a
// statement timeout of 1 s) holds a promoted replica's orgs for 4 s: its
// audit log's landing bound.
const std::vector<std::string> kShortAuditBound = {
    "--postgres-statement-timeout-ms", "1000"};

// A Redis replica promoted after a crash keeps the ready mark its primary
// set, on the primary's replication history, and may lack the last writes
// the primary acknowledged. Its spends are refused for the audit log's
// landing bound (so that the old primary's last decisions are in the
// trail), then until the sweeper has checked it against the audit trail:
// with nothing lost it decides at once; with writes lost (all but the
// mark) it is rebuilt first; with a settle lost (the hold still HELD in
// Redis) that record is restored as the trail has it, so it cannot be
// voided and its money spent twice; with a freeze lost, the flag is set
// again from Postgres. Nothing is allowed on the forgotten budget
// meanwhile.
TEST_F(PostgresStackTest, WritesAFailoverLostAreRebuilt) {
  std::unique_ptr<WardendProcess> w = StartWardend("", kShortAuditBound);
  ASSERT_NE(w, nullptr);
  auto spend = [&](int64_t dollars, grpc::Status* status) {
    return SpendUsd(*w, "promoted", dollars, status);
  };
  // Spends `dollars` until decided (bounded: 20 s), counting the refusals.
  auto decide = [&](int64_t dollars, int* unavailable) {
    grpc::Status status;
    v1::AuthorizeResponse r;
    for (int i = 0; i < 400; ++i) {
      r = spend(dollars, &status);
      if (status.ok()) break;
      EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
          << status.error_message();
      // "failed over" until checked, then "no budget state" while rebuilt.
      EXPECT_THAT(status.error_message(), HasSubstr("retry shortly"));
      ++*unavailable;
      absl::SleepFor(absl::Milliseconds(50));
    }
    EXPECT_TRUE(status.ok()) << "never decided: " << status.error_message();
    return r;
  };
  grpc::Status status;
  const v1::AuthorizeResponse first = spend(900, &status);
  ASSERT_EQ(first.decision(), v1::DECISION_ALLOW);
  RedisClient redis(*ParseRedisUrl(redis_->url()));
  const std::string other_history(40, '0');

  // Nothing lost: held for the bound, checked, and the $900 still counts.
  ASSERT_TRUE(redis.Command({"SET", "{stack}:ok", other_history}).ok());
  const absl::Time failed_over = absl::Now();
  int checking = 0;
  v1::AuthorizeResponse r = decide(200, &checking);
  EXPECT_GE(absl::Now() - failed_over, absl::Seconds(4));
  EXPECT_EQ(r.decision(), v1::DECISION_DENY) << r.reason();
  EXPECT_THAT(r.reason(), HasSubstr("spend $900.00"));

  // Everything but the mark lost: rebuilt before any spend is decided.
  ASSERT_TRUE(redis.Command({"FLUSHALL"}).ok());
  ASSERT_TRUE(redis.Command({"SET", "{stack}:ok", other_history}).ok());
  int rebuilding = 0;
  r = decide(200, &rebuilding);
  EXPECT_EQ(r.decision(), v1::DECISION_DENY) << r.reason();
  EXPECT_THAT(r.reason(), HasSubstr("spend $900.00"));
  const v1::AuthorizeResponse last = spend(100, &status);
  ASSERT_EQ(last.decision(), v1::DECISION_ALLOW);

  // A settle lost: the trail says SETTLED, the promoted replica HELD.
  ASSERT_TRUE(Settle(*w, last.authorization_id()).ok());
  const std::string record = "{stack}:r:" + last.authorization_id();
  ASSERT_TRUE(redis.Command({"HSET", record, "st", "HELD"}).ok());
  ASSERT_TRUE(redis.Command({"SET", "{stack}:ok", other_history}).ok());
  int restoring = 0;
  r = decide(1, &restoring);
  EXPECT_EQ(r.decision(), v1::DECISION_DENY) << r.reason();
  EXPECT_THAT(r.reason(), HasSubstr("spend $1,000.00"));
  absl::StatusOr<RedisReply> st = redis.Command({"HGET", record, "st"});
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->str, "SETTLED");
  grpc::ClientContext void_context;
  v1::VoidRequest void_request;
  void_request.set_authorization_id(last.authorization_id());
  v1::Authorization voided;
  EXPECT_FALSE(w->authz().Void(&void_context, void_request, &voided).ok())
      << "a settled spend was voided";
  EXPECT_EQ(spend(1, &status).decision(), v1::DECISION_DENY);

  // A freeze lost: set again from Postgres before the org decides again.
  v1::FreezeScopeRequest freeze;
  freeze.mutable_scope()->set_agent_id("refrozen");
  freeze.set_reason("the failover test");
  v1::FreezeResponse frozen;
  grpc::ClientContext freeze_context;
  ASSERT_TRUE(w->admin().FreezeScope(&freeze_context, freeze, &frozen).ok());
  absl::StatusOr<RedisReply> flags =
      redis.Command({"KEYS", "{stack}:frozen:*refrozen*"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  ASSERT_FALSE(flags->elements.empty());
  for (const RedisReply& flag : flags->elements) {
    ASSERT_TRUE(redis.Command({"DEL", flag.str}).ok());
  }
  ASSERT_TRUE(redis.Command({"SET", "{stack}:ok", other_history}).ok());
  v1::AuthorizeResponse refused;
  for (int i = 0; i < 400; ++i) {  // Bounded: 20 s at most.
    refused = SpendUsd(*w, "refrozen", 1, &status);
    if (status.ok()) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(refused.decision(), v1::DECISION_DENY) << refused.reason();
  EXPECT_THAT(refused.reason(), HasSubstr("frozen"));
  std::cerr << checking << " calls refused while held and checked, "
            << rebuilding << " while rebuilding, " << restoring
            << " while restoring a lost settle\n";
}

// Real replication, and a real loss: a replica promoted while its old
// primary still takes writes (a partition) lacks them. The $50 allowed on
// the old primary after the promotion is in the audit trail but not in the
// promoted replica; a gateway on the promoted replica finds it missing
// (its ready mark names the old primary's history), rebuilds the org, and
// denies the $100 that would take it past $1,000.
TEST_F(PostgresStackTest, APromotedReplicaThatLostWritesIsRebuilt) {
  absl::StatusOr<std::unique_ptr<RedisServer>> old_primary =
      RedisServer::Start();
  ASSERT_TRUE(old_primary.ok()) << old_primary.status();
  absl::StatusOr<std::unique_ptr<RedisServer>> replica = RedisServer::Start(
      {"--replicaof", "127.0.0.1", absl::StrCat((*old_primary)->port())});
  ASSERT_TRUE(replica.ok()) << replica.status();
  auto spend = [](WardendProcess& w, int64_t dollars, grpc::Status* status) {
    return SpendUsd(w, "split", dollars, status);
  };
  grpc::Status status;
  std::unique_ptr<WardendProcess> before =
      StartWardend((*old_primary)->url(), kShortAuditBound);
  ASSERT_NE(before, nullptr);
  const v1::AuthorizeResponse first = spend(*before, 900, &status);
  ASSERT_EQ(first.decision(), v1::DECISION_ALLOW) << status.error_message();
  RedisClient on_replica(*ParseRedisUrl((*replica)->url()));
  const std::string record = "{stack}:r:" + first.authorization_id();
  bool copied = false;
  for (int i = 0; i < 100 && !copied; ++i) {  // Bounded: 10 s at most.
    absl::StatusOr<RedisReply> e = on_replica.Command({"EXISTS", record});
    copied = e.ok() && e->integer == 1;
    if (!copied) absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_TRUE(copied) << "the replica never copied the $900";
  ASSERT_TRUE(on_replica.Command({"REPLICAOF", "NO", "ONE"}).ok());
  const v1::AuthorizeResponse lost = spend(*before, 50, &status);
  ASSERT_EQ(lost.decision(), v1::DECISION_ALLOW) << status.error_message();
  before.reset();

  std::unique_ptr<WardendProcess> after =
      StartWardend((*replica)->url(), kShortAuditBound);
  ASSERT_NE(after, nullptr);
  v1::AuthorizeResponse r;
  for (int i = 0; i < 100; ++i) {  // Bounded: 10 s at most.
    r = spend(*after, 100, &status);
    if (status.ok()) break;
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
        << status.error_message();
    absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(r.decision(), v1::DECISION_DENY) << r.reason();
  EXPECT_THAT(r.reason(), HasSubstr("spend $950.00"));
  EXPECT_EQ(spend(*after, 50, &status).decision(), v1::DECISION_ALLOW);
  absl::StatusOr<RedisReply> restored =
      on_replica.Command({"EXISTS", "{stack}:r:" + lost.authorization_id()});
  ASSERT_TRUE(restored.ok());
  EXPECT_EQ(restored->integer, 1) << "the lost $50 was not rebuilt";
}

// A rebuild from a trail of some volume: 2,000 authorizations through the
// gateway, then FLUSHALL, timed until spends are decided again (the
// figure is printed).
TEST_F(PostgresStackTest, RebuildTime) {
  std::unique_ptr<WardendProcess> w = StartWardend();
  ASSERT_NE(w, nullptr);
  constexpr int kAuthorizations = 2000;
  std::atomic<int> next{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 16; ++t) {
    clients.emplace_back([&] {
      for (int i = next++; i < kAuthorizations; i = next++) {
        grpc::ClientContext context;
        v1::AuthorizeResponse response;
        const grpc::Status st =
            w->authz().Authorize(&context, Spend("bulk"), &response);
        EXPECT_TRUE(st.ok()) << st.error_code() << " " << st.error_message();
      }
    });
  }
  for (std::thread& t : clients) t.join();
  RedisClient redis(*ParseRedisUrl(redis_->url()));
  ASSERT_TRUE(redis.Command({"FLUSHALL"}).ok());
  const absl::Time flushed = absl::Now();
  grpc::Status status(grpc::StatusCode::UNAVAILABLE, "not tried yet");
  for (int i = 0; i < 3000 && !status.ok(); ++i) {  // 60 s at most.
    absl::SleepFor(absl::Milliseconds(20));
    grpc::ClientContext context;
    v1::AuthorizeResponse response;
    status = w->authz().Authorize(&context, Spend("bulk"), &response);
  }
  ASSERT_TRUE(status.ok()) << status.error_message();
  std::cerr << "rebuild after FLUSHALL: spends decided again "
            << absl::FormatDuration(absl::Now() - flushed) << " after the "
            << "flush, with at least " << kAuthorizations
            << " authorizations in the audit trail\n";
}

// A database that was never migrated is refused at start, naming the fix.
TEST_F(PostgresStackTest, RefusesUnmigratedDatabase) {
  const std::string fresh = absl::StrCat(
      "postgresql://postgres@127.0.0.1:", pg_->port(), "/postgres");
  absl::StatusOr<CommandResult> r =
      RunCommand({WARDEND_PATH, "--redis", redis_->url(), "--postgres", fresh,
                  "--listen", "127.0.0.1:0"},
                 absl::Seconds(30));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 2);
  EXPECT_THAT(r->err, HasSubstr("run `wardenctl migrate"));
}

}  // namespace
}  // namespace warden::testing
