#!/usr/bin/env bash
# Authorize throughput and latency, against its two ceilings.
#
#   tests/bench/run_bench.sh BUILD_DIR [DURATION_S] [CONCURRENCIES]
#
# Starts its own redis-server (loopback, temp dir), then measures with
# warden_loadgen, each for DURATION_S seconds (default 10) at each
# concurrency (default "1 16 64"):
#   - noop:     a server of the same proto that answers at once
#               (the transport's ceiling on this machine);
#   - embedded: wardend --embedded (memory budgets, fsync'd audit file);
#   - redis x1: one wardend --redis;
#   - redis x2: two wardend --redis replicas sharing the Redis;
#   - redis+pg: one wardend --redis --postgres, every decision durable in
#               the Postgres audit trail (group commit, hash chain);
#   - redis_tmpfs: one wardend --redis whose audit file is on tmpfs, where
#               fsync costs nothing: the same run without a durable audit;
# and redis-benchmark running the very EVALSHA the gateway sends (same
# script, same key count) at the same concurrency: Redis's ceiling.
# Prints one line per run and the gateway's ratio to each ceiling.
# Everything it started is stopped on exit, even on failure.
set -euo pipefail
build="$(cd "${1:?usage: run_bench.sh BUILD_DIR [DURATION_S] [CONCURRENCIES]}" && pwd)"
duration="${2:-10}"
concurrencies="${3:-1 16 64}"
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d /tmp/warden-bench-XXXXXX)"
shm="$(mktemp -d /dev/shm/warden-bench-XXXXXX)"
chmod 755 "$tmp"
pids=()
# pg_bin and as_postgres (run as the postgres user when root).
source "$here/../../deploy/dev/stack.sh"
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$tmp/pg/PG_VERSION" ] &&
    as_postgres "$pg_bin/pg_ctl" -D "$tmp/pg" -m immediate stop >/dev/null 2>&1
  wait 2>/dev/null || true
  rm -rf "$tmp" "$shm"
}
trap cleanup EXIT

# serve VAR CMD...: starts CMD with stdout to a file, waits for its
# "listening on" line and sets VAR to the address. (Not called in a
# subshell, so that its pid reaches the cleanup.)
serve() {
  local var="$1" log="$tmp/serve.$RANDOM.log"
  shift
  "$@" >"$log" 2>>"$tmp/stderr.log" &
  pids+=($!)
  for _ in $(seq 1 300); do
    if grep -q "listening on" "$log"; then
      printf -v "$var" '%s' "$(awk '/listening on/ {print $NF; exit}' "$log")"
      return
    fi
    sleep 0.1
  done
  echo "did not start: $*" >&2
  cat "$tmp/stderr.log" >&2
  exit 1
}

redis_port=""
for _ in $(seq 1 20); do
  # Below the ephemeral range (32768+), where the tests' own servers and
  # clients get their ports, so the two never collide.
  p=$(( (RANDOM % 12000) + 20000 ))
  redis-server --port "$p" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$tmp" >"$tmp/redis.log" 2>&1 &
  rpid=$!
  for _ in $(seq 1 50); do
    grep -q "Ready to accept" "$tmp/redis.log" && break
    kill -0 "$rpid" 2>/dev/null || break
    sleep 0.1
  done
  if grep -q "Ready to accept" "$tmp/redis.log"; then
    pids+=("$rpid"); redis_port="$p"; break
  fi
done
[ -n "$redis_port" ] || { echo "redis-server did not start" >&2; exit 1; }
redis_url="redis://127.0.0.1:$redis_port"

wardend="$build/services/wardend"
loadgen="$build/tests/bench/warden_loadgen"
bundle="$here/bench_bundle.yaml"
serve noop "$build/tests/bench/warden_noop_server" --listen 127.0.0.1:0
serve embedded "$wardend" --insecure-no-auth --embedded --bundle "$bundle" \
  --listen 127.0.0.1:0 --audit-file "$tmp/embedded.jsonl"
serve redis1 "$wardend" --insecure-no-auth --redis "$redis_url" --bundle "$bundle" \
  --listen 127.0.0.1:0 --audit-file "$tmp/r1.jsonl"
