#!/usr/bin/env python3
"""Compatibility test: the official Python SDK (postproxy-sdk==1.14.0) against
a running postproxy server, Profiles API.

Run by tests/api/sdk.rs (`python_sdk_profiles`), which connects the profiles
through the OAuth flow against its fake provider first.

Environment:
  POSTPROXY_BASE_URL             e.g. http://127.0.0.1:8080 (no /api suffix)
  POSTPROXY_API_KEY              full-access key of a fresh account
  POSTPROXY_GROUP_ID             the account's default group, holding exactly
                                 the two profiles below
  POSTPROXY_FACEBOOK_PROFILE_ID  a connected Facebook profile (with 2 Pages)
  POSTPROXY_TWITTER_PROFILE_ID   a connected X profile (no placements); deleted
  POSTPROXY_OTHER_GROUP_ID       a second group, holding exactly ...
  POSTPROXY_TIKTOK_PROFILE_ID    ... this connected TikTok profile

Facts about the SDK this relies on (read from its source):
  * `client.profiles.list(*, profile_group_id=None)` -> ListResponse[Profile]
    (validates {"data": [...]}); `get(id, *, profile_group_id=None)` -> Profile;
    `placements(id, *, profile_group_id=None)` -> ListResponse[Placement];
    `delete(id, *, profile_group_id=None, idempotency_key=None)` ->
    SuccessResponse {success: bool}.
  * the per-call `profile_group_id` wins over the client default
    (`PostProxy(..., profile_group_id=...)`); either goes in the query string.
  * Profile requires id: str, name: str, status: Literal[active, expired,
    inactive], platform: Literal[facebook, instagram, tiktok, linkedin, youtube,
    twitter, threads, ...], profile_group_id: str, post_count: int; optional
    username, platform_id, avatar_url, platform_url, placements_sync_status:
    str | None, inactive_reason, expires_at: datetime | None. Extra keys are
    ignored (pydantic default).
  * Placement requires id: str, name: str; optional avatar_url: str | None,
    metadata: dict | None.
  * 404 -> NotFoundError (message body["error"], `.status_code`, `.response`).

Prints `N passed, M failed` last and exits non-zero when anything failed.
"""
from __future__ import annotations

import asyncio
import sys
import typing
from datetime import datetime

import postproxy
from sdkcheck import Checks, env, expect_error
from postproxy import NotFoundError, PostProxy


BASE_URL = env("POSTPROXY_BASE_URL").rstrip("/")
API_KEY = env("POSTPROXY_API_KEY")
GROUP_ID = env("POSTPROXY_GROUP_ID")
FACEBOOK_ID = env("POSTPROXY_FACEBOOK_PROFILE_ID")
TWITTER_ID = env("POSTPROXY_TWITTER_PROFILE_ID")
OTHER_GROUP_ID = env("POSTPROXY_OTHER_GROUP_ID")
TIKTOK_ID = env("POSTPROXY_TIKTOK_PROFILE_ID")

# Every value the SDK's `Platform` / `ProfileStatus` literals accept.
SDK_PLATFORMS = set(typing.get_args(postproxy.Platform))
SDK_STATUSES = set(typing.get_args(postproxy.ProfileStatus))


