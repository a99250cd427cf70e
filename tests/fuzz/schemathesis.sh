#!/usr/bin/env bash
# Schema fuzzing: runs schemathesis against the server's own OpenAPI document.
#
# Usage: bash tests/fuzz/schemathesis.sh [DATABASE_URL] [-- EXTRA_SCHEMATHESIS_ARGS...]
#   DATABASE_URL  defaults to $FUZZ_DATABASE_URL, else a fresh temp SQLite file. For
#                 PostgreSQL pass a fresh, empty postgres://... database.
#   Anything after `--` is appended to `schemathesis run` (e.g. `-- --max-failures 1`, or
#   `-- --include-path /api/profiles` to fuzz part of the API).
# Env:
#   FUZZ_VENV          virtualenv to create/reuse (default target/fuzz-venv)
#   POSTPROXY_BIN      server binary (default target/debug/postproxy; `cargo build` when missing)
#   FUZZ_MAX_EXAMPLES  test cases per operation and phase (default 50)
#   FUZZ_SEED          hypothesis seed (default 20240601: the same run every time)
#   FUZZ_TIMEOUT       hard limit in seconds for the schemathesis run (default 300)
#   FUZZ_REPORT_DIR    where the JUnit and NDJSON reports and server.log go
#                      (default target/fuzz-report)
#
# What it does: starts `postproxy serve` on a free loopback port (rate limit off, fake
# credentials for all seven platforms), creates an account with the admin CLI, seeds extra
# profile groups and seven connected profiles through the real connection flow against a fake
# LinkedIn/X provider (tests/fuzz/fixtures.py), and runs every operation of
# /api/openapi.json with the full-access key through all schemathesis phases (examples,
# coverage, fuzzing, stateful) with `--checks all`, one worker and a fixed seed, so a run is
# repeatable (about 20 s on 2 cores at the defaults).
#
# Ids: each path id (and ?profile_group_id) is a seeded id half of the time and a generated
# one otherwise; generated ids get the documented 404, as expected. The DELETE operations get
# their own "victim" ids so that the reads keep finding live resources until the stateful
# phase, which runs last and may delete anything it has seen, the "Default" group included.
# tests/fuzz/hooks.py makes every valid Idempotency-Key unique (see there why).
#
# Prints a "fuzz summary:" line with the number of test cases, exits non-zero on any failure
# (schemathesis' own code; 124 when FUZZ_TIMEOUT is hit), and always stops the server and the
# fake provider. Replay a failure with the curl command schemathesis prints.
set -euo pipefail

SCHEMATHESIS_VERSION="4.32.5"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

VENV="${FUZZ_VENV:-target/fuzz-venv}"
BIN="${POSTPROXY_BIN:-target/debug/postproxy}"
MAX_EXAMPLES="${FUZZ_MAX_EXAMPLES:-50}"
SEED="${FUZZ_SEED:-20240601}"
TIMEOUT="${FUZZ_TIMEOUT:-300}"
REPORT_DIR="${FUZZ_REPORT_DIR:-target/fuzz-report}"

