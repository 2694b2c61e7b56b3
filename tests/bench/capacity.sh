#!/usr/bin/env bash
# Checks the capacity model of docs/operations.md ("Capacity") on loopback.
#
#   tests/bench/capacity.sh BUILD_DIR [DURATION_S]
#
# Every decision durable (wardend --postgres), the policy of
# bench_bundle.yaml (seven limits per spend) in each of six orgs, token
# auth, 64 calls in flight spread over eight agents per org. Three runs of
# DURATION_S seconds (default 10):
#   - calibration: one org, one Redis. It gives what one decision costs in
#     CPU-µs in each process: wardend, redis-server, Postgres (the
#     postmaster and its backends) and the load generator itself;
#   - 1 shard:     six orgs, one Redis;
#   - 3 shards:    six orgs, a Redis Cluster of three primaries.
# From the calibration alone it predicts the other two: the host's cores
# shared by all processes (cores x 1e6 / the CPU-µs of a decision in all
# of them), and each shard's one Redis thread (1e6 / Redis's CPU-µs per
# decision, divided by the busiest shard's share of the orgs); the lower
# bound holds, scaled by the share of it the calibration run reached (the
# host's own overhead). Prints each run, predicted against measured, and
# the same host-CPU prediction from each run's own per-decision costs
# (which grow with the number of orgs: see docs/operations.md).
# Everything it started is stopped on exit, even on failure.
set -euo pipefail
build="$(cd "${1:?usage: capacity.sh BUILD_DIR [DURATION_S]}" && pwd)"
duration="${2:-10}"
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/bench_lib.sh"

orgs="cap0 cap1 cap2 cap3 cap4 cap5"
agents="a0 a1 a2 a3 a4 a5 a6 a7"
concurrency=64

start_redis single
for i in 1 2 3; do
  start_redis "shard$i" --cluster-enabled yes \
    --cluster-config-file "$tmp/nodes$i.conf"
done
redis-cli --cluster create "127.0.0.1:$shard1_port" "127.0.0.1:$shard2_port" \
  "127.0.0.1:$shard3_port" --cluster-replicas 0 --cluster-yes >/dev/null
for _ in $(seq 1 100); do  # Bounded: 10 s.
  redis-cli -p "$shard1_port" cluster info | grep -q "cluster_state:ok" && break
  sleep 0.1
done
cluster_urls="redis://127.0.0.1:$shard1_port,redis://127.0.0.1:$shard2_port,redis://127.0.0.1:$shard3_port"
start_postgres $(( single_port + 1 ))

# Each org: its bundle, an admin token and a token per agent (in Postgres,
# so both servers know them).
for o in $orgs; do
  sed "s/^  id: bench$/  id: $o/" "$here/bench_bundle.yaml" >"$tmp/$o.yaml"
  "$wardenctl" --org "$o" token create --postgres "$pg_url" \
    --principal user/bench --role admin >"$tmp/$o.admin" 2>/dev/null
  for a in $agents; do
    echo "$a ${a}_w $("$wardenctl" --org "$o" token create --postgres \
      "$pg_url" --principal "agent/$a" --role agent 2>/dev/null)"
  done >"$tmp/$o.ids"
done
cat "$tmp"/cap?.ids >"$tmp/all.ids"

serve one "$wardend" --redis "redis://127.0.0.1:$single_port" \
  --postgres "$pg_app_url" --listen 127.0.0.1:0
for o in $orgs; do
  WARDEN_TOKEN="$(cat "$tmp/$o.admin")" "$wardenctl" --server "$one" \
    --org "$o" apply -f "$tmp/$o.yaml" >/dev/null
done
serve three "$wardend" --redis "$cluster_urls" --redis-cluster \
  --postgres "$pg_app_url" --listen 127.0.0.1:0

postgres_pids() {
  local postmaster
  postmaster=$(head -1 "$tmp/pg/postmaster.pid")
  echo "$postmaster" $(pgrep -P "$postmaster")
}

