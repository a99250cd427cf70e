#!/usr/bin/env bash
# bench/replicas.sh — three replicas on one PostgreSQL database: bootstrap once, stay consistent.
#
# Usage: bash bench/replicas.sh [sqlite|postgres|both]      (default: both)
#   PostgreSQL only: "sqlite" is skipped (SQLite is a single-process backend), "both" runs
#   the PostgreSQL test.
#
# 1. Throwaway PostgreSQL (default durability), one empty database; three `postproxy serve`
#    processes on three ports, same POSTPROXY_SECRET_KEY, started at the same moment on the
#    empty database. Checks: all three become healthy; migrations applied once
#    (_sqlx_migrations = migration files, all successful); exactly one `default` account
#    (and no other); exactly one replica printed an API key on stdout, and that key works.
# 2. bench/replicas.py drives the replicas round-robin with WORKERS concurrent workers for
#    DURATION seconds (at most MAX_OPS ops): creates, deletes (single, concurrent double/
#    triple on distinct replicas, sequential double, delete raced by initialize_connection),
#    initialize_connection calls and list reads; KEY_CYCLES times mid-run: admin create-key,
#    the key works on all three replicas, admin revoke-key, then 401 on all three at once.
# 3. Final consistency: identical lists on every replica == acknowledged creates minus
#    acknowledged deletes (ids, names, no duplicates) == the database; invitations in the
#    database == acknowledged initialize_connection calls on the surviving groups.
# Any 5xx or transport error is a violation. Final line "replicas: PASS|FAIL ..."; exit 1 on
# any violation.
#
# Environment: DURATION=20 WORKERS=12 MAX_OPS=20000 KEY_CYCLES=2 SEED=<int>
#   RACE_DELETE_INIT=0 drops the delete-vs-initialize_connection races (which currently hit a
#   server bug: the insert of the invitation fails its foreign key -> 500)
#   SKIP_BUILD=1 POSTPROXY_BIN=path PG_BIN=dir KEEP_TMP=1
# Only 127.0.0.1 is used; every loop is bounded.

set -euo pipefail

MODE=${1:-both}
case "$MODE" in
  sqlite) echo "replicas: SKIP (PostgreSQL only; nothing to run for sqlite)"; exit 0 ;;
  postgres|both) ;;
  -h|--help) sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
  *) echo "usage: bash bench/replicas.sh [sqlite|postgres|both]" >&2; exit 64 ;;
esac

DURATION=${DURATION:-20}
WORKERS=${WORKERS:-12}
MAX_OPS=${MAX_OPS:-20000}
KEY_CYCLES=${KEY_CYCLES:-2}
RACE_DELETE_INIT=${RACE_DELETE_INIT:-1}
KEEP_TMP=${KEEP_TMP:-0}
REPLICAS=3

log() { printf '[replicas] %s\n' "$*" >&2; }
die() { printf '[replicas] ERROR: %s\n' "$*" >&2; exit 1; }

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/_common.sh
source "$HERE/_common.sh"

TMP=$(mktemp -d /tmp/postproxy-replicas.XXXXXX)
PIDS=()
PORTS=()
stop_replicas() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_replicas
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
VIOLATIONS=()
violation() { VIOLATIONS+=("$*"); log "VIOLATION: $*"; }

pg_start
pg_psql -c 'CREATE DATABASE replicas' >/dev/null
DB=replicas
URL="postgres://postgres@127.0.0.1:$PGPORT/$DB"
export POSTPROXY_SECRET_KEY
POSTPROXY_SECRET_KEY=$(gen_secret)

# ------------------------------------------------------- concurrent start ---
for i in $(seq $REPLICAS); do PORTS+=("$(free_port)"); done
# Each replica polls for the same flag file, so all three start within ~10 ms of each other.
for i in $(seq 0 $((REPLICAS - 1))); do
  port=${PORTS[$i]}
  ( for _ in $(seq 3000); do [[ -e "$TMP/go" ]] && break; sleep 0.01; done
    exec "$BIN" serve --database-url "$URL" --listen "127.0.0.1:$port" --public-url "http://127.0.0.1:$port" \
      >"$TMP/replica$i.stdout" 2>"$TMP/replica$i.stderr" ) &
  PIDS+=("$!")
done
sleep 0.3
touch "$TMP/go"
for i in $(seq 0 $((REPLICAS - 1))); do
  wait_healthy "${PORTS[$i]}" "${PIDS[$i]}" \
    || { tail -n 20 "$TMP/replica$i.stderr" >&2; die "replica $i (port ${PORTS[$i]}) did not become healthy"; }
done
log "replicas healthy on ports ${PORTS[*]}"

