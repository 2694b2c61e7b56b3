// The money path's integrity against real wardend processes, class by class
// of what an outside attacker found (docs/security.md, "Threat model"):
// - a replay after a freeze never answers ALLOW (embedded, and Redis +
//   Postgres);
// - a second wardend on one audit file refuses to start, naming the holder;
// - a SIGKILLed wardend loses no answered decision from its audit file;
// - a hostile bundle (nested aliases) is refused at once and SIGTERM still
//   stops wardend within its grace period;
// - a stalled (SIGSTOPped) Postgres fails calls with UNAVAILABLE within the
//   statement timeout + 1 s, readiness says NOT_SERVING meanwhile, and
//   SIGTERM still stops wardend within its bound.

#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "governance/memory/file_audit_log.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/support/durable_stack_test.h"
#include "tests/support/subprocess.h"
#include "tests/support/wardend_process.h"

namespace warden::testing {
namespace {

using ::testing::HasSubstr;

constexpr const char* kBundle = R"(
org: {id: acme}
departments: [{id: eng}]
agents:
  - id: agent_a
    department: eng
    limits: [{name: daily_max, usd: "1000", window: "rolling:24h"}]
    wallets: [{id: wallet_a, vendor: local, chain: base, address: "0x0a"}]
assets:
  - {symbol: USDC, decimals: 6, price_usd: "1"}
)";

v1::AuthorizeRequest Spend(const std::string& key) {
  v1::AuthorizeRequest r;
  r.set_agent_id("agent_a");
  r.set_wallet_id("wallet_a");
  r.set_asset("USDC");
  r.set_amount("100000000");
  r.set_idempotency_key(key);
  return r;
}

grpc::Status Authorize(WardendProcess& w, const v1::AuthorizeRequest& req,
                       v1::AuthorizeResponse* out,
                       absl::Duration deadline = absl::Seconds(20)) {
  grpc::ClientContext c;
  c.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  return w.authz().Authorize(&c, req, out);
}

// Authorize, freeze the agent, replay: the replay is a DENY naming the
// voided hold, with its status, and never a hold expiry to sign within.
void ExpectReplayAfterFreezeDenies(WardendProcess& w) {
  v1::AuthorizeResponse first, replay;
  ASSERT_TRUE(Authorize(w, Spend("retry-me"), &first).ok());
  ASSERT_EQ(first.decision(), v1::DECISION_ALLOW);
  v1::FreezeScopeRequest freeze;
  freeze.mutable_scope()->set_agent_id("agent_a");
  freeze.set_reason("looks compromised");
  v1::FreezeResponse frozen;
  grpc::ClientContext c;
  ASSERT_TRUE(w.admin().FreezeScope(&c, freeze, &frozen).ok());
  EXPECT_EQ(frozen.holds_voided(), 1);
  ASSERT_TRUE(Authorize(w, Spend("retry-me"), &replay).ok());
  EXPECT_TRUE(replay.replayed());
  EXPECT_EQ(replay.authorization_id(), first.authorization_id());
  EXPECT_EQ(replay.decision(), v1::DECISION_DENY);
  EXPECT_EQ(replay.status(), v1::AUTHORIZATION_STATUS_VOIDED);
  EXPECT_FALSE(replay.has_hold_expires_at());
  ASSERT_EQ(replay.violations_size(), 1);
  EXPECT_EQ(replay.violations(0).code(), "HOLD_VOIDED");
  EXPECT_THAT(replay.reason(), HasSubstr("agent/agent_a is frozen"));
}

class EmbeddedIntegrityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bundle_ = dir_.Write("bundle.yaml", kBundle);
    audit_ = dir_.path() + "/audit.jsonl";
  }
  std::vector<std::string> Args() const {
    return {"--embedded", "--bundle",         bundle_, "--audit-file",
            audit_,       "--drain-delay-ms", "0",     "--shutdown-grace-ms",
            "1000"};
  }

  TempDir dir_;
  std::string bundle_, audit_;
};

// Invariant 2 through wardend in embedded mode.
TEST_F(EmbeddedIntegrityTest, ReplayAfterFreezeDenies) {
  absl::StatusOr<std::unique_ptr<WardendProcess>> w =
      WardendProcess::Start(WARDEND_PATH, Args());
  ASSERT_TRUE(w.ok()) << w.status();
  ExpectReplayAfterFreezeDenies(**w);
}

