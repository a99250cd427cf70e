#!/usr/bin/env bash
# Python SDK compatibility test for the Profile Groups API.
#
# Usage: bash tests/sdk/run.sh [DATABASE_URL]
#   DATABASE_URL  defaults to $SDK_DATABASE_URL, else a fresh temp SQLite file.
#                 For PostgreSQL pass a fresh postgres://... URL.
# Env:
#   SDK_VENV       virtualenv to create/reuse (default target/sdk-venv)
#   POSTPROXY_BIN  server binary (default target/debug/postproxy; built with
#                  `cargo build` when missing)
#
# Creates an account, a scoped key and a revoked key with the admin CLI, starts `serve` on a
# free loopback port, runs tests/sdk/python_sdk_test.py against it with the
# official postproxy-sdk, and always stops the server on exit.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

VENV="${SDK_VENV:-target/sdk-venv}"
BIN="${POSTPROXY_BIN:-target/debug/postproxy}"

log() { printf 'sdk-test: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/postproxy-sdk.XXXXXX")"
SERVER_LOG="$WORK/server.log"
SERVER_PID=""

cleanup() {
    local rc=$?
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ $rc -ne 0 && -s "$SERVER_LOG" ]]; then
        log "server log (last 60 lines of $SERVER_LOG):"
        tail -n 60 "$SERVER_LOG" >&2 || true
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- Python SDK in a virtualenv ------------------------------------------------
PYTHON="$(bash "$ROOT/tests/sdk/venv.sh")" || die "could not set up the SDK virtualenv $VENV"

# --- server binary ---------------------------------------------------------------
if [[ ! -x "$BIN" ]]; then
    log "$BIN missing: running cargo build"
    cargo build
    [[ -x "$BIN" ]] || die "$BIN still missing after cargo build"
fi

# --- database, account and keys --------------------------------------------------
DB_URL="${1:-${SDK_DATABASE_URL:-}}"
if [[ -z "$DB_URL" ]]; then
    DB_URL="sqlite://$WORK/sdk.db"
fi
case "$DB_URL" in
    postgres://*|postgresql://*) log "database: PostgreSQL" ;;
    *) log "database: $DB_URL" ;;
esac

# json_field FIELD < JSON  — print one field of a JSON object on stdin.
json_field() {
    python3 -c 'import json, sys
raw = sys.stdin.read()
try:
    doc = json.loads(raw)
except ValueError:
    sys.exit("not JSON: %r" % raw)
value = doc.get(sys.argv[1]) if isinstance(doc, dict) else None
if value is None or value == "":
    sys.exit("no %r in %r" % (sys.argv[1], doc))
print(value)' "$1"
}

account_json="$("$BIN" admin create-account --name "SDK test" --database-url "$DB_URL")" \
    || die "admin create-account failed"
ACCOUNT_ID="$(json_field account_id <<<"$account_json")"
GROUP_ID="$(json_field profile_group_id <<<"$account_json")"
API_KEY="$(json_field api_key <<<"$account_json")"
json_field api_key_id <<<"$account_json" >/dev/null

scoped_json="$("$BIN" admin create-key --account "$ACCOUNT_ID" --profile-group "$GROUP_ID" \
    --name "SDK scoped" --database-url "$DB_URL")" || die "admin create-key failed"
SCOPED_KEY="$(json_field token <<<"$scoped_json")"
scoped_group="$(json_field profile_group_id <<<"$scoped_json")"
[[ "$scoped_group" == "$GROUP_ID" ]] \
    || die "create-key --profile-group $GROUP_ID returned profile_group_id $scoped_group"
revoked_json="$("$BIN" admin create-key --account "$ACCOUNT_ID" --name "SDK revoked" \
    --database-url "$DB_URL")" || die "admin create-key (unscoped) failed"
REVOKED_KEY="$(json_field token <<<"$revoked_json")"
REVOKED_KEY_ID="$(json_field id <<<"$revoked_json")"
"$BIN" admin revoke-key "$REVOKED_KEY_ID" --database-url "$DB_URL" >/dev/null \
    || die "admin revoke-key $REVOKED_KEY_ID failed"
log "account $ACCOUNT_ID, default group $GROUP_ID"

# --- server --------------------------------------------------------------------
PORT="$(python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()')"
BASE_URL="http://127.0.0.1:$PORT"

# initialize_connection only offers platforms with OAuth client credentials. It never calls the
# platform, so a platform the caller has not configured gets throwaway credentials and
# unreachable platform URLs (127.0.0.1:9), for the server process only.
platform_env=()
for p in FACEBOOK INSTAGRAM TIKTOK LINKEDIN YOUTUBE TWITTER THREADS; do
    id_var="POSTPROXY_${p}_CLIENT_ID"
    [[ -n "${!id_var:-}" ]] && continue
    platform_env+=("POSTPROXY_${p}_CLIENT_ID=sdk-test" "POSTPROXY_${p}_CLIENT_SECRET=sdk-test")
    for u in AUTHORIZE_URL TOKEN_URL API_URL; do
        platform_env+=("POSTPROXY_${p}_${u}=http://127.0.0.1:9/unreachable")
    done
done

# PostgreSQL needs an explicit token-encryption key; a throwaway one suits a test database.
POSTPROXY_SECRET_KEY="${POSTPROXY_SECRET_KEY:-$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')}" \
RUST_LOG="${RUST_LOG:-debug}" env ${platform_env[@]+"${platform_env[@]}"} "$BIN" serve --listen "127.0.0.1:$PORT" --database-url "$DB_URL" --public-url "$BASE_URL" \
    >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!
log "server pid $SERVER_PID on $BASE_URL (log $SERVER_LOG)"

deadline=$((SECONDS + 30))
until curl -fsS -o /dev/null --max-time 2 "$BASE_URL/healthz" 2>/dev/null; do
    kill -0 "$SERVER_PID" 2>/dev/null || die "server exited before /healthz answered"
    (( SECONDS < deadline )) || die "no 200 from $BASE_URL/healthz within 30 s"
    sleep 0.2
done
log "server is up"

# --- the test ------------------------------------------------------------------
POSTPROXY_BASE_URL="$BASE_URL" \
POSTPROXY_API_KEY="$API_KEY" \
POSTPROXY_SCOPED_KEY="$SCOPED_KEY" \
POSTPROXY_SCOPED_GROUP_ID="$GROUP_ID" \
POSTPROXY_REVOKED_KEY="$REVOKED_KEY" \
    "$PYTHON" tests/sdk/python_sdk_test.py

# The server logged at debug level throughout: no API key may appear in its log.
for secret in "$API_KEY" "$SCOPED_KEY" "$REVOKED_KEY"; do
    if grep -qF -- "$secret" "$SERVER_LOG"; then
        die "an API key appears in the server log"
    fi
done
log "server log ($(wc -l <"$SERVER_LOG") lines at debug level) contains no API key"
