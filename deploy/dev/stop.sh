#!/usr/bin/env bash
# Stops the local Redis and PostgreSQL that deploy/dev/run.sh started,
# cleanly (Redis writes its AOF, Postgres checkpoints). Data stays in
# .warden/. Stop wardend itself with Ctrl-C (it drains and exits 0).
set -euo pipefail
cd "$(dirname "$0")/../.."
source deploy/dev/stack.sh
if [ -f "$state/pg/PG_VERSION" ] &&
   as_postgres "$pg_bin/pg_ctl" -D "$state/pg" status >/dev/null 2>&1; then
  as_postgres "$pg_bin/pg_ctl" -D "$state/pg" -m fast -w stop >/dev/null
  echo "postgres stopped"
fi
if redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1; then
  redis-cli -h 127.0.0.1 -p "$redis_port" shutdown >/dev/null 2>&1 || true
  echo "redis stopped"
fi
