#include "adapters/local/local_adapter.h"

#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace warden {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(ParseChainRpcTest, KnownChainsAndExplicitIds) {
  absl::StatusOr<EvmChain> base =
      ParseChainRpc("base=https://base.example/v2/KEY");
  ASSERT_TRUE(base.ok()) << base.status();
  EXPECT_EQ(base->name, "base");
  EXPECT_EQ(base->chain_id, 8453u);
  EXPECT_EQ(base->rpc_url, "https://base.example/v2/KEY");
  absl::StatusOr<EvmChain> custom =
      ParseChainRpc("mychain:777=http://127.0.0.1:8545");
  ASSERT_TRUE(custom.ok()) << custom.status();
  EXPECT_EQ(custom->name, "mychain");
  EXPECT_EQ(custom->chain_id, 777u);
}

// Each error names the problem and quotes the URL's origin only: node
// providers keep their API key in the path.
TEST(ParseChainRpcTest, ErrorsNameTheProblemButNotTheKey) {
  for (const auto& [spec, problem] :
       std::vector<std::pair<std::string, std::string>>{
           {"https://mainnet.infura.io/v3/SECRETKEY", "expected CHAIN=URL"},
           {"eth=https://mainnet.infura.io/v3/SECRETKEY",
            "not in the built-in table"},
           {"eth:x=https://mainnet.infura.io/v3/SECRETKEY",
            "is not a positive number"},
           {"ethereum=wss://mainnet.infura.io/ws/v3/SECRETKEY",
            "must be http:// or https://"}}) {
    const absl::Status st = ParseChainRpc(spec).status();
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << spec;
    EXPECT_THAT(st.message(), HasSubstr(problem)) << spec;
    EXPECT_THAT(st.message(), HasSubstr("mainnet.infura.io")) << spec;
    EXPECT_THAT(st.message(), Not(HasSubstr("SECRETKEY"))) << st;
  }
}

}  // namespace
}  // namespace warden
