#include "adapters/evm/prices.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "adapters/evm/balances.h"
#include "adapters/evm/evm.h"
#include "governance/status_macros.h"

namespace warden::evm {
namespace {

// Selectors: latestRoundData() and decimals().
constexpr char kLatestRoundData[] = "0xfeaf968c";
constexpr char kDecimals[] = "0x313ce567";
// An aggregator's decimals beyond this cannot be scaled in 128 bits.
constexpr int kMaxAggregatorDecimals = 36;

absl::uint128 Pow10(int n) {
  absl::uint128 p = 1;
  for (int i = 0; i < n; ++i) p *= 10;
  return p;
}

}  // namespace

template <typename T>
absl::StatusOr<T> LivePrices::Cache<T>::Get(
    const std::string& key, absl::Duration refresh,
    absl::FunctionRef<absl::StatusOr<T>()> fetch) {
  // A reading fetched after this call began answers it, however short
  // `refresh`: callers that queued behind a fetch share it instead of each
  // asking a slow source again in turn.
  const absl::Time asked = absl::Now();
  Entry* entry;
  {
    absl::MutexLock lock(&mu_);
    std::unique_ptr<Entry>& slot = entries_[key];
    if (slot == nullptr) slot = std::make_unique<Entry>();
    entry = slot.get();
  }
  absl::MutexLock lock(&entry->mu);
  const absl::Time now = absl::Now();
  if (entry->fetched < asked && now - entry->fetched >= refresh) {
    entry->value = fetch();
    entry->fetched = absl::Now();
  }
  return entry->value;
}

LivePrices::LivePrices(
    std::map<std::string, std::unique_ptr<JsonRpcClient>> nodes,
    std::string price_file, absl::Duration refresh)
    : nodes_(std::move(nodes)),
      price_file_(std::move(price_file)),
      refresh_(refresh) {}

absl::StatusOr<PriceReading> LivePrices::Read(const std::string& asset,
                                              const PriceFeed& feed) {
  if (feed.kind == PriceFeed::Kind::kChainlink) {
    return aggregators_.Get(absl::StrCat(feed.chain, ":", feed.aggregator),
                            refresh_, [&] { return ReadAggregator(feed); });
  }
  if (feed.kind != PriceFeed::Kind::kFile) {
    return absl::InvalidArgumentError("a fixed price is the bundle's");
  }
  WARDEN_ASSIGN_OR_RETURN(std::shared_ptr<const PriceFile> file,
                          files_.Get(feed.public_key, refresh_, [&] {
                            return ReadFile(feed.public_key);
                          }));
  auto price = file->prices.find(asset);
  if (price == file->prices.end()) {
    return absl::NotFoundError(
        absl::StrCat("the price file has no price for ", asset));
  }
  return PriceReading{.price = price->second, .updated_at = file->at};
}

absl::StatusOr<PriceReading> LivePrices::ReadAggregator(const PriceFeed& feed) {
  auto node = nodes_.find(feed.chain);
  if (node == nodes_.end()) {
    return absl::NotFoundError(absl::StrCat("no node for chain ", feed.chain,
                                            " (wardend --chain-rpc)"));
  }
  auto call = [&](const char* selector) {
    return node->second->Call(
        "eth_call",
        nlohmann::json::array(
            {{{"to", feed.aggregator}, {"data", selector}}, "latest"}));
  };
  // An aggregator's decimals never change: asked once, so that a reading
  // costs one call to the node.
  const std::string key = absl::StrCat(feed.chain, ":", feed.aggregator);
  std::optional<int> decimals;
  {
    absl::MutexLock lock(&decimals_mu_);
    if (auto it = decimals_.find(key); it != decimals_.end()) {
      decimals = it->second;
    }
  }
  if (!decimals) {
    WARDEN_ASSIGN_OR_RETURN(nlohmann::json word, call(kDecimals));
    absl::StatusOr<absl::uint128> d = ParseUint256Word(word);
    if (!d.ok() || *d > kMaxAggregatorDecimals) {
      return absl::InvalidArgumentError(absl::StrCat(
          "decimals(): ", d.ok() ? absl::StrCat("over ", kMaxAggregatorDecimals)
                                 : d.status().message()));
    }
    decimals = static_cast<int>(*d);
    absl::MutexLock lock(&decimals_mu_);
    decimals_[key] = *decimals;
  }
  WARDEN_ASSIGN_OR_RETURN(nlohmann::json round, call(kLatestRoundData));
  return ParseLatestRoundData(round, *decimals);
}

absl::StatusOr<std::shared_ptr<const PriceFile>> LivePrices::ReadFile(
    const std::string& public_key) {
  if (price_file_.empty()) {
    return absl::FailedPreconditionError(
        "this wardend reads no price file (--price-file)");
  }
  // Without blocking: a FIFO or device put at the path must fail the read
  // at once, not hold every decision priced by the file.
  const int fd = ::open(price_file_.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot open the price file ", price_file_));
  }
  absl::Cleanup close_fd = [fd] { ::close(fd); };
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    return absl::UnavailableError(
        absl::StrCat("the price file ", price_file_, " is not a regular file"));
  }
  std::string text(kMaxPriceFileBytes + 1, '\0');
  size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot read the price file ", price_file_));
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  text.resize(got);
  WARDEN_ASSIGN_OR_RETURN(PriceFile file, VerifyPriceFile(text, public_key));
  return std::make_shared<const PriceFile>(std::move(file));
}

