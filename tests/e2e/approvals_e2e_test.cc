// Approvals end to end against a real `wardend --embedded`: a spend above
// the approval threshold waits, the agent watches it over
// WatchAuthorization, two approvers answer through `wardenctl approvals`,
// and a webhook receiver on loopback gets each event, signed. A loosening
// policy bundle waits for its approvers the same way.

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "services/notification_sinks.h"
#include "tests/support/subprocess.h"
#include "tests/support/wardend_process.h"
#include "tests/support/webhook_receiver.h"

namespace warden::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSecret[] = "whsec_e2e";

constexpr const char* kBundle = R"(
org: {id: acme, hold_ttl: 10m}
departments: [{id: eng}]
agents:
  - id: agent_a
    department: eng
    limits: [{name: daily_max, usd: "1000", window: "rolling:24h"}]
    approvals:
      approval_above_usd: "300"
      approvers: [user/alice, second_agent]
      approvals_required: 2
    wallets: [{id: wallet_1, vendor: local, chain: base, address: "0x01"}]
  - id: agent_c
    department: eng
    wallets: [{id: wallet_c, vendor: local, chain: base, address: "0x0c"}]
assets: [{symbol: USDC, decimals: 6, price_usd: "1"}]
)";

class ApprovalsE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<WardendProcess>> w = WardendProcess::Start(
        WARDEND_PATH,
        {"--embedded", "--bundle", dir_.Write("bundle.yaml", kBundle),
         "--audit-file", dir_.path() + "/audit.jsonl", "--sweep-interval-ms",
         "100", "--webhook-url", receiver_.url(), "--webhook-secret-file",
         dir_.Write("secret", kSecret)});
    ASSERT_TRUE(w.ok()) << w.status();
    wardend_ = *std::move(w);
  }

  // Runs wardenctl against the server; returns its stdout, checking the
  // exit code.
  std::string Ctl(std::vector<std::string> args, int want_exit = 0) {
    args.insert(args.begin(),
                {WARDENCTL_PATH, "--server", wardend_->address()});
    absl::StatusOr<CommandResult> r = RunCommand(args, absl::Seconds(30));
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return "";
    EXPECT_EQ(r->exit_code, want_exit) << r->out << r->err;
    return r->out + r->err;
  }

  // $400 from agent_a: above its $300 approval threshold.
  v1::AuthorizeResponse AwaitingApproval() {
    v1::AuthorizeRequest request;
    request.set_agent_id("agent_a");
    request.set_wallet_id("wallet_1");
    request.set_asset("USDC");
    request.set_amount("400000000");
    v1::AuthorizeResponse response;
    grpc::ClientContext context;
    const grpc::Status s =
        wardend_->authz().Authorize(&context, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response;
  }

  TempDir dir_;
  WebhookReceiver receiver_;
  std::unique_ptr<WardendProcess> wardend_;
};

