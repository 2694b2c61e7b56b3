// End to end over gRPC against a real `wardend --embedded` process: the
// cross-wallet scenario, department and org budgets across agents,
// wardenctl's output and exit codes, health and reflection, SIGTERM, and
// budgets surviving a restart through the audit file.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/subprocess.h"
#include "warden/v1/admin.grpc.pb.h"
#include "warden/v1/authorization.grpc.pb.h"

namespace warden {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;
using testing::RunCommand;
using testing::Subprocess;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Usdc(int64_t dollars) {
  return std::to_string(dollars * 1'000'000);
}

class CrossWalletE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/warden-e2e-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
    audit_path_ = dir_ + "/audit.jsonl";
    StartWardend();
  }

  void TearDown() override {
    wardend_.reset();
    std::remove(audit_path_.c_str());
    ::rmdir(dir_.c_str());
  }

  void StartWardend() {
    absl::StatusOr<std::unique_ptr<Subprocess>> p = Subprocess::Start(
        {WARDEND_PATH, "--insecure-no-auth", "--embedded", "--bundle",
         ACME_BUNDLE_PATH, "--listen", "127.0.0.1:0", "--audit-file",
         audit_path_, "--shutdown-grace-ms", "1000"});
    ASSERT_TRUE(p.ok()) << p.status();
    wardend_ = *std::move(p);
    absl::StatusOr<std::string> line =
        wardend_->WaitForLine("wardend listening on", absl::Seconds(30));
    ASSERT_TRUE(line.ok()) << line.status();
    address_ = line->substr(line->rfind(' ') + 1);
    channel_ =
        grpc::CreateChannel(address_, grpc::InsecureChannelCredentials());
    authz_ = v1::AuthorizationService::NewStub(channel_);
    admin_ = v1::AdminService::NewStub(channel_);
  }

  v1::AuthorizeResponse Authorize(const std::string& agent,
                                  const std::string& wallet, int64_t dollars) {
    v1::AuthorizeRequest request;
    request.set_agent_id(agent);
    request.set_wallet_id(wallet);
    request.set_asset("USDC");
    request.set_amount(Usdc(dollars));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    v1::AuthorizeResponse response;
    grpc::Status status = authz_->Authorize(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  testing::CommandResult Ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {WARDENCTL_PATH, "--server", address_});
    absl::StatusOr<testing::CommandResult> r =
        RunCommand(args, absl::Seconds(30));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : testing::CommandResult{};
  }

  std::string dir_;
  std::string audit_path_;
  std::unique_ptr<Subprocess> wardend_;
  std::string address_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::AuthorizationService::Stub> authz_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
};

// The scenario of the issue, step by step.
TEST_F(CrossWalletE2eTest, AgentBudgetHoldsAcrossWallets) {
  // 1. $999 from wallet_1 (MetaMask on base).
  v1::AuthorizeResponse first = Authorize("agent_a", "wallet_1", 999);
  EXPECT_EQ(first.decision(), v1::DECISION_ALLOW) << first.reason();
  EXPECT_EQ(first.amount_usd(), "999.00");
  EXPECT_TRUE(first.has_hold_expires_at());

  // 2. $499 from wallet_2 (CDP on ethereum): over the agent's $1,000.
  v1::AuthorizeResponse second = Authorize("agent_a", "wallet_2", 499);
  EXPECT_EQ(second.decision(), v1::DECISION_DENY);
  EXPECT_EQ(second.reason(),
            "DENY agent agent_a: rolling 24h spend $999.00 (other wallets "
            "$999.00) + $499.00 = $1,498.00 exceeds agent daily_max "
            "$1,000.00");
  ASSERT_EQ(second.violations_size(), 1);
  const v1::Violation& v = second.violations(0);
  EXPECT_EQ(v.code(), "BUDGET_EXCEEDED");
  EXPECT_EQ(v.scope(), "agent/agent_a");
  EXPECT_EQ(v.limit(), "daily_max");
  EXPECT_EQ(v.limit_usd(), "1000.00");
  EXPECT_EQ(v.window(), "rolling:24h");
  EXPECT_EQ(v.spent(), "999.00");
  EXPECT_EQ(v.requested(), "499.00");
  EXPECT_EQ(v.remaining(), "1.00");

  // 3. agent_b is unaffected.
  EXPECT_EQ(Authorize("agent_b", "wallet_3", 500).decision(),
            v1::DECISION_ALLOW);

  // Every decision the client saw is in the audit file.
  const std::string trail = ReadAll(audit_path_);
  EXPECT_THAT(trail, HasSubstr(first.authorization_id()));
  EXPECT_THAT(trail, HasSubstr(second.authorization_id()));
}

