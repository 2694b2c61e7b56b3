// wardenctl report security against a real wardend: a seeded org lists
// each finding and exits 3; a clean org (four eyes on, every agent
// limited, every wallet freezable at its vendor) exits 0.
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/subprocess.h"
#include "tests/support/wardend_process.h"

namespace warden {
namespace {

using testing::CommandResult;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::RunCommand;
using testing::TempDir;
using testing::WardendProcess;

CommandResult Ctl(const WardendProcess& w, std::vector<std::string> args,
                  const std::string& token = "") {
  std::vector<std::string> argv = {WARDENCTL_PATH, "--server", w.address()};
  if (!token.empty()) argv.insert(argv.end(), {"--token", token});
  argv.insert(argv.end(), args.begin(), args.end());
  absl::StatusOr<CommandResult> r = RunCommand(argv, absl::Seconds(30));
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : CommandResult{};
}

CommandResult Report(const WardendProcess& w, bool json) {
  std::vector<std::string> args = {"report", "security"};
  if (json) args.push_back("--json");
  return Ctl(w, args);
}

TEST(ReportE2eTest, ASeededOrgListsEachFindingAndExits3) {
  TempDir dir;
  const std::string bundle = dir.Write("bundle.yaml", R"(
org: {id: acme}
departments: [{id: eng}]
agents:
  - id: bot
    department: eng
    wallets:
      - {id: pv, vendor: privy, chain: base,
         address: "0x0000000000000000000000000000000000000001"}
)");
  auto w = WardendProcess::Start(
      WARDEND_PATH, {"--embedded", "--bundle", bundle, "--audit-file",
                     dir.path() + "/audit.jsonl"});
  ASSERT_TRUE(w.ok()) << w.status();
  const CommandResult text = Report(**w, false);
  EXPECT_EQ(text.exit_code, 3) << text.err;
  EXPECT_THAT(text.out, HasSubstr("needs attention"));
  EXPECT_THAT(text.out, HasSubstr("ATTENTION policy_changes org/acme"));
  EXPECT_THAT(text.out, HasSubstr("ATTENTION agent_without_limits agent/bot"));
  EXPECT_THAT(text.out, HasSubstr("ATTENTION wallet_freeze wallet/pv: no "
                                  "privy adapter in this wardend"));
  // Read from the audit file's index.
  EXPECT_THAT(text.out, HasSubstr("ATTENTION agent_not_seen agent/bot: no "
                                  "authorization in 30 days"));
  const CommandResult json = Report(**w, true);
  EXPECT_EQ(json.exit_code, 3);
  const nlohmann::json j = nlohmann::json::parse(json.out);
  EXPECT_EQ(j["org_id"], "acme");
  EXPECT_EQ(j["bundle_version"], 1);
  EXPECT_EQ(j["bundle_sha256"].get<std::string>().size(), 64u);
  EXPECT_TRUE(j["attention"].get<bool>());
  EXPECT_EQ(j["findings"].size(), 6u);
}

// With auth on, a token's use is recorded: the report (which writes this
// replica's uses first) lists the admin token, and `token list` says when
// it was last used.
TEST(ReportE2eTest, TokensAndTheirLastUse) {
  TempDir dir;
  const std::string bundle = dir.Write("bundle.yaml", R"(
org: {id: acme}
departments: [{id: eng}]
agents: [{id: bot, department: eng}]
)");
  const std::string token_file = dir.path() + "/admin.token";
  auto w = WardendProcess::Start(
      WARDEND_PATH,
      {"--auth", "--embedded", "--bundle", bundle, "--audit-file",
       dir.path() + "/audit.jsonl", "--bootstrap-token-file", token_file});
  ASSERT_TRUE(w.ok()) << w.status();
  std::ifstream in(token_file);
  std::string token;
  std::getline(in, token);
  ASSERT_FALSE(token.empty());
  const CommandResult list_before =
      Ctl(**w, {"token", "list", "--json"}, token);
  EXPECT_THAT(list_before.out, HasSubstr("\"last_used_at\":\"\""));
  const CommandResult r = Ctl(**w, {"report", "security"}, token);
  EXPECT_EQ(r.exit_code, 3) << r.err;  // No four eyes, an unlimited agent.
  EXPECT_THAT(r.out, HasSubstr("ok        admin_token tok_"));
  const CommandResult list = Ctl(**w, {"token", "list", "--json"}, token);
  const nlohmann::json t = nlohmann::json::parse(
      list.out.substr(0, list.out.find('\n')), nullptr, false);
  ASSERT_TRUE(t.is_object()) << list.out;
  EXPECT_FALSE(t["last_used_at"].get<std::string>().empty()) << list.out;
  // Without a token: refused, as any audit call.
  EXPECT_EQ(Ctl(**w, {"report", "security"}).exit_code, 1);
}

TEST(ReportE2eTest, ACleanOrgExits0) {
  TempDir dir;
  const std::string password = dir.Write("password", "correct horse\n");
  const std::string keystore = dir.path() + "/keys";
  absl::StatusOr<CommandResult> made =
      RunCommand({WARDENCTL_PATH, "wallet", "create-local", "--keystore",
                  keystore, "--password-file", password, "--scrypt-n", "1024"},
                 absl::Seconds(60));
  ASSERT_TRUE(made.ok() && made->exit_code == 0) << made->err;
  const std::string address(absl::StripAsciiWhitespace(made->out));
  const std::string bundle = dir.Write("bundle.yaml", absl::StrCat(R"(
org:
  id: acme
  policy_changes: {approvals_required: 1, approvers: [user/cfo, user/cto]}
departments: [{id: eng}]
agents:
  - id: bot
    department: eng
    limits: [{name: daily, usd: "100", window: "rolling:24h"}]
    wallets: [{id: w, vendor: local, chain: base, address: ")",
                                                                   address,
                                                                   R"("}]
assets: [{symbol: USDC, decimals: 6, price_usd: "1"}]
)"));
  auto w = WardendProcess::Start(
      WARDEND_PATH, {"--embedded", "--bundle", bundle, "--audit-file",
                     dir.path() + "/audit.jsonl", "--keystore", keystore,
                     "--keystore-password-file", password});
  ASSERT_TRUE(w.ok()) << w.status();
  // The agent was seen: the report reads that from the audit file.
  EXPECT_EQ(Ctl(**w, {"authorize", "--agent", "bot", "--wallet", "w", "--asset",
                      "USDC", "--amount", "1000000"})
                .exit_code,
            0);
  const CommandResult r = Report(**w, false);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("ok        audit_chain org/acme: verified now: "
                               "2 records (an audit file"));
  EXPECT_THAT(r.out, HasSubstr("nothing needs attention"));
  EXPECT_THAT(r.out, Not(HasSubstr("ATTENTION")));
}

}  // namespace
}  // namespace warden
