#!/usr/bin/env bash
# bench/run.sh — throughput/latency benchmark for postproxy.
#
# What it measures
#   For each database backend (SQLite, PostgreSQL) it starts ONE release-build
#   postproxy server on 127.0.0.1, creates an account plus 10 new profile
#   groups (so the list returns 11: the account's Default group + 10), and
#   loads two endpoints of that same server with wrk, one after the other:
#     * GET /healthz               (no auth, no database: the HTTP floor)
#     * GET /api/profile_groups    (Authorization: Bearer <key>: API-key
#                                   lookup + list query + JSON encoding)
#   It prints requests/s, p50 and p99 latency (from wrk --latency), the CPU
#   used by wrk / the server / PostgreSQL / everything else ("other") during
#   each run, and the ratio list req/s ÷ healthz req/s. Target (2-core
#   machine): ratio >= 0.5 and list p99 < 10 ms. When "other" exceeds 0.2
#   cores (a compiler, a test suite...) it warns that the figures are
#   disturbed: run it on an otherwise idle machine.
#
#   Every request must answer 2xx: if wrk reports any "Non-2xx or 3xx
#   responses" or socket errors, or the server dies, the script fails loudly
#   (exit 1) and prints the wrk output and the server log tail.
#
# Usage
#   bash bench/run.sh                      # both backends, 3 x 10 s per endpoint
#   bash bench/run.sh --markdown           # also print a markdown table
#   DURATION=30s BACKENDS=sqlite bash bench/run.sh
#
# Environment (all optional)
#   DURATION=10s          wrk duration per endpoint (wrk syntax: 10s, 1m)
#   WARMUP=3s             wrk warm-up per endpoint, results discarded
#   CONNECTIONS=64        wrk connections
#   THREADS=2             wrk threads
#   RUNS=3                measured runs per endpoint (alternating healthz and
#                         list); the run with the median req/s is reported
#   BACKENDS="sqlite postgres"
#   GROUP_COUNT=10        profile groups created before the load
#   SKIP_BUILD=1          do not run `cargo build --release`
#   POSTPROXY_BIN=path    binary to run (default target/release/postproxy)
#   POSTGRES_URL=url      use this existing PostgreSQL instead of starting a
#                         throwaway cluster (its data is left in place)
#   PG_BIN=dir            PostgreSQL binaries (default: newest
#                         /usr/lib/postgresql/*/bin)
#   BENCH_OUT=file        write the markdown table to this file
#   ENFORCE_TARGET=1      exit 2 when a backend misses the target
#   KEEP_TMP=1            keep the temporary directory (logs, wrk output)
#
# Needs: curl, wrk (installed with apt-get when missing and running as root),
# cargo (unless SKIP_BUILD=1), PostgreSQL server binaries for "postgres".
# Only 127.0.0.1 is ever loaded; every run is bounded by DURATION.
# The throwaway PostgreSQL cluster runs with default settings (fsync and
# synchronous_commit on); when run as root it runs as user "pgtest" (created
# when missing) because PostgreSQL refuses to run as root.

set -euo pipefail

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
RUNS=${RUNS:-3}
BACKENDS=${BACKENDS:-sqlite postgres}
GROUP_COUNT=${GROUP_COUNT:-10}
SKIP_BUILD=${SKIP_BUILD:-0}
BENCH_OUT=${BENCH_OUT:-}
ENFORCE_TARGET=${ENFORCE_TARGET:-0}
KEEP_TMP=${KEEP_TMP:-0}
POSTGRES_URL=${POSTGRES_URL:-}

MARKDOWN=0
for arg in "$@"; do
  case "$arg" in
    --markdown) MARKDOWN=1 ;;
    -h|--help) sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument: $arg (see --help)" >&2; exit 64 ;;
  esac
done

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
BIN=${POSTPROXY_BIN:-$TARGET_DIR/release/postproxy}
CLK_TCK=$(getconf CLK_TCK)

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- cleanup ---
TMP=$(mktemp -d /tmp/postproxy-bench.XXXXXX)
SERVER_PID=
PGDATA=
PG_RUN=()
PG_CTL=

stop_server() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=
}

