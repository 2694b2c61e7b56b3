#ifndef WARDEN_ADAPTERS_EVM_PRICES_H_
#define WARDEN_ADAPTERS_EVM_PRICES_H_

#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/synchronization/mutex.h"
#include "adapters/evm/json_rpc.h"
#include "governance/price_file.h"
#include "governance/price_source.h"

namespace warden::evm {

// The live prices wardend reads: Chainlink-style aggregators
// (`latestRoundData()` and `decimals()` by eth_call through each chain's
// node) and the signed price file. Each source is read at most once per
// `refresh`, and that reading (or its failure) answers the decisions until
// the next; its age is still judged at each decision from the time the
// source gives, so caching never makes a stale price look fresh. A source
// that failed is asked again after `refresh` too, so a node that is down
// costs one timeout per `refresh`, not one per decision.
class LivePrices final : public PriceSource {
 public:
  // chain name -> its node; the price file's path (empty: none).
  LivePrices(std::map<std::string, std::unique_ptr<JsonRpcClient>> nodes,
             std::string price_file, absl::Duration refresh);

  absl::StatusOr<PriceReading> Read(const std::string& asset,
                                    const PriceFeed& feed) override;

 private:
  // One value per key, fetched again once `refresh` old; a fetch holds
  // only its own key's lock, so other sources are read meanwhile.
  template <typename T>
  class Cache {
   public:
    absl::StatusOr<T> Get(const std::string& key, absl::Duration refresh,
                          absl::FunctionRef<absl::StatusOr<T>()> fetch);

   private:
    struct Entry {
      absl::Mutex mu;
      absl::Time fetched ABSL_GUARDED_BY(mu) = absl::InfinitePast();
      absl::StatusOr<T> value ABSL_GUARDED_BY(mu) =
          absl::UnknownError("not read yet");
    };
    absl::Mutex mu_;
    absl::flat_hash_map<std::string, std::unique_ptr<Entry>> entries_
        ABSL_GUARDED_BY(mu_);
  };

  absl::StatusOr<PriceReading> ReadAggregator(const PriceFeed& feed);
  absl::StatusOr<std::shared_ptr<const PriceFile>> ReadFile(
      const std::string& public_key);

  const std::map<std::string, std::unique_ptr<JsonRpcClient>> nodes_;
  const std::string price_file_;
  const absl::Duration refresh_;
  Cache<PriceReading> aggregators_;
  absl::Mutex decimals_mu_;
  absl::flat_hash_map<std::string, int> decimals_ ABSL_GUARDED_BY(decimals_mu_);
  Cache<std::shared_ptr<const PriceFile>> files_;
};

// An aggregator's latestRoundData() answer (five ABI words: roundId,
// answer, startedAt, updatedAt, answeredInRound) as a price with
// `decimals` decimals: refused when the answer is not positive or beyond
// 128 bits, or updatedAt is 0 (no round yet). More than 12 decimals are
// rounded up to 12 (a price only ever errs high: spends count for more).
absl::StatusOr<PriceReading> ParseLatestRoundData(const nlohmann::json& result,
                                                  int decimals);

}  // namespace warden::evm

#endif  // WARDEN_ADAPTERS_EVM_PRICES_H_
