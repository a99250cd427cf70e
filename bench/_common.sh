# shellcheck shell=bash
# bench/_common.sh — helpers shared by bench/crash_safety.sh and bench/replicas.sh.
# Sourced, not run. Callers define log()/die() before sourcing and call cleanup_common
# from their EXIT trap. Only 127.0.0.1 is ever used.

REPO=${REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
BIN=${POSTPROXY_BIN:-$TARGET_DIR/debug/postproxy}
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}
PG_OS_USER=${PG_OS_USER:-pgtest}

# Every platform gets fake OAuth credentials, so initialize_connection is configured.
export_fake_platforms() {
  local p
  for p in FACEBOOK INSTAGRAM TIKTOK LINKEDIN YOUTUBE TWITTER THREADS; do
    export "POSTPROXY_${p}_CLIENT_ID=x" "POSTPROXY_${p}_CLIENT_SECRET=x"
  done
  export POSTPROXY_RATE_LIMIT_PER_MINUTE=0
  export RUST_LOG=${RUST_LOG:-warn}
}

gen_secret() { python3 -c 'import os,base64;print(base64.b64encode(os.urandom(32)).decode())'; }

# A TCP port on 127.0.0.1 that nothing listens on right now (asked of the kernel).
free_port() {
  python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1]);s.close()'
}

# Builds the debug binary unless SKIP_BUILD=1 (waits for another cargo holding the lock).
ensure_binary() {
  if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    log "cargo build (debug)"
    (cd "$REPO" && timeout 1200 cargo build -q) || die "cargo build failed"
  fi
  [[ -x "$BIN" ]] || die "no binary at $BIN (build it, or set POSTPROXY_BIN)"
}

# ------------------------------------------------------------- PostgreSQL ---
PGDATA=
PGPORT=
PG_RUN=()

pg_ctl() { "${PG_RUN[@]}" "$PG_BIN/pg_ctl" "$@"; }
pg_psql() { "$PG_BIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -v ON_ERROR_STOP=1 -X -q "$@"; }

# Starts a throwaway cluster with default durability (fsync, synchronous_commit on).
pg_start() {
  [[ -x "$PG_BIN/initdb" ]] || die "PostgreSQL server binaries not found (PG_BIN=$PG_BIN)"
  if [[ $(id -u) -eq 0 ]]; then
    id -u "$PG_OS_USER" >/dev/null 2>&1 || useradd -m "$PG_OS_USER"
    PG_RUN=(runuser -u "$PG_OS_USER" --)
  else
    PG_RUN=()
  fi
  PGPORT=$(free_port)
  PGDATA=$(mktemp -d /tmp/postproxy-pgdata.XXXXXX)
  [[ $(id -u) -eq 0 ]] && chown "$PG_OS_USER" "$PGDATA"
  chmod 700 "$PGDATA"
  "${PG_RUN[@]}" "$PG_BIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 --no-locale >"$PGDATA.initdb.log" 2>&1 \
    || { cat "$PGDATA.initdb.log" >&2; die "initdb failed"; }
  pg_start_existing
  log "PostgreSQL $(pg_psql -tAc 'SHOW server_version' | awk '{print $1}') on 127.0.0.1:$PGPORT ($PGDATA, fsync=$(pg_psql -tAc 'SHOW fsync'), synchronous_commit=$(pg_psql -tAc 'SHOW synchronous_commit'))"
}

pg_start_existing() {
  pg_ctl -D "$PGDATA" -l "$PGDATA/server.log" -w -t 60 \
    -o "-k /tmp -p $PGPORT -c listen_addresses=127.0.0.1" start >/dev/null \
    || { tail -n 30 "$PGDATA/server.log" >&2; die "PostgreSQL did not start"; }
}

pg_stop() {
  if [[ -n "$PGDATA" ]]; then
    if [[ -f "$PGDATA/postmaster.pid" ]]; then
      pg_ctl -D "$PGDATA" -m fast -w -t 60 stop >/dev/null 2>&1 || pg_ctl -D "$PGDATA" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$PGDATA" "$PGDATA.initdb.log"
    PGDATA=
  fi
}

# Waits (bounded) until GET /healthz answers 200 on port $1 while process $2 lives.
wait_healthy() {
  local port=$1 pid=$2
  for _ in $(seq 600); do
    kill -0 "$pid" 2>/dev/null || return 1
    if python3 - "$port" <<'EOF' 2>/dev/null; then return 0; fi
import sys, http.client
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=2)
c.request("GET", "/healthz")
sys.exit(0 if c.getresponse().status == 200 else 1)
EOF
    sleep 0.1
  done
  return 1
}
