#!/usr/bin/env bash
# The README's run command on the real stack, as a newcomer would use it:
# deploy/dev/run.sh starts Redis and Postgres, migrates, applies the example
# bundle and serves; wardenctl gets decisions; deploy/dev/stop.sh stops the
# servers. Uses the suite's binaries and a temp state dir on random ports;
# everything is stopped on exit, even on failure.
#
#   run_script_test.sh REPO BUILD_DIR
set -euo pipefail
repo="$1"; build="$2"
state="$(mktemp -d /tmp/warden-run-XXXXXX)"
chmod 755 "$state"
# Below the ephemeral range (32768+) that the other tests draw from.
base=$(( (RANDOM % 12000) + 20000 ))
export WARDEN_STATE_DIR="$state" WARDEN_BUILD_DIR="$build" WARDEN_SKIP_BUILD=1
export WARDEN_REDIS_PORT="$base" WARDEN_PG_PORT="$((base + 1))"
export WARDEN_LISTEN="127.0.0.1:$((base + 2))"
export WARDEN_HTTP_LISTEN="127.0.0.1:$((base + 3))"
wardend_pid=""
cleanup() {
  [ -n "$wardend_pid" ] && kill "$wardend_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  bash "$repo/deploy/dev/stop.sh" >/dev/null 2>&1 || true
  rm -rf "$state"
}
trap cleanup EXIT

bash "$repo/deploy/dev/run.sh" >"$state/run.log" 2>&1 &
wardend_pid=$!
for _ in $(seq 1 600); do
  grep -q "wardend listening on" "$state/run.log" && break
  kill -0 "$wardend_pid" 2>/dev/null || { cat "$state/run.log"; exit 1; }
  sleep 0.2
done
grep -q "wardend listening on" "$state/run.log" || { cat "$state/run.log"; exit 1; }

ctl=("$build/services/wardenctl" --server "$WARDEN_LISTEN")
# Without a token the gateway refuses.
if "${ctl[@]}" authorize --agent agent_a --wallet wallet_1 --asset USDC \
    --amount 1 2>"$state/noauth.err"; then
  echo "expected UNAUTHENTICATED without a token"; exit 1
fi
grep -q UNAUTHENTICATED "$state/noauth.err" || { cat "$state/noauth.err"; exit 1; }
export WARDEN_TOKEN="$(cat "$state/tokens/agent_a")"
out=$("${ctl[@]}" --json authorize --agent agent_a --wallet wallet_1 \
  --asset USDC --amount 999000000)
echo "$out" | grep -q '"decision":"ALLOW"' || { echo "expected ALLOW: $out"; exit 1; }
out=$("${ctl[@]}" --json authorize --agent agent_a --wallet wallet_2 \
  --asset USDC --amount 499000000)
echo "$out" | grep -q '"decision":"DENY"' || { echo "expected DENY: $out"; exit 1; }
out=$(WARDEN_TOKEN="$(cat "$state/tokens/admin")" "${ctl[@]}" audit verify --org acme_corp)
echo "$out" | grep -q "^OK org acme_corp" || { echo "verify: $out"; exit 1; }
# The README's HTTP/JSON call.
out=$(curl -s "$WARDEN_HTTP_LISTEN/warden.v1.AuthorizationService/BudgetStatus" \
  -H "Authorization: Bearer $(cat "$state/tokens/admin")" \
  -H 'Content-Type: application/json' -d '{"include_below": true}')
echo "$out" | grep -q '"org_id":"acme_corp"' || { echo "http: $out"; exit 1; }
stopped=$(bash "$repo/deploy/dev/stop.sh")
echo "$stopped" | grep -q "postgres stopped" || { echo "stop: $stopped"; exit 1; }
echo "1 passed, 0 failed"
