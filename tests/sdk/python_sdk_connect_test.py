#!/usr/bin/env python3
"""Compatibility test: the official Python SDK connects Bluesky and Telegram (no OAuth app) and
posts to both, against a running postproxy server whose Bluesky and Telegram are the test's fakes.

Run by tests/api/sdk.rs (`python_sdk_connects_bluesky_and_telegram`), which creates the Bluesky
account and the Telegram bot in its fakes (the bot already an administrator of a channel) and
runs the server's job worker.

Environment:
  POSTPROXY_BASE_URL        e.g. http://127.0.0.1:8080 (no /api suffix)
  POSTPROXY_API_KEY         full-access key of a fresh account
  POSTPROXY_GROUP_ID        the account's default group
  BLUESKY_HANDLE, BLUESKY_APP_PASSWORD   an account of the fake PDS
  TELEGRAM_BOT_TOKEN        a bot of the fake Bot API
  TELEGRAM_CHAT_ID          a channel the bot administers

Facts about the SDK this relies on (read from its source): profile_groups.connect_bluesky(id, *,
identifier, app_password) -> BlueskyConnectionResponse {success, profile: SyncProfile {id,
network, name, external_username}}; connect_telegram(id, *, bot_token) ->
TelegramConnectionResponse {success, profile, next_step}; profiles.placements(id) ->
ListResponse[Placement]; TelegramParams.chat_id is required; BlueskyParams.alt_text is a string
or a list.

Prints `N passed, M failed` last and exits non-zero when anything failed.
"""
from __future__ import annotations

import asyncio
import sys

import postproxy
from postproxy import PostProxy, PostProxyError
from sdkcheck import Checks, env, until_processed

BASE_URL = env("POSTPROXY_BASE_URL").rstrip("/")
API_KEY = env("POSTPROXY_API_KEY")
GROUP_ID = env("POSTPROXY_GROUP_ID")
HANDLE = env("BLUESKY_HANDLE")
APP_PASSWORD = env("BLUESKY_APP_PASSWORD")
BOT_TOKEN = env("TELEGRAM_BOT_TOKEN")
CHAT_ID = env("TELEGRAM_CHAT_ID")



async def main() -> int:
    checks = Checks()
    check, need, state = checks.check, checks.need, checks.state
    print(f"postproxy-sdk {postproxy.VERSION} against {BASE_URL}")

    async with PostProxy(API_KEY, base_url=BASE_URL, profile_group_id=GROUP_ID) as client:

        async def connect_bluesky():
            r = await client.profile_groups.connect_bluesky(GROUP_ID, identifier=HANDLE, app_password=APP_PASSWORD)
            assert r.success is True, r
            assert r.profile.network == "bluesky", r.profile
            assert r.profile.external_username == HANDLE, r.profile
            state["bluesky"] = r.profile.id
            p = await client.profiles.get(r.profile.id)
            assert p.platform == "bluesky" and p.status == "active", p

        async def wrong_app_password_is_a_422():
            try:
                await client.profile_groups.connect_bluesky(GROUP_ID, identifier=HANDLE, app_password="nope-nope-nope-nope")
            except PostProxyError as e:
                assert e.status_code == 422, f"expected 422, got {e.status_code}: {e.response!r}"
            else:
                raise AssertionError("a wrong app password should be refused")

        async def connect_telegram():
            r = await client.profile_groups.connect_telegram(GROUP_ID, bot_token=BOT_TOKEN)
            assert r.success is True and r.profile.network == "telegram", r
            assert r.next_step and "administrator" in r.next_step, r.next_step
            state["telegram"] = r.profile.id
            placements = await client.profiles.placements(r.profile.id)
            assert [p.id for p in placements.data] == [CHAT_ID], placements

        async def post_to_bluesky_with_a_thread():
            p = await client.posts.create(
                "Hello Bluesky from the Python SDK #postproxy",
                [need("bluesky")],
                platforms=postproxy.PlatformParams(bluesky=postproxy.BlueskyParams(alt_text=["unused"])),
                thread=[postproxy.ThreadChildInput(body="and a reply, 2/2")],
            )
            done = await until_processed(client, p.id)
            r = done.platforms[0]
            assert r.status == "published", f"{r.status} {r.error} {r.error_details}"
            assert r.permalink and r.permalink.startswith(f"https://bsky.app/profile/{HANDLE}/post/"), r.permalink
            assert done.thread[0].platforms[0].status == "published", done.thread

        async def post_to_telegram():
            need("telegram")
            p = await client.posts.create(
                "Hello Telegram from the Python SDK",
                ["telegram"],
                platforms=postproxy.PlatformParams(
                    telegram=postproxy.TelegramParams(chat_id=CHAT_ID, parse_mode="HTML", disable_notification=True)
                ),
            )
            done = await until_processed(client, p.id)
            r = done.platforms[0]
            assert r.status == "published", f"{r.status} {r.error} {r.error_details}"
            assert r.permalink and r.permalink.startswith("https://t.me/"), r.permalink

        for name, fn in [
            ("connect_bluesky", connect_bluesky),
            ("connect_bluesky with a wrong app password -> 422", wrong_app_password_is_a_422),
            ("connect_telegram, the channel as a placement", connect_telegram),
            ("post to Bluesky with a thread", post_to_bluesky_with_a_thread),
            ("post to a Telegram channel", post_to_telegram),
        ]:
            await check(name, fn)

    return checks.summary()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
