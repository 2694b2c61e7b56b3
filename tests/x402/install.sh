#!/usr/bin/env bash
# Installs tests/x402's pinned npm packages (package-lock.json) when `npm
# ls` finds them missing or not matching; a no-op otherwise, so that the
# suites that run the harness (x402_e2e_test, the TypeScript client's and
# warden-mcp's tests) never reinstall them under each other.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if ! npm ls --prefix "$here" --all >/dev/null 2>&1; then
  npm ci --silent --no-audit --no-fund --prefix "$here" >&2
fi