PRINTED=$(grep -l 'API key (shown only now' "$TMP"/replica*.stdout 2>/dev/null | wc -l)
[[ "$PRINTED" -eq 1 ]] || violation "$PRINTED replicas printed an API key on stdout (want exactly 1)"
KEY=$(sed -n 's/^API key (shown only now, store it safely): //p' "$TMP"/replica*.stdout | head -n1)
[[ -n "$KEY" ]] || die "no replica printed the default account's API key"
DEFAULT_ACCOUNTS=$(pg_psql -d "$DB" -tAc "SELECT count(*) FROM accounts WHERE name = 'default'")
ALL_ACCOUNTS=$(pg_psql -d "$DB" -tAc "SELECT count(*) FROM accounts")
DEFAULT_GROUPS=$(pg_psql -d "$DB" -tAc "SELECT count(*) FROM profile_groups")
DEFAULT_KEYS=$(pg_psql -d "$DB" -tAc "SELECT count(*) FROM api_keys")
MIGRATIONS=$(pg_psql -d "$DB" -tAc "SELECT count(*) FROM _sqlx_migrations WHERE success")
MIGRATION_FILES=$(ls "$REPO/migrations/postgres"/*.sql | wc -l)
[[ "$DEFAULT_ACCOUNTS" -eq 1 && "$ALL_ACCOUNTS" -eq 1 ]] \
  || violation "accounts after concurrent bootstrap: $DEFAULT_ACCOUNTS named default, $ALL_ACCOUNTS in all (want 1 and 1)"
[[ "$DEFAULT_GROUPS" -eq 1 && "$DEFAULT_KEYS" -eq 1 ]] \
  || violation "after bootstrap: $DEFAULT_GROUPS profile groups, $DEFAULT_KEYS API keys (want 1 and 1)"
[[ "$MIGRATIONS" -eq "$MIGRATION_FILES" ]] \
  || violation "_sqlx_migrations has $MIGRATIONS successful rows, $MIGRATION_FILES migration files"
for i in $(seq 0 $((REPLICAS - 1))); do
  if grep -qiE 'panick|"level":"ERROR"| ERROR ' "$TMP/replica$i.stderr"; then
    violation "replica $i logged errors at startup: $(grep -iE 'panick|error' "$TMP/replica$i.stderr" | head -n3)"
  fi
done
log "bootstrap: $PRINTED replica(s) printed a key; accounts: $DEFAULT_ACCOUNTS default / $ALL_ACCOUNTS total; migrations $MIGRATIONS/$MIGRATION_FILES"

# A second account for the create-key / revoke-key checks (the admin CLI takes the account's
# public id, which only create-account prints).
KEY_ACCOUNT=$("$BIN" admin --database-url "$URL" create-account --name replicas-keycheck \
  | python3 -c 'import json,sys;print(json.load(sys.stdin)["account_id"])') || die "admin create-account failed"

# ------------------------------------------------------------------ load ---
RC=0
python3 "$HERE/replicas.py" --ports "$(IFS=,; echo "${PORTS[*]}")" --key "$KEY" --key-account "$KEY_ACCOUNT" \
  --bin "$BIN" --database-url "$URL" --pg-bin "$PG_BIN" --pg-port "$PGPORT" --pg-db "$DB" \
  --results "$TMP/results.json" --duration "$DURATION" --workers "$WORKERS" --max-ops "$MAX_OPS" \
  --key-cycles "$KEY_CYCLES" --race-delete-init "$RACE_DELETE_INIT" ${SEED:+--seed "$SEED"} || RC=$?
[[ -f "$TMP/results.json" ]] || die "the helper wrote no results (exit $RC)"
for i in $(seq 0 $((REPLICAS - 1))); do
  kill -0 "${PIDS[$i]}" 2>/dev/null || violation "replica $i died during the run"
done

python3 - "$TMP/results.json" "$PRINTED" "$DEFAULT_ACCOUNTS" "$ALL_ACCOUNTS" "$MIGRATIONS/$MIGRATION_FILES" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
printed, default, total, mig = sys.argv[2:6]
rows = [
    ("bootstrap: replicas printing an API key", f"{printed} (want 1)"),
    ("bootstrap: default accounts / all accounts", f"{default} / {total} (want 1 / 1)"),
    ("bootstrap: migrations applied / files", mig),
    ("run time / ops", f"{r['run_s']} s / {r['ops']}"),
    ("creates ok (201)", r["creates_ok"]),
    ("deletes ok (200)", r["deletes_ok"]),
    ("double deletes: concurrent / sequential groups", f"{r['double_delete_groups_concurrent']} / {r['double_delete_groups_sequential']}"),
    ("double deletes: 200 / 404 responses", f"{r['double_delete_200']} / {r['double_delete_404']}"),
    ("delete raced by initialize_connection", f"{r['delete_init_races']} (init 200: {r['race_init_200']}, 404: {r['race_init_404']})"),
    ("initialize_connection ok (200)", r["inits_ok"]),
    ("  of which on groups deleted later", r["inits_on_later_deleted_groups"]),
    ("invitations: expected / in database", f"{r['invitations_expected']} / {r['invitations_in_db']}"),
    ("cross-replica read-backs", r["cross_replica_reads"]),
    ("groups listed / expected", f"{r['groups_final']} / {r['groups_expected']}"),
    ("lists identical on all replicas", r["replicas_identical"]),
    ("key cycles (create, use, revoke)", r["key_cycles"]),
    ("  new key before revoke", r["key_before_revoke"]),
    ("  revoked key right after revoke", f"{r['key_after_revoke']} (first 401 answered {r['revoke_to_first_401_ms']} ms after revoke-key exited)"),
    ("5xx responses / transport errors", f"{r['http_5xx']} / {r['transport_errors']}"),
]
w = max(len(a) for a, _ in rows)
print(f"\n== replicas (PostgreSQL, 3 replicas, seed {r['seed']}, run {r['run']}) ==")
for a, b in rows:
    print(f"{a.ljust(w)}  {b}")
print("statuses:", ", ".join(f"{k}: {v}" for k, v in r["statuses"].items()))
for v in r["violations"]:
    print("VIOLATION:", v)
EOF

for v in "${VIOLATIONS[@]}"; do echo "VIOLATION: $v"; done
ELAPSED=$(( $(date +%s) - START ))
if [[ $RC -eq 0 && ${#VIOLATIONS[@]} -eq 0 ]]; then
  echo "replicas: PASS (postgres, 3 replicas; ${ELAPSED}s)"
else
  echo "replicas: FAIL (postgres; ${ELAPSED}s; logs in $TMP)"
  exit 1
fi