// 4. A department budget and the org ceiling each deny across agents.
TEST_F(CrossWalletE2eTest, DepartmentAndOrgBudgetsAcrossAgents) {
  std::string bundle = ReadAll(ACME_BUNDLE_PATH);
  const std::string extra = R"(
  - {id: eng_1, department: engineering,
     wallets: [{id: eng_1_w, vendor: local, chain: base, address: "0xe1"}]}
  - {id: eng_2, department: engineering,
     wallets: [{id: eng_2_w, vendor: cdp, chain: ethereum, address: "0xe2"}]}
  - {id: ops_1, department: operations,
     wallets: [{id: ops_1_w, vendor: local, chain: base, address: "0xo1"}]}
  - {id: mkt_1, department: marketing,
     wallets: [{id: mkt_1_w, vendor: privy, chain: base, address: "0xm1"}]}
  - {id: research_1, department: research,
     wallets: [{id: research_1_w, vendor: local, chain: base, address: "0xr1"}]}
)";
  bundle.replace(bundle.find("\nassets:"), 0, extra);
  // The agents added above have no limits or lists of their own.
  bundle.replace(bundle.find("  default: deny\n"), 16, "");
  bundle.replace(bundle.find("\nagents:"), 0, "\n  - id: research\n");
  v1::ApplyBundleRequest apply;
  apply.set_yaml(bundle);
  v1::ApplyBundleResponse applied;
  grpc::ClientContext apply_context;
  grpc::Status status = admin_->ApplyBundle(&apply_context, apply, &applied);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(applied.version(), 2);

  // Engineering: $20,000 per calendar day across agent_a, eng_1 and eng_2.
  EXPECT_EQ(Authorize("agent_a", "wallet_1", 999).decision(),
            v1::DECISION_ALLOW);
  EXPECT_EQ(Authorize("eng_1", "eng_1_w", 9000).decision(), v1::DECISION_ALLOW);
  EXPECT_EQ(Authorize("eng_2", "eng_2_w", 9000).decision(), v1::DECISION_ALLOW);
  v1::AuthorizeResponse dept = Authorize("eng_2", "eng_2_w", 2000);
  EXPECT_EQ(dept.decision(), v1::DECISION_DENY);
  EXPECT_EQ(dept.reason(),
            "DENY agent eng_2: calendar day spend $18,999.00 (eng_2 "
            "$9,000.00, other agents $9,999.00) + $2,000.00 = "
            "$20,999.00 exceeds department engineering daily_budget "
            "$20,000.00");
  EXPECT_EQ(Authorize("eng_2", "eng_2_w", 1001).decision(), v1::DECISION_ALLOW);

  // The org: $50,000 across every department.
  EXPECT_EQ(Authorize("ops_1", "ops_1_w", 15000).decision(),
            v1::DECISION_ALLOW);
  EXPECT_EQ(Authorize("mkt_1", "mkt_1_w", 10000).decision(),
            v1::DECISION_ALLOW);
  EXPECT_EQ(Authorize("research_1", "research_1_w", 5000).decision(),
            v1::DECISION_ALLOW);
  v1::AuthorizeResponse org = Authorize("research_1", "research_1_w", 1);
  EXPECT_EQ(org.decision(), v1::DECISION_DENY);
  ASSERT_EQ(org.violations_size(), 1);
  EXPECT_EQ(org.violations(0).scope(), "org/acme_corp");
  EXPECT_EQ(org.violations(0).spent(), "50000.00");
  EXPECT_THAT(org.reason(),
              HasSubstr("exceeds org acme_corp daily_ceiling $50,000.00"));
}