stop_postgres() {
  if [[ -n "$PGDATA" ]]; then
    if [[ -f "$PGDATA/postmaster.pid" ]]; then
      "${PG_RUN[@]}" "$PG_CTL" -D "$PGDATA" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$PGDATA"
    PGDATA=
  fi
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_server
  stop_postgres
  if [[ "$KEEP_TMP" == 1 || $rc -ne 0 ]]; then
    log "logs and wrk output kept in $TMP"
  else
    rm -rf "$TMP"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ----------------------------------------------------------- prerequisites ---
command -v curl >/dev/null || die "curl is required"
if ! command -v wrk >/dev/null; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    log "installing wrk with apt-get"
    apt-get install -y -qq wrk >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null && apt-get install -y -qq wrk >/dev/null; } \
      || die "could not install wrk"
  else
    die "wrk is required (apt-get install wrk)"
  fi
fi

if [[ "$SKIP_BUILD" != 1 ]]; then
  log "cargo build --release"
  (cd "$REPO" && cargo build --release) || die "release build failed"
fi
[[ -x "$BIN" ]] || die "no binary at $BIN (build it, or set POSTPROXY_BIN)"

# ----------------------------------------------------------------- helpers ---

# A TCP port on 127.0.0.1 that nothing listens on right now, taken below the
# kernel's ephemeral range so that wrk's and curl's client sockets cannot hold it.
free_port() {
  local p lo hi eph_lo=32768 eph_hi=60999
  read -r eph_lo eph_hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  if (( eph_lo > 12000 )); then lo=10000; hi=$((eph_lo - 1)); else lo=$((eph_hi + 1)); hi=65535; fi
  (( hi - lo >= 100 )) || { lo=20000; hi=30000; }
  for _ in $(seq 200); do
    p=$((lo + RANDOM % (hi - lo)))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"; return 0
    fi
  done
  die "no free port found"
}

# CPU ticks (user+system) of a process; with "tree", also its live children
# and its reaped children (cutime+cstime), which covers PostgreSQL backends.
cpu_ticks() {
  local pid=$1 mode=${2:-} total=0 f c
  f=$(cut -d')' -f2- "/proc/$pid/stat" 2>/dev/null) || { echo 0; return; }
  # after "pid (comm)": field 3 is index 1 here; utime=14 stime=15 cutime=16 cstime=17
  read -r -a s <<<"$f"
  total=$(( s[11] + s[12] ))
  if [[ "$mode" == tree ]]; then
    total=$(( total + s[13] + s[14] ))
    for c in $(pgrep -P "$pid" || true); do
      f=$(cut -d')' -f2- "/proc/$c/stat" 2>/dev/null) || continue
      read -r -a s <<<"$f"
      total=$(( total + s[11] + s[12] ))
    done
  fi
  echo "$total"
}

# Busy CPU ticks of the whole machine (user+nice+system+irq+softirq+steal).
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }

POSTMASTER_PID=

# Runs wrk; writes "<rps> <p50_ms> <p99_ms> <requests> <wrk_cpu> <server_cpu> <pg_cpu> <other_cpu>"
# (CPU in cores, i.e. CPU-seconds / wall-seconds; other = rest of the machine) to stdout.
# Fails on errors.
run_wrk() {
  local name=$1 url=$2 duration=$3; shift 3
  local out="$TMP/wrk-$name.txt" timing="$TMP/wrk-$name.time"
  local s0 p0 s1 p1 t0 t1 m0 m1
  s0=$(cpu_ticks "$SERVER_PID"); p0=-
  [[ -n "$POSTMASTER_PID" ]] && p0=$(cpu_ticks "$POSTMASTER_PID" tree)
  m0=$(busy_ticks)
  t0=$(date +%s.%N)
  local TIMEFORMAT='%U %S'
  { time wrk --latency -t "$THREADS" -c "$CONNECTIONS" -d "$duration" "$@" "$url" >"$out" 2>&1 ; } 2>"$timing" \
    || { cat "$out" >&2; die "wrk failed for $name"; }
  t1=$(date +%s.%N)
  m1=$(busy_ticks)
  s1=$(cpu_ticks "$SERVER_PID"); p1=-
  [[ -n "$POSTMASTER_PID" ]] && p1=$(cpu_ticks "$POSTMASTER_PID" tree)

  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$out" >&2; server_log_tail; die "server died during $name"; }

  local parsed
  parsed=$(parse_wrk "$out") || { cat "$out" >&2; die "could not parse wrk output for $name"; }
  local rps p50 p99 reqs non2xx sockerr
  read -r rps p50 p99 reqs non2xx sockerr <<<"$parsed"
  if [[ "$non2xx" != 0 || "$sockerr" != 0 ]]; then
    cat "$out" >&2
    server_log_tail
    die "$name: $non2xx non-2xx/3xx responses, $sockerr socket errors (see above)"
  fi
  awk -v rps="$rps" -v p50="$p50" -v p99="$p99" -v reqs="$reqs" \
      -v t0="$t0" -v t1="$t1" -v tk="$CLK_TCK" -v s0="$s0" -v s1="$s1" \
      -v p0="$p0" -v p1="$p1" -v m0="$m0" -v m1="$m1" -v wt="$(cat "$timing")" 'BEGIN {
        wall = t1 - t0; split(wt, w, " ")
        cw = (w[1] + w[2]) / wall; cs = (s1 - s0) / tk / wall
        cp = (p0 == "-") ? 0 : (p1 - p0) / tk / wall
        pg = (p0 == "-") ? "-" : sprintf("%.2f", cp)
        other = (m1 - m0) / tk / wall - cw - cs - cp; if (other < 0) other = 0
        printf "%s %s %s %s %.2f %.2f %s %.2f\n", rps, p50, p99, reqs, cw, cs, pg, other }'
}

