#!/usr/bin/env bash
# Authorize throughput, latency and CPU cost, against their ceilings.
#
#   tests/bench/run_bench.sh BUILD_DIR [DURATION_S] [CONCURRENCIES]
#
# Starts its own redis-server and Postgres (loopback, temp dirs) and the
# servers below, all with token authentication, the policy of
# bench_bundle.yaml (seven limits on every path) and the load spread over
# its eight agents in two departments. Then, for DURATION_S seconds
# (default 10) at each concurrency (default "16 64"), warden_loadgen drives:
#   - noop:        a server of the same proto that answers at once
#                  (the transport's ceiling on this machine);
#   - embedded:    wardend --embedded (memory budgets, fsync'd audit file);
#   - redis_x1:    one wardend --redis, audit file on disk (fsync'd);
#   - redis_x2:    two such replicas sharing the Redis;
#   - redis_tmpfs: one wardend --redis with its audit file on tmpfs, where
#                  fsync costs nothing: the same run without a durable audit;
#   - redis+pg:    wardend --redis --postgres, every decision durable in
#                  the Postgres audit trail (group commit, hash chain);
#   - deny+pg:     the same server, every call an over-limit denial of the
#                  agent `capped`, which has 50 approvals awaiting;
# and redis-benchmark running the very EVALSHA the gateway sends for that
# policy (same script, same keys) at the same concurrency: Redis's ceiling.
# Last, warden_engine_bench: the engine in process on the memory store, one
# core, no transport (decisions/s and p50/p99 of allows and of denials).
# Prints one line per run (with wardend's CPU-µs per decision) and the
# ratios the performance targets are stated in (docs/performance.md).
# Everything it started is stopped on exit, even on failure.
set -euo pipefail
build="$(cd "${1:?usage: run_bench.sh BUILD_DIR [DURATION_S] [CONCURRENCIES]}" && pwd)"
duration="${2:-10}"
concurrencies="${3:-16 64}"
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/bench_lib.sh"
shm="$(mktemp -d /dev/shm/warden-bench-XXXXXX)"
trap 'bench_cleanup; rm -rf "$shm"' EXIT

bundle="$here/bench_bundle.yaml"
agents="a0 a1 a2 a3 a4 a5 a6 a7"

# identities NAME ADDRESS ADMIN_TOKEN_FILE: an agent token per agent,
# minted by that server, into $tmp/NAME.ids (AGENT WALLET TOKEN lines),
# and the same for `capped` into $tmp/NAME.capped.
identities() {
  local name="$1" address="$2" admin
  admin="$(cat "$3")"
  : >"$tmp/$name.ids"
  for a in $agents capped; do
    local token
    token=$(WARDEN_TOKEN="$admin" "$wardenctl" --server "$address" --org bench \
      token create --principal "agent/$a" --role agent 2>/dev/null)
    if [ "$a" = capped ]; then
      echo "$a ${a}_w $token" >"$tmp/$name.capped"
    else
      echo "$a ${a}_w $token" >>"$tmp/$name.ids"
    fi
  done
}

start_redis redis
redis_url="redis://127.0.0.1:$redis_port"

serve noop "$build/tests/bench/warden_noop_server" --listen 127.0.0.1:0
for a in $agents; do echo "$a ${a}_w"; done >"$tmp/noop.ids"
serve embedded "$wardend" --embedded --bundle "$bundle" --listen 127.0.0.1:0 \
  --audit-file "$tmp/embedded.jsonl" --bootstrap-token-file "$tmp/embedded.admin"
serve redis1 "$wardend" --redis "$redis_url" --bundle "$bundle" \
  --listen 127.0.0.1:0 --audit-file "$tmp/r1.jsonl" \
  --bootstrap-token-file "$tmp/redis1.admin"
serve redis2 "$wardend" --redis "$redis_url" --bundle "$bundle" \
  --listen 127.0.0.1:0 --audit-file "$tmp/r2.jsonl" \
  --bootstrap-token-file "$tmp/redis2.admin"
serve redis_tmpfs "$wardend" --redis "$redis_url" --bundle "$bundle" \
  --listen 127.0.0.1:0 --audit-file "$shm/audit.jsonl" \
  --bootstrap-token-file "$tmp/redis_tmpfs.admin"
for s in embedded redis1 redis2 redis_tmpfs; do identities "$s" "${!s}" "$tmp/$s.admin"; done

