#include "governance/price_file.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace warden {
namespace {

class PriceFileTest : public ::testing::Test {
 protected:
  void SetUp() override { key_ = *Ed25519Signer::Generate(); }

  // A file whose payload is `payload`, signed as SignPriceFile signs.
  std::string SignedPayload(const std::string& payload) const {
    return nlohmann::json{
        {"payload", payload},
        {"signature", key_->SignHex(absl::StrCat(kPriceFileDomain, payload))}}
        .dump();
  }

  std::unique_ptr<Ed25519Signer> key_;
};

TEST_F(PriceFileTest, SignedPricesReadBack) {
  PriceFile file{.at = absl::FromUnixSeconds(1'764'000'000),
                 .prices = {{"ETH", *ParsePrice("3012.55")},
                            {"WBTC", *ParsePrice("97000.123456789012")}}};
  absl::StatusOr<PriceFile> back =
      VerifyPriceFile(SignPriceFile(file, *key_), key_->PublicKeyHex());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->at, file.at);
  EXPECT_EQ(back->prices, file.prices);
}

TEST_F(PriceFileTest, OnlyTheKeysSignatureOverTheDomainAndPayloadVerifies) {
  const std::string payload =
      R"({"at":"2026-12-04T19:00:00Z","prices":{"ETH":"3000"}})";
  EXPECT_TRUE(
      VerifyPriceFile(SignedPayload(payload), key_->PublicKeyHex()).ok());
  // The same bytes signed without the domain: another message of the key.
  const std::string bare = nlohmann::json{
      {"payload", payload},
      {"signature",
       key_->SignHex(payload)}}.dump();
  EXPECT_EQ(VerifyPriceFile(bare, key_->PublicKeyHex()).status().code(),
            absl::StatusCode::kPermissionDenied);
  // Another key.
  EXPECT_EQ(VerifyPriceFile(SignedPayload(payload),
                            (*Ed25519Signer::Generate())->PublicKeyHex())
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(VerifyPriceFile(SignedPayload(payload), "zz").status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(PriceFileTest, MalformedFilesAreRefusedNamingTheField) {
  const std::string key = key_->PublicKeyHex();
  for (const auto& [text, field] :
       std::vector<std::pair<std::string, std::string>>{
           {"[]", "file"},
           {R"({"signature":"00"})", "payload"},
           {R"({"payload":"{}"})", "signature"},
           {SignedPayload("[1]"), "payload"},
           {SignedPayload(R"({"prices":{}})"), "payload.at"},
           {SignedPayload(R"({"at":"yesterday","prices":{}})"), "payload.at"},
           {SignedPayload(R"({"at":"2026-12-04T19:00:00Z"})"),
            "payload.prices"},
           {SignedPayload(
                R"({"at":"2026-12-04T19:00:00Z","prices":{"ETH":3000}})"),
            "payload.prices.ETH"},
           {SignedPayload(
                R"({"at":"2026-12-04T19:00:00Z","prices":{"ETH":"-1"}})"),
            "payload.prices.ETH"},
           {SignedPayload(
                R"({"at":"2026-12-04T19:00:00Z","prices":{"ETH":"0"}})"),
            "payload.prices.ETH"},
           {SignedPayload(
                R"({"at":"2026-12-04T19:00:00Z","prices":{"E\nTH":"1"}})"),
            "payload.prices.E"},
           {std::string(kMaxPriceFileBytes + 1, ' '), "size"},
       }) {
    absl::StatusOr<PriceFile> file = VerifyPriceFile(text, key);
    EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument)
        << text.substr(0, 80);
    EXPECT_NE(file.status().message().find(field), std::string::npos)
        << file.status();
  }
}

}  // namespace
}  // namespace warden
