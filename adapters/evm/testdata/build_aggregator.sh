#!/usr/bin/env bash
# Rebuilds price_aggregator.h from PriceAggregator.sol with solc 0.8.28
# (solcjs from npm, into a temporary directory). Not part of the build: the
# header is committed, and tests deploy its init code on anvil.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
npm install --silent --no-save --no-audit --no-fund --prefix "$tmp" solc@0.8.28
(cd "$tmp" && node_modules/.bin/solcjs --bin --optimize \
   --optimize-runs 200 -o out "$here/PriceAggregator.sol" > /dev/null)
bin="$(cat "$tmp"/out/*PriceAggregator.bin)"
cat > "$here/price_aggregator.h" <<HEADER
#ifndef WARDEN_ADAPTERS_EVM_TESTDATA_PRICE_AGGREGATOR_H_
#define WARDEN_ADAPTERS_EVM_TESTDATA_PRICE_AGGREGATOR_H_

// PriceAggregator.sol compiled by build_aggregator.sh (solc 0.8.28,
// optimizer on, 200 runs): its init code, to which a deployment appends
// the constructor's arguments (uint8 decimals, int256 answer) as two ABI
// words.
namespace warden::evm::testdata {

inline constexpr char kPriceAggregatorInitCode[] =
    "0x$bin";

}  // namespace warden::evm::testdata

#endif  // WARDEN_ADAPTERS_EVM_TESTDATA_PRICE_AGGREGATOR_H_
HEADER
# In the project's style (the literal split into lines).
command -v clang-format > /dev/null && clang-format -i "$here/price_aggregator.h"
echo "build_aggregator: wrote price_aggregator.h (${#bin} hex digits)"
