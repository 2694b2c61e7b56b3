// Invariant 1 through a Redis Cluster failover that loses writes, under
// load. Two wardend replicas decide for six orgs, two on each of three
// shards, against Postgres (configuration and audit trail). During the
// race one shard's replica is cut off from its primary (a partition: the
// primary keeps allowing spends the replica never gets), then the primary
// is killed and the replica promoted without them. The promoted replica
// has a replication history of its own, so its orgs are refused for the
// audit log's landing bound (4 s here), then a sweeper finds the newest
// decisions of the audit trail missing and rebuilds the orgs before they
// decide again. Counted against each org's audit trail: no org is charged
// past its limit, and Redis holds every authorization the trail allowed.
// Printed: the decisions, those allowed while the replica was cut off,
// and the UNAVAILABLE window of the failed shard's orgs; the other shards'
// orgs are never refused.

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "governance/postgres/pg.h"
#include "gtest/gtest.h"
#include "tests/support/durable_stack_test.h"
#include "tests/support/wardend_process.h"

namespace warden::testing {
namespace {

constexpr int kLimitUsd = 400;  // Per org, in $1 spends.
constexpr int kShards = 3;
constexpr int kOrgsPerShard = 2;

std::string Bundle(const std::string& org) {
  return absl::StrCat(R"(
org: {id: )",
                      org, R"(}
departments: [{id: ops}]
agents:
  - id: bot
    department: ops
    limits: [{name: budget, usd: ")",
                      kLimitUsd, R"(", window: "rolling:24h"}]
    wallets: [{id: bot_w, vendor: local, chain: base, address: "0x01"}]
assets:
  - {symbol: USDC, decimals: 6, price_usd: "1"}
)");
}

// `redis-cli -p PORT ARGS...`'s output, or "" when it fails.
std::string Cli(int port, std::vector<std::string> args) {
  args.insert(args.begin(), {"/usr/bin/redis-cli", "-p", absl::StrCat(port)});
  absl::StatusOr<CommandResult> r = RunCommand(args, absl::Seconds(10));
  return r.ok() && r->exit_code == 0 ? r->out : "";
}

class FailoverTest : public DurableStackTest {
 protected:
  static void SetUpTestSuite() {
    DurableStackTest::SetUpTestSuite();
    if (HasFatalFailure()) return;
    absl::StatusOr<std::unique_ptr<RedisCluster>> c =
        RedisCluster::Start(kShards);
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = c->release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
    DurableStackTest::TearDownTestSuite();
  }

  static std::unique_ptr<WardendProcess> StartWardend(
      const std::string& bundle) {
    std::vector<std::string> args = {
        "--redis", cluster_->urls(), "--redis-cluster", "--postgres",
        pg_->url("warden_app"), "--redis-command-timeout-ms", "500",
        // A promoted replica is checked within a sweep of the hold's end;
        // audit appends bounded by 2 s make that hold 4 s.
        "--sweep-interval-ms", "200", "--postgres-statement-timeout-ms", "1000",
        "--shutdown-grace-ms", "1000"};
    if (!bundle.empty()) args.insert(args.end(), {"--bundle", bundle});
    absl::StatusOr<std::unique_ptr<WardendProcess>> w =
        WardendProcess::Start(WARDEND_PATH, args);
    EXPECT_TRUE(w.ok()) << w.status();
    return w.ok() ? *std::move(w) : nullptr;
  }

  // The org's authorizations the audit trail records as allowed.
  static std::set<std::string> Allowed(const std::string& org) {
    std::set<std::string> ids;
    auto c = pg::Connect(pg_->url());
    EXPECT_TRUE(c.ok()) << c.status();
    if (!c.ok()) return ids;
    EXPECT_TRUE(pg::Transact(**c, "allowed", [&](pqxx::work& w) {
                  for (const pqxx::row& r : w.exec_params(
                           "SELECT authorization_id FROM audit_events WHERE "
                           "org_id = $1 AND type = 'authorization.decided' "
                           "AND decision = 'ALLOW'",
                           org)) {
                    ids.insert(r[0].as<std::string>());
                  }
                }).ok());
    return ids;
  }

