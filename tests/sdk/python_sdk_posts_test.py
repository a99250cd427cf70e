#!/usr/bin/env python3
"""Compatibility test: the official Python SDK (postproxy-sdk==1.14.0) against a running
postproxy server, Posts API, with publishing through the test's fake platforms.

Run by tests/api/sdk.rs (`python_sdk_posts`), which connects an X and a LinkedIn profile through
the OAuth flow against its fake provider and runs the server's job worker.

Environment:
  POSTPROXY_BASE_URL            e.g. http://127.0.0.1:8080 (no /api suffix)
  POSTPROXY_API_KEY             full-access key of a fresh account
  POSTPROXY_GROUP_ID            the account's default group
  POSTPROXY_TWITTER_PROFILE_ID  a connected X profile
  POSTPROXY_LINKEDIN_PROFILE_ID a connected LinkedIn profile

Facts about the SDK this relies on (read from its source):
  * posts.create(body, profiles, *, media, platforms: PlatformParams, thread:
    [ThreadChildInput], scheduled_at, draft, ...) -> Post (JSON unless local files);
    list(*, page, per_page, status, platforms, scheduled_after) -> PaginatedResponse[Post];
    get(id) -> Post; update(id, *, body, ...) -> Post; publish_draft(id) -> Post;
    delete(id, *, delete_on_platform) -> DeleteResponse; delete_on_platform(id, *, network)
    -> DeleteOnPlatformResponse {success, deleting: [{post_profile_id, platform}]}.
  * A 409 or 422 raises a PostProxyError subclass with `.status_code` and `.response` (the body).
  * Post.status: Literal[draft, pending, processing, processed, scheduled,
    media_processing_failed]; PlatformResult.status: Literal[pending, processing, published,
    failed, deleted]; created_at / attempted_at parsed as datetimes.
  * 404 -> NotFoundError.

Prints `N passed, M failed` last and exits non-zero when anything failed.
"""
from __future__ import annotations

import asyncio
import sys
import typing
from datetime import datetime, timedelta, timezone

import postproxy
from postproxy import NotFoundError, PostProxy, PostProxyError
from sdkcheck import Checks, env, expect_error, until_processed

BASE_URL = env("POSTPROXY_BASE_URL").rstrip("/")
API_KEY = env("POSTPROXY_API_KEY")
GROUP_ID = env("POSTPROXY_GROUP_ID")
TWITTER_ID = env("POSTPROXY_TWITTER_PROFILE_ID")
LINKEDIN_ID = env("POSTPROXY_LINKEDIN_PROFILE_ID")

POST_STATUSES = set(typing.get_args(postproxy.PostStatus))
RESULT_STATUSES = set(typing.get_args(postproxy.PlatformPostStatus))


def check_post(p) -> None:
    assert isinstance(p, postproxy.Post), f"expected a Post, got {type(p).__name__}"
    assert p.status in POST_STATUSES, f"status {p.status!r} is not in the SDK's PostStatus"
    assert isinstance(p.created_at, datetime) and p.created_at.tzinfo is not None, p.created_at
    for r in p.platforms + [r for c in p.thread for r in c.platforms]:
        assert r.status in RESULT_STATUSES, f"platform status {r.status!r} is not in the SDK's enum"



