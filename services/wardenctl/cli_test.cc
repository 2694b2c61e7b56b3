// wardenctl's command line without a server: every command's --help ends
// with an example of its use, global flags go before or after the command,
// and usage errors exit 2 naming the problem.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/subprocess.h"

namespace warden::testing {
namespace {

using ::testing::HasSubstr;

CommandResult Ctl(std::vector<std::string> args) {
  args.insert(args.begin(), WARDENCTL_PATH);
  absl::StatusOr<CommandResult> r = RunCommand(args, absl::Seconds(60));
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : CommandResult{};
}

TEST(WardenctlCliTest, EveryCommandsHelpEndsWithAnExample) {
  const std::vector<std::vector<std::string>> commands = {
      {"token", "create"},
      {"token", "list"},
      {"token", "revoke"},
      {"apply"},
      {"bundle", "rollback"},
      {"get-bundle"},
      {"authorize"},
      {"submit"},
      {"operation"},
      {"settle"},
      {"void"},
      {"get"},
      {"approvals", "list"},
      {"approvals", "approve"},
      {"approvals", "reject"},
      {"decommission"},
      {"freeze"},
      {"unfreeze"},
      {"wallet", "create-local"},
      {"wallet", "import-local"},
      {"wallet", "address"},
      {"audit", "verify"},
      {"audit", "query"},
      {"audit", "export"},
      {"audit", "verify-file"},
      {"audit", "retention"},
      {"audit", "summary"},
      {"reconcile"},
      {"health"},
      {"migrate"}};
  for (std::vector<std::string> args : commands) {
    const std::string name = args.back();
    args.push_back("--help");
    const CommandResult r = Ctl(args);
    EXPECT_EQ(r.exit_code, 0) << name << ": " << r.err;
    const size_t example = r.out.find("Example:\n  ");
    ASSERT_NE(example, std::string::npos) << name << ":\n" << r.out;
    EXPECT_THAT(r.out.substr(example), HasSubstr("wardenctl " + args[0]))
        << name;
  }
}

TEST(WardenctlCliTest, GlobalFlagsGoBeforeOrAfterTheCommand) {
  // Both reach the TLS check before any connection is tried.
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--tls-server-name", "warden", "health"},
        std::vector<std::string>{"health", "--tls-server-name", "warden"}}) {
    const CommandResult r = Ctl(args);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_THAT(r.err, HasSubstr("--tls-server-name needs --tls-ca"));
  }
}

TEST(WardenctlCliTest, UsageErrorsExit2NamingTheProblem) {
  CommandResult r = Ctl({});
  EXPECT_EQ(r.exit_code, 2);
  r = Ctl({"authorize", "--agent", "a"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--wallet is required"));
  r = Ctl({"--tls-ca", "/nonexistent/ca.pem", "get", "az_1"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("cannot read /nonexistent/ca.pem"));
  r = Ctl({"token", "create", "--principal", "user/a", "--role", "admin",
           "--postgres", "postgresql://127.0.0.1:1/none"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--org is required with --postgres"));
  r = Ctl({"audit", "verify-file", "/nonexistent.jsonl"});
  EXPECT_EQ(r.exit_code, 2);
  r = Ctl({"bundle", "rollback", "0"});
  EXPECT_EQ(r.exit_code, 2);
  // An unreachable server is a failed call (1), not a usage error.
  r = Ctl({"--server", "127.0.0.1:1", "get", "az_1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("UNAVAILABLE"));
}

}  // namespace
}  // namespace warden::testing