// SIGKILL wardend in the middle of a stream: every decision a client got
// is in the audit file (answered only once its line was synced), and the
// file replays with its chain intact.
TEST_F(EmbeddedIntegrityTest, KilledGatewayLosesNoAnsweredDecision) {
  absl::StatusOr<std::unique_ptr<WardendProcess>> w =
      WardendProcess::Start(WARDEND_PATH, Args());
  ASSERT_TRUE(w.ok()) << w.status();
  absl::Mutex mu;
  std::set<std::string> answered;
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int t = 0; t < 8; ++t) {
    clients.emplace_back([&, t] {
      for (int i = 0; i < 5000 && !stop; ++i) {
        v1::AuthorizeResponse r;
        if (!Authorize(**w, Spend(absl::StrCat("k", t, "_", i)), &r,
                       absl::Seconds(5))
                 .ok()) {
          return;  // The gateway is gone.
        }
        absl::MutexLock lock(&mu);
        answered.insert(r.authorization_id());
      }
    });
  }
  absl::SleepFor(absl::Milliseconds(500));
  (*w)->process().Signal(SIGKILL);
  stop = true;
  for (std::thread& t : clients) t.join();
  ASSERT_GT(answered.size(), 10u);
  std::set<std::string> audited;
  ASSERT_TRUE(FileAuditLog::Replay(audit_, [&](const AuditEvent& e) {
                if (e.type == AuditEvent::Type::kAuthorizationDecided) {
                  audited.insert(e.authorization->id);
                }
                return absl::OkStatus();
              }).ok());
  for (const std::string& id : answered) {
    EXPECT_TRUE(audited.contains(id)) << id << " answered but not audited";
  }
  std::cerr << answered.size() << " answered decisions, all audited\n";
}

// Two processes never append to one audit file: the second refuses to
// start and names the first.
TEST_F(EmbeddedIntegrityTest, SecondWardendOnOneAuditFileRefuses) {
  absl::StatusOr<std::unique_ptr<WardendProcess>> first =
      WardendProcess::Start(WARDEND_PATH, Args());
  ASSERT_TRUE(first.ok()) << first.status();
  std::vector<std::string> argv = {WARDEND_PATH, "--listen", "127.0.0.1:0",
                                   "--insecure-no-auth"};
  for (const std::string& a : Args()) argv.push_back(a);
  absl::StatusOr<CommandResult> second = RunCommand(argv, absl::Seconds(30));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->exit_code, 2);
  EXPECT_THAT(second->err, HasSubstr(absl::StrCat("in use by process ",
                                                  (*first)->process().pid())));
  // The first is unharmed.
  v1::AuthorizeResponse r;
  EXPECT_TRUE(Authorize(**first, Spend("after"), &r).ok());
}

// A "billion laughs" bundle is refused at once, and SIGTERM afterwards
// stops wardend within its drain + grace (it used to pin a core for
// minutes and ignore SIGTERM).
TEST_F(EmbeddedIntegrityTest, HostileBundleThenSigtermStops) {
  absl::StatusOr<std::unique_ptr<WardendProcess>> w =
      WardendProcess::Start(WARDEND_PATH, Args());
  ASSERT_TRUE(w.ok()) << w.status();
  std::string laughs = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 40; ++i) {
    laughs += absl::StrCat("a", i, ": &a", i, " [");
    for (int j = 0; j < 10; ++j)
      laughs += absl::StrCat(j ? ", " : "", "*a", i - 1);
    laughs += "]\n";
  }
  v1::ApplyBundleRequest apply;
  apply.set_yaml(laughs);
  v1::ApplyBundleResponse r;
  grpc::ClientContext c;
  c.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  grpc::Status st = (*w)->admin().ApplyBundle(&c, apply, &r);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("anchors"));
  (*w)->process().Signal(SIGTERM);
  absl::StatusOr<int> status = (*w)->process().Wait(absl::Seconds(5));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0);
}

class StackIntegrityTest : public DurableStackTest {
 protected:
  static void SetUpTestSuite() {
    DurableStackTest::SetUpTestSuite();
    if (HasFatalFailure()) return;
    bundle_ = dir_->Write("bundle.yaml", kBundle);
  }
  static void TearDownTestSuite() { DurableStackTest::TearDownTestSuite(); }
  static std::unique_ptr<WardendProcess> StartWardend() {
    absl::StatusOr<std::unique_ptr<WardendProcess>> w = WardendProcess::Start(
        WARDEND_PATH,
        {"--redis", redis_->url(), "--postgres", pg_->url("warden_app"),
         "--bundle", bundle_, "--postgres-statement-timeout-ms", "1000",
         "--postgres-connect-timeout-ms", "1000", "--drain-delay-ms", "0",
         "--shutdown-grace-ms", "1000"});
    EXPECT_TRUE(w.ok()) << w.status();
    return w.ok() ? *std::move(w) : nullptr;
  }

