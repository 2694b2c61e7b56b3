#!/usr/bin/env bash
# The TypeScript client's tests (node:test) against the wardend and
# wardenctl built in BUILD_DIR. Installs the pinned npm packages
# (package-lock.json) on first use, generates the types from the protos
# and compiles:
#   bash clients/typescript/run_tests.sh build/rel
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="$(cd "${1:?usage: run_tests.sh BUILD_DIR}" && pwd)"
cd "$here"
if ! cmp -s package-lock.json node_modules/.installed-lock.json 2>/dev/null; then
  npm ci --silent --no-audit --no-fund
  cp package-lock.json node_modules/.installed-lock.json
fi
npm run --silent build
WARDEND="$build/services/wardend" WARDENCTL="$build/services/wardenctl" \
  exec node --test --test-concurrency=1 dist/test/
