// wardenctl budget status against real wardend processes in each mode
// (embedded, Redis with an audit file, Redis and Postgres), with auth on:
// the figures equal the test's own sums of settled, held and pending spend
// and the figures of a denial at that moment; an agent reads only its own
// budget, an auditor any scope, and a bad scope is named. And the finance
// alerts: a threshold crossing and a breach each reach a loopback webhook
// once, signed, as JSON or as a Slack message.
#include <algorithm>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "services/notification_sinks.h"
#include "tests/support/durable_stack_test.h"
#include "tests/support/webhook_receiver.h"

namespace warden {
namespace {

using nlohmann::json;
using testing::CommandResult;
using testing::DurableStackTest;
using ::testing::HasSubstr;
using testing::RunCommand;
using testing::WardendProcess;
using testing::WebhookReceiver;

constexpr char kBundle[] = R"(
org:
  id: acme
  limits: [{name: monthly, usd: "10000", window: "calendar:month"}]
departments:
  - id: research
    limits: [{name: monthly, usd: "5000", window: "calendar:month"}]
    approvals: {approval_above_usd: "1000", approvers: [user/cfo]}
  - id: ops
    limits: [{name: daily, usd: "2000", window: "rolling:24h"}]
agents:
  - id: r1
    department: research
    wallets:
      - {id: rw, vendor: local, chain: base,
         address: "0x0000000000000000000000000000000000000001"}
  - id: o1
    department: ops
    limits: [{name: tx_per_day, count: 10, window: "rolling:24h"}]
    wallets:
      - {id: ow, vendor: local, chain: base,
         address: "0x0000000000000000000000000000000000000002"}
assets:
  - {symbol: USDC, decimals: 6, price_usd: "1"}
)";

class BudgetE2eTest : public DurableStackTest {
 protected:
  CommandResult Ctl(const std::string& token, std::vector<std::string> args) {
    std::vector<std::string> argv = {WARDENCTL_PATH, "--server", w_->address(),
                                     "--token", token};
    argv.insert(argv.end(), args.begin(), args.end());
    absl::StatusOr<CommandResult> r = RunCommand(argv, absl::Seconds(30));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : CommandResult{};
  }

  std::string Token(const std::string& principal, const std::string& role) {
    const CommandResult r = Ctl(
        admin_, {"token", "create", "--principal", principal, "--role", role});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return std::string(absl::StripAsciiWhitespace(r.out));
  }

  static void FlushRedis() {
    absl::StatusOr<CommandResult> r =
        RunCommand({"/usr/bin/redis-cli", "-u", redis_->url(), "FLUSHALL"},
                   absl::Seconds(10));
    ASSERT_TRUE(r.ok() && r->exit_code == 0);
  }

  // Starts wardend with `store_args`, makes the tokens. Without Postgres,
  // wardend writes the first admin token; with it, wardenctl does, in the
  // database, as an operator would.
  // `org` replaces the bundle's org id.
  void Start(std::vector<std::string> store_args, const std::string& tag,
             bool postgres = false, const std::string& org = "acme") {
    const std::string token_file = absl::StrCat(dir_->path(), "/", tag, ".tok");
    std::string bundle = kBundle;
    bundle.replace(bundle.find("id: acme"), 8, absl::StrCat("id: ", org));
    std::vector<std::string> args = {
        "--auth", "--bundle",
        dir_->Write(absl::StrCat(tag, "-bundle.yaml"), bundle)};
    if (postgres) {
      absl::StatusOr<CommandResult> made =
          RunCommand({WARDENCTL_PATH, "token", "create", "--postgres",
                      pg_->url("warden_app"), "--org", org, "--principal",
                      "user/admin", "--role", "admin"},
                     absl::Seconds(30));
      ASSERT_TRUE(made.ok() && made->exit_code == 0) << made->err;
      admin_ = std::string(absl::StripAsciiWhitespace(made->out));
    } else {
      args.insert(args.end(), {"--bootstrap-token-file", token_file});
    }
    args.insert(args.end(), store_args.begin(), store_args.end());
    absl::StatusOr<std::unique_ptr<WardendProcess>> w =
        WardendProcess::Start(WARDEND_PATH, args);
    ASSERT_TRUE(w.ok()) << w.status();
    w_ = *std::move(w);
    if (!postgres) {
      std::ifstream in(token_file);
      std::getline(in, admin_);
    }
    ASSERT_FALSE(admin_.empty());
    auditor_ = Token("user/finance", "auditor");
    agents_["r1"] = Token("agent/r1", "agent");
    agents_["o1"] = Token("agent/o1", "agent");
  }

