#ifndef WARDEN_GOVERNANCE_PRICE_SOURCE_H_
#define WARDEN_GOVERNANCE_PRICE_SOURCE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "governance/money.h"
#include "governance/policy.h"

namespace warden {

// A live price and when its source says it was last updated.
struct PriceReading {
  Price price;
  absl::Time updated_at;
};

// Live prices, for assets whose bundle names a chainlink or file feed. The
// engine links no network code; wardend gives it one that reads each
// chain's node and the signed price file. Thread-safe.
class PriceSource {
 public:
  virtual ~PriceSource() = default;

  // The price of `asset` from `feed` (a live kind). Any error means the
  // price could not be read (the spend is denied, PRICE_STALE, with the
  // error's message); the caller judges the reading's age.
  virtual absl::StatusOr<PriceReading> Read(const std::string& asset,
                                            const PriceFeed& feed) = 0;
};

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_PRICE_SOURCE_H_
