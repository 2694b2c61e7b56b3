#!/usr/bin/env bash
# Installs the pinned npm packages (package-lock.json) on first use,
# generates the types from the protos and compiles: dist/.
set -euo pipefail
cd "$(dirname "$0")"
if ! cmp -s package-lock.json node_modules/.installed-lock.json 2>/dev/null; then
  npm ci --silent --no-audit --no-fund
  cp package-lock.json node_modules/.installed-lock.json
fi
npm run --silent build
