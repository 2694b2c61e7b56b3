#include "adapters/local/keystore.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace warden::evm {
namespace {

using ::testing::HasSubstr;

// Cheap scrypt for tests; the format and code paths are the same.
constexpr KdfParams kFast{uint64_t{1} << 10, 8, 1};

class KeystoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/warden-keystore-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string PathOf(const Address& a) { return dir_ + "/" + Hex(a) + ".json"; }
  static std::string Read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  static void Write(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::trunc) << text;
  }

  std::string dir_;
};

TEST_F(KeystoreTest, CreateThenOpen) {
  absl::StatusOr<Address> a = Keystore::Add(dir_, "correct horse", kFast);
  ASSERT_TRUE(a.ok()) << a.status();
  struct stat st;
  ASSERT_EQ(::stat(PathOf(*a).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  EXPECT_THAT(Read(PathOf(*a)), ::testing::Not(HasSubstr("correct horse")));

  absl::StatusOr<Keystore> ks = Keystore::Open(dir_, "correct horse");
  ASSERT_TRUE(ks.ok()) << ks.status();
  ASSERT_EQ(ks->size(), 1u);
  ASSERT_NE(ks->Find(*a), nullptr);
  EXPECT_EQ(ks->Find(*a)->address(), *a);
}

TEST_F(KeystoreTest, ImportKeepsTheKey) {
  const std::string anvil0 = absl::HexStringToBytes(
      "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80");
  // A leftover temporary file, readable by all, does not lend its mode.
  const std::string leftover =
      dir_ + "/0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266.json.tmp";
  Write(leftover, "stale");
  ASSERT_EQ(::chmod(leftover.c_str(), 0644), 0);
  absl::StatusOr<Address> a = Keystore::Add(dir_, "pw", kFast, anvil0);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(Hex(*a), "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266");
  struct stat st;
  ASSERT_EQ(::stat(PathOf(*a).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  EXPECT_FALSE(Keystore::Add(dir_, "pw", kFast, "not 32 bytes").ok());
  EXPECT_FALSE(Keystore::Add(dir_, "", kFast).ok());
  // The same key again, even under another password, never replaces it.
  EXPECT_EQ(Keystore::Add(dir_, "other", kFast, anvil0).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_TRUE(Keystore::Open(dir_, "pw").ok());
  // Too cheap a cost is refused.
  EXPECT_EQ(Keystore::Add(dir_, "pw", KdfParams{.n = 2}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// A wrong password, an altered, truncated or mangled file: a clear error
// naming the file, never a crash.
TEST_F(KeystoreTest, BadPasswordsAndFiles) {
  absl::StatusOr<Address> a = Keystore::Add(dir_, "pw", kFast);
  ASSERT_TRUE(a.ok());
  const std::string good = Read(PathOf(*a));

  absl::StatusOr<Keystore> wrong = Keystore::Open(dir_, "not the pw");
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(wrong.status().message(), HasSubstr(PathOf(*a)));
  EXPECT_THAT(wrong.status().message(), HasSubstr("wrong password"));

  // One flipped ciphertext digit fails authentication.
  std::string altered = good;
  const size_t at = altered.find("\"ciphertext\": \"") + 15;
  altered[at] = altered[at] == '0' ? '1' : '0';
  Write(PathOf(*a), altered);
  EXPECT_EQ(Keystore::Open(dir_, "pw").status().code(),
            absl::StatusCode::kPermissionDenied);

  for (size_t cut : {size_t{0}, size_t{10}, good.size() / 2, good.size() - 3}) {
    Write(PathOf(*a), good.substr(0, cut));
    absl::StatusOr<Keystore> ks = Keystore::Open(dir_, "pw");
    EXPECT_EQ(ks.status().code(), absl::StatusCode::kInvalidArgument) << cut;
  }
  std::string relabelled = good;
  relabelled.replace(relabelled.find("0x"), 42,
                     "0x0000000000000000000000000000000000000001");
  Write(PathOf(*a), relabelled);
  EXPECT_FALSE(Keystore::Open(dir_, "pw").ok());
  std::string huge = good;
  huge.replace(huge.find("\"n\": "), 6, "\"n\": 1152921504606846976, \"x\": ");
  Write(PathOf(*a), huge);
  EXPECT_FALSE(Keystore::Open(dir_, "pw").ok());

  // Fields of the wrong type, and costs out of bounds, are reported.
  const auto with = [&](const std::string& field, const std::string& value) {
    const size_t from = good.find("\"" + field + "\": ");
    const size_t end = good.find_first_of(",\n", from);
    std::string edited = good;
    edited.replace(from, end - from, "\"" + field + "\": " + value);
    return edited;
  };
  for (const auto& [field, value] :
       std::vector<std::pair<std::string, std::string>>{{"version", "\"1\""},
                                                        {"version", "null"},
                                                        {"kdf", "7"},
                                                        {"cipher", "{}"},
                                                        {"address", "null"},
                                                        {"address", "[1]"},
                                                        {"salt", "12"},
                                                        {"n", "\"1024\""},
                                                        {"n", "-1"},
                                                        {"n", "1000"},
                                                        {"n", "2"},
                                                        {"r", "0"},
                                                        {"p", "1000000"}}) {
    Write(PathOf(*a), with(field, value));
    absl::StatusOr<Keystore> ks = Keystore::Open(dir_, "pw");
    EXPECT_EQ(ks.status().code(), absl::StatusCode::kInvalidArgument)
        << field << "=" << value << ": " << ks.status();
  }

  Write(PathOf(*a), good);
  EXPECT_TRUE(Keystore::Open(dir_, "pw").ok());
  EXPECT_EQ(Keystore::Open(dir_ + "/missing", "pw").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace warden::evm