# wrk --latency output -> "<req/s> <p50 ms> <p99 ms> <requests> <non-2xx> <socket errors>"
parse_wrk() {
  awk '
    function ms(v) {
      if (v ~ /us$/) { sub(/us$/, "", v); return v / 1000 }
      if (v ~ /ms$/) { sub(/ms$/, "", v); return v + 0 }
      if (v ~ /m$/)  { sub(/m$/,  "", v); return v * 60000 }
      if (v ~ /s$/)  { sub(/s$/,  "", v); return v * 1000 }
      if (v ~ /h$/)  { sub(/h$/,  "", v); return v * 3600000 }
      return -1
    }
    /^[ \t]*50%[ \t]/          { p50 = ms($2) }
    /^[ \t]*99%[ \t]/          { p99 = ms($2) }
    /requests in /             { reqs = $1 }
    /^Requests\/sec:/          { rps = $2 }
    /Non-2xx or 3xx responses:/ { non2xx = $NF }
    /Socket errors:/ {
      # Socket errors: connect 0, read 0, write 0, timeout 0
      line = $0; gsub(/[^0-9 ]/, " ", line); n = split(line, a, " ")
      for (i = 1; i <= n; i++) sockerr += a[i]
    }
    END {
      if (rps == "" || p50 == "" || p99 == "" || p50 < 0 || p99 < 0) exit 1
      printf "%s %.3f %.3f %s %d %d\n", rps, p50, p99, reqs, non2xx, sockerr
    }' "$1"
}

# The line (of run_wrk output) with the median req/s (the lower one of two middles).
median() {
  printf '%s\n' "$@" | sort -g -k1,1 | awk '{ l[NR] = $0 } END { print l[int((NR + 1) / 2)] }'
}

server_log_tail() {
  [[ -n "${SERVER_LOG:-}" && -f "$SERVER_LOG" ]] || return 0
  echo "----- last 40 lines of $SERVER_LOG -----" >&2
  tail -n 40 "$SERVER_LOG" >&2
  echo "-----" >&2
}

# HTTP status of a request; body in $TMP/body.
http() {
  curl -sS -o "$TMP/body" -w '%{http_code}' --max-time 10 "$@"
}