// wardenctl prints JSON, exits 0 for any decision and non-zero for errors.
TEST_F(CrossWalletE2eTest, WardenctlOutputAndExitCodes) {
  testing::CommandResult allow =
      Ctl({"--json", "authorize", "--agent", "agent_a", "--wallet", "wallet_1",
           "--asset", "USDC", "--amount", Usdc(999), "--idempotency-key",
           "order-1"});
  ASSERT_EQ(allow.exit_code, 0) << allow.err;
  Json a = Json::parse(allow.out);
  EXPECT_EQ(a["decision"], "ALLOW");
  EXPECT_EQ(a["amount_usd"], "999.00");
  const std::string id = a["authorization_id"];

  testing::CommandResult replay =
      Ctl({"--json", "authorize", "--agent", "agent_a", "--wallet", "wallet_1",
           "--asset", "USDC", "--amount", Usdc(999), "--idempotency-key",
           "order-1"});
  EXPECT_EQ(Json::parse(replay.out)["authorization_id"], id);
  EXPECT_EQ(Json::parse(replay.out)["replayed"], true);

  testing::CommandResult deny =
      Ctl({"--json", "authorize", "--agent", "agent_a", "--wallet", "wallet_2",
           "--asset", "USDC", "--amount", Usdc(499)});
  ASSERT_EQ(deny.exit_code, 0) << deny.err;
  Json d = Json::parse(deny.out);
  EXPECT_EQ(d["decision"], "DENY");
  EXPECT_EQ(d["violations"][0]["code"], "BUDGET_EXCEEDED");
  EXPECT_EQ(d["violations"][0]["spent"], "999.00");

  testing::CommandResult text =
      Ctl({"authorize", "--agent", "agent_a", "--wallet", "wallet_2", "--asset",
           "USDC", "--amount", Usdc(499)});
  EXPECT_THAT(text.out, HasSubstr("DENY az_"));
  EXPECT_THAT(text.out, HasSubstr("exceeds agent daily_max $1,000.00"));

  testing::CommandResult settle = Ctl(
      {"--json", "settle", id, "--amount", Usdc(900), "--tx-hash", "0xfeed"});
  ASSERT_EQ(settle.exit_code, 0) << settle.err;
  EXPECT_EQ(Json::parse(settle.out)["status"], "SETTLED");
  EXPECT_EQ(Json::parse(settle.out)["settled_amount_usd"], "900.00");
  testing::CommandResult get = Ctl({"--json", "get", id});
  EXPECT_EQ(Json::parse(get.out)["tx_hash"], "0xfeed");
  // $99 was released by the settle.
  EXPECT_EQ(Authorize("agent_a", "wallet_2", 100).decision(),
            v1::DECISION_ALLOW);

  testing::CommandResult unknown =
      Ctl({"authorize", "--agent", "ghost", "--wallet", "wallet_1", "--asset",
           "USDC", "--amount", "1"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.err, HasSubstr("NOT_FOUND: agent_id: unknown agent"));
  testing::CommandResult bad_amount =
      Ctl({"authorize", "--agent", "agent_a", "--wallet", "wallet_1", "--asset",
           "USDC", "--amount", "12abc"});
  EXPECT_EQ(bad_amount.exit_code, 1);
  EXPECT_THAT(bad_amount.err, HasSubstr("INVALID_ARGUMENT: amount:"));
  testing::CommandResult void_settled = Ctl({"void", id});
  EXPECT_EQ(void_settled.exit_code, 1);
  EXPECT_THAT(void_settled.err, HasSubstr("FAILED_PRECONDITION"));
  EXPECT_EQ(Ctl({"authorize", "--agent", "x"}).exit_code, 2);  // Usage.
}

// apply --dry-run shows the diff and changes nothing; a bad bundle names
// the path and changes nothing.
TEST_F(CrossWalletE2eTest, WardenctlApply) {
  std::string bundle = ReadAll(ACME_BUNDLE_PATH);
  bundle.replace(bundle.find("usd: \"800\""), 10, "usd: \"900\"");
  const std::string path = dir_ + "/next.yaml";
  std::ofstream(path) << bundle;
  testing::CommandResult dry = Ctl({"apply", "-f", path, "--dry-run"});
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_THAT(dry.out, HasSubstr("would apply version 2"));
  EXPECT_THAT(dry.out,
              HasSubstr("~ agents.procurement_bot.limits.daily_max: usd "
                        "800.00 per rolling:24h -> usd 900.00 per "
                        "rolling:24h"));
  testing::CommandResult current = Ctl({"--json", "get-bundle"});
  EXPECT_EQ(Json::parse(current.out)["version"], 1);

  testing::CommandResult applied = Ctl({"--json", "apply", "-f", path});
  EXPECT_EQ(Json::parse(applied.out)["version"], 2);

  std::ofstream(path) << "org: {id: acme_corp}\nagents: [{id: a, "
                         "department: d, limits: [{usd: '1', window: "
                         "'rolling:1hr'}]}]\n";
  testing::CommandResult bad = Ctl({"apply", "-f", path});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.err,
              HasSubstr("agents[0].limits[0].window: unknown unit \"hr\""));
  EXPECT_THAT(bad.err, HasSubstr("agents[0].department: unknown department"));
  EXPECT_EQ(Json::parse(Ctl({"--json", "get-bundle"}).out)["version"], 2);
}

