#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 machine, builds Warden and serves
# it in embedded mode (no Redis or Postgres needed) with the example bundle.
#
#   bash deploy/dev/run.sh            # serves on 127.0.0.1:7400
#
# Environment:
#   WARDEN_LISTEN   address to serve on (default 127.0.0.1:7400)
#   WARDEN_BUNDLE   policy bundle (default deploy/examples/acme.yaml)
# The audit trail goes to .warden/audit.jsonl, which survives restarts;
# budgets are rebuilt from it at start.
set -euo pipefail
cd "$(dirname "$0")/../.."

bash deploy/dev/install-deps.sh
cmake -S . -B build/run -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DWARDEN_WERROR=OFF
cmake --build build/run -j "$(nproc)" --target wardend wardenctl

mkdir -p .warden
echo "wardenctl is at build/run/services/wardenctl; try:"
echo "  build/run/services/wardenctl authorize --agent agent_a --wallet wallet_1 --asset USDC --amount 999000000"
exec build/run/services/wardend --embedded \
  --bundle "${WARDEN_BUNDLE:-deploy/examples/acme.yaml}" \
  --listen "${WARDEN_LISTEN:-127.0.0.1:7400}" \
  --audit-file .warden/audit.jsonl