async def main() -> int:
    checks = Checks()
    check, need, state = checks.check, checks.need, checks.state
    print(f"postproxy-sdk {postproxy.VERSION} against {BASE_URL}")

    async with PostProxy(API_KEY, base_url=BASE_URL, profile_group_id=GROUP_ID) as client:

        async def create_and_publish():
            p = await client.posts.create(
                "Hello from the Python SDK",
                ["twitter", LINKEDIN_ID],
                platforms=postproxy.PlatformParams(linkedin=postproxy.LinkedInParams()),
            )
            check_post(p)
            assert p.body == "Hello from the Python SDK", p.body
            assert {r.platform for r in p.platforms} == {"twitter", "linkedin"}, p.platforms
            state["published"] = p.id
            done = await until_processed(client, p.id)
            check_post(done)
            for r in done.platforms:
                assert r.status == "published", f"{r.platform}: {r.status} {r.error} {r.error_details}"
                assert r.permalink and r.permalink.startswith("https://"), r.permalink
                assert isinstance(r.attempted_at, datetime), r.attempted_at

        async def thread_on_x():
            p = await client.posts.create(
                "A thread, 1/2", [TWITTER_ID], thread=[postproxy.ThreadChildInput(body="and a reply, 2/2")]
            )
            done = await until_processed(client, p.id)
            check_post(done)
            assert done.platforms[0].status == "published", done.platforms
            assert len(done.thread) == 1 and done.thread[0].body == "and a reply, 2/2", done.thread
            assert done.thread[0].platforms[0].status == "published", done.thread

        async def media_files_upload_as_multipart():
            import tempfile
            jpeg = bytes([0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10]) + b"JFIF" + bytes([0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 0xFF, 0xD9])
            with tempfile.NamedTemporaryFile(suffix=".jpg") as f:
                f.write(jpeg)
                f.flush()
                p = await client.posts.create("With a local file", [TWITTER_ID], media_files=[f.name])
            check_post(p)
            assert len(p.media) == 1 and p.media[0].content_type == "image/jpeg", p.media
            done = await until_processed(client, p.id)
            assert done.platforms[0].status == "published", done.platforms

        async def duplicate_is_a_conflict():
            try:
                await client.posts.create("Hello from the Python SDK", ["twitter", LINKEDIN_ID],
                                          platforms=postproxy.PlatformParams(linkedin=postproxy.LinkedInParams()))
            except PostProxyError as e:
                assert e.status_code == 409, f"expected 409, got {e.status_code}: {e.response!r}"
            else:
                raise AssertionError("an identical post within 5 minutes should be refused with 409")

        async def validation_lists_every_problem():
            try:
                await client.posts.create("x" * 300, ["twitter", "instagram"])
            except PostProxyError as e:
                assert e.status_code == 422, f"expected 422, got {e.status_code}"
                body = e.response if isinstance(e.response, dict) else {}
                errors = body.get("errors") or []
                assert len(errors) >= 2, f"expected every problem listed, got {body!r}"
            else:
                raise AssertionError("a 300-character X post to a group without Instagram should be a 422")

        async def draft_update_publish():
            when = datetime.now(timezone.utc) + timedelta(days=2)
            d = await client.posts.create("Draft text", [TWITTER_ID], draft=True, scheduled_at=when)
            check_post(d)
            assert d.status == "draft" and d.draft is True, (d.status, d.draft)
            u = await client.posts.update(d.id, body="Edited draft")
            assert u.body == "Edited draft", u.body
            published = await client.posts.publish_draft(d.id)
            check_post(published)
            assert published.status == "scheduled", published.status
            assert published.scheduled_at is not None and abs((published.scheduled_at - when).total_seconds()) < 1
            state["scheduled"] = d.id

        async def list_filters():
            page = await client.posts.list(per_page=1)
            assert isinstance(page, postproxy.PaginatedResponse), type(page).__name__
            assert page.total == 4 and page.per_page == 1 and page.page == 0 and len(page.data) == 1, page
            assert page.data[0].id == need("scheduled"), "newest first"
            sched = await client.posts.list(status="scheduled")
            assert [p.id for p in sched.data] == [need("scheduled")], sched.data
            li = await client.posts.list(platforms=["linkedin"])
            assert [p.id for p in li.data] == [need("published")], li.data
            later = await client.posts.list(scheduled_after=datetime.now(timezone.utc) + timedelta(days=1))
            assert [p.id for p in later.data] == [need("scheduled")], later.data

        async def delete_on_platform_by_network():
            res = await client.posts.delete_on_platform(need("published"), network="twitter")
            assert res.success is True, res
            assert [d.platform for d in res.deleting] == ["twitter"], res.deleting
            deadline = asyncio.get_running_loop().time() + 20
            while True:
                p = await client.posts.get(need("published"))
                x = [r for r in p.platforms if r.platform == "twitter"][0]
                if x.status == "deleted":
                    break
                assert asyncio.get_running_loop().time() < deadline, f"still {x.status}"
                await asyncio.sleep(0.2)
            li = [r for r in p.platforms if r.platform == "linkedin"][0]
            assert li.status == "published", li.status

        async def delete_and_404():
            res = await client.posts.delete(need("scheduled"))
            assert res.deleted is True, res
            async with expect_error(NotFoundError, 404, "Not found"):
                await client.posts.get(need("scheduled"))

        async def post_count_counts_published():
            prof = await client.profiles.get(LINKEDIN_ID)
            assert prof.post_count == 1, f"post_count: {prof.post_count}"

        for name, fn in [
            ("create an X + LinkedIn post; it is published", create_and_publish),
            ("a thread on X is a reply chain, both parts published", thread_on_x),
            ("media_files: a local JPEG, sent as multipart, is published", media_files_upload_as_multipart),
            ("an identical post -> 409", duplicate_is_a_conflict),
            ("validation lists every problem (422)", validation_lists_every_problem),
            ("draft: create, update, publish_draft -> scheduled", draft_update_publish),
            ("list: pagination, status, platforms, scheduled_after", list_filters),
            ("delete_on_platform(network=twitter)", delete_on_platform_by_network),
            ("delete, then get -> 404", delete_and_404),
            ("post_count counts the published post", post_count_counts_published),
        ]:
            await check(name, fn)

    return checks.summary()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
