// `wardenctl wallet create-local|import-local|address` end to end.

#include <sys/stat.h>

#include <string>

#include "absl/strings/ascii.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/subprocess.h"
#include "tests/support/wardend_process.h"

namespace warden::testing {
namespace {

using ::testing::HasSubstr;

CommandResult Ctl(std::vector<std::string> args) {
  args.insert(args.begin(), WARDENCTL_PATH);
  absl::StatusOr<CommandResult> r = RunCommand(args, absl::Seconds(60));
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : CommandResult{};
}

TEST(WalletCliTest, CreateImportAndList) {
  TempDir dir;
  const std::string ks = dir.path() + "/keystore";
  const std::string pw = dir.Write("pw", "s3cret\n");
  CommandResult created = Ctl({"wallet", "create-local", "--keystore", ks,
                               "--password-file", pw, "--scrypt-n", "1024"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  ASSERT_EQ(created.out.size(), 43u);  // 0x + 40 + newline, EIP-55 cased.
  const std::string address = created.out.substr(0, 42);

  const std::string key = dir.Write(
      "key",
      "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80\n");
  CommandResult imported =
      Ctl({"wallet", "import-local", "--keystore", ks, "--password-file", pw,
           "--private-key-file", key, "--scrypt-n", "1024"});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  EXPECT_EQ(imported.out, "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266\n");

  struct stat st;
  ASSERT_EQ(
      ::stat((ks + "/" + absl::AsciiStrToLower(address) + ".json").c_str(),
             &st),
      0);
  EXPECT_EQ(st.st_mode & 0777, 0600);

  CommandResult listed =
      Ctl({"wallet", "address", "--keystore", ks, "--password-file", pw});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_THAT(listed.out, HasSubstr(address));
  EXPECT_THAT(listed.out,
              HasSubstr("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"));

  CommandResult wrong = Ctl({"wallet", "address", "--keystore", ks,
                             "--password-file", dir.Write("bad", "nope\n")});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_THAT(wrong.err, HasSubstr("wrong password"));

  CommandResult none = Ctl({"wallet", "address", "--keystore", ks});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_THAT(none.err, HasSubstr("password is required"));
}

}  // namespace
}  // namespace warden::testing