  static std::string bundle_;
};

std::string StackIntegrityTest::bundle_;

// Invariant 2 through wardend on Redis and Postgres.
TEST_F(StackIntegrityTest, ReplayAfterFreezeDenies) {
  std::unique_ptr<WardendProcess> w = StartWardend();
  ASSERT_NE(w, nullptr);
  ExpectReplayAfterFreezeDenies(*w);
  v1::FreezeScopeRequest unfreeze;
  unfreeze.mutable_scope()->set_agent_id("agent_a");
  unfreeze.set_reason("done");
  v1::FreezeResponse r;
  grpc::ClientContext c;
  ASSERT_TRUE(w->admin().UnfreezeScope(&c, unfreeze, &r).ok());
}

// A Postgres that stopped answering (SIGSTOP: the kernel still accepts and
// acknowledges, so no server-side timeout can fire) fails calls within the
// statement timeout (1 s) + 1 s, under load; readiness is NOT_SERVING
// meanwhile; once it answers again, so does wardend. SIGTERM during the
// stall still ends wardend within drain + grace + 1 s.
TEST_F(StackIntegrityTest, StalledPostgresFailsCallsWithinTheBound) {
  std::unique_ptr<WardendProcess> w = StartWardend();
  ASSERT_NE(w, nullptr);
  v1::AuthorizeResponse r;
  ASSERT_TRUE(Authorize(*w, Spend("warm"), &r).ok());
  auto readiness = [&] {
    auto health = grpc::health::v1::Health::NewStub(
        grpc::CreateChannel(w->address(), grpc::InsecureChannelCredentials()));
    grpc::ClientContext c;
    c.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(2)));
    grpc::health::v1::HealthCheckResponse h;
    return health->Check(&c, {}, &h).ok()
               ? h.status()
               : grpc::health::v1::HealthCheckResponse::UNKNOWN;
  };
  pg_->Pause();
  // Eight callers at once, each with a deadline far past the bound.
  std::vector<std::thread> callers;
  std::atomic<int> unavailable{0}, other{0};
  std::atomic<int64_t> slowest_ms{0};
  for (int i = 0; i < 8; ++i) {
    callers.emplace_back([&, i] {
      const absl::Time start = absl::Now();
      v1::AuthorizeResponse out;
      grpc::Status st = Authorize(*w, Spend(absl::StrCat("stalled-", i)), &out,
                                  absl::Seconds(20));
      const int64_t ms = absl::ToInt64Milliseconds(absl::Now() - start);
      int64_t prev = slowest_ms.load();
      while (ms > prev && !slowest_ms.compare_exchange_weak(prev, ms)) {
      }
      (st.error_code() == grpc::StatusCode::UNAVAILABLE ? unavailable
                                                        : other)++;
    });
  }
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(unavailable, 8);
  EXPECT_EQ(other, 0);
  // 1 s + 1 s of bound; a second of slack for this shared 2-core machine.
  EXPECT_LE(slowest_ms.load(), 3000) << "slowest call";
  std::cerr << "stalled Postgres: slowest call answered UNAVAILABLE after "
            << slowest_ms.load() << " ms\n";
  bool not_serving = false;
  for (int i = 0; i < 50 && !not_serving; ++i) {
    not_serving =
        readiness() == grpc::health::v1::HealthCheckResponse::NOT_SERVING;
    if (!not_serving) absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_TRUE(not_serving);
  pg_->Resume();
  grpc::Status st;
  for (int i = 0; i < 100; ++i) {
    st = Authorize(*w, Spend("recovered"), &r);
    if (st.ok()) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(r.decision(), v1::DECISION_ALLOW);

  // Stalled again, with a call in flight: SIGTERM still ends wardend.
  pg_->Pause();
  std::thread stuck([&] {
    v1::AuthorizeResponse out;
    (void)Authorize(*w, Spend("in-flight"), &out);
  });
  absl::SleepFor(absl::Milliseconds(200));
  const absl::Time term = absl::Now();
  w->process().Signal(SIGTERM);
  absl::StatusOr<int> status = w->process().Wait(absl::Seconds(10));
  const absl::Duration took = absl::Now() - term;
  pg_->Resume();
  stuck.join();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_LE(took, absl::Seconds(4)) << "drain 0 + grace 1 s + 1 s, and slack";
}

}  // namespace
}  // namespace warden::testing
