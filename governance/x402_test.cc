#include "governance/x402.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace warden::x402 {
namespace {

using ::testing::HasSubstr;

TEST(ResourceHostTest, TakesTheHostOfHttpUrls) {
  EXPECT_EQ(*ResourceHost("resource", "https://API.Example.com/weather?q=1"),
            "api.example.com");
  EXPECT_EQ(*ResourceHost("resource", "http://127.0.0.1:4021/paid"),
            "127.0.0.1");
  EXPECT_EQ(*ResourceHost("resource", "HTTPS://api.example.com.:443"),
            "api.example.com");
  EXPECT_EQ(*ResourceHost("resource", "http://[::1]:8080/x"), "::1");
  EXPECT_EQ(*ResourceHost("resource", "https://a.b#frag"), "a.b");
}

TEST(ResourceHostTest, RefusesWhatIsNotAnHttpUrlWithAHost) {
  for (const char* bad : {"",
                          "ftp://example.com/",
                          "example.com/paid",
                          "https://",
                          "https:///path",
                          "https://user:pw@example.com/",
                          "https://evil.com@api.example.com/",
                          "https://exa mple.com/",
                          "https://exa\tmple.com/",
                          "https://ex_ample.com/",
                          "https://-a.com/",
                          "https://a-.com/",
                          "https://a..com/",
                          "https://[::1/",
                          "https://[zz::1]/",
                          "https://caf\xc3\xa9.com/",
                          "http://127.0.0.1:evil.com/",
                          "http://127.0.0.1:80:81/",
                          "http://a.com:/",
                          "http://a.com:123456/",
                          "http://[::1]x/",
                          "http://[::1]:/"}) {
    absl::StatusOr<std::string> host = ResourceHost("resource", bad);
    EXPECT_TRUE(absl::IsInvalidArgument(host.status())) << bad;
    EXPECT_THAT(host.status().message(), HasSubstr("resource:")) << bad;
  }
  // The bound, in bytes.
  const std::string longest =
      "https://a.com/" + std::string(kMaxResourceLength - 14, 'p');
  EXPECT_TRUE(ResourceHost("resource", longest).ok());
  EXPECT_THAT(ResourceHost("resource", longest + "p").status().message(),
              HasSubstr("the limit is 2048"));
  const std::string label(64, 'a');
  EXPECT_FALSE(ResourceHost("resource", "https://" + label + ".com/").ok());
  EXPECT_TRUE(
      ResourceHost("resource", "https://" + label.substr(1) + ".com/").ok());
}

TEST(DomainPatternTest, NormalizesAndRefuses) {
  EXPECT_EQ(*NormalizeDomainPattern("API.Example.com"), "api.example.com");
  EXPECT_EQ(*NormalizeDomainPattern("*.Example.com"), "*.example.com");
  EXPECT_EQ(*NormalizeDomainPattern("127.0.0.1"), "127.0.0.1");
  EXPECT_EQ(*NormalizeDomainPattern("::1"), "::1");
  for (const char* bad : {"", "*", "*.", "**.a.com", "a.*.com", "https://a.com",
                          "a.com/path", "a.com:443", "*.::1", " a.com"}) {
    EXPECT_TRUE(absl::IsInvalidArgument(NormalizeDomainPattern(bad).status()))
        << bad;
  }
}

TEST(HostMatchesTest, ExactOrUnderAWildcard) {
  EXPECT_TRUE(HostMatches("api.example.com", "api.example.com"));
  EXPECT_FALSE(HostMatches("api.example.com", "x.api.example.com"));
  EXPECT_FALSE(HostMatches("api.example.com", "example.com"));
  EXPECT_TRUE(HostMatches("*.example.com", "api.example.com"));
  EXPECT_TRUE(HostMatches("*.example.com", "a.b.example.com"));
  // Not the name itself, nor a name that merely ends the same.
  EXPECT_FALSE(HostMatches("*.example.com", "example.com"));
  EXPECT_FALSE(HostMatches("*.example.com", "badexample.com"));
  EXPECT_FALSE(HostMatches("*.example.com", ".example.com"));
  EXPECT_TRUE(HostListed({"a.com", "*.b.com"}, "x.b.com"));
  EXPECT_FALSE(HostListed({}, "a.com"));
}

}  // namespace
}  // namespace warden::x402
