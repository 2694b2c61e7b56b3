#!/usr/bin/env bash
# warden-mcp's tests (node:test, the MCP SDK's own client over stdio and
# streamable HTTP) against the wardend and wardenctl built in BUILD_DIR;
# pay_x402's also need anvil and tests/x402's npm packages, as the
# TypeScript client's (whose x402 stack they use). Builds that client
# first, then installs the pinned npm packages (package-lock.json) on
# first use and compiles:
#   bash clients/mcp/run_tests.sh build/rel
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="$(cd "${1:?usage: run_tests.sh BUILD_DIR}" && pwd)"
bash "$here/../typescript/build.sh"
anvil="$(bash "$here/../typescript/scripts/x402-deps.sh")"
cd "$here"
if ! cmp -s package-lock.json node_modules/.installed-lock.json 2>/dev/null; then
  npm ci --silent --no-audit --no-fund
  cp package-lock.json node_modules/.installed-lock.json
fi
npm run --silent build
WARDEND="$build/services/wardend" WARDENCTL="$build/services/wardenctl" ANVIL="$anvil" \
  exec node --test --test-concurrency=1 dist/test/
