#!/usr/bin/env bash
# Creates (or reuses) the virtualenv with the official Python SDK and prints its python.
#
# Usage: bash tests/sdk/venv.sh
# Env:
#   SDK_VENV  virtualenv to create/reuse (default target/sdk-venv; relative paths are
#             relative to the repository root)
#
# Prints the absolute path of the venv's python on stdout; every log line goes to stderr.
set -euo pipefail

SDK_VERSION="1.14.0"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

VENV="${SDK_VENV:-target/sdk-venv}"

log() { printf 'sdk-test: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# One setup at a time: several tests may ask for the venv at once.
mkdir -p "$(dirname "$VENV")"
exec 9>"$VENV.lock"
flock 9

if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating virtualenv $VENV"
    python3 -m venv "$VENV" >&2 || die "python3 -m venv $VENV failed"
fi
installed="$("$VENV/bin/python" -c 'import importlib.metadata as m
try:
    print(m.version("postproxy-sdk"))
except m.PackageNotFoundError:
    pass' 2>/dev/null || true)"
if [[ "$installed" != "$SDK_VERSION" ]]; then
    log "installing postproxy-sdk==$SDK_VERSION into $VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "postproxy-sdk==$SDK_VERSION" >&2 || die "pip install postproxy-sdk==$SDK_VERSION failed"
fi

# Absolute, but not symlink-resolved: bin/python must stay inside the venv.
printf '%s/bin/python\n' "$(cd "$VENV" && pwd)"