start_postgres $(( redis_port + 1 ))
"$wardenctl" --org bench token create --postgres "$pg_url" \
  --principal user/bench --role admin >"$tmp/redis_pg.admin" 2>/dev/null
serve redis_pg "$wardend" --redis "$redis_url" --bundle "$bundle" \
  --listen 127.0.0.1:0 \
  --postgres "$pg_app_url"
identities redis_pg "$redis_pg" "$tmp/redis_pg.admin"

# Fifty $2 spends of `capped` await approval ($100 held: its hourly cap),
# so every later one is an over-limit denial whose reason counts them.
"$loadgen" --target "$redis_pg" --identities "$tmp/redis_pg.capped" \
  --concurrency 1 --calls 50 --amount 2000000 >/dev/null

"$build/tests/bench/warden_reserve_call" --redis "$redis_url" >"$tmp/call.bin"
mapfile -d '' evalsha <"$tmp/call.bin"

# run NAME CONCURRENCY IDS_SUFFIX SERVER...: prints the loadgen line, then
# (on a line of its own) decisions/s, p99 and CPU-µs per decision.
run() {
  local name="$1" c="$2" ids="$3"; shift 3
  local args=() line pid
  for s in "$@"; do
    args+=(--target "${!s}" --identities "$tmp/$s.$ids")
    pid="${s}_pid"; args+=(--pid "${!pid}")
  done
  line=$("$loadgen" "${args[@]}" --concurrency "$c" --duration-s "$duration" \
    --amount "${amount:-1000000}")
  echo "$name $line"
  echo "$line" | sed -n \
    's/.*decisions\/s=\([0-9]*\).*p99_us=\([0-9]*\).*cpu_us\/decision=\([0-9a-z\/]*\).*/\1 \2 \3/p'
}

echo "== warden Authorize benchmark: ${duration}s per run, $(nproc) cores, 7 limits per spend, token auth"
declare -A rate p99 cpu
for c in $concurrencies; do
  for spec in "noop ids noop" "embedded ids embedded" "redis_x1 ids redis1" \
              "redis_x2 ids redis1 redis2" "redis_tmpfs ids redis_tmpfs" \
              "redis+pg ids redis_pg" "deny+pg capped redis_pg"; do
    read -r name ids servers <<<"$spec"
    amount=1000000; [ "$ids" = capped ] && amount=2000000
    # shellcheck disable=SC2086
    out=$(run "$name" "$c" "$ids" $servers)
    echo "$out" | head -1
    read -r rate[$name] p99[$name] cpu[$name] <<<"$(echo "$out" | tail -1)"
  done
  requests=$(( duration * 20000 ))
  raw=$(redis-benchmark -h 127.0.0.1 -p "$redis_port" -c "$c" -n "$requests" \
    -q "${evalsha[@]}" 2>/dev/null | tr '\r' '\n' |
    sed -n 's/.*: \([0-9.]*\) requests per second.*/\1/p' | tail -1)
  echo "redis_benchmark_evalsha concurrency=$c keys=${evalsha[2]} calls/s=${raw%.*}"
  awk -v n="${rate[noop]}" -v e="${rate[embedded]}" -v r1="${rate[redis_x1]}" \
    -v r2="${rate[redis_x2]}" -v rt="${rate[redis_tmpfs]}" \
    -v rp="${rate[redis+pg]}" -v raw="$raw" -v c="$c" \
    -v ca="${cpu[redis+pg]}" -v cd="${cpu[deny+pg]}" -v pp="${p99[redis+pg]}" \
    'BEGIN {
      printf "ratios concurrency=%d embedded/noop=%.2f redis_x1/noop=%.2f redis_x2/noop=%.2f redis+pg/noop=%.2f redis_x1/redis_tmpfs=%.2f redis_x1/raw_evalsha=%.2f", c, e/n, r1/n, r2/n, rp/n, r1/rt, r1/raw
      if (ca + 0 > 0) printf " deny_cpu/allow_cpu=%.2f", cd/ca
      printf " redis+pg_p99_ms=%.1f\n", pp/1000
    }'
done

echo "== the engine in process (memory store, one thread)"
"$build/tests/bench/warden_engine_bench" \
  --benchmark_min_time="$(awk -v d="$duration" 'BEGIN { print d / 5 }')" 2>/dev/null |
  awk '/ERROR OCCURRED/ { print; bad = 1; next }
       /^BM_/ { printf "engine %s cpu_us=%s %s %s %s\n", $1, $4, $7, $8, $9; n++ }
       END { exit (bad || n != 2) }'