absl::StatusOr<PriceReading> ParseLatestRoundData(const nlohmann::json& result,
                                                  int decimals) {
  const std::string hex = result.is_string()
                              ? absl::AsciiStrToLower(result.get<std::string>())
                              : "";
  if (hex.size() < 2 + 5 * 64 || hex.rfind("0x", 0) != 0 ||
      !IsHexDigits(absl::string_view(hex).substr(2))) {
    return absl::InvalidArgumentError(
        "latestRoundData(): not five ABI words (is the address an "
        "aggregator?)");
  }
  auto word = [&](int i) { return "0x" + hex.substr(2 + 64 * i, 64); };
  if (hex[2 + 64] >= '8') {
    return absl::InvalidArgumentError("latestRoundData(): a negative answer");
  }
  WARDEN_ASSIGN_OR_RETURN(absl::uint128 answer, ParseUint256Word(word(1)));
  WARDEN_ASSIGN_OR_RETURN(absl::uint128 updated, ParseUint256Word(word(3)));
  if (answer == 0) {
    return absl::InvalidArgumentError("latestRoundData(): an answer of 0");
  }
  if (answer == absl::Uint128Max()) {
    return absl::InvalidArgumentError(
        "latestRoundData(): an answer beyond 128 bits");
  }
  if (updated == 0 || updated > absl::uint128(int64_t{1} << 40)) {
    return absl::InvalidArgumentError(
        absl::StrCat("latestRoundData(): updatedAt ", FormatBaseUnits(updated),
                     updated == 0 ? " (no round yet)" : " is not a time"));
  }
  PriceReading reading{
      .price = {.mantissa = answer, .scale = decimals},
      .updated_at = absl::FromUnixSeconds(static_cast<int64_t>(updated))};
  if (decimals > kMaxPriceScale) {
    const absl::uint128 unit = Pow10(decimals - kMaxPriceScale);
    reading.price = {.mantissa = answer / unit + (answer % unit != 0 ? 1 : 0),
                     .scale = kMaxPriceScale};
  }
  // The same value in its fewest digits: "3000", not "3000.00000000".
  while (reading.price.scale > 0 && reading.price.mantissa % 10 == 0) {
    reading.price.mantissa /= 10;
    --reading.price.scale;
  }
  return reading;
}

}  // namespace warden::evm
