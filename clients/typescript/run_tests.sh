#!/usr/bin/env bash
# The TypeScript client's tests (node:test) against the wardend and
# wardenctl built in BUILD_DIR, after build.sh; the x402 tests also need
# anvil and tests/x402's npm packages (scripts/x402-deps.sh):
#   bash clients/typescript/run_tests.sh build/rel
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="$(cd "${1:?usage: run_tests.sh BUILD_DIR}" && pwd)"
bash "$here/build.sh"
anvil="$(bash "$here/scripts/x402-deps.sh")"
cd "$here"
WARDEND="$build/services/wardend" WARDENCTL="$build/services/wardenctl" ANVIL="$anvil" \
  exec node --test --test-concurrency=1 dist/test/*.test.js
