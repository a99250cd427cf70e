#!/usr/bin/env bash
# Installs (or reuses) the official Node SDK from the npm registry and prints the path of its
# ES module entry point on stdout; every log line goes to stderr.
#
# Usage: bash tests/sdk/node.sh
# Env:
#   SDK_NODE_DIR  where to install (default target/sdk-node; relative to the repository root)
set -euo pipefail

SDK_VERSION="1.6.1"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
DIR="${SDK_NODE_DIR:-target/sdk-node}"

log() { printf 'sdk-test: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

command -v node >/dev/null || die "node is not installed"
command -v npm >/dev/null || die "npm is not installed"
mkdir -p "$DIR"
exec 9>"$DIR.lock"
flock 9

PKG="$DIR/node_modules/postproxy-sdk/package.json"
installed="$(node -e 'try { console.log(require(process.argv[1]).version) } catch (e) {}' "$ROOT/$PKG" 2>/dev/null || true)"
if [[ "$installed" != "$SDK_VERSION" ]]; then
    log "installing postproxy-sdk@$SDK_VERSION into $DIR"
    [[ -f "$DIR/package.json" ]] || printf '{"name":"postproxy-sdk-check","private":true}\n' >"$DIR/package.json"
    npm install --prefix "$DIR" --no-audit --no-fund --silent "postproxy-sdk@$SDK_VERSION" >&2 \
        || die "npm install postproxy-sdk@$SDK_VERSION failed"
fi
entry="$ROOT/$DIR/node_modules/postproxy-sdk/dist/index.js"
[[ -f "$entry" ]] || die "$entry missing after npm install"
echo "$entry"
