#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 machine and runs Warden on the real
# stack: a local Redis (budgets) and PostgreSQL (configuration and audit
# trail) on loopback, with their data under .warden/ in the checkout so it
# survives restarts. Migrates the database, applies the example bundle and
# serves wardend in the foreground (Ctrl-C stops it; deploy/dev/stop.sh
# stops Redis and Postgres).
#
#   bash deploy/dev/run.sh              # Redis + Postgres, 127.0.0.1:7400
#   bash deploy/dev/run.sh --embedded   # no servers: memory + audit file
#
# Environment: WARDEN_LISTEN (127.0.0.1:7400), WARDEN_HTTP_LISTEN (the
# HTTP/JSON API, 127.0.0.1:7402), WARDEN_BUNDLE
# (deploy/examples/acme.yaml), WARDEN_REDIS_PORT (6390), WARDEN_PG_PORT
# (6391), WARDEN_STATE_DIR (.warden), WARDEN_BUILD_DIR (build/run),
# WARDEN_SKIP_BUILD=1 (use the binaries already built there).
set -euo pipefail
cd "$(dirname "$0")/../.."
source deploy/dev/stack.sh

build="${WARDEN_BUILD_DIR:-build/run}"
# WARDEN_SKIP_BUILD=1 uses binaries already in WARDEN_BUILD_DIR (tests).
if [ "${WARDEN_SKIP_BUILD:-0}" != "1" ]; then
  bash deploy/dev/install-deps.sh
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j "$(nproc)" --target wardend wardenctl
fi
bundle="${WARDEN_BUNDLE:-deploy/examples/acme.yaml}"
listen="${WARDEN_LISTEN:-127.0.0.1:7400}"
export WARDEN_HTTP_LISTEN="${WARDEN_HTTP_LISTEN:-127.0.0.1:7402}"
mkdir -p "$state/tokens"
chmod 700 "$state/tokens"
ctl="$build/services/wardenctl"
# The bundle's org id (the first `id:` under `org:`).
org="$(sed -n '/^org:/,/^[a-z]/{s/^ *id: *//p}' "$bundle" | head -1)"

if [ "${1:-}" = "--embedded" ]; then
  # Without Postgres, wardend mints an admin token at each start.
  echo "admin token: $state/tokens/admin; make an agent's token with"
  echo "  WARDEN_TOKEN=\$(cat $state/tokens/admin) $ctl --server $listen token create --principal agent/agent_a --role agent"
  exec "$build/services/wardend" --embedded --bundle "$bundle" \
    --listen "$listen" --audit-file "$state/audit.jsonl" \
    --bootstrap-token-file "$state/tokens/admin"
fi

# Redis, with append-only persistence.
mkdir -p "$state/redis"
if ! redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1; then
  redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$state/redis" \
    --appendonly yes --daemonize yes --pidfile "$state/redis.pid" \
    --logfile "$state/redis.log"
  for _ in $(seq 1 50); do
    redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
fi

# PostgreSQL 15, initialized once.
if [ ! -f "$state/pg/PG_VERSION" ]; then
  mkdir -p "$state/pg"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$state/pg"
  as_postgres "$pg_bin/initdb" -D "$state/pg" -U postgres --auth=trust \
    -E UTF8 >/dev/null
fi
mkdir -p "$state/pg-socket"
[ "$(id -u)" -eq 0 ] && chown postgres: "$state/pg-socket"
if ! as_postgres "$pg_bin/pg_ctl" -D "$state/pg" status >/dev/null 2>&1; then
  as_postgres "$pg_bin/pg_ctl" -D "$state/pg" -w -l "$state/pg-socket/pg.log" \
    -o "-p $pg_port -k $state/pg-socket -c listen_addresses=127.0.0.1" start \
    >/dev/null
fi
psql -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -tAc \
  "SELECT 1 FROM pg_database WHERE datname = 'warden'" | grep -q 1 ||
  psql -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -qc \
    "CREATE DATABASE warden"

admin_url="postgresql://postgres@127.0.0.1:$pg_port/warden"
app_url="postgresql://warden_app@127.0.0.1:$pg_port/warden"
"$build/services/wardenctl" migrate --postgres "$admin_url"
[ -f "$state/audit-signing.pem" ] ||
  openssl genpkey -algorithm ed25519 -out "$state/audit-signing.pem"

# Tokens, made once, straight in the database (the bootstrap): an admin
# (also auditor and approver) and agent_a of the example bundle.
mint() {
  local name="$1"; shift
  [ -s "$state/tokens/$name" ] && return
  (umask 077; "$ctl" --org "$org" token create --postgres "$admin_url" "$@" \
    >"$state/tokens/$name.tmp" 2>/dev/null)
  mv "$state/tokens/$name.tmp" "$state/tokens/$name"
}
mint admin --principal user/admin --role admin --role auditor --role approver
mint agent_a --principal agent/agent_a --role agent
echo "tokens in $state/tokens; try:"
echo "  WARDEN_TOKEN=\$(cat $state/tokens/agent_a) $ctl --server $listen authorize --agent agent_a --wallet wallet_1 --asset USDC --amount 999000000"

exec "$build/services/wardend" --redis "redis://127.0.0.1:$redis_port" \
  --postgres "$app_url" --bundle "$bundle" --listen "$listen" \
  --audit-signing-key "$state/audit-signing.pem"
