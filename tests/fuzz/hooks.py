"""Schemathesis hooks for tests/fuzz/schemathesis.sh (loaded through the config's `hooks`).

Idempotency-Key: the fuzzer draws header values from a small space, so the same key keeps
coming back with different requests, and the server then rightly answers 422 "This
Idempotency-Key was already used with a different request" (or replays an earlier answer),
which schemathesis reports as a valid request being rejected. Every *valid* key is therefore
made unique per request; invalid ones (empty, too long, non-ASCII) are left as generated so
their 400 is still exercised. The replay semantics are tested in tests/api, not here.

The run's own API key: `DELETE /api/api_keys/{id}` is a real revocation, and a fuzzer that
revokes the key it runs with sees nothing but 401 afterwards. That one id is swapped for another.

Request bodies: the document also describes form-encoded and multipart bodies, with
Rails-style bracketed names (`profile_group[name]`, `post[body]`). Schemathesis encodes nested
objects its own way (`profile_group=name`), which no client sends, so the fuzzer is given the
JSON bodies only; the form and multipart paths are tested in tests/api (clients.rs, media.rs,
posts.rs).
"""

import itertools
import os

import schemathesis

_counter = itertools.count()
_run = os.urandom(4).hex()


def _valid(value):
    if not isinstance(value, str):
        return False
    try:
        value.encode("ascii")
    except UnicodeEncodeError:
        return False
    key = value.strip()
    return 0 < len(key) <= 255 and all(" " <= c <= "~" or c == "\t" for c in key)


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    params = case.path_parameters or {}
    if (
        case.method.upper() == "DELETE"
        and case.operation.path == "/api/api_keys/{id}"
        and _OWN_KEY_ID
        and params.get("id") == _OWN_KEY_ID
    ):
        params["id"] = "zzzzzzzzz"
    headers = case.headers or {}
    for name in list(headers):
        if name.lower() == "idempotency-key" and _valid(headers[name]):
            suffix = "-%s-%d" % (_run, next(_counter))
            headers[name] = headers[name].strip()[: 255 - len(suffix)] + suffix


_OWN_KEY_ID = os.environ.get("FUZZ_API_KEY_ID", "")


@schemathesis.hook
def before_load_schema(ctx, raw_schema):
    for item in raw_schema.get("paths", {}).values():
        for op in item.values():
            content = op.get("requestBody", {}).get("content") if isinstance(op, dict) else None
            if content and "application/json" in content:
                for media_type in [m for m in content if m != "application/json"]:
                    del content[media_type]
