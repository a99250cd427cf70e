#!/usr/bin/env bash
# Validates the OpenAPI document with openapi-spec-validator (from PyPI). The document checked is
# the snapshot that tests/api/openapi.rs proves equal to what the server serves at
# /api/openapi.json.
#
# Usage: bash tests/openapi/validate.sh
# Env: OPENAPI_VENV  virtualenv to create/reuse (default target/openapi-venv)
set -euo pipefail

VERSION="0.7.2"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
VENV="${OPENAPI_VENV:-target/openapi-venv}"
SNAPSHOT="tests/api/snapshots/api__openapi__openapi.snap"

log() { printf 'openapi: %s\n' "$*" >&2; }
if [[ ! -x "$VENV/bin/python" ]]; then
    python3 -m venv "$VENV" >&2
fi
if ! "$VENV/bin/python" -c "import openapi_spec_validator" 2>/dev/null; then
    log "installing openapi-spec-validator==$VERSION into $VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "openapi-spec-validator==$VERSION" >&2
fi
"$VENV/bin/python" - "$SNAPSHOT" <<'PY'
import json, sys
from openapi_spec_validator import validate

text = open(sys.argv[1], encoding="utf-8").read()
# insta's header is a YAML front matter between two `---` lines; the JSON document follows.
doc = json.loads(text[text.index("\n---\n", 3) + 5:] if text.startswith("---") else text)
validate(doc)
paths = doc["paths"]
print(f"openapi: {doc['openapi']} document valid ({len(paths)} paths, "
      f"{sum(len([m for m in p if m in ('get','post','put','patch','delete')]) for p in paths.values())} operations)")
PY