  // What the org's audit trail charges: each authorization's latest charge.
  static int64_t ChargedMicros(const std::string& org) {
    int64_t total = -1;
    auto c = pg::Connect(pg_->url());
    EXPECT_TRUE(c.ok()) << c.status();
    if (!c.ok()) return total;
    EXPECT_TRUE(pg::Transact(**c, "charged", [&](pqxx::work& w) {
                  total = w.exec_params1(
                               "SELECT COALESCE(SUM(charged_usd), 0) FROM "
                               "(SELECT DISTINCT ON (authorization_id) "
                               "charged_usd FROM audit_events WHERE org_id = "
                               "$1 AND authorization_id IS NOT NULL ORDER BY "
                               "authorization_id, seq DESC) latest",
                               org)[0]
                              .as<int64_t>();
                }).ok());
    return total;
  }

  static inline RedisCluster* cluster_ = nullptr;
};

struct OrgTally {
  // lost: allowed while the replica was cut off (the promoted replica
  // lacks them).
  std::atomic<int> allowed{0}, denied{0}, unavailable{0}, lost{0};
  absl::Mutex mu;
  absl::Time first_unavailable = absl::InfiniteFuture();
  absl::Time last_unavailable = absl::InfinitePast();
};

TEST_F(FailoverTest, APrimaryKilledUnderLoadOverAdmitsNoOrg) {
  // Two orgs on each shard (an org's keys all carry its {org} tag).
  std::map<RedisServer*, std::vector<std::string>> on_shard;
  std::vector<std::string> orgs;
  for (int i = 0; orgs.size() < kShards * kOrgsPerShard && i < 1000; ++i) {
    const std::string org = absl::StrCat("org", i);
    RedisServer* primary = cluster_->PrimaryOf(absl::StrCat("{", org, "}"));
    ASSERT_NE(primary, nullptr);
    if (on_shard[primary].size() == kOrgsPerShard) continue;
    on_shard[primary].push_back(org);
    orgs.push_back(org);
  }
  ASSERT_EQ(orgs.size(), size_t{kShards * kOrgsPerShard});
  std::unique_ptr<WardendProcess> a =
      StartWardend(dir_->Write("first.yaml", Bundle(orgs[0])));
  ASSERT_NE(a, nullptr);
  for (size_t i = 1; i < orgs.size(); ++i) {
    v1::ApplyBundleRequest apply;
    apply.set_yaml(Bundle(orgs[i]));
    v1::ApplyBundleResponse applied;
    grpc::ClientContext context;
    const grpc::Status st = a->admin().ApplyBundle(&context, apply, &applied);
    ASSERT_TRUE(st.ok()) << orgs[i] << ": " << st.error_message();
  }
  std::unique_ptr<WardendProcess> b = StartWardend("");
  ASSERT_NE(b, nullptr);
  WardendProcess* replicas[2] = {a.get(), b.get()};

  RedisServer* victim = cluster_->PrimaryOf(absl::StrCat("{", orgs[0], "}"));
  ASSERT_NE(victim, nullptr);
  const std::set<std::string> failed(on_shard[victim].begin(),
                                     on_shard[victim].end());
  // The victim's replica streams its writes (its first sync may still be
  // running right after the cluster was made: promoted then, it would be
  // empty, a case PostgresStackTest.BudgetsSurviveRedisLoss covers).
  bool streaming = false;
  for (int i = 0; i < 300 && !streaming; ++i) {  // Bounded: 30 s at most.
    streaming = absl::StrContains(Cli(victim->port(), {"INFO", "replication"}),
                                  "state=online");
    if (!streaming) absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_TRUE(streaming) << "the victim's replica never synced";
  std::map<std::string, OrgTally> tally;
  for (const std::string& org : orgs) tally[org];
  std::atomic<bool> cut{false}, stop{false};
  std::vector<std::thread> clients;
  for (int t = 0; t < 8; ++t) {
    clients.emplace_back([&, t] {
      // Bounded: stops when told, or after 60 s.
      const absl::Time end = absl::Now() + absl::Seconds(60);
      for (int i = 0; !stop && absl::Now() < end; ++i) {
        const std::string& org = orgs[(t + i) % orgs.size()];
        OrgTally& mine = tally[org];
        v1::AuthorizeRequest r;
        r.set_org_id(org);
        r.set_agent_id("bot");
        r.set_wallet_id("bot_w");
        r.set_asset("USDC");
        r.set_amount("1000000");
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::seconds(3));
        v1::AuthorizeResponse response;
        const bool in_cut = cut;
        const grpc::Status st =
            replicas[(t + i) % 2]->authz().Authorize(&context, r, &response);
        if (!st.ok()) {
          ++mine.unavailable;
          absl::MutexLock lock(&mine.mu);
          mine.first_unavailable =
              std::min(mine.first_unavailable, absl::Now());
          mine.last_unavailable = absl::Now();
          absl::SleepFor(absl::Milliseconds(20));
        } else if (response.decision() == v1::DECISION_ALLOW) {
          ++mine.allowed;
          if (in_cut && cut) ++mine.lost;
        } else {
          ++mine.denied;
        }
      }
    });
  }
  absl::Cleanup join = [&] {
    stop = true;
    for (std::thread& c : clients) c.join();
  };
  absl::SleepFor(absl::Milliseconds(1500));

  // A partition, then a crash: the victim's replica is cut off (new
  // connections need a password it lacks; wardend's pooled ones stay in)
  // and its link dropped, so what the victim acknowledges from now on the
  // replica never gets; then the victim dies.
  const std::string password = "cut-off";
  int replica_port = 0;
  for (absl::string_view field :
       absl::StrSplit(Cli(victim->port(), {"INFO", "replication"}),
                      absl::ByAnyChar(",\r\n"))) {
    if (absl::ConsumePrefix(&field, "port=")) {
      ASSERT_TRUE(absl::SimpleAtoi(field, &replica_port));
    }
  }
  ASSERT_NE(replica_port, 0);
  ASSERT_EQ(Cli(victim->port(), {"CONFIG", "SET", "requirepass", password}),
            "OK\n");
  Cli(victim->port(), {"-a", password, "--no-auth-warning", "CLIENT", "KILL",
                       "TYPE", "replica"});
  bool cut_off = false;
  for (int i = 0; i < 100 && !cut_off; ++i) {  // Bounded: 10 s at most.
    cut_off = absl::StrContains(Cli(replica_port, {"INFO", "replication"}),
                                "master_link_status:down");
    if (!cut_off) absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_TRUE(cut_off) << "the replica's link never went down";
  cut = true;
  absl::SleepFor(absl::Milliseconds(400));
  cut = false;
  const absl::Time killed = absl::Now();
  victim->Kill();
  RedisServer* promoted = nullptr;
  for (int i = 0; i < 300 && (promoted == nullptr || promoted == victim);
       ++i) {  // Bounded: 30 s at most.
    absl::SleepFor(absl::Milliseconds(100));
    promoted = cluster_->PrimaryOf(absl::StrCat("{", orgs[0], "}"));
  }
  ASSERT_NE(promoted, nullptr) << "the replica was never promoted";
  std::cerr << "replica promoted " << absl::FormatDuration(absl::Now() - killed)
            << " after the kill\n";

  // Until every org is spent (or 45 s): then no org may be charged more
  // than its limit.
  auto spent = [&] {
    for (const std::string& org : orgs) {
      if (tally[org].denied < 10) return false;
    }
    return true;
  };
  for (int i = 0; i < 450 && !spent(); ++i) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  std::move(join).Invoke();

  int lost = 0;
  for (const std::string& org : orgs) {
    OrgTally& o = tally[org];
    const int64_t charged = ChargedMicros(org);
    EXPECT_GE(o.denied, 10) << org << " was never spent";
    EXPECT_LE(o.allowed, kLimitUsd) << org;
    EXPECT_LE(charged, int64_t{kLimitUsd} * 1'000'000)
        << org << " is charged past its limit in the audit trail";
    std::cerr << org << (failed.count(org) ? " (failed shard)" : "") << ": "
              << o.allowed << " allowed, " << o.denied << " denied, "
              << o.unavailable << " unavailable, $" << charged / 1'000'000
              << " charged in the audit trail";
    if (failed.count(org)) {
      // The promoted replica holds every allowed authorization.
      int missing = 0;
      for (const std::string& id : Allowed(org)) {
        missing += Cli(promoted->port(),
                       {"EXISTS", absl::StrCat("{", org, "}:r:", id)}) != "1\n";
      }
      EXPECT_EQ(missing, 0) << org << ": Redis lacks records the trail holds";
      lost += o.lost;
      std::cerr << ", " << o.lost << " allowed while the replica was cut off, "
                << missing << " missing from Redis; unavailable "
                << absl::FormatDuration(o.last_unavailable -
                                        o.first_unavailable)
                << " from "
                << absl::FormatDuration(o.first_unavailable - killed)
                << " after the kill";
    } else {
      EXPECT_EQ(o.unavailable, 0) << org << " is on a shard that never failed";
    }
    std::cerr << "\n";
  }
  // Writes were lost: the promoted replica never got these.
  EXPECT_GT(lost, 0) << "nothing was allowed while the replica was cut off";
}

}  // namespace
}  // namespace warden::testing
