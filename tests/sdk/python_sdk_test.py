#!/usr/bin/env python3
"""Compatibility test: the official Python SDK (postproxy-sdk==1.14.0) against
a running postproxy server, Profile Groups API.

Environment:
  POSTPROXY_BASE_URL         e.g. http://127.0.0.1:8080 (no /api suffix)
  POSTPROXY_API_KEY          full-access key of a fresh account
  POSTPROXY_SCOPED_KEY       key of the same account scoped to one group
  POSTPROXY_SCOPED_GROUP_ID  the group that key is scoped to
  POSTPROXY_REVOKED_KEY      (optional) a key revoked with `admin revoke-key`;
                             the revoked-key check fails when it is missing

Facts about the SDK this relies on (read from its source):
  * `postproxy.PostProxy(api_key, *, base_url=..., profile_group_id=None,
    httpx_client=None)`; every method is async; it is an async context manager.
  * requests go to f"{base_url}/api{path}" with `Authorization: Bearer <key>`,
    and `profile_group_id` (client default) is put in every query string.
  * 401 -> AuthenticationError, 403 -> ForbiddenError, 404 -> NotFoundError,
    409 -> ConflictError, 422 -> ValidationError, 400 -> BadRequestError,
    429 -> RateLimitError, other -> PostProxyError (the base class). The
    message is body["error"] (or body["message"]); `.status_code`, `.response`.
  * profile_groups.get/create validate the bare body as ProfileGroup
    {id: str, name: str, profiles_count: int}; list validates {"data": [...]};
    delete validates {"deleted": bool}; initialize_connection validates
    {"url": str, "success": bool}. `platform` is not checked client-side.

Prints `N passed, M failed` last and exits non-zero when anything failed.
"""
from __future__ import annotations

import asyncio
import os
import sys
import uuid

import postproxy
from sdkcheck import Checks, Prerequisite, env, expect_error
from postproxy import (
    AuthenticationError,
    NotFoundError,
    PostProxy,
    PostProxyError,
    ValidationError,
)


BASE_URL = env("POSTPROXY_BASE_URL").rstrip("/")
API_KEY = env("POSTPROXY_API_KEY")
SCOPED_KEY = env("POSTPROXY_SCOPED_KEY")
SCOPED_GROUP_ID = env("POSTPROXY_SCOPED_GROUP_ID")
REVOKED_KEY = os.environ.get("POSTPROXY_REVOKED_KEY", "")
REDIRECT_URL = "https://client.example/oauth/callback"