TEST_F(ApprovalsE2eTest, WatchApproveAndNotify) {
  const v1::AuthorizeResponse pending = AwaitingApproval();
  ASSERT_EQ(pending.decision(), v1::DECISION_PENDING_APPROVAL);
  EXPECT_EQ(pending.approvals_required(), 2);
  const std::string id = pending.authorization_id();

  // The agent waits on a stream while the approvers answer.
  std::vector<v1::Authorization> seen;
  grpc::Status watch_status;
  std::thread watcher([&] {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(60));
    v1::GetAuthorizationRequest get;
    get.set_authorization_id(id);
    auto reader = wardend_->authz().WatchAuthorization(&context, get);
    v1::Authorization a;
    while (reader->Read(&a)) seen.push_back(a);
    watch_status = reader->Finish();
  });

  EXPECT_THAT(Ctl({"approvals", "list"}), HasSubstr(id));
  EXPECT_THAT(
      Ctl({"approvals", "approve", id, "--approver", "agent/agent_a"}, 1),
      HasSubstr("PERMISSION_DENIED"));
  EXPECT_THAT(Ctl({"approvals", "approve", id, "--approver", "user/alice",
                   "--comment", "invoice 42"}),
              HasSubstr("PENDING_APPROVAL"));
  EXPECT_THAT(Ctl({"approvals", "approve", id, "--approver", "user/alice"}),
              HasSubstr("not counted again"));
  const std::string granted = Ctl(
      {"--json", "approvals", "approve", id, "--approver", "agent/agent_c"});
  const nlohmann::json j = nlohmann::json::parse(granted);
  EXPECT_EQ(j["decision"], "ALLOW");
  EXPECT_EQ(j["counted"], true);
  EXPECT_EQ(j["votes"].size(), 2u);
  watcher.join();

  ASSERT_TRUE(watch_status.ok()) << watch_status.error_message();
  ASSERT_GE(seen.size(), 2u);
  EXPECT_EQ(seen.front().decision(), v1::DECISION_PENDING_APPROVAL);
  EXPECT_EQ(seen.back().decision(), v1::DECISION_ALLOW);
  EXPECT_EQ(seen.back().votes_size(), 2);
  EXPECT_THAT(Ctl({"approvals", "list"}), HasSubstr("nothing awaits"));

  // The webhook got every event, each verifiably signed.
  std::vector<std::string> events;
  for (int i = 0; i < 500 && receiver_.requests().size() < 3; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  for (const WebhookReceiver::Request& r : receiver_.requests()) {
    events.push_back(r.event);
    EXPECT_TRUE(VerifyWebhookSignature(kSecret, r.signature, r.body,
                                       absl::Now(), absl::Minutes(5)));
    EXPECT_FALSE(VerifyWebhookSignature("wrong", r.signature, r.body,
                                        absl::Now(), absl::Minutes(5)));
    EXPECT_EQ(nlohmann::json::parse(r.body)["authorization"]["id"], id);
  }
  EXPECT_THAT(events, ElementsAre("approval.requested", "approval.voted",
                                  "approval.granted"));
}

// One caller holds at most kMaxWatchesPerCaller watches open at once: the
// next is RESOURCE_EXHAUSTED, and closing one frees its slot.
TEST_F(ApprovalsE2eTest, WatchesPerCallerAreBounded) {
  const v1::AuthorizeResponse pending = AwaitingApproval();
  ASSERT_EQ(pending.decision(), v1::DECISION_PENDING_APPROVAL);
  v1::GetAuthorizationRequest get;
  get.set_authorization_id(pending.authorization_id());
  struct Watch {
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReader<v1::Authorization>> reader;
  };
  auto open = [&] {
    auto w = std::make_unique<Watch>();
    w->context.set_deadline(std::chrono::system_clock::now() +
                            std::chrono::seconds(30));
    w->reader = wardend_->authz().WatchAuthorization(&w->context, get);
    return w;
  };
  std::vector<std::unique_ptr<Watch>> watches;
  for (int i = 0; i < 16; ++i) {
    watches.push_back(open());
    v1::Authorization a;
    ASSERT_TRUE(watches.back()->reader->Read(&a)) << i;
  }
  {
    std::unique_ptr<Watch> extra = open();
    v1::Authorization a;
    EXPECT_FALSE(extra->reader->Read(&a));
    const grpc::Status s = extra->reader->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
        << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr("at most 16"));
  }
  watches.front()->context.TryCancel();
  watches.front()->reader->Finish();
  watches.erase(watches.begin());
  // The slot is freed once the server has seen the cancel: bounded retry.
  bool reopened = false;
  for (int i = 0; i < 50 && !reopened; ++i) {
    std::unique_ptr<Watch> again = open();
    v1::Authorization a;
    reopened = again->reader->Read(&a);
    if (reopened) {
      watches.push_back(std::move(again));
    } else {
      again->reader->Finish();
      absl::SleepFor(absl::Milliseconds(100));
    }
  }
  EXPECT_TRUE(reopened);
  for (auto& w : watches) {
    w->context.TryCancel();
    w->reader->Finish();
  }
}

