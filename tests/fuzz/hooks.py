"""Schemathesis hooks for tests/fuzz/schemathesis.sh (loaded through the config's `hooks`).

Idempotency-Key: the fuzzer draws header values from a small space, so the same key keeps
coming back with different requests, and the server then rightly answers 422 "This
Idempotency-Key was already used with a different request" (or replays an earlier answer),
which schemathesis reports as a valid request being rejected. Every *valid* key is therefore
made unique per request; invalid ones (empty, too long, non-ASCII) are left as generated so
their 400 is still exercised. The replay semantics are tested in tests/api, not here.
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
    headers = case.headers or {}
    for name in list(headers):
        if name.lower() == "idempotency-key" and _valid(headers[name]):
            suffix = "-%s-%d" % (_run, next(_counter))
            headers[name] = headers[name].strip()[: 255 - len(suffix)] + suffix