// grpc.health.v1 answers SERVING and reflection lists our services. Both are
// called through the generic stub, with hand-encoded protobuf.
TEST_F(CrossWalletE2eTest, HealthAndReflection) {
  grpc::GenericStub generic(channel_);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  grpc::Slice empty("", 0);
  grpc::ByteBuffer request(&empty, 1), response;
  absl::Notification done;
  grpc::Status status;
  generic.UnaryCall(&context, "/grpc.health.v1.Health/Check", {}, &request,
                    &response, [&](grpc::Status s) {
                      status = s;
                      done.Notify();
                    });
  done.WaitForNotification();
  ASSERT_TRUE(status.ok()) << status.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (const grpc::Slice& s : slices) {
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  EXPECT_EQ(bytes, std::string("\x08\x01", 2));  // status: SERVING

  // ServerReflectionRequest{list_services: ""} is field 7, empty string.
  grpc::CompletionQueue cq;
  grpc::ClientContext rctx;
  rctx.set_deadline(std::chrono::system_clock::now() +
                    std::chrono::seconds(10));
  auto call = generic.PrepareCall(
      &rctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
      &cq);
  void* tag;
  bool ok;
  auto next = [&](int expected) {
    EXPECT_TRUE(cq.Next(&tag, &ok));
    EXPECT_EQ(tag, reinterpret_cast<void*>(expected));
    return ok;
  };
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(next(1));
  grpc::Slice list("\x3a\x00", 2);
  grpc::ByteBuffer list_request(&list, 1);
  call->Write(list_request, reinterpret_cast<void*>(2));
  ASSERT_TRUE(next(2));
  grpc::ByteBuffer reply;
  call->Read(&reply, reinterpret_cast<void*>(3));
  ASSERT_TRUE(next(3));
  std::vector<grpc::Slice> parts;
  ASSERT_TRUE(reply.Dump(&parts).ok());
  std::string text;
  for (const grpc::Slice& s : parts) {
    text.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  EXPECT_THAT(text, HasSubstr("warden.v1.AuthorizationService"));
  EXPECT_THAT(text, HasSubstr("warden.v1.AdminService"));
  call->WritesDone(reinterpret_cast<void*>(4));
  next(4);
  grpc::Status finish;
  call->Finish(&finish, reinterpret_cast<void*>(5));
  next(5);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

// SIGTERM exits 0; on restart the spend recorded in the audit file still
// counts against the agent's window.
TEST_F(CrossWalletE2eTest, SigtermAndRestartKeepBudgets) {
  ASSERT_EQ(Authorize("agent_a", "wallet_1", 999).decision(),
            v1::DECISION_ALLOW);
  wardend_->Signal(SIGTERM);
  absl::StatusOr<int> status = wardend_->Wait(absl::Seconds(20));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0);

  StartWardend();
  v1::AuthorizeResponse after = Authorize("agent_a", "wallet_2", 2);
  EXPECT_EQ(after.decision(), v1::DECISION_DENY);
  EXPECT_THAT(after.reason(),
              HasSubstr("spend $999.00 (other wallets $999.00)"));
  EXPECT_EQ(Authorize("agent_a", "wallet_2", 1).decision(), v1::DECISION_ALLOW);
}

}  // namespace
}  // namespace warden