// Global flags may follow the subcommand, as in kubectl-style CLIs.
TEST_F(ApprovalsE2eTest, GlobalFlagsMayFollowTheSubcommand) {
  Ctl({"authorize", "--agent", "agent_a", "--wallet", "wallet_1", "--asset",
       "USDC", "--amount", "400000000"});
  const std::string before = Ctl({"--json", "approvals", "list"});
  const std::string after = Ctl({"approvals", "list", "--json"});
  EXPECT_EQ(before, after);
  EXPECT_FALSE(nlohmann::json::parse(after, nullptr, false).is_discarded())
      << after;
}

// Four-eyes policy changes through wardenctl: once the org has
// org.policy_changes, a loosening apply is pending (the version in force
// stays) until two approvers answer; a tightening applies at once.
TEST_F(ApprovalsE2eTest, ALooseningBundleWaitsForTwoApprovers) {
  auto bundle = [](const std::string& daily) {
    std::string yaml = kBundle;
    yaml.replace(yaml.find("org: {id: acme, hold_ttl: 10m}"),
                 std::string("org: {id: acme, hold_ttl: 10m}").size(),
                 "org: {id: acme, hold_ttl: 10m, policy_changes: "
                 "{approvals_required: 2, approvers: [user/bob, user/carol, "
                 "user/dave]}}");
    yaml.replace(yaml.find("usd: \"1000\""),
                 std::string("usd: \"1000\"").size(),
                 absl::StrCat("usd: \"", daily, "\""));
    return yaml;
  };
  // Adding the rule tightens: in force at once, as v2.
  EXPECT_THAT(Ctl({"apply", "-f", dir_.Write("v2.yaml", bundle("1000"))}),
              HasSubstr("applied version 2"));
  const std::string pending =
      Ctl({"--json", "apply", "-f", dir_.Write("loose.yaml", bundle("5000"))});
  const nlohmann::json p = nlohmann::json::parse(pending, nullptr, false);
  ASSERT_TRUE(p.contains("pending_change")) << pending;
  EXPECT_EQ(p["version"], 2);
  const std::string id = p["pending_change"]["change_id"];
  EXPECT_THAT(p["loosenings"].dump(),
              HasSubstr("agents.agent_a.limits.daily_max: from usd 1000.00"));
  EXPECT_THAT(Ctl({"bundle", "pending"}), HasSubstr(id));
  // Lists leave the bundle out; the change by id carries it.
  EXPECT_THAT(Ctl({"bundle", "pending"}), Not(HasSubstr("bundle:")));
  EXPECT_THAT(Ctl({"bundle", "show", id}), HasSubstr("usd: \"5000\""));
  EXPECT_THAT(Ctl({"bundle", "show", "pc_nope"}, 1), HasSubstr("NOT_FOUND"));

  EXPECT_THAT(Ctl({"bundle", "approve", id, "--approver", "user/mallory"}, 1),
              HasSubstr("PERMISSION_DENIED"));
  EXPECT_THAT(Ctl({"bundle", "approve", id, "--approver", "user/bob"}),
              HasSubstr("approvals 1 of 2"));
  EXPECT_THAT(Ctl({"get-bundle"}), HasSubstr("version 2"));
  EXPECT_THAT(Ctl({"bundle", "approve", id, "--approver", "user/carol",
                   "--comment", "agreed"}),
              HasSubstr("in force as v3"));
  EXPECT_THAT(Ctl({"get-bundle"}), HasSubstr("version 3, applied"));
  EXPECT_THAT(Ctl({"bundle", "pending"}),
              HasSubstr("no policy change awaits approval"));
  EXPECT_THAT(Ctl({"bundle", "reject", id, "--approver", "user/dave"}, 1),
              HasSubstr("is applied"));
}

}  // namespace
}  // namespace warden::testing