def check_profile(p, *, id: str, platform: str, group: str, expires: str) -> None:
    """Every field of a Profile model as validated by the SDK.

    `expires` is "datetime" (the platform's token expires) or "none" (no fixed expiry).
    """
    assert isinstance(p, postproxy.Profile), f"expected a Profile, got {type(p).__name__}"
    assert p.id == id, f"id: expected {id!r}, got {p.id!r}"
    assert isinstance(p.name, str) and p.name, f"name should be a non-empty string, got {p.name!r}"
    assert p.platform == platform, f"platform: expected {platform!r}, got {p.platform!r}"
    assert p.platform in SDK_PLATFORMS, f"platform {p.platform!r} is not in the SDK's Platform literal"
    assert p.status == "active", f"status of a fresh connection: expected 'active', got {p.status!r}"
    assert p.status in SDK_STATUSES, f"status {p.status!r} is not in the SDK's ProfileStatus literal"
    assert p.profile_group_id == group, f"profile_group_id: expected {group!r}, got {p.profile_group_id!r}"
    assert type(p.post_count) is int and p.post_count == 0, (
        f"post_count of a new profile: expected int 0, got {p.post_count!r}"
    )
    assert p.username is None or (isinstance(p.username, str) and p.username), (
        f"username should be a non-empty string or None, got {p.username!r}"
    )
    assert isinstance(p.platform_id, str) and p.platform_id, (
        f"platform_id should be a non-empty string, got {p.platform_id!r}"
    )
    assert p.avatar_url is None or isinstance(p.avatar_url, str), f"avatar_url: got {p.avatar_url!r}"
    if expires == "none":
        assert p.expires_at is None, f"expires_at: expected None, got {p.expires_at!r}"
    else:
        assert isinstance(p.expires_at, datetime), (
            f"expires_at: expected a datetime, got {type(p.expires_at).__name__} {p.expires_at!r}"
        )
        assert p.expires_at.tzinfo is not None, f"expires_at should be timezone-aware, got {p.expires_at!r}"
        now = datetime.now(p.expires_at.tzinfo)
        assert p.expires_at > now, f"expires_at of a fresh connection should be in the future, got {p.expires_at}"
    # Fields the SDK knows but postproxy does not send: their defaults.
    assert p.inactive_reason is None, f"inactive_reason: expected None, got {p.inactive_reason!r}"