start_postgres() {
  if [[ -n "$POSTGRES_URL" ]]; then
    DB_URL=$POSTGRES_URL
    log "postgres: using POSTGRES_URL (CPU of the database is not measured)"
    return
  fi
  local pgbin=${PG_BIN:-}
  if [[ -z "$pgbin" ]]; then
    pgbin=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
  fi
  [[ -x "$pgbin/initdb" && -x "$pgbin/pg_ctl" ]] || die "PostgreSQL binaries not found (set PG_BIN or POSTGRES_URL)"
  PG_CTL=$pgbin/pg_ctl
  local owner
  if [[ $(id -u) -eq 0 ]]; then
    id -u pgtest >/dev/null 2>&1 || useradd -m pgtest
    PG_RUN=(runuser -u pgtest --); owner=pgtest
  else
    PG_RUN=(env); owner=$(id -un)
  fi
  PGDATA=$(mktemp -d /tmp/postproxy-bench-pg.XXXXXX)
  chown "$owner" "$PGDATA"; chmod 700 "$PGDATA"
  local port; port=$(free_port)
  "${PG_RUN[@]}" "$pgbin/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 --no-locale >"$TMP/initdb.log" 2>&1 \
    || { cat "$TMP/initdb.log" >&2; die "initdb failed"; }
  "${PG_RUN[@]}" "$PG_CTL" -D "$PGDATA" -l "$PGDATA/server.log" -w \
    -o "-k $PGDATA -p $port -c listen_addresses=127.0.0.1" start >/dev/null \
    || { cat "$PGDATA/server.log" >&2; die "PostgreSQL did not start"; }
  POSTMASTER_PID=$(head -n 1 "$PGDATA/postmaster.pid")
  DB_URL="postgres://postgres@127.0.0.1:$port/postgres"
  log "postgres: throwaway cluster $("$pgbin/postgres" --version | sed 's/^postgres (PostgreSQL) //') on 127.0.0.1:$port (default settings, fsync on)"
}

# ---------------------------------------------------------------- one run ---
RESULTS=()   # "backend endpoint rps p50 p99 reqs wrk_cpu server_cpu pg_cpu"
RATIOS=()    # "backend ratio verdict"
MISSED=0

bench_backend() {
  local backend=$1
  POSTMASTER_PID=
  case "$backend" in
    sqlite)   DB_URL="sqlite://$TMP/bench.db" ;;
    postgres) start_postgres ;;
    *) die "unknown backend: $backend (sqlite|postgres)" ;;
  esac

  log "$backend: creating account"
  local acct key
  acct=$(RUST_LOG=warn "$BIN" admin create-account --name bench --database-url "$DB_URL" 2>"$TMP/admin-$backend.log") \
    || { cat "$TMP/admin-$backend.log" >&2; die "$backend: admin create-account failed"; }
  key=$(sed -n 's/.*"api_key"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' <<<"$acct")
  [[ -n "$key" ]] || die "$backend: no api_key in create-account output: $acct"

  local port; port=$(free_port)
  SERVER_LOG=$TMP/server-$backend.log
  RUST_LOG=warn POSTPROXY_RATE_LIMIT_PER_MINUTE=0 POSTPROXY_SECRET_KEY="${POSTPROXY_SECRET_KEY:-MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=}" "$BIN" serve --listen "127.0.0.1:$port" --database-url "$DB_URL" >"$SERVER_LOG" 2>&1 &
  SERVER_PID=$!
  local base="http://127.0.0.1:$port" up=0
  for _ in $(seq 300); do
    kill -0 "$SERVER_PID" 2>/dev/null || { server_log_tail; die "$backend: server exited at start"; }
    if [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$base/healthz" || true) == 200 ]]; then up=1; break; fi
    sleep 0.1
  done
  [[ $up == 1 ]] || { server_log_tail; die "$backend: /healthz not 200 within 30 s"; }
  log "$backend: server pid $SERVER_PID on $base"

  local auth="Authorization: Bearer $key" i code
  for i in $(seq "$GROUP_COUNT"); do
    code=$(http -X POST -H "$auth" -H 'Content-Type: application/json' \
      -d "{\"profile_group\":{\"name\":\"bench-group-$i\"}}" "$base/api/profile_groups")
    [[ "$code" == 201 ]] || die "$backend: POST /api/profile_groups -> $code: $(head -c 500 "$TMP/body")"
  done
  code=$(http -H "$auth" "$base/api/profile_groups")
  [[ "$code" == 200 ]] || die "$backend: GET /api/profile_groups -> $code: $(head -c 500 "$TMP/body")"
  local n='?'
  if command -v jq >/dev/null; then
    n=$(jq '.data | length' "$TMP/body") || die "$backend: list body is not {\"data\":[...]}: $(head -c 500 "$TMP/body")"
    (( n >= GROUP_COUNT )) || die "$backend: list returned $n groups, expected >= $GROUP_COUNT"
  fi
  local bytes; bytes=$(wc -c <"$TMP/body")
  log "$backend: list returns $n groups ($bytes bytes)"

  log "$backend: warm-up ($WARMUP per endpoint)"
  run_wrk "$backend-warmup-healthz" "$base/healthz" "$WARMUP" >/dev/null
  run_wrk "$backend-warmup-list" "$base/api/profile_groups" "$WARMUP" -H "$auth" >/dev/null

  # Alternate the endpoints, so that drift on the machine hits both alike; keep
  # for each endpoint the run with the median req/s.
  local h l r hs=() ls=()
  for r in $(seq "$RUNS"); do
    log "$backend: run $r/$RUNS: GET /healthz, then GET /api/profile_groups, $DURATION each"
    hs+=("$(run_wrk "$backend-healthz-$r" "$base/healthz" "$DURATION")")
    ls+=("$(run_wrk "$backend-list-$r" "$base/api/profile_groups" "$DURATION" -H "$auth")")
  done
  h=$(median "${hs[@]}"); l=$(median "${ls[@]}")
  log "$backend: req/s per run: healthz $(printf '%s\n' "${hs[@]}" | awk '{printf "%.0f ", $1}')" \
      "| list $(printf '%s\n' "${ls[@]}" | awk '{printf "%.0f ", $1}')"
  RESULTS+=("$backend /healthz $h" "$backend /api/profile_groups $l")

  local verdict ratio
  read -r ratio verdict < <(awk -v h="$h" -v l="$l" 'BEGIN {
    split(h, H, " "); split(l, L, " "); r = L[1] / H[1]
    printf "%.2f %s\n", r, (r >= 0.5 && L[3] < 10) ? "PASS" : "MISS" }')
  RATIOS+=("$backend $ratio $verdict")
  [[ "$verdict" == PASS ]] || MISSED=1

  stop_server
  if [[ "$backend" == postgres ]]; then stop_postgres; fi
}

