#!/usr/bin/env bash
# bench/publishing.sh — scheduled publishing at volume: lateness, throughput, none lost or doubled.
#
# Usage: bash bench/publishing.sh [sqlite|postgres|both]      (default: both)
#
# For each backend: a fresh database, one `postproxy serve` against a fake X and LinkedIn (the
# standard-library fake of tests/fuzz/fixtures.py, which answers every post after LATENCY_MS and
# records when each arrives), PROFILES profiles connected through the real connection flow, then
# POSTS posts spread over them and scheduled evenly over WINDOW seconds (WINDOW=0: all due at
# the same instant) by bench/publishing.py. Prints lateness p50 / p99 / max, publishes per
# second, lost and doubled, CPU per side, and "publishing: PASS|FAIL" (PASS: none lost, none
# doubled, p99 lateness < 1 s; for WINDOW=0, every post out within 60 s of its time).
#
# Environment: POSTS=10000 WINDOW=60 LATENCY_MS=200 PROFILES=100 TIMEOUT=240 CREATE_WORKERS=8
#   LEAD=<seconds, auto> COUNT_SQL=0|1 SKIP_BUILD=1 POSTPROXY_BIN=path PG_BIN=dir
# Measure a release build: cargo build --release && SKIP_BUILD=1 POSTPROXY_BIN=target/release/postproxy
# Only 127.0.0.1 is used; every wait is bounded.
set -euo pipefail

MODE=${1:-both}
case "$MODE" in
  sqlite|postgres|both) ;;
  *) echo "usage: bash bench/publishing.sh [sqlite|postgres|both]" >&2; exit 64 ;;
esac

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log() { printf '[publishing] %s\n' "$*" >&2; }
die() { printf '[publishing] ERROR: %s\n' "$*" >&2; exit 1; }
# shellcheck source=bench/_common.sh
source "$HERE/_common.sh"

WORK=$(mktemp -d /tmp/postproxy-publishing.XXXXXX)
cleanup() {
  trap - EXIT INT TERM
  pg_stop
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ensure_binary
export POSTPROXY_SECRET_KEY
POSTPROXY_SECRET_KEY=$(gen_secret)
rc=0
if [[ "$MODE" == sqlite || "$MODE" == both ]]; then
  log "SQLite"
  SERVER_LOG="$WORK/sqlite.log" python3 "$HERE/publishing.py" "$BIN" "sqlite://$WORK/bench.db" || rc=1
fi
if [[ "$MODE" == postgres || "$MODE" == both ]]; then
  log "PostgreSQL"
  pg_start
  pg_psql -c 'CREATE DATABASE publishing' >/dev/null
  SERVER_LOG="$WORK/postgres.log" python3 "$HERE/publishing.py" "$BIN" \
    "postgres://postgres@127.0.0.1:$PGPORT/publishing" || rc=1
fi
exit "$rc"