async def main() -> int:
    checks = Checks()
    check, need, state = checks.check, checks.need, checks.state

    print(f"postproxy-sdk {postproxy.VERSION} against {BASE_URL}")
    expected = {
        FACEBOOK_ID: ("facebook", GROUP_ID, "datetime"),
        TWITTER_ID: ("twitter", GROUP_ID, "none"),
        TIKTOK_ID: ("tiktok", OTHER_GROUP_ID, "datetime"),
    }

    async with PostProxy(API_KEY, base_url=BASE_URL) as client, \
            PostProxy(API_KEY, base_url=BASE_URL, profile_group_id=OTHER_GROUP_ID) as defaulted:

        async def list_all():
            res = await client.profiles.list()
            assert isinstance(res, postproxy.ListResponse), f"list returned {type(res).__name__}"
            by_id = {p.id: p for p in res.data}
            assert sorted(by_id) == sorted(expected), (
                f"list should return exactly {sorted(expected)}, got {sorted(by_id)}"
            )
            assert len(res.data) == 3, f"list returned duplicates: {[p.id for p in res.data]}"
            for pid, (platform, group, expires) in expected.items():
                check_profile(by_id[pid], id=pid, platform=platform, group=group, expires=expires)
            state["listed"] = by_id

        async def list_filtered_per_call():
            res = await client.profiles.list(profile_group_id=OTHER_GROUP_ID)
            ids = [p.id for p in res.data]
            assert ids == [TIKTOK_ID], (
                f"list(profile_group_id={OTHER_GROUP_ID!r}) should return just the TikTok profile, got {ids}"
            )
            res = await client.profiles.list(profile_group_id=GROUP_ID)
            ids = sorted(p.id for p in res.data)
            assert ids == sorted([FACEBOOK_ID, TWITTER_ID]), (
                f"list(profile_group_id={GROUP_ID!r}) should return facebook and twitter, got {ids}"
            )

        async def list_filtered_client_default():
            res = await defaulted.profiles.list()
            ids = [p.id for p in res.data]
            assert ids == [TIKTOK_ID], (
                f"list() on a client with profile_group_id={OTHER_GROUP_ID!r} should return just the "
                f"TikTok profile, got {ids}"
            )
            # The per-call argument overrides the client default.
            res = await defaulted.profiles.list(profile_group_id=GROUP_ID)
            ids = sorted(p.id for p in res.data)
            assert ids == sorted([FACEBOOK_ID, TWITTER_ID]), (
                f"a per-call profile_group_id should override the client default, got {ids}"
            )

        async def list_unknown_group():
            async with expect_error(NotFoundError, 404, "Not found"):
                await client.profiles.list(profile_group_id="no_such_group")

        def get_check(pid: str):
            async def fn():
                platform, group, expires = expected[pid]
                p = await client.profiles.get(pid)
                check_profile(p, id=pid, platform=platform, group=group, expires=expires)
                listed = need("listed")[pid]
                assert p == listed, f"get and list disagree:\n  get  {p!r}\n  list {listed!r}"
            return fn

        async def get_with_client_default():
            p = await defaulted.profiles.get(TIKTOK_ID)
            platform, group, expires = expected[TIKTOK_ID]
            check_profile(p, id=TIKTOK_ID, platform=platform, group=group, expires=expires)

        async def placements_facebook():
            res = await client.profiles.placements(FACEBOOK_ID)
            assert isinstance(res, postproxy.ListResponse), f"placements returned {type(res).__name__}"
            assert len(res.data) == 2, f"expected the 2 Facebook Pages, got {res.data!r}"
            for pl in res.data:
                assert isinstance(pl, postproxy.Placement), f"expected a Placement, got {type(pl).__name__}"
                assert isinstance(pl.id, str) and pl.id, f"placement id should be a non-empty string, got {pl.id!r}"
                assert isinstance(pl.name, str) and pl.name, f"placement name should be a non-empty string, got {pl.name!r}"
                assert pl.avatar_url is None or isinstance(pl.avatar_url, str), f"avatar_url: got {pl.avatar_url!r}"
                assert pl.metadata is None, f"metadata: expected None (not sent), got {pl.metadata!r}"
            ids = [pl.id for pl in res.data]
            assert len(set(ids)) == 2, f"placement ids should be distinct, got {ids}"

        async def placements_twitter():
            res = await client.profiles.placements(TWITTER_ID)
            assert isinstance(res, postproxy.ListResponse), f"placements returned {type(res).__name__}"
            assert res.data == [], f"an X profile has no placements, got {res.data!r}"

        async def placements_unknown():
            async with expect_error(NotFoundError, 404, "Not found"):
                await client.profiles.placements("no_such_profile")

        async def get_unknown():
            async with expect_error(NotFoundError, 404, "Not found"):
                await client.profiles.get("no_such_profile")
            # A group id is not a profile id.
            async with expect_error(NotFoundError, 404, "Not found"):
                await client.profiles.get(GROUP_ID)

        async def delete_twitter():
            res = await client.profiles.delete(TWITTER_ID)
            assert isinstance(res, postproxy.SuccessResponse), f"delete returned {type(res).__name__}"
            assert res.success is True, f"success: expected True, got {res.success!r}"
            state["deleted"] = True

        async def get_after_delete():
            need("deleted")
            async with expect_error(NotFoundError, 404, "Not found"):
                await client.profiles.get(TWITTER_ID)

        async def list_after_delete():
            need("deleted")
            res = await client.profiles.list()
            ids = sorted(p.id for p in res.data)
            assert ids == sorted([FACEBOOK_ID, TIKTOK_ID]), (
                f"after deleting {TWITTER_ID}, list should return facebook and tiktok, got {ids}"
            )

        async def delete_again():
            need("deleted")
            async with expect_error(NotFoundError, 404, "Not found"):
                await client.profiles.delete(TWITTER_ID)

        async def delete_unknown():
            async with expect_error(NotFoundError, 404, "Not found"):
                await client.profiles.delete("no_such_profile")

        for name, fn in [
            ("list returns the three connected profiles", list_all),
            ("list(profile_group_id=...) filters by group", list_filtered_per_call),
            ("client default profile_group_id filters list", list_filtered_client_default),
            ("list with an unknown profile_group_id -> NotFoundError 404", list_unknown_group),
            ("get facebook profile: every field", get_check(FACEBOOK_ID)),
            ("get twitter profile: every field, expires_at None", get_check(TWITTER_ID)),
            ("get tiktok profile (other group): every field", get_check(TIKTOK_ID)),
            ("get with a client default profile_group_id", get_with_client_default),
            ("placements of facebook: the 2 Pages", placements_facebook),
            ("placements of twitter: empty", placements_twitter),
            ("placements of an unknown id -> NotFoundError 404", placements_unknown),
            ("get an unknown id -> NotFoundError 404", get_unknown),
            ("delete twitter returns success true", delete_twitter),
            ("get after delete -> NotFoundError 404", get_after_delete),
            ("list after delete returns 2 profiles", list_after_delete),
            ("delete again -> NotFoundError 404", delete_again),
            ("delete an unknown id -> NotFoundError 404", delete_unknown),
        ]:
            await check(name, fn)

    return checks.summary()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
