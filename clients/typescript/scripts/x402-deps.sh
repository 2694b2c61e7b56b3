#!/usr/bin/env bash
# What the x402 tests (test/x402_stack.ts) need beyond this package:
# tests/x402's pinned npm packages (tests/x402/install.sh installs them
# when missing) and anvil (deploy/dev/install-tools.sh), whose path it
# prints.
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
anvil="$root/.tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
if [ ! -x "$anvil" ]; then
  echo "x402-deps: no anvil at $anvil: run deploy/dev/install-tools.sh" >&2
  exit 1
fi
bash "$root/tests/x402/install.sh"
echo "$anvil"
