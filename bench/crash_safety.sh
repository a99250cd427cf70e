#!/usr/bin/env bash
# bench/crash_safety.sh — does every acknowledged write survive a kill -9?
#
# Usage: bash bench/crash_safety.sh [sqlite|postgres|both]      (default: both)
#
# Per backend, on a fresh database: ROUNDS times (default 3)
#   1. start `postproxy serve`, fire a burst of concurrent creates (THREADS=32 threads,
#      unique names crash-<run>-r<round>-t<thread>-<n>), recording every 201 (id + name);
#   2. kill -9 the server at a random moment 0.5–2 s into the burst (MIN_DELAY/MAX_DELAY);
#      on PostgreSQL, in the rounds listed in PG_CRASH_ROUNDS (default "2"), PostgreSQL is
#      crashed as well (pg_ctl stop -m immediate: WAL replay on restart);
#   3. restart on the same database and check through GET /api/profile_groups that every
#      group acknowledged so far (all rounds) exists with exactly its id and name;
#      "unacked-present" groups (requests in flight at the kill that committed) are fine;
#      then one more create must succeed;
#   4. stop the server and check the database: SQLite `PRAGMA integrity_check` (+
#      foreign_key_check) with Python's sqlite3; PostgreSQL `pg_amcheck --heapallindexed
#      --rootdescend` over every relation (extension amcheck is created).
# Prints a table per backend and a final line "crash_safety: PASS|FAIL ..."; exits 1 on any
# violation: a lost or renamed acknowledged group, duplicates, a group never requested,
# a create failing before the kill, a failed restart or integrity check.
#
# PostgreSQL runs as a throwaway cluster with default durability (fsync and
# synchronous_commit on), as user pgtest when run as root. SQLite runs in WAL mode with
# synchronous=NORMAL (the server's setting): durable across a process crash, which is what
# kill -9 tests (not a power cut).
#
# Environment: ROUNDS=3 THREADS=32 MIN_DELAY=0.5 MAX_DELAY=2.0 SEED=<int> PG_CRASH_ROUNDS=2
#   SKIP_BUILD=1 (do not run cargo build) POSTPROXY_BIN=path PG_BIN=dir KEEP_TMP=1
# Only 127.0.0.1 is used; every loop is bounded.

set -euo pipefail

MODE=${1:-both}
case "$MODE" in
  sqlite) BACKENDS=(sqlite) ;;
  postgres) BACKENDS=(postgres) ;;
  both) BACKENDS=(sqlite postgres) ;;
  -h|--help) sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
  *) echo "usage: bash bench/crash_safety.sh [sqlite|postgres|both]" >&2; exit 64 ;;
esac

ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-32}
MIN_DELAY=${MIN_DELAY:-0.5}
MAX_DELAY=${MAX_DELAY:-2.0}
PG_CRASH_ROUNDS=${PG_CRASH_ROUNDS:-2}
KEEP_TMP=${KEEP_TMP:-0}

log() { printf '[crash] %s\n' "$*" >&2; }
die() { printf '[crash] ERROR: %s\n' "$*" >&2; exit 1; }

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/_common.sh
source "$HERE/_common.sh"

TMP=$(mktemp -d /tmp/postproxy-crash.XXXXXX)
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # Servers are children of the Python helper, which stops them; kill any left over by pid.
  local f pid
  for f in "$TMP"/*/pids; do
    [[ -f "$f" ]] || continue
    while read -r pid; do kill -KILL "$pid" 2>/dev/null || true; done <"$f"
  done
  pg_stop
  if [[ "$KEEP_TMP" == 1 || $rc -ne 0 ]]; then log "logs kept in $TMP"; else rm -rf "$TMP"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ensure_binary
export_fake_platforms
START=$(date +%s)
FAIL=0
SUMMARY=()

run_backend() {
  local backend=$1
  local dir="$TMP/$backend" url extra=() key
  mkdir -p "$dir"
  if [[ $backend == sqlite ]]; then
    unset POSTPROXY_SECRET_KEY
    url="sqlite://$dir/crash.db"
    extra=(--sqlite-file "$dir/crash.db")
  else
    pg_start
    pg_psql -c 'CREATE DATABASE crash' >/dev/null
    export POSTPROXY_SECRET_KEY
    POSTPROXY_SECRET_KEY=$(gen_secret)
    url="postgres://postgres@127.0.0.1:$PGPORT/crash"
    extra=(--pg-bin "$PG_BIN" --pg-port "$PGPORT" --pg-data "$PGDATA" --pg-db crash
           --pg-os-user "$PG_OS_USER" --pg-crash --pg-crash-rounds "$PG_CRASH_ROUNDS")
  fi
  key=$("$BIN" admin --database-url "$url" create-account --name crash-test \
        | python3 -c 'import json,sys;print(json.load(sys.stdin)["api_key"])') \
    || die "admin create-account failed on $backend"
  local rc=0
  python3 "$HERE/crash_safety.py" --backend "$backend" --bin "$BIN" --database-url "$url" --key "$key" \
    --workdir "$dir" --results "$dir/results.json" --rounds "$ROUNDS" --threads "$THREADS" \
    --min-delay "$MIN_DELAY" --max-delay "$MAX_DELAY" ${SEED:+--seed "$SEED"} "${extra[@]}" || rc=$?
  [[ -f "$dir/results.json" ]] || die "$backend: the helper wrote no results (exit $rc); see $dir"
  python3 - "$backend" "$dir/results.json" <<'EOF'
import json, sys
backend, path = sys.argv[1], sys.argv[2]
r = json.load(open(path))
print(f"\n== {backend} (seed {r['seed']}, run {r['run']}) ==")
hdr = ("round", "kill@s", "db crash", "attempted", "acked", "in-flight", "acked total", "present", "lost",
       "unacked+present", "integrity")
rows = [(x["round"], x["kill_at_s"],
         ("yes, WAL replayed" if x.get("pg_recovered") else "yes, NO RECOVERY SEEN") if x["pg_crashed"] else "-", x["attempted"], x["acked_round"],
         x["in_flight"], x["acked_total"], x["present"], x["lost"], x["unacked_present"], x["integrity"])
        for x in r["rows"]]
w = [max(len(str(c)) for c in col) for col in zip(hdr, *rows)]
for line in [hdr] + rows:
    print("  ".join(str(c).rjust(w[i]) if i < len(w) - 1 else str(c) for i, c in enumerate(line)))
for v in r["violations"]:
    print("VIOLATION:", v)
EOF
  if [[ $rc -ne 0 ]]; then FAIL=1; SUMMARY+=("$backend FAIL"); else SUMMARY+=("$backend ok"); fi
  if [[ $backend == postgres ]]; then pg_stop; fi
}

for b in "${BACKENDS[@]}"; do run_backend "$b"; done

ELAPSED=$(( $(date +%s) - START ))
if [[ $FAIL -eq 0 ]]; then
  echo "crash_safety: PASS (${SUMMARY[*]}; ${ROUNDS} rounds each; ${ELAPSED}s)"
else
  echo "crash_safety: FAIL (${SUMMARY[*]}; ${ELAPSED}s; logs in $TMP)"
  exit 1
fi