  json Authorize(const std::string& agent, const std::string& wallet,
                 int dollars) {
    const CommandResult r =
        Ctl(agents_[agent],
            {"authorize", "--json", "--agent", agent, "--wallet", wallet,
             "--asset", "USDC", "--amount", absl::StrCat(dollars, "000000"),
             "--to", "0x00000000000000000000000000000000000000ff"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out, nullptr, false);
  }

  void Settle(const std::string& agent, const json& a, int dollars) {
    const CommandResult r =
        Ctl(agents_[agent],
            {"settle", a["authorization_id"].get<std::string>(), "--amount",
             absl::StrCat(dollars, "000000"), "--tx-hash",
             absl::StrCat("0x", std::string(64, 'b'))});
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }

  // The limits `flags` show, as --json prints them.
  json Status(const std::string& token, std::vector<std::string> flags) {
    flags.insert(flags.begin(), {"budget", "status", "--json"});
    const CommandResult r = Ctl(token, flags);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const json j = json::parse(r.out, nullptr, false);
    return j.is_object() ? j["limits"] : json();
  }

  // research: $1,500 awaiting approval, $700 settled, $300 held; ops:
  // $1,200 settled, $500 held.
  void Seed() {
    EXPECT_EQ(Authorize("r1", "rw", 1500)["decision"], "PENDING_APPROVAL");
    Settle("r1", Authorize("r1", "rw", 800), 700);
    EXPECT_EQ(Authorize("r1", "rw", 300)["decision"], "ALLOW");
    Settle("o1", Authorize("o1", "ow", 1200), 1200);
    EXPECT_EQ(Authorize("o1", "ow", 500)["decision"], "ALLOW");
  }

  // What the audit queries answer after Seed and a denial, without what
  // differs from run to run (ids, times, hashes) or between a file and
  // Postgres (the gateway).
  std::string AuditAnswers() {
    EXPECT_EQ(Authorize("r1", "rw", 2600)["decision"], "DENY");
    std::string out;
    for (const char* group : {"department", "agent", "asset"}) {
      const CommandResult r =
          Ctl(auditor_, {"audit", "summary", "--json", "--group-by", group});
      EXPECT_EQ(r.exit_code, 0) << r.err;
      absl::StrAppend(&out, r.out);
    }
    // Spend over time: per month of the org's zone (the same month in
    // both runs unless a month ends between them).
    const CommandResult monthly = Ctl(
        auditor_,
        {"audit", "summary", "--json", "--group-by", "department", "--by",
         "month", "--from",
         absl::FormatTime(absl::RFC3339_sec, absl::Now() - absl::Hours(24 * 40),
                          absl::UTCTimeZone())});
    EXPECT_EQ(monthly.exit_code, 0) << monthly.err;
    EXPECT_THAT(monthly.out, HasSubstr("\"period_start\""));
    absl::StrAppend(&out, monthly.out);
    const CommandResult q = Ctl(auditor_, {"audit", "query"});
    EXPECT_EQ(q.exit_code, 0) << q.err;
    for (absl::string_view line :
         absl::StrSplit(q.out, '\n', absl::SkipEmpty())) {
      json j = json::parse(line);
      for (const char* volatile_key :
           {"authorization_id", "time", "hash", "prev_hash", "body", "gateway",
            "tx_hash", "actor"}) {
        j.erase(volatile_key);
      }
      absl::StrAppend(&out, j.dump(), "\n");
    }
    return out;
  }

  // The seeded figures, the denial that matches them, and who may read.
  void SeedAndCheck() {
    Seed();

    const json research = Status(auditor_, {"--department", "research"});
    ASSERT_EQ(research.size(), 1u) << research;
    EXPECT_EQ(research[0]["scope"], "department/research");
    EXPECT_EQ(research[0]["window"], "calendar:month");
    EXPECT_EQ(research[0]["limit_usd"], "5000.00");
    EXPECT_EQ(research[0]["settled_usd"], "700.00");
    EXPECT_EQ(research[0]["held_usd"], "300.00");
    EXPECT_EQ(research[0]["pending_usd"], "1500.00");
    EXPECT_EQ(research[0]["remaining_usd"], "2500.00");
    EXPECT_DOUBLE_EQ(research[0]["utilization"].get<double>(), 0.5);

    const json org = Status(auditor_, {"--org", "--below"});
    ASSERT_EQ(org.size(), 4u) << org;
    EXPECT_EQ(org[0]["settled_usd"], "1900.00");
    EXPECT_EQ(org[0]["held_usd"], "800.00");
    EXPECT_EQ(org[0]["pending_usd"], "1500.00");
    EXPECT_EQ(org[1]["scope"], "department/ops");
    EXPECT_EQ(org[1]["remaining_usd"], "300.00");
    EXPECT_EQ(org[2]["scope"], "agent/o1");
    EXPECT_EQ(org[2]["used_count"], 2);
    EXPECT_EQ(org[2]["remaining_count"], 8);

    // A denial at this moment gives the same figures.
    const json denied = Authorize("r1", "rw", 2600);
    ASSERT_EQ(denied["decision"], "DENY") << denied;
    const json& v = denied["violations"][0];
    EXPECT_EQ(v["scope"], "department/research");
    EXPECT_EQ(v["spent"], "2500.00");
    EXPECT_EQ(v["pending"], "1500.00");
    EXPECT_EQ(v["remaining"], research[0]["remaining_usd"]);

    // The agent reads its own budget and wallet, nothing else; the
    // refusal names the field and exits 1.
    const json own = Status(agents_["o1"], {"--agent", "o1"});
    ASSERT_EQ(own.size(), 1u);
    EXPECT_EQ(own[0]["settled_count"], 1);
    EXPECT_EQ(own[0]["held_count"], 1);
    EXPECT_TRUE(Status(agents_["o1"], {"--wallet", "ow"}).empty());
    const CommandResult other =
        Ctl(agents_["o1"], {"budget", "status", "--department", "research"});
    EXPECT_EQ(other.exit_code, 1);
    EXPECT_THAT(other.err, HasSubstr("PERMISSION_DENIED"));
    EXPECT_THAT(other.err, HasSubstr("scope: agent o1 may read only"));
    // A bad scope is named; no token is refused.
    const CommandResult bad =
        Ctl(auditor_, {"budget", "status", "--agent", "nobody"});
    EXPECT_EQ(bad.exit_code, 1);
    EXPECT_THAT(bad.err, HasSubstr("scope: \"agent/nobody\" is not in the"));
    EXPECT_EQ(Ctl("", {"budget", "status", "--org"}).exit_code, 1);
    const CommandResult two =
        Ctl(auditor_, {"budget", "status", "--org", "--agent", "o1"});
    EXPECT_EQ(two.exit_code, 2);
    EXPECT_THAT(two.err, HasSubstr("exactly one of"));
    // The text form shows the same row.
    const CommandResult text =
        Ctl(auditor_, {"budget", "status", "--department", "research"});
    EXPECT_THAT(text.out,
                ::testing::ContainsRegex(
                    "department/research +monthly +calendar:month +\\$5000.00 "
                    "+\\$700.00 +\\$300.00 +\\$1500.00 +\\$2500.00 +50.0% "
                    "+[0-9-]+T00:00:00Z"));
  }

  std::unique_ptr<WardendProcess> w_;
  std::string admin_, auditor_;
  std::map<std::string, std::string> agents_;
};

// The same calls give the same audit answers from the embedded mode's audit
// file as from Postgres.
TEST_F(BudgetE2eTest, AuditQueriesAgreeAcrossModes) {
  Start({"--embedded", "--audit-file", dir_->path() + "/same.jsonl"},
        "same-embedded", false, "globex");
  Seed();
  const std::string embedded = AuditAnswers();
  FlushRedis();
  Start({"--redis", redis_->url(), "--postgres", pg_->url("warden_app")},
        "same-postgres", /*postgres=*/true, "globex");
  Seed();
  const std::string postgres = AuditAnswers();
  EXPECT_THAT(embedded, HasSubstr("\"key\":\"research\""));
  EXPECT_EQ(std::count(embedded.begin(), embedded.end(), '\n'), 16) << embedded;
  EXPECT_EQ(embedded, postgres);
}

TEST_F(BudgetE2eTest, Embedded) {
  Start({"--embedded", "--audit-file", dir_->path() + "/embedded.jsonl"},
        "embedded");
  SeedAndCheck();
}

TEST_F(BudgetE2eTest, RedisAndAuditFile) {
  FlushRedis();
  Start(
      {"--redis", redis_->url(), "--audit-file", dir_->path() + "/redis.jsonl"},
      "redis");
  SeedAndCheck();
}

TEST_F(BudgetE2eTest, RedisAndPostgres) {
  FlushRedis();
  Start({"--redis", redis_->url(), "--postgres", pg_->url("warden_app")},
        "postgres", /*postgres=*/true);
  SeedAndCheck();
  // The audit trail carries the spends' figures as fields of their own.
  const CommandResult denials =
      Ctl(auditor_, {"audit", "query", "--type", "authorization.decided",
                     "--decision", "DENY"});
  ASSERT_EQ(denials.exit_code, 0) << denials.err;
  const json d = json::parse(denials.out.substr(0, denials.out.find('\n')),
                             nullptr, false);
  ASSERT_TRUE(d.is_object()) << denials.out;
  EXPECT_EQ(d["type"], "authorization.decided");
  EXPECT_EQ(d["chain"], "base");
  EXPECT_EQ(d["asset"], "USDC");
  EXPECT_EQ(d["amount"], "2600000000");
  EXPECT_EQ(d["amount_usd"], "2600.00");
  EXPECT_EQ(d["destination"], "0x00000000000000000000000000000000000000ff");
  EXPECT_EQ(d["violations"][0]["code"], "BUDGET_EXCEEDED");
  const CommandResult settled =
      Ctl(auditor_, {"audit", "query", "--type", "authorization.settled"});
  EXPECT_EQ(std::count(settled.out.begin(), settled.out.end(), '\n'), 2)
      << settled.out;
  EXPECT_THAT(settled.out, HasSubstr(absl::StrCat("\"tx_hash\":\"0x",
                                                  std::string(64, 'b'))));
  const std::string csv = dir_->path() + "/trail.csv";
  ASSERT_EQ(Ctl(auditor_, {"audit", "export", "--format", "csv", "--out", csv})
                .exit_code,
            0);
  std::ifstream in(csv);
  std::string header;
  std::getline(in, header);
  EXPECT_THAT(header, HasSubstr("charged_usd,chain,asset,amount,amount_usd,"
                                "destination,tx_hash,violations,prev_hash"));
  const CommandResult bad =
      Ctl(auditor_, {"audit", "query", "--type", "Authorization Decided"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.err, HasSubstr("type: \"Authorization Decided\" is not an "
                                 "event type"));
}

constexpr char kSecret[] = "whsec_budget";

// One wardend (embedded) posting to a loopback receiver in `format`.
class BudgetAlertsE2eTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string bundle = kBundle;
    bundle.replace(bundle.find("  limits: [{name: monthly, usd: \"10000\""), 0,
                   "  budget_alerts: {thresholds: [80]}\n");
    absl::StatusOr<std::unique_ptr<WardendProcess>> w = WardendProcess::Start(
        WARDEND_PATH,
        {"--embedded", "--bundle", dir_.Write("bundle.yaml", bundle),
         "--audit-file", dir_.path() + "/audit.jsonl", "--sweep-interval-ms",
         "100", "--webhook-url", receiver_.url(), "--webhook-secret-file",
         dir_.Write("secret", kSecret), "--webhook-format", GetParam()});
    ASSERT_TRUE(w.ok()) << w.status();
    w_ = *std::move(w);
  }

