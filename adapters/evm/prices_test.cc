#include "adapters/evm/prices.h"

#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace warden::evm {
namespace {

constexpr char kAggregator[] = "0x00000000000000000000000000000000000000a9";

std::string Word(absl::uint128 v) {
  std::string hex(64, '0');
  for (int i = 63; i >= 0 && v != 0; --i, v >>= 4) {
    hex[i] = "0123456789abcdef"[static_cast<int>(v & 15)];
  }
  return hex;
}

// latestRoundData()'s five words.
std::string Round(const std::string& answer_word, absl::uint128 updated_at) {
  return absl::StrCat("0x", Word(7), answer_word, Word(updated_at),
                      Word(updated_at), Word(7));
}

// An aggregator's node: answers decimals() and latestRoundData() by
// selector, counting the calls; `down` makes every call fail to connect.
class AggregatorNode final : public http::HttpTransport {
 public:
  struct State {
    std::atomic<int> calls{0};
    std::atomic<bool> down{false};
    absl::Duration delay = absl::ZeroDuration();
    std::string decimals = "0x" + Word(8);
    std::string round;
  };
  explicit AggregatorNode(std::shared_ptr<State> s) : s_(std::move(s)) {}
  absl::StatusOr<http::HttpResponse> Do(const http::HttpRequest& request,
                                        absl::Duration) override {
    ++s_->calls;
    absl::SleepFor(s_->delay);
    if (s_->down) return absl::UnavailableError("connection refused");
    const nlohmann::json asked = nlohmann::json::parse(request.body);
    const std::string data = asked["params"][0]["data"];
    EXPECT_EQ(asked["params"][0]["to"], kAggregator);
    return http::HttpResponse{
        .status = 200,
        .body = nlohmann::json{{"jsonrpc", "2.0"},
                               {"id", asked["id"]},
                               {"result", data == "0x313ce567" ? s_->decimals
                                                               : s_->round}}
                    .dump()};
  }

