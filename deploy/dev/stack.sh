# Shared by run.sh and stop.sh: where the local stack lives and how to run
# Postgres commands as the postgres user when we are root (Postgres refuses
# to run as root).
state="${WARDEN_STATE_DIR:-$PWD/.warden}"
redis_port="${WARDEN_REDIS_PORT:-6390}"
pg_port="${WARDEN_PG_PORT:-6391}"
pg_bin=/usr/lib/postgresql/15/bin
as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then
    setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
  else
    "$@"
  fi
}