serve redis2 "$wardend" --insecure-no-auth --redis "$redis_url" --bundle "$bundle" \
  --listen 127.0.0.1:0 --audit-file "$tmp/r2.jsonl"

serve redis_tmpfs "$wardend" --insecure-no-auth --redis "$redis_url" --bundle "$bundle" \
  --listen 127.0.0.1:0 --audit-file "$shm/audit.jsonl"

pg_port=$(( redis_port + 1 ))
mkdir -p "$tmp/pg" && [ "$(id -u)" -eq 0 ] && chown postgres: "$tmp" "$tmp/pg"
as_postgres "$pg_bin/initdb" -D "$tmp/pg" -U postgres --auth=trust \
  --no-sync >/dev/null
as_postgres "$pg_bin/pg_ctl" -D "$tmp/pg" -w -l "$tmp/pg/log" \
  -o "-p $pg_port -k $tmp -c listen_addresses=127.0.0.1" start >/dev/null
psql -h 127.0.0.1 -p "$pg_port" -U postgres -qc "CREATE DATABASE warden"
"$build/services/wardenctl" migrate \
  --postgres "postgresql://postgres@127.0.0.1:$pg_port/warden" >/dev/null
serve redis_pg "$wardend" --insecure-no-auth --redis "$redis_url" --bundle "$bundle" \
  --listen 127.0.0.1:0 \
  --postgres "postgresql://warden_app@127.0.0.1:$pg_port/warden"

"$build/tests/bench/warden_reserve_call" --redis "$redis_url" >"$tmp/call.bin"
mapfile -d '' evalsha <"$tmp/call.bin"

run() {  # name concurrency targets...
  local name="$1" c="$2"; shift 2
  local args=()
  for t in "$@"; do args+=(--target "$t"); done
  local line
  line=$("$loadgen" "${args[@]}" --concurrency "$c" --duration-s "$duration" \
    --agent loader --wallet loader_w --amount 1000000)
  echo "$name $line"
  echo "$line" | sed -n 's/.*decisions\/s=\([0-9]*\).*/\1/p'
}

echo "== warden Authorize benchmark: ${duration}s per run, $(nproc) cores"
for c in $concurrencies; do
  out=$(run noop "$c" "$noop");          echo "$out" | head -1; n=$(echo "$out" | tail -1)
  out=$(run embedded "$c" "$embedded");  echo "$out" | head -1; e=$(echo "$out" | tail -1)
  out=$(run redis_x1 "$c" "$redis1");    echo "$out" | head -1; r1=$(echo "$out" | tail -1)
  out=$(run redis_x2 "$c" "$redis1" "$redis2"); echo "$out" | head -1; r2=$(echo "$out" | tail -1)
  out=$(run redis+pg "$c" "$redis_pg");  echo "$out" | head -1; rp=$(echo "$out" | tail -1)
  out=$(run redis_tmpfs "$c" "$redis_tmpfs"); echo "$out" | head -1; rt=$(echo "$out" | tail -1)
  requests=$(( ${duration} * 20000 ))
  raw=$(redis-benchmark -h 127.0.0.1 -p "$redis_port" -c "$c" -n "$requests" \
    -q "${evalsha[@]}" 2>/dev/null | tr '\r' '\n' |
    sed -n 's/.*: \([0-9.]*\) requests per second.*/\1/p' | tail -1)
  echo "redis_benchmark_evalsha concurrency=$c keys=${evalsha[2]} calls/s=${raw%.*}"
  awk -v n="$n" -v e="$e" -v r1="$r1" -v r2="$r2" -v raw="$raw" -v c="$c" \
    -v rp="$rp" -v rt="$rt" \
    'BEGIN { printf "ratios concurrency=%d embedded/noop=%.2f redis_x1/noop=%.2f redis_x2/noop=%.2f redis_x1/raw_evalsha=%.2f redis_x2/raw_evalsha=%.2f redis+pg/redis_tmpfs=%.2f\n", c, e/n, r1/n, r2/n, r1/raw, r2/raw, rp/rt }'
done
