"""ChannelSink with a real discord.Client talking to a loopback Discord (REST only, no gateway)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import discord
import pytest

from bot.core.render import render_alert
from bot.core.types import OutboxItem
from bot.delivery.base import DeliveryResult
from bot.delivery.channel import ChannelSink, discord_nonce
from tests.delivery.fake_outbox import make_alert
from tests.delivery.mini_discord import MiniDiscord, Reply

TEXT = "300000000000000001"
FORUM = "300000000000000002"
CATEGORY = "300000000000000003"
THREAD = "300000000000000004"
MISSING = "300000000000000099"


@pytest.fixture
async def mini(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[MiniDiscord]:
    server = MiniDiscord()
    base = await server.start()
    monkeypatch.setattr(discord.http.Route, "BASE", base)
    server.add_channel(TEXT, kind=0)
    server.add_channel(FORUM, kind=15, name="news")
    server.add_channel(CATEGORY, kind=4)
    server.add_channel(THREAD, kind=11)
    yield server
    await server.stop()


@pytest.fixture
async def client(mini: MiniDiscord) -> AsyncIterator[discord.Client]:
    bot = discord.Client(intents=discord.Intents.none(), max_ratelimit_timeout=30)
    await bot.http.static_login("fake-token")  # REST session only: GET /users/@me
    yield bot
    await bot.http.close()


def item(channel: str, *, nonce: str = "o1-s1", role_id: int | None = None) -> OutboxItem:
    return OutboxItem(
        id=1,
        subscription_id=1,
        guild_id=1,
        destination_kind="channel",
        destination=channel,
        nonce=nonce,
        attempts=0,
        alert=make_alert("Aras bridge closed", role_id=role_id),
    )


async def send(client: discord.Client, it: OutboxItem) -> DeliveryResult:
    return await ChannelSink(client).send(it, render_alert(it.alert))


def posts(mini: MiniDiscord) -> list[dict[str, object]]:
    return [r.body for r in mini.requests if r.method == "POST"]


async def test_text_channel_gets_the_embed_with_nonce_and_only_the_role_mention(
    mini: MiniDiscord, client: discord.Client
) -> None:
    it = item(TEXT, role_id=4242)
    result = await send(client, it)
    assert result == DeliveryResult.sent(mini.messages[0]["id"])
    (body,) = posts(mini)
    assert body["nonce"] == "o1-s1"
    assert body["enforce_nonce"] is True
    assert body["content"] == "<@&4242>"
    assert body["allowed_mentions"] == {"parse": [], "roles": [4242]}
    rendered = render_alert(it.alert)
    assert body["embeds"][0]["title"] == rendered.embed["title"]  # type: ignore[index]
    assert body["embeds"][0]["fields"] == rendered.embed["fields"]  # type: ignore[index]


async def test_a_resend_after_a_crash_is_deduplicated_by_nonce(
    mini: MiniDiscord, client: discord.Client
) -> None:
    first = await send(client, item(TEXT))
    again = await send(client, item(TEXT))
    assert first.message_id == again.message_id
    assert len(mini.messages) == 1
    assert len(posts(mini)) == 2


async def test_thread_destination_posts_in_the_thread(
    mini: MiniDiscord, client: discord.Client
) -> None:
    result = await send(client, item(THREAD))
    assert result.kind == "sent"
    assert [r.path for r in mini.requests if r.method == "POST"] == [f"/channels/{THREAD}/messages"]


async def test_forum_channel_gets_a_new_post_titled_after_the_item(
    mini: MiniDiscord, client: discord.Client
) -> None:
    result = await send(client, item(FORUM))
    assert result.kind == "sent"
    (req,) = [r for r in mini.requests if r.method == "POST"]
    assert req.path == f"/channels/{FORUM}/threads"
    assert req.body["name"] == "Aras bridge closed"
    assert req.body["message"]["embeds"][0]["title"] == "Aras bridge closed"
    assert result.message_id == mini.messages[0]["id"]


def test_long_nonces_are_shortened_stably() -> None:
    short = "o12-s3"
    assert discord_nonce(short) == short
    long = "outbox-123456789-subscription-987654321"
    assert len(discord_nonce(long)) == 25
    assert discord_nonce(long) == discord_nonce(long)
    assert discord_nonce(long) != discord_nonce(long + "x")


async def test_category_cannot_hold_messages(mini: MiniDiscord, client: discord.Client) -> None:
    result = await send(client, item(CATEGORY))
    assert result.kind == "gone"
    assert posts(mini) == []


async def test_deleted_channel_is_gone(mini: MiniDiscord, client: discord.Client) -> None:
    result = await send(client, item(MISSING))
    assert result.kind == "gone"
    assert "10003" in (result.error or "")


CLASSIFIED = [
    # (scripted reply to POST /channels/{TEXT}/messages, expected kind, retry_after_s)
    (Reply(403, {"message": "Missing Permissions", "code": 50013}), "gone", None),
    (Reply(404, {"message": "Unknown Channel", "code": 10003}), "gone", None),
    (Reply(400, {"message": "Invalid Form Body", "code": 50035}), "failed", None),
    (Reply(404, {"message": "Unknown Message", "code": 10008}), "failed", None),
    (Reply(503, {"message": "Service Unavailable"}), "retry", None),
    # Without Via (not from Discord's edge) discord.py raises at once; the header gives the wait.
    (Reply(429, {"message": "banned", "code": 0}, {"Retry-After": "40"}), "retry", 40.0),
    # Longer than max_ratelimit_timeout: discord.RateLimited instead of a 120 s sleep.
    (
        Reply(
            429,
            {"message": "You are being rate limited.", "retry_after": 120.0, "global": False},
            {"Via": "1.1 google"},
        ),
        "retry",
        120.0,
    ),
]


@pytest.mark.parametrize(("reply", "kind", "retry_after"), CLASSIFIED)
async def test_answers_are_classified(
    mini: MiniDiscord,
    client: discord.Client,
    reply: Reply,
    kind: str,
    retry_after: float | None,
) -> None:
    mini.reply(f"POST /channels/{TEXT}", reply)
    started = asyncio.get_running_loop().time()
    result = await send(client, item(TEXT))
    assert asyncio.get_running_loop().time() - started < 1.0
    assert result.kind == kind
    assert result.retry_after_s == retry_after
    assert mini.messages == []


async def test_not_a_channel_id_is_gone(client: discord.Client) -> None:
    result = await send(client, replace(item(TEXT), destination="#general"))
    assert result.kind == "gone"