  std::string Spend(int dollars) {
    v1::AuthorizeRequest request;
    request.set_agent_id("o1");
    request.set_wallet_id("ow");
    request.set_asset("USDC");
    request.set_amount(absl::StrCat(dollars, "000000"));
    request.set_destination("0x00000000000000000000000000000000000000ff");
    v1::AuthorizeResponse response;
    grpc::ClientContext context;
    EXPECT_TRUE(w_->authz().Authorize(&context, request, &response).ok());
    return v1::Decision_Name(response.decision());
  }

  testing::TempDir dir_;
  WebhookReceiver receiver_;
  std::unique_ptr<WardendProcess> w_;
};

TEST_P(BudgetAlertsE2eTest, AThresholdAndABreachEachArriveOnceSigned) {
  // ops has $2,000 a day: $1,700 passes 80%; three refusals follow.
  EXPECT_EQ(Spend(1700), "DECISION_ALLOW");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Spend(400), "DECISION_DENY");
  // Several sweeps later (each flushes what is due), nothing more came.
  for (int i = 0; i < 500 && receiver_.requests().size() < 2; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  absl::SleepFor(absl::Milliseconds(500));
  const std::vector<WebhookReceiver::Request> got = receiver_.requests();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].event, "budget.threshold");
  EXPECT_EQ(got[1].event, "budget.breach");
  for (const WebhookReceiver::Request& r : got) {
    EXPECT_TRUE(VerifyWebhookSignature(kSecret, r.signature, r.body,
                                       absl::Now(), absl::Minutes(5)));
    const json body = json::parse(r.body);
    if (GetParam() == "slack") {
      ASSERT_EQ(body.size(), 1u);
      EXPECT_THAT(body["text"].get<std::string>(),
                  HasSubstr(absl::StrCat("Warden ", r.event, " (org acme)")));
      continue;
    }
    EXPECT_EQ(body["event"], r.event);
    EXPECT_EQ(body["limit"]["scope"], "department/ops");
    EXPECT_EQ(body["limit"]["limit"], "daily");
  }
  if (GetParam() == "json") {
    const json threshold = json::parse(got[0].body);
    EXPECT_EQ(threshold["threshold_percent"], 80);
    EXPECT_EQ(threshold["limit"]["spent"], "1700.00");
    const json breach = json::parse(got[1].body);
    EXPECT_EQ(breach["folded"], 0);
    EXPECT_EQ(breach["limit"]["spent"], "1700.00");
    EXPECT_EQ(breach["limit"]["requested"], "400.00");
    EXPECT_EQ(breach["authorization"]["decision"], "DENY");
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, BudgetAlertsE2eTest,
                         ::testing::Values("json", "slack"));