async def main() -> int:
    checks = Checks()
    check, need, state = checks.check, checks.need, checks.state

    print(f"postproxy-sdk {postproxy.VERSION} against {BASE_URL}")
    group_name = f"SDK group {uuid.uuid4().hex[:8]}"

    async with PostProxy(API_KEY, base_url=BASE_URL) as client, \
            PostProxy(SCOPED_KEY, base_url=BASE_URL) as scoped, \
            PostProxy("pp_this_key_does_not_exist", base_url=BASE_URL) as bad, \
            PostProxy(API_KEY, base_url=BASE_URL, profile_group_id=SCOPED_GROUP_ID) as defaulted:

        # --- full-access key -------------------------------------------------
        async def list_initial():
            res = await client.profile_groups.list()
            assert isinstance(res, postproxy.ListResponse), f"list returned {type(res).__name__}"
            ids = [g.id for g in res.data]
            assert SCOPED_GROUP_ID in ids, (
                f"list with the full key should include group {SCOPED_GROUP_ID}, got {ids}"
            )
            first = next(g for g in res.data if g.id == SCOPED_GROUP_ID)
            assert first.name == "Default", f"the account's first group should be 'Default', got {first.name!r}"
            assert first.profiles_count == 0, f"profiles_count of a new group: expected 0, got {first.profiles_count}"
            state["initial_ids"] = ids

        async def create():
            g = await client.profile_groups.create(group_name)
            assert isinstance(g, postproxy.ProfileGroup), f"create returned {type(g).__name__}"
            assert isinstance(g.id, str) and g.id, f"created group id should be a non-empty string, got {g.id!r}"
            assert g.name == group_name, f"created group name: expected {group_name!r}, got {g.name!r}"
            assert g.profiles_count == 0, f"created group profiles_count: expected 0, got {g.profiles_count}"
            assert g.id != SCOPED_GROUP_ID, "created group reused an existing id"
            state["group"] = g

        async def list_after_create():
            g = need("group")
            res = await client.profile_groups.list()
            by_id = {x.id: x for x in res.data}
            assert g.id in by_id, f"list should include the created group {g.id}, got {list(by_id)}"
            assert by_id[g.id].name == group_name, f"listed name {by_id[g.id].name!r} != {group_name!r}"
            assert len(res.data) == len(need("initial_ids")) + 1, (
                f"list should have grown by exactly one, got {len(res.data)} groups"
            )

        async def get():
            g = need("group")
            got = await client.profile_groups.get(g.id)
            assert isinstance(got, postproxy.ProfileGroup), f"get returned {type(got).__name__}"
            assert (got.id, got.name, got.profiles_count) == (g.id, g.name, 0), (
                f"get returned {got!r}, expected the created group {g!r}"
            )

        async def initialize_connection():
            g = need("group")
            res = await client.profile_groups.initialize_connection(
                g.id, "twitter", redirect_url=REDIRECT_URL
            )
            assert isinstance(res, postproxy.OAuthConnectionResponse), f"got {type(res).__name__}"
            prefix = f"{BASE_URL}/partner_connect/"
            assert res.url.startswith(prefix), f"url should start with {prefix!r}, got {res.url!r}"
            assert len(res.url) > len(prefix), f"url has no token after {prefix!r}: {res.url!r}"
            assert res.success is True, f"success: expected True, got {res.success!r}"

        async def initialize_connection_unsupported_platform():
            g = need("group")
            async with expect_error(
                ValidationError,
                422,
                'Unsupported platform: "myspace" is not a platform '
                "(available: facebook, instagram, tiktok, linkedin, youtube, twitter, threads, telegram, bluesky)",
            ):
                await client.profile_groups.initialize_connection(
                    g.id, "myspace", redirect_url=REDIRECT_URL  # type: ignore[arg-type]
                )

        async def initialize_connection_missing_redirect():
            g = need("group")
            async with expect_error(ValidationError, 422, "Missing redirect_url"):
                await client.profile_groups.initialize_connection(g.id, "linkedin")

        async def initialize_connection_unknown_group():
            async with expect_error(NotFoundError, 404, "Not found"):
                await client.profile_groups.initialize_connection(
                    "no_such_group", "twitter", redirect_url=REDIRECT_URL
                )

        async def create_blank_name():
            async with expect_error(ValidationError, 422, "Name can't be blank") as e:
                await client.profile_groups.create("")
            errors = e.error.response.get("errors")
            assert isinstance(errors, list) and errors, (
                f"422 body should carry a non-empty 'errors' list, got {e.error.response!r}"
            )

        async def get_unknown():
            async with expect_error(NotFoundError, 404, "Not found"):
                await client.profile_groups.get("no_such_group")

        # --- scoped key ------------------------------------------------------
        async def scoped_list():
            res = await scoped.profile_groups.list()
            ids = [g.id for g in res.data]
            assert ids == [SCOPED_GROUP_ID], (
                f"list with a key scoped to {SCOPED_GROUP_ID} should return just that group, got {ids}"
            )

        async def scoped_get_own():
            got = await scoped.profile_groups.get(SCOPED_GROUP_ID)
            assert got.id == SCOPED_GROUP_ID, f"get returned {got!r}"

        async def scoped_get_other():
            g = need("group")
            async with expect_error(NotFoundError, 404, "Not found"):
                await scoped.profile_groups.get(g.id)

        async def scoped_initialize_connection():
            res = await scoped.profile_groups.initialize_connection(
                SCOPED_GROUP_ID, "instagram", redirect_url=REDIRECT_URL
            )
            prefix = f"{BASE_URL}/partner_connect/"
            assert res.url.startswith(prefix) and res.success is True, (
                f"expected url under {prefix!r} and success True, got {res!r}"
            )

        async def scoped_create_forbidden():
            async with expect_error(ValidationError, 422, "Your API key has no such permission"):
                await scoped.profile_groups.create("Not allowed")
            res = await client.profile_groups.list()
            names = [g.name for g in res.data]
            assert "Not allowed" not in names, f"the refused group was created anyway: {names}"

        # --- client default profile_group_id (sent in every query string) ----
        async def default_profile_group_id():
            got = await defaulted.profile_groups.get(SCOPED_GROUP_ID)
            assert got.id == SCOPED_GROUP_ID, f"get with ?profile_group_id returned {got!r}"
            res = await defaulted.profile_groups.list()
            ids = [g.id for g in res.data]
            assert SCOPED_GROUP_ID in ids, (
                f"list with ?profile_group_id={SCOPED_GROUP_ID} should still include it, got {ids}"
            )
            conn = await defaulted.profile_groups.initialize_connection(
                SCOPED_GROUP_ID, "youtube", redirect_url=REDIRECT_URL
            )
            assert conn.success is True, f"initialize_connection with ?profile_group_id returned {conn!r}"

        # --- bad key ---------------------------------------------------------
        async def bad_key_list():
            async with expect_error(AuthenticationError, 401, "Invalid API key"):
                await bad.profile_groups.list()

        async def bad_key_create():
            async with expect_error(AuthenticationError, 401, "Invalid API key"):
                await bad.profile_groups.create("Nope")

        async def tampered_key():
            async with PostProxy(API_KEY[:-1] + ("x" if API_KEY[-1] != "x" else "y"),
                                 base_url=BASE_URL) as tampered:
                async with expect_error(AuthenticationError, 401, "Invalid API key"):
                    await tampered.profile_groups.list()

        async def revoked_key():
            if not REVOKED_KEY:
                raise Prerequisite("POSTPROXY_REVOKED_KEY (a revoked key) in the environment")
            async with PostProxy(REVOKED_KEY, base_url=BASE_URL) as revoked:
                async with expect_error(AuthenticationError, 401, "Invalid API key"):
                    await revoked.profile_groups.list()

        # --- delete ----------------------------------------------------------
        async def delete():
            g = need("group")
            res = await client.profile_groups.delete(g.id)
            assert isinstance(res, postproxy.DeleteResponse), f"delete returned {type(res).__name__}"
            assert res.deleted is True, f"deleted: expected True, got {res.deleted!r}"
            state["deleted"] = True

        async def get_after_delete():
            g = need("group")
            need("deleted")
            async with expect_error(NotFoundError, 404, "Not found"):
                await client.profile_groups.get(g.id)
            res = await client.profile_groups.list()
            ids = [x.id for x in res.data]
            assert g.id not in ids, f"deleted group {g.id} still listed: {ids}"

        async def delete_again():
            g = need("group")
            need("deleted")
            async with expect_error(NotFoundError, 404, "Not found"):
                await client.profile_groups.delete(g.id)

        async def api_keys_round_trip():
            created = await client.api_keys.create("SDK made", SCOPED_GROUP_ID)
            assert isinstance(created, postproxy.ApiKey), type(created).__name__
            assert created.token and created.token.startswith("pp_"), created
            assert created.profile_group_id == SCOPED_GROUP_ID, created
            listed = await client.api_keys.list()
            assert created.id in {k.id for k in listed.data}, listed
            assert all(k.token is None for k in listed.data), "a list shows no secrets"
            async with PostProxy(created.token, base_url=BASE_URL) as made:
                groups = await made.profile_groups.list()
                assert [x.id for x in groups.data] == [SCOPED_GROUP_ID], groups
                deleted = await client.api_keys.delete(created.id)
                assert deleted.deleted is True, deleted
                async with expect_error(AuthenticationError, 401, "Invalid API key"):
                    await made.profile_groups.list()

        async def post_stats_not_available():
            with_stats = getattr(client.posts, "stats", None)
            if with_stats is None:
                raise Prerequisite("posts.stats in this SDK version")
            try:
                await with_stats(["abc"])
            except PostProxyError as e:
                assert e.status_code == 501, e.status_code
                assert str(e).startswith("Post stats: not available on this server yet"), str(e)
            else:
                raise AssertionError("posts.stats succeeded on a server without stats")

        for name, fn in [
            ("list (full key) includes the Default group", list_initial),
            ("create returns a ProfileGroup", create),
            ("list includes the created group", list_after_create),
            ("get returns the created group", get),
            ("initialize_connection returns a partner_connect url", initialize_connection),
            ("initialize_connection unsupported platform -> ValidationError 422", initialize_connection_unsupported_platform),
            ("initialize_connection without redirect_url -> ValidationError 422", initialize_connection_missing_redirect),
            ("initialize_connection on an unknown group -> NotFoundError 404", initialize_connection_unknown_group),
            ("create with a blank name -> ValidationError 422", create_blank_name),
            ("get an unknown id -> NotFoundError 404", get_unknown),
            ("scoped key: list returns just its group", scoped_list),
            ("scoped key: get its own group", scoped_get_own),
            ("scoped key: get another group -> NotFoundError 404", scoped_get_other),
            ("scoped key: initialize_connection on its group", scoped_initialize_connection),
            ("scoped key: create -> ValidationError 422", scoped_create_forbidden),
            ("client default profile_group_id is accepted", default_profile_group_id),
            ("bad key: list -> AuthenticationError 401", bad_key_list),
            ("bad key: create -> AuthenticationError 401", bad_key_create),
            ("tampered full key -> AuthenticationError 401", tampered_key),
            ("revoked key -> AuthenticationError 401", revoked_key),
            ("delete returns deleted true", delete),
            ("get after delete -> NotFoundError 404", get_after_delete),
            ("delete again -> NotFoundError 404", delete_again),
            ("api_keys: create a scoped key, list, use, delete -> refused at once", api_keys_round_trip),
            ("posts.stats -> 501 that names the feature", post_stats_not_available),
        ]:
            await check(name, fn)

    return checks.summary()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