 private:
  std::shared_ptr<AggregatorNode::State> s_;
};

PriceFeed Chainlink() {
  return PriceFeed{.kind = PriceFeed::Kind::kChainlink,
                   .chain = "base",
                   .aggregator = kAggregator,
                   .max_age = absl::Hours(1)};
}

std::unique_ptr<LivePrices> WithNode(std::shared_ptr<AggregatorNode::State> s,
                                     absl::Duration refresh,
                                     std::string price_file = "") {
  std::map<std::string, std::unique_ptr<JsonRpcClient>> nodes;
  nodes["base"] = std::make_unique<JsonRpcClient>(
      "http://node.example/", absl::Seconds(1),
      std::make_unique<AggregatorNode>(std::move(s)));
  return std::make_unique<LivePrices>(std::move(nodes), std::move(price_file),
                                      refresh);
}

TEST(ParseLatestRoundDataTest, AnswerAndUpdateTimeAtTheFeedsDecimals) {
  absl::StatusOr<PriceReading> r =
      ParseLatestRoundData(Round(Word(301234567890), 1'764'000'000), 8);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(FormatPrice(r->price), "3012.3456789");
  EXPECT_EQ(r->updated_at, absl::FromUnixSeconds(1'764'000'000));
}

TEST(ParseLatestRoundDataTest, MoreThanTwelveDecimalsRoundUp) {
  // 3000.0000000000001 at 18 decimals: kept to 12, rounded up.
  absl::StatusOr<PriceReading> r = ParseLatestRoundData(
      Round(Word(absl::MakeUint128(0, 3'000'000'000'000'000'100ULL) * 1),
            1'764'000'000),
      18);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->price.scale, 12);
  EXPECT_EQ(FormatPrice(r->price), "3.000000000001");
}

TEST(ParseLatestRoundDataTest, RefusesWhatIsNoPrice) {
  const std::string negative = std::string(63, 'f') + "f";
  for (const auto& [result, why] :
       std::vector<std::pair<std::string, std::string>>{
           {Round(negative, 1'764'000'000), "negative"},
           {Round(Word(0), 1'764'000'000), "an answer of 0"},
           {Round("0" + std::string(63, 'f'), 1'764'000'000), "128 bits"},
           {Round(Word(1), 0), "no round yet"},
           {Round(Word(1), absl::uint128(1) << 64), "is not a time"},
           {"0x" + Word(1), "five ABI words"},
           {"0x" + std::string(320, 'z'), "five ABI words"},
       }) {
    absl::StatusOr<PriceReading> r = ParseLatestRoundData(result, 8);
    EXPECT_FALSE(r.ok()) << result;
    EXPECT_NE(r.status().message().find(why), std::string::npos) << r.status();
  }
  EXPECT_FALSE(ParseLatestRoundData(nlohmann::json(42), 8).ok());
}

TEST(LivePricesTest, AReadingAnswersUntilRefreshThenTheNodeIsAskedAgain) {
  auto node = std::make_shared<AggregatorNode::State>();
  node->round = Round(Word(300000000000), 1'764'000'000);
  std::unique_ptr<LivePrices> prices = WithNode(node, absl::Hours(1));
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<PriceReading> r = prices->Read("ETH", Chainlink());
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(FormatPrice(r->price), "3000");
  }
  EXPECT_EQ(node->calls, 2);  // decimals() and latestRoundData(), once.

  std::unique_ptr<LivePrices> every = WithNode(node, absl::ZeroDuration());
  node->calls = 0;
  ASSERT_TRUE(every->Read("ETH", Chainlink()).ok());
  node->round = Round(Word(310000000000), 1'764'000'060);
  absl::StatusOr<PriceReading> moved = every->Read("ETH", Chainlink());
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(FormatPrice(moved->price), "3100");
  // decimals() once: an aggregator's never change.
  EXPECT_EQ(node->calls, 3);
}

// Decisions that queue behind a slow read share it, whatever the refresh:
// eight at once cost the node one reading, not eight in turn.
TEST(LivePricesTest, CallersWaitingOnAReadShareIt) {
  auto node = std::make_shared<AggregatorNode::State>();
  node->round = Round(Word(300000000000), 1'764'000'000);
  node->delay = absl::Milliseconds(100);
  std::unique_ptr<LivePrices> prices = WithNode(node, absl::ZeroDuration());
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      ++ready;
      while (ready < 8) std::this_thread::yield();
      EXPECT_TRUE(prices->Read("ETH", Chainlink()).ok());
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(node->calls, 2);  // decimals() and one latestRoundData().
}

TEST(LivePricesTest, ANodeThatIsDownOrMissingIsAnError) {
  auto node = std::make_shared<AggregatorNode::State>();
  node->down = true;
  std::unique_ptr<LivePrices> prices = WithNode(node, absl::ZeroDuration());
  absl::StatusOr<PriceReading> r = prices->Read("ETH", Chainlink());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  PriceFeed elsewhere = Chainlink();
  elsewhere.chain = "optimism";
  r = prices->Read("ETH", elsewhere);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("--chain-rpc"), std::string::npos);
  // A contract whose decimals() is junk is not an aggregator.
  node->down = false;
  node->decimals = "0x" + Word(77);
  r = prices->Read("ETH", Chainlink());
  EXPECT_NE(r.status().message().find("decimals()"), std::string::npos)
      << r.status();
}

class PriceFileFeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    key_ = *Ed25519Signer::Generate();
    path_ = ::testing::TempDir() + "/prices.json";
    Write(SignPriceFile(File("3012.5"), *key_));
  }
  static PriceFile File(const char* eth) {
    return PriceFile{.at = absl::FromUnixSeconds(1'764'000'000),
                     .prices = {{"ETH", *ParsePrice(eth)}}};
  }
  void Write(const std::string& text) {
    std::ofstream(path_, std::ios::trunc | std::ios::binary) << text;
  }
  PriceFeed Feed() const {
    return PriceFeed{.kind = PriceFeed::Kind::kFile,
                     .public_key = key_->PublicKeyHex(),
                     .max_age = absl::Minutes(10)};
  }
  absl::StatusOr<PriceReading> Read(const std::string& asset,
                                    const PriceFeed& feed) {
    return LivePrices({}, path_, absl::ZeroDuration()).Read(asset, feed);
  }

  std::unique_ptr<Ed25519Signer> key_;
  std::string path_;
};

TEST_F(PriceFileFeedTest, ASignedFilePricesItsAssetsAsOfItsTime) {
  absl::StatusOr<PriceReading> r = Read("ETH", Feed());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(FormatPrice(r->price), "3012.5");
  EXPECT_EQ(r->updated_at, absl::FromUnixSeconds(1'764'000'000));
  EXPECT_EQ(Read("BTC", Feed()).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(PriceFileFeedTest, AForgedOrAlteredFileIsRefused) {
  // Signed by another key: whoever writes the file cannot price.
  Write(SignPriceFile(File("1"), **Ed25519Signer::Generate()));
  EXPECT_EQ(Read("ETH", Feed()).status().code(),
            absl::StatusCode::kPermissionDenied);
  // The bundle's key, but a price changed after signing.
  std::string signed_text = SignPriceFile(File("3012.5"), *key_);
  signed_text.replace(signed_text.find("3012.5"), 6, "0001.5");
  Write(signed_text);
  EXPECT_EQ(Read("ETH", Feed()).status().code(),
            absl::StatusCode::kPermissionDenied);
  Write("not json");
  EXPECT_EQ(Read("ETH", Feed()).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::remove(path_.c_str());
  EXPECT_EQ(Read("ETH", Feed()).status().code(),
            absl::StatusCode::kUnavailable);
  // Something that is no regular file fails at once: a FIFO with no
  // writer would otherwise block the read, and every decision behind it.
  ASSERT_EQ(::mkfifo(path_.c_str(), 0600), 0);
  const absl::Time start = absl::Now();
  EXPECT_EQ(Read("ETH", Feed()).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  std::remove(path_.c_str());
  EXPECT_EQ(LivePrices({}, "", absl::ZeroDuration())
                .Read("ETH", Feed())
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace warden::evm