// Walks of a whole trail (VerifyChain here) are bounded: one at a time per
// caller (and two per replica, stream_slots_test), refused at once beyond
// that, so that a flood of them cannot hold every worker. Postgres stopped
// (SIGSTOP) keeps the first walk running. Without --auth, every call is the
// same caller (token checks would wait on the stopped Postgres too).
TEST_F(BudgetE2eTest, TrailWalksAreBoundedPerCaller) {
  FlushRedis();
  std::string bundle = kBundle;
  bundle.replace(bundle.find("id: acme"), 8, "id: initech");
  absl::StatusOr<std::unique_ptr<WardendProcess>> w = WardendProcess::Start(
      WARDEND_PATH,
      {"--bundle", dir_->Write("walks-bundle.yaml", bundle), "--redis",
       redis_->url(), "--postgres", pg_->url("warden_app")});
  ASSERT_TRUE(w.ok()) << w.status();
  auto verify = [&] {
    absl::StatusOr<CommandResult> r =
        RunCommand({WARDENCTL_PATH, "--server", (*w)->address(), "--org",
                    "initech", "audit", "verify"},
                   absl::Seconds(60));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : CommandResult{};
  };
  ASSERT_EQ(verify().exit_code, 0);
  pg_->Pause();
  std::thread walking([&] { verify(); });
  absl::SleepFor(absl::Seconds(2));  // It holds its slot, waiting on Postgres.
  const CommandResult again = verify();
  pg_->Resume();
  walking.join();
  EXPECT_NE(again.exit_code, 0);
  EXPECT_THAT(again.err, HasSubstr("RESOURCE_EXHAUSTED"));
  EXPECT_THAT(again.err, HasSubstr("at most 1 audit trail walks running"));
  // Once it ends, a walk runs again.
  EXPECT_EQ(verify().exit_code, 0);
}

}  // namespace
}  // namespace warden
