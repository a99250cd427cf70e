"""Shared plumbing of the SDK compatibility scripts: environment, expected-error assertions, and a
tiny check runner that prints one line per check and `N passed, M failed` last."""
from __future__ import annotations

import asyncio
import os
import sys
import traceback

from postproxy import PostProxyError


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        print(f"missing environment variable {name}", file=sys.stderr)
        sys.exit(2)
    return value


class Prerequisite(Exception):
    """A check could not run because an earlier one failed."""


def expect_error(exc_type: type[PostProxyError], status: int, message: str | None = None):
    """Async context manager asserting the SDK raised `exc_type` with `status`."""

    class _Expect:
        async def __aenter__(self):
            return self

        async def __aexit__(self, et, ev, tb):
            if ev is None:
                raise AssertionError(
                    f"expected {exc_type.__name__} (HTTP {status}), but the call succeeded"
                )
            if not isinstance(ev, exc_type):
                if isinstance(ev, PostProxyError):
                    raise AssertionError(
                        f"expected {exc_type.__name__} (HTTP {status}), got "
                        f"{type(ev).__name__} HTTP {ev.status_code}: {ev} body={ev.response!r}"
                    ) from ev
                return False  # not an SDK error: propagate as-is
            assert ev.status_code == status, (
                f"{exc_type.__name__}.status_code: expected {status}, got {ev.status_code}"
            )
            if message is not None:
                assert str(ev) == message, (
                    f"error message: expected {message!r}, got {str(ev)!r} (body {ev.response!r})"
                )
                assert isinstance(ev.response, dict) and ev.response.get("error") == message, (
                    f"error body: expected {{'error': {message!r}, ...}}, got {ev.response!r}"
                )
            self.error = ev
            return True  # swallow the expected error

    return _Expect()


class Checks:
    """Runs named async checks, remembering values later checks need."""

    def __init__(self) -> None:
        self.passed: list[str] = []
        self.failed: list[str] = []
        self.state: dict[str, object] = {}

    async def check(self, name: str, fn) -> None:
        try:
            await fn()
        except Prerequisite as e:
            self.failed.append(name)
            print(f"FAIL {name}: not run, needs {e}")
        except AssertionError as e:
            self.failed.append(name)
            print(f"FAIL {name}: {e}")
        except Exception as e:  # unexpected SDK/HTTP/pydantic error
            self.failed.append(name)
            extra = ""
            if isinstance(e, PostProxyError):
                extra = f" (HTTP {e.status_code}, body {e.response!r})"
            print(f"FAIL {name}: unexpected {type(e).__name__}: {e}{extra}")
            traceback.print_exc(limit=3)
        else:
            self.passed.append(name)
            print(f"ok   {name}")

    def need(self, key: str):
        if key not in self.state:
            raise Prerequisite(f"'{key}' from an earlier check")
        return self.state[key]

    def summary(self) -> int:
        if self.failed:
            print("failed checks:")
            for name in self.failed:
                print(f"  - {name}")
        print(f"{len(self.passed)} passed, {len(self.failed)} failed")
        return 1 if self.failed else 0


async def until_processed(client, post_id: str, timeout: float = 20.0):
    """Polls a post until it is `processed` (the job worker publishes in the background)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        p = await client.posts.get(post_id)
        if p.status == "processed":
            return p
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"post {post_id} still {p.status} after {timeout} s: {p}")
        await asyncio.sleep(0.2)