for b in $BACKENDS; do bench_backend "$b"; done

# ----------------------------------------------------------------- report ---
CPU_MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
echo
echo "postproxy benchmark: $(nproc) CPUs ($CPU_MODEL); wrk -t$THREADS -c$CONNECTIONS -d$DURATION, median of $RUNS runs"
printf '%-9s %-24s %10s %9s %9s %10s %8s %8s %8s %8s\n' \
  backend endpoint 'req/s' 'p50 ms' 'p99 ms' requests 'wrk cpu' 'srv cpu' 'pg cpu' 'other'
NOISY=0
for r in "${RESULTS[@]}"; do
  # shellcheck disable=SC2086
  printf '%-9s %-24s %10.0f %9.2f %9.2f %10s %8s %8s %8s %8s\n' $r
  # shellcheck disable=SC2086
  if awk -v o="$(set -- $r; echo "${10}")" 'BEGIN { exit !(o > 0.2) }'; then NOISY=1; fi
done
echo
for r in "${RATIOS[@]}"; do
  read -r b ratio verdict <<<"$r"
  echo "$b: list/healthz req/s ratio = $ratio  (target >= 0.5 and list p99 < 10 ms: $verdict)"
done
echo "(cpu columns: cores busy on average during the run; pg = postmaster + backends;"
echo " other = everything else on the machine)"
if [[ "$NOISY" == 1 ]]; then
  echo "WARNING: other processes used > 0.2 cores during a run: the figures are disturbed."
fi

markdown() {
  echo "| Backend | Endpoint | Requests/s | p50 (ms) | p99 (ms) | List / healthz | CPU wrk / server / PostgreSQL / other (cores) |"
  echo "|---|---|--:|--:|--:|--:|---|"
  local r b e rps p50 p99 reqs cw cs cp other ratio
  for r in "${RESULTS[@]}"; do
    read -r b e rps p50 p99 reqs cw cs cp other <<<"$r"
    ratio=""
    if [[ "$e" == /api/profile_groups ]]; then
      ratio=$(printf '%s\n' "${RATIOS[@]}" | awk -v b="$b" '$1 == b {print $2}')
    fi
    # shellcheck disable=SC2016 # backticks are markdown
    printf '| %s | `GET %s` | %.0f | %.2f | %.2f | %s | %s / %s / %s / %s |\n' "$b" "$e" "$rps" "$p50" "$p99" "$ratio" "$cw" "$cs" "$cp" "$other"
  done
}
if [[ "$MARKDOWN" == 1 ]]; then echo; markdown; fi
if [[ -n "$BENCH_OUT" ]]; then markdown >"$BENCH_OUT"; log "markdown table written to $BENCH_OUT"; fi

if [[ "$ENFORCE_TARGET" == 1 && "$MISSED" == 1 ]]; then
  log "target missed"; exit 2
fi