# measure NAME SERVER IDS REDIS_PIDS...: runs the load; sets, for NAME,
# rate[NAME] and the CPU-µs per decision of wardend, Redis, Postgres and
# the load generator (w[NAME], r[NAME], p[NAME], l[NAME]).
declare -A rate w r p l
measure() {
  local name="$1" server="$2" ids="$3"; shift 3
  local pid="${server}_pid" pg_before pg_after r_before line lg
  local w_before
  w_before=$(cpu_ticks "${!pid}")
  r_before=$(cpu_ticks "$@")
  pg_before=$(cpu_ticks $(postgres_pids))
  TIMEFORMAT='%U %S'
  lg=$( { time "$loadgen" --target "${!server}" --identities "$tmp/$ids" \
    --concurrency "$concurrency" --duration-s "$duration" >"$tmp/$name.out"; } 2>&1 )
  line=$(cat "$tmp/$name.out")
  echo "$name $line"
  local hz decided
  hz=$(getconf CLK_TCK)
  decided=$(echo "$line" | awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "=");
    if (kv[1] ~ /^(allow|deny|pending|other)$/) n += kv[2] } } END { print n }')
  rate[$name]=$(echo "$line" | sed 's/.*decisions\/s=\([0-9]*\).*/\1/')
  w[$name]=$(( ($(cpu_ticks "${!pid}") - w_before) * 1000000 / hz / decided ))
  r[$name]=$(( ($(cpu_ticks "$@") - r_before) * 1000000 / hz / decided ))
  pg_after=$(cpu_ticks $(postgres_pids))
  p[$name]=$(( (pg_after - pg_before) * 1000000 / hz / decided ))
  l[$name]=$(awk -v t="$lg" -v n="$decided" 'BEGIN { split(t, a, " ");
    printf "%d", (a[1] + a[2]) * 1000000 / n }')
  echo "$name cpu_us/decision wardend=${w[$name]} redis=${r[$name]} postgres=${p[$name]} loadgen=${l[$name]}"
}

echo "== capacity: ${duration}s per run, $(nproc) cores, 7 limits per spend, durable audit, concurrency $concurrency"
measure calibration one cap0.ids "$single_pid"
measure one_shard one all.ids "$single_pid"
measure three_shards three all.ids "$shard1_pid" "$shard2_pid" "$shard3_pid"

# The busiest shard's share of the orgs (their ready marks say where they
# live).
busiest=0
for port in "$shard1_port" "$shard2_port" "$shard3_port"; do
  n=$(redis-cli -p "$port" --scan --pattern '{cap*}:ok' | wc -l)
  [ "$n" -gt "$busiest" ] && busiest=$n
done
echo "orgs per shard: busiest shard holds $busiest of 6"
costs() {  # NAME: its CPU-us per decision in all processes.
  echo $(( w[$1] + r[$1] + p[$1] + l[$1] ))
}
awk -v cores="$(nproc)" -v w="${w[calibration]}" -v r="${r[calibration]}" \
  -v p="${p[calibration]}" -v l="${l[calibration]}" \
  -v m0="${rate[calibration]}" -v m1="${rate[one_shard]}" \
  -v m3="${rate[three_shards]}" -v busy="$busiest" \
  -v c1="$(costs one_shard)" -v c3="$(costs three_shards)" \
  'function predict(shard_cap) {
     host = cores * 1000000 / (w + r + p + l)
     bound = host < shard_cap ? "host CPU" : "Redis thread"
     return host < shard_cap ? host : shard_cap
   }
   function row(name, orgs, ideal, measured, own) {
     printf "%-12s %4d %10.0f %9d %9.2f %10.0f %9.2f  %s\n", name, orgs,
            ideal * eff, measured, measured / (ideal * eff), own * eff,
            measured / (own * eff), bound
   }
   BEGIN {
     # What share of the ideal the calibration run itself reached: the
     # host'"'"'s cost outside these processes (kernel, loopback, idle gaps).
     p0 = predict(1000000 / r); eff = m0 / p0
     printf "per decision, CPU-us: wardend %d, redis %d, postgres %d, load generator %d\n", w, r, p, l
     printf "ceilings: wardend %d/s per core, a Redis shard %d/s, postgres %d/s per core; host efficiency %.2f\n", 1000000 / w, 1000000 / r, 1000000 / p, eff
     printf "%-12s %4s %10s %9s %9s %10s %9s  %s\n", "topology", "orgs",
            "predicted", "measured", "meas/pred", "own-costs", "meas/own", "bound"
     row("calibration", 1, p0, m0, p0)
     row("1 shard", 6, predict(1000000 / r), m1, cores * 1000000 / c1)
     row("3 shards", 6, predict(1000000 / r * 6 / busy), m3, cores * 1000000 / c3)
   }'
