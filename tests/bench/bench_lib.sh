# Shared by run_bench.sh and capacity.sh (sourced): a temp dir, servers on
# loopback that are all stopped on exit (even on failure), and helpers.
# Expects $build (the build dir) and $here (tests/bench) to be set.
tmp="$(mktemp -d /tmp/warden-bench-XXXXXX)"
chmod 755 "$tmp"
pids=()
# pg_bin and as_postgres (run as the postgres user when root).
source "$here/../../deploy/dev/stack.sh"
bench_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$tmp/pg/PG_VERSION" ] &&
    as_postgres "$pg_bin/pg_ctl" -D "$tmp/pg" -m immediate stop >/dev/null 2>&1
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap bench_cleanup EXIT

wardend="$build/services/wardend"
wardenctl="$build/services/wardenctl"
loadgen="$build/tests/bench/warden_loadgen"

# serve NAME CMD...: starts CMD with stdout to a file, waits for its
# "listening on" line and sets $NAME to the address and ${NAME}_pid to its
# pid. (Not called in a subshell, so that its pid reaches the cleanup.)
serve() {
  local var="$1" log="$tmp/$1.log"
  shift
  "$@" >"$log" 2>>"$tmp/stderr.log" &
  pids+=($!)
  printf -v "${var}_pid" '%s' "$!"
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

# start_redis NAME [ARGS...]: a redis-server on a free port below the
# ephemeral range (32768+, where the tests' own servers and clients get
# their ports, so the two never collide), without persistence; sets
# ${NAME}_port and ${NAME}_pid.
start_redis() {
  local var="$1" log="$tmp/$1.redis.log" p rpid
  shift
  for _ in $(seq 1 20); do
    p=$(( (RANDOM % 12000) + 20000 ))
    redis-server --port "$p" --bind 127.0.0.1 --save "" --appendonly no \
      --dir "$tmp" "$@" >"$log" 2>&1 &
    rpid=$!
    for _ in $(seq 1 50); do
      grep -q "Ready to accept" "$log" && break
      kill -0 "$rpid" 2>/dev/null || break
      sleep 0.1
    done
    if grep -q "Ready to accept" "$log"; then
      pids+=("$rpid")
      printf -v "${var}_port" '%s' "$p"
      printf -v "${var}_pid" '%s' "$rpid"
      return
    fi
  done
  echo "redis-server did not start" >&2
  exit 1
}

# start_postgres PORT: a Postgres in $tmp/pg with a migrated database
# `warden`; sets pg_url (the owner's) and pg_app_url (warden_app's).
start_postgres() {
  local port="$1"
  mkdir -p "$tmp/pg" && [ "$(id -u)" -eq 0 ] && chown postgres: "$tmp" "$tmp/pg"
  as_postgres "$pg_bin/initdb" -D "$tmp/pg" -U postgres --auth=trust \
    --no-sync >/dev/null
  as_postgres "$pg_bin/pg_ctl" -D "$tmp/pg" -w -l "$tmp/pg/log" \
    -o "-p $port -k $tmp -c listen_addresses=127.0.0.1" start >/dev/null
  psql -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE warden"
  pg_url="postgresql://postgres@127.0.0.1:$port/warden"
  pg_app_url="postgresql://warden_app@127.0.0.1:$port/warden"
  "$wardenctl" migrate --postgres "$pg_url" >/dev/null
}

# cpu_ticks PID...: user + system clock ticks those processes used.
cpu_ticks() {
  local total=0 t
  for p in "$@"; do
    # Fields counted from the ')' closing the command name (it may hold
    # spaces): utime and stime are the 12th and 13th after it.
    t=$(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')
    total=$(( total + t ))
  done
  echo "$total"
}