DB_URL="${FUZZ_DATABASE_URL:-}"
if [[ $# -gt 0 && "$1" != "--" ]]; then
    DB_URL="$1"
    shift
fi
if [[ $# -gt 0 && "$1" == "--" ]]; then
    shift
fi
EXTRA_ARGS=("$@")

log() { printf 'fuzz: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/postproxy-fuzz.XXXXXX")"
SERVER_LOG="$WORK/server.log"
SERVER_PID=""
PROVIDER_PID=""

stop() {
    local pid="$1"
    [[ -n "$pid" ]] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    stop "$SERVER_PID"
    stop "$PROVIDER_PID"
    if [[ -s "$SERVER_LOG" && -d "$REPORT_DIR" ]]; then
        cp "$SERVER_LOG" "$REPORT_DIR/server.log" 2>/dev/null || true
    fi
    local errors=""
    if [[ $rc -ne 0 && -s "$SERVER_LOG" ]]; then
        errors="$(grep -E ' (ERROR|WARN) |panicked' "$SERVER_LOG" | tail -n 40 || true)"
    fi
    if [[ -n "$errors" ]]; then
        log "server errors and warnings (last 40; whole log in $REPORT_DIR/server.log):"
        printf '%s\n' "$errors" >&2
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- schemathesis in a virtualenv ---------------------------------------------------------
if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating virtualenv $VENV"
    python3 -m venv "$VENV" >&2 || die "python3 -m venv $VENV failed"
fi
installed="$("$VENV/bin/python" -c 'import importlib.metadata as m
try:
    print(m.version("schemathesis"))
except m.PackageNotFoundError:
    pass' 2>/dev/null || true)"
if [[ "$installed" != "$SCHEMATHESIS_VERSION" ]]; then
    log "installing schemathesis==$SCHEMATHESIS_VERSION into $VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "schemathesis==$SCHEMATHESIS_VERSION" >&2 || die "pip install schemathesis==$SCHEMATHESIS_VERSION failed"
fi
ST="$VENV/bin/schemathesis"

# --- server binary -----------------------------------------------------------------------
if [[ ! -x "$BIN" ]]; then
    log "$BIN missing: running cargo build"
    cargo build >&2
    [[ -x "$BIN" ]] || die "$BIN still missing after cargo build"
fi

# --- database and account ----------------------------------------------------------------
if [[ -z "$DB_URL" ]]; then
    DB_URL="sqlite://$WORK/fuzz.db"
fi
case "$DB_URL" in
    postgres://*|postgresql://*)
        log "database: PostgreSQL"
        # PostgreSQL has no generated key file: use a throwaway one unless the caller set one.
        export POSTPROXY_SECRET_KEY="${POSTPROXY_SECRET_KEY:-$(python3 -c 'import secrets; print(secrets.token_hex(32))')}"
        ;;
    *) log "database: $DB_URL" ;;
esac
export POSTPROXY_DATABASE_URL="$DB_URL"

json_field() {
    python3 -c 'import json, sys
doc = json.loads(sys.stdin.read())
value = doc.get(sys.argv[1])
if not value:
    sys.exit("no %r in %r" % (sys.argv[1], doc))
print(value)' "$1"
}

account="$("$BIN" admin create-account --name "Fuzz" 2>>"$SERVER_LOG")" || die "admin create-account failed"
API_KEY="$(json_field api_key <<<"$account")"
API_KEY_ID="$(json_field api_key_id <<<"$account")"
DEFAULT_GROUP="$(json_field profile_group_id <<<"$account")"

# --- fake provider (LinkedIn and X, so that profiles can be connected) --------------------
python3 "$ROOT/tests/fuzz/fixtures.py" provider "$WORK/provider.port" &
PROVIDER_PID=$!
for _ in $(seq 1 100); do
    [[ -s "$WORK/provider.port" ]] && break
    kill -0 "$PROVIDER_PID" 2>/dev/null || die "fake provider exited"
    sleep 0.1
done
[[ -s "$WORK/provider.port" ]] || die "fake provider did not start"
FAKE="http://127.0.0.1:$(cat "$WORK/provider.port")"

# Every platform is configured so initialize_connection can succeed; the five that are not
# faked point at a closed port (nothing in this run calls them: no consent is completed).
for p in FACEBOOK INSTAGRAM TIKTOK LINKEDIN YOUTUBE TWITTER THREADS; do
    export "POSTPROXY_${p}_CLIENT_ID=fuzz" "POSTPROXY_${p}_CLIENT_SECRET=fuzz"
    export "POSTPROXY_${p}_API_URL=http://127.0.0.1:9" "POSTPROXY_${p}_TOKEN_URL=http://127.0.0.1:9/token"
done
export POSTPROXY_LINKEDIN_AUTHORIZE_URL="$FAKE/linkedin/authorize"
export POSTPROXY_LINKEDIN_TOKEN_URL="$FAKE/linkedin/oauth/v2/accessToken"
export POSTPROXY_LINKEDIN_API_URL="$FAKE/linkedin/api"
export POSTPROXY_TWITTER_AUTHORIZE_URL="$FAKE/x/authorize"
export POSTPROXY_TWITTER_TOKEN_URL="$FAKE/x/token"
export POSTPROXY_TWITTER_API_URL="$FAKE/x/api"
# Bluesky and Telegram connect within initialize_connection, so the fuzzer's bodies reach them:
# the fake refuses every one (a 422 naming the refusal), and nothing leaves the machine.
export POSTPROXY_BLUESKY_SERVICE_URL="$FAKE/bluesky" POSTPROXY_BLUESKY_PLC_URL="$FAKE/plc"
export POSTPROXY_TELEGRAM_API_URL="$FAKE/telegram"
export POSTPROXY_RATE_LIMIT_PER_MINUTE=0

# --- server ------------------------------------------------------------------------------
PORT="$(python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"
"$BIN" serve --listen "127.0.0.1:$PORT" --public-url "$BASE" >>"$SERVER_LOG" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 300); do
    if curl -fsS -o /dev/null "$BASE/healthz" 2>/dev/null; then
        break
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || die "server exited during startup"
    sleep 0.1
done
curl -fsS -o /dev/null "$BASE/healthz" || die "server did not become healthy on $BASE"
log "server on $BASE (pid $SERVER_PID), log $SERVER_LOG"

# --- test data ---------------------------------------------------------------------------
CONFIG="$WORK/schemathesis.toml"
cat >"$CONFIG" <<EOF
hooks = '$ROOT/tests/fuzz/hooks.py'

# No crash cache: every run is the same run, and nothing is written into the work tree.
[cache]
enabled = false

# The full-access key, through the document's own security scheme (so checks that drop the
# credentials, like ignored_auth and missing_required_header, really drop them).
[auth.openapi.bearer]
bearer = "\${FUZZ_API_KEY}"

EOF
python3 "$ROOT/tests/fuzz/fixtures.py" seed "$BASE" "$API_KEY" "$DEFAULT_GROUP" "$WORK/ids.toml" >&2 \
    || die "seeding test data failed"
cat "$WORK/ids.toml" >>"$CONFIG"

# --- schemathesis ------------------------------------------------------------------------
mkdir -p "$REPORT_DIR"
OUT="$WORK/schemathesis.out"
log "schemathesis $SCHEMATHESIS_VERSION: every operation, --checks all, $MAX_EXAMPLES examples, seed $SEED, ${TIMEOUT}s limit"
start=$SECONDS
set +e
FUZZ_API_KEY="$API_KEY" FUZZ_API_KEY_ID="$API_KEY_ID" PYTHONDONTWRITEBYTECODE=1 timeout --kill-after=10 "$TIMEOUT" \
    "$ST" --config-file "$CONFIG" run "$BASE/api/openapi.json" \
    --checks all \
    --phases examples,coverage,fuzzing,stateful \
    --max-examples "$MAX_EXAMPLES" \
    --seed "$SEED" \
    --generation-database none \
    --workers 1 \
    --request-timeout 10 \
    --continue-on-failure \
    --no-color \
    --report junit,ndjson --report-dir "$REPORT_DIR" \
    "${EXTRA_ARGS[@]}" 2>&1 | tee "$OUT"
rc=${PIPESTATUS[0]}
set -e
elapsed=$((SECONDS - start))

cases="$(grep -Eo '^ *[0-9]+ generated' "$OUT" | grep -Eo '[0-9]+' | tail -n 1 || true)"
if [[ $rc -eq 124 || $rc -eq 137 ]]; then
    log "FAILED: schemathesis did not finish within ${TIMEOUT}s"
elif ! kill -0 "$SERVER_PID" 2>/dev/null; then
    log "FAILED: the server died during the run"
    rc=1
fi
if [[ -z "$cases" ]]; then
    log "FAILED: no test-case count in the schemathesis output"
    [[ $rc -ne 0 ]] || rc=1
fi
status="passed"
[[ $rc -eq 0 ]] || status="FAILED (exit $rc)"
echo "fuzz summary: ${cases:-?} test cases in ${elapsed}s, schemathesis $SCHEMATHESIS_VERSION, seed $SEED: $status; reports in $REPORT_DIR"
exit "$rc"
