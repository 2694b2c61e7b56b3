// The web console in a real browser: a wardend seeded with spends in two
// departments, then tests/browser/console_test.cjs (playwright-core driving
// Debian's chromium, loopback only) signs in with each role, reads the
// overview's percentages and colours, draws the chart, explores the audit
// trail, approves a pending request and freezes an agent. The request it
// approved is ALLOW here afterwards.
//
// WARDEN_SCREENSHOTS=DIR makes the script save a PNG of each page there
// (tests/browser/screenshots.sh regenerates docs/images/ that way).
#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "tests/support/subprocess.h"
#include "tests/support/wardend_process.h"

namespace warden {
namespace {

using testing::CommandResult;
using testing::RunCommand;
using testing::TempDir;
using testing::WardendProcess;

// research: $10,000 a month, approvals above $1,000; ops: $2,000 a month;
// o1 at most 2 spends a day.
constexpr char kBundle[] = R"(
org:
  id: acme
  limits: [{name: monthly, usd: "50000", window: "calendar:month"}]
departments:
  - id: research
    limits: [{name: monthly, usd: "10000", window: "calendar:month"}]
    approvals: {approval_above_usd: "1000", approvers: [user/alice]}
  - id: ops
    limits: [{name: monthly, usd: "2000", window: "calendar:month"}]
agents:
  - id: r1
    department: research
    wallets:
      - {id: rw, vendor: local, chain: base,
         address: "0x0000000000000000000000000000000000000001"}
  - id: o1
    department: ops
    limits: [{name: tx_per_day, count: 2, window: "rolling:24h"}]
    wallets:
      - {id: ow, vendor: local, chain: base,
         address: "0x0000000000000000000000000000000000000002"}
assets:
  - {symbol: USDC, decimals: 6, price_usd: "1"}
)";

class ConsoleBrowserTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string token_file = dir_.path() + "/admin.tok";
    absl::StatusOr<std::unique_ptr<WardendProcess>> w = WardendProcess::Start(
        WARDEND_PATH,
        {"--auth", "--embedded", "--bundle", dir_.Write("b.yaml", kBundle),
         "--audit-file", dir_.path() + "/audit.jsonl", "--bootstrap-token-file",
         token_file, "--http-listen", "127.0.0.1:0"});
    ASSERT_TRUE(w.ok()) << w.status();
    w_ = *std::move(w);
    std::ifstream in(token_file);
    std::getline(in, admin_);
  }

  std::string Mint(const std::string& principal, const std::string& role) {
    absl::StatusOr<CommandResult> r = RunCommand(
        {WARDENCTL_PATH, "--server", w_->address(), "--token", admin_, "token",
         "create", "--principal", principal, "--role", role},
        absl::Seconds(30));
    EXPECT_TRUE(r.ok() && r->exit_code == 0);
    return r.ok() ? std::string(absl::StripAsciiWhitespace(r->out)) : "";
  }

  // `agent` spends `usd` whole dollars of USDC; settled when `settle`.
  v1::AuthorizeResponse Spend(const std::string& agent,
                              const std::string& token, int usd,
                              bool settle = false) {
    v1::AuthorizeRequest request;
    request.set_agent_id(agent);
    request.set_wallet_id(agent == "r1" ? "rw" : "ow");
    request.set_asset("USDC");
    request.set_amount(absl::StrCat(usd, "000000"));
    v1::AuthorizeResponse response;
    grpc::ClientContext c;
    c.AddMetadata("authorization", "Bearer " + token);
    EXPECT_TRUE(w_->authz().Authorize(&c, request, &response).ok());
    if (settle) {
      v1::SettleRequest s;
      s.set_authorization_id(response.authorization_id());
      s.set_amount(request.amount());
      v1::Authorization settled;
      grpc::ClientContext sc;
      sc.AddMetadata("authorization", "Bearer " + token);
      EXPECT_TRUE(w_->authz().Settle(&sc, s, &settled).ok());
    }
    return response;
  }

  TempDir dir_;
  std::unique_ptr<WardendProcess> w_;
  std::string admin_;
};

TEST_F(ConsoleBrowserTest, SignInOverviewChartApproveAndFreeze) {
  const std::string r1 = Mint("agent/r1", "agent");
  const std::string o1 = Mint("agent/o1", "agent");
  // research: $7,000 allowed ($3,000 of it settled) and $1,200 awaiting
  // approval: 82.0% of $10,000. ops: $1,900 of $2,000, 95.0%, in o1's two
  // spends of the day: 100%.
  for (int i = 0; i < 7; ++i) {
    EXPECT_EQ(Spend("r1", r1, 1000, i < 3).decision(), v1::DECISION_ALLOW);
  }
  const v1::AuthorizeResponse pending = Spend("r1", r1, 1200);
  ASSERT_EQ(pending.decision(), v1::DECISION_PENDING_APPROVAL);
  EXPECT_EQ(Spend("o1", o1, 1000, true).decision(), v1::DECISION_ALLOW);
  EXPECT_EQ(Spend("o1", o1, 900).decision(), v1::DECISION_ALLOW);

  const std::string http = w_->http_url();
  ASSERT_TRUE(absl::StartsWith(http, "http://127.0.0.1:")) << http;
  ::setenv("WARDEN_URL", http.c_str(), 1);
  ::setenv("WARDEN_AUDITOR_TOKEN", Mint("user/audrey", "auditor").c_str(), 1);
  ::setenv("WARDEN_APPROVER_TOKEN", Mint("user/alice", "approver").c_str(), 1);
  ::setenv("WARDEN_ADMIN_TOKEN", admin_.c_str(), 1);
  ::setenv("WARDEN_PENDING_ID", pending.authorization_id().c_str(), 1);
  ::setenv("WARDEN_EXPECT",
           R"({"department/research monthly": ["82.0%", "warn"],
               "department/ops monthly": ["95.0%", "high"],
               "agent/o1 tx_per_day": ["100.0%", "over"],
               "org/acme monthly": ["20.2%", "ok"]})",
           1);
  absl::StatusOr<CommandResult> run = RunCommand(
      {"/usr/bin/env", "node",
       std::string(WARDEN_SOURCE_DIR) + "/tests/browser/console_test.cjs"},
      absl::Minutes(3));
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->exit_code, 0) << run->out << run->err;
  std::cerr << run->out;

  // What the page approved is ALLOW for the agent.
  v1::GetAuthorizationRequest get;
  get.set_authorization_id(pending.authorization_id());
  v1::Authorization now;
  grpc::ClientContext c;
  c.AddMetadata("authorization", "Bearer " + r1);
  ASSERT_TRUE(w_->authz().GetAuthorization(&c, get, &now).ok());
  EXPECT_EQ(now.decision(), v1::DECISION_ALLOW);
}

}  // namespace
}  // namespace warden
