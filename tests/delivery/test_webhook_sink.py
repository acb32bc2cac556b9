"""WebhookSink against a loopback Discord: what is posted, and how each answer is classified."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import discord
import pytest

from bot.core.render import render_alert
from bot.core.types import OutboxItem
from bot.delivery.base import DeliveryResult, PausedInfo
from bot.delivery.webhook import WebhookSink, parse_webhook_url, webhook_thread_id
from bot.delivery.worker import DeliveryWorker, RetryPolicy
from tests.delivery.fake_outbox import FakeOutboxStore, make_alert
from tests.delivery.mini_discord import MiniDiscord, Reply

HOOK_ID = 123456789012345678
TOKEN = "aB3-_." + "x" * 62
URL = f"https://discord.com/api/webhooks/{HOOK_ID}/{TOKEN}"
ROUTE = f"POST /webhooks/{HOOK_ID}"

# --- URL parsing ------------------------------------------------------------------------------

GOOD_URLS = [
    URL,
    f"https://discordapp.com/api/webhooks/{HOOK_ID}/{TOKEN}",
    f"https://ptb.discord.com/api/webhooks/{HOOK_ID}/{TOKEN}",
    f"https://canary.discord.com/api/webhooks/{HOOK_ID}/{TOKEN}",
    f"https://discord.com/api/v10/webhooks/{HOOK_ID}/{TOKEN}",
    f"https://DISCORD.com/api/webhooks/{HOOK_ID}/{TOKEN}/",
    f"  {URL}?thread_id=555555555555555555  ",
]


@pytest.mark.parametrize("url", GOOD_URLS)
def test_parse_webhook_url_accepts_discord_hosts(url: str) -> None:
    assert parse_webhook_url(url) == (HOOK_ID, TOKEN)


BAD_URLS = [
    (f"http://discord.com/api/webhooks/{HOOK_ID}/{TOKEN}", "https://"),
    (f"https://discord.evil.com/api/webhooks/{HOOK_ID}/{TOKEN}", "is not Discord"),
    (f"https://evil.com/discord.com/api/webhooks/{HOOK_ID}/{TOKEN}", "is not Discord"),
    (f"https://discord.com.evil.com/api/webhooks/{HOOK_ID}/{TOKEN}", "is not Discord"),
    (f"https://discord.com/api/webhooks/{HOOK_ID}", "/api/webhooks/<id>/<token>"),
    (f"https://discord.com/api/webhooks/12345/{TOKEN}", "/api/webhooks/<id>/<token>"),
    (f"https://discord.com/api/webhooks/{HOOK_ID}/short", "/api/webhooks/<id>/<token>"),
    (f"https://discord.com/channels/{HOOK_ID}/{TOKEN}", "/api/webhooks/<id>/<token>"),
    ("not a url", "https://"),
]


@pytest.mark.parametrize(("url", "message"), BAD_URLS)
def test_parse_webhook_url_rejects_with_a_reason(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("?", r"\?")):
        parse_webhook_url(url)


def test_thread_id_from_url() -> None:
    assert webhook_thread_id(URL + "?thread_id=555555555555555555") == 555555555555555555
    assert webhook_thread_id(URL) is None


# --- sending ----------------------------------------------------------------------------------


@pytest.fixture
async def mini(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[MiniDiscord]:
    server = MiniDiscord()
    base = await server.start()
    monkeypatch.setattr(discord.http.Route, "BASE", base)
    yield server
    await server.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def item(
    url: str = URL, role_id: int | None = None, title: str = "Drills on the Aras"
) -> OutboxItem:
    return OutboxItem(
        id=1,
        subscription_id=1,
        guild_id=1,
        destination_kind="webhook",
        destination=url,
        nonce="n1",
        attempts=0,
        alert=make_alert(title, role_id=role_id),
    )


async def send(sink: WebhookSink, it: OutboxItem) -> DeliveryResult:
    return await sink.send(it, render_alert(it.alert))


async def test_posts_the_rendered_message_and_returns_its_id(
    mini: MiniDiscord, session: aiohttp.ClientSession
) -> None:
    it = item(role_id=4242, title="@everyone look [here](https://evil.example)")
    result = await send(WebhookSink(session), it)
    assert result.kind == "sent"
    assert result.message_id == mini.messages[0]["id"]
    (req,) = mini.requests
    assert req.path == f"/webhooks/{HOOK_ID}/{TOKEN}"
    assert req.query["wait"] == "1"
    rendered = render_alert(it.alert)
    assert req.body["content"] == "<@&4242>"
    assert req.body["allowed_mentions"] == {"parse": [], "roles": [4242]}
    assert req.body["embeds"][0]["title"] == rendered.embed["title"]
    assert req.body["embeds"][0]["description"] == rendered.embed["description"]
    assert req.body["embeds"][0]["fields"] == rendered.embed["fields"]
    assert req.body["embeds"][0]["color"] == rendered.embed["color"]


async def test_without_a_role_nothing_may_be_mentioned(
    mini: MiniDiscord, session: aiohttp.ClientSession
) -> None:
    await send(WebhookSink(session), item())
    body = mini.requests[0].body
    assert "content" not in body
    assert body["allowed_mentions"] == {"parse": []}


async def test_thread_id_in_the_url_posts_into_the_thread(
    mini: MiniDiscord, session: aiohttp.ClientSession
) -> None:
    result = await send(WebhookSink(session), item(URL + "?thread_id=555555555555555555"))
    assert result.kind == "sent"
    assert mini.requests[0].query["thread_id"] == "555555555555555555"


async def test_forum_webhook_opens_a_post_named_after_the_alert(
    mini: MiniDiscord, session: aiohttp.ClientSession
) -> None:
    mini.reply(
        ROUTE,
        Reply(
            400,
            {
                "message": "Webhooks posted to forum channels must have a thread_name or thread_id",
                "code": 220001,
            },
        ),
    )
    result = await send(WebhookSink(session), item(title="Aras dam **talks** resume"))
    assert result.kind == "sent"
    assert len(mini.requests) == 2
    assert "thread_name" not in mini.requests[0].body
    assert mini.requests[1].body["thread_name"] == "Aras dam **talks** resume"


CLASSIFIED = [
    # (status, body, headers, kind, retry_after_s)
    (500, {"message": "Internal Server Error", "code": 0}, {}, "retry", None),
    (502, None, {}, "retry", None),
    (503, {"message": "upstream"}, {}, "retry", None),
    (404, {"message": "Unknown Webhook", "code": 10015}, {}, "gone", None),
    (403, {"message": "Missing Access", "code": 50001}, {}, "gone", None),
    (401, {"message": "Invalid Webhook Token", "code": 50027}, {}, "gone", None),
    (400, {"message": "Invalid Form Body", "code": 50035}, {}, "failed", None),
    (413, {"message": "Request entity too large", "code": 40005}, {}, "failed", None),
    # Discord's own 429s carry a Via header; discord.py would sleep 120 s on this one.
    (
        429,
        {"message": "You are being rate limited.", "retry_after": 120.5, "global": False},
        {"Via": "1.1 google", "Retry-After": "121"},
        "retry",
        120.5,
    ),
    (429, {"message": "banned", "code": 0}, {"Retry-After": "30"}, "retry", 30.0),
]


@pytest.mark.parametrize(("status", "body", "headers", "kind", "retry_after"), CLASSIFIED)
async def test_answers_are_classified_after_one_request(
    mini: MiniDiscord,
    session: aiohttp.ClientSession,
    status: int,
    body: object,
    headers: dict[str, str],
    kind: str,
    retry_after: float | None,
) -> None:
    mini.reply(ROUTE, Reply(status, body, headers))
    started = asyncio.get_running_loop().time()
    result = await send(WebhookSink(session), item())
    assert asyncio.get_running_loop().time() - started < 1.0  # nothing slept
    assert len(mini.requests) == 1  # discord.py's own retry loop is not used
    assert result.kind == kind
    assert result.retry_after_s == retry_after
    assert result.error is not None
    assert str(status) in result.error
    assert TOKEN not in result.error


async def test_exhausted_bucket_makes_the_next_send_wait(
    mini: MiniDiscord, session: aiohttp.ClientSession
) -> None:
    sink = WebhookSink(session, max_inline_wait_s=0.5)
    mini.reply(
        ROUTE, Reply(200, None, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "60"})
    )
    first = await send(sink, item())
    assert first.kind == "sent"
    second = await send(sink, item())
    assert second.kind == "retry"
    assert second.retry_after_s is not None
    assert 59 < second.retry_after_s <= 60
    assert len(mini.requests) == 1  # not even tried: it would have been a 429


async def test_short_bucket_wait_is_slept_inline(
    mini: MiniDiscord, session: aiohttp.ClientSession
) -> None:
    sink = WebhookSink(session, max_inline_wait_s=1.0)
    mini.reply(
        ROUTE, Reply(200, None, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "0.2"})
    )
    await send(sink, item())
    started = asyncio.get_running_loop().time()
    second = await send(sink, item())
    assert second.kind == "sent"
    assert asyncio.get_running_loop().time() - started >= 0.15
    assert len(mini.requests) == 2


async def test_network_error_is_a_retry(
    session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A port nothing listens on: connection refused.
    server = MiniDiscord()
    base = await server.start()
    await server.stop()
    monkeypatch.setattr(discord.http.Route, "BASE", base)
    result = await send(WebhookSink(session), item())
    assert result.kind == "retry"
    assert "network error" in (result.error or "")


async def test_timeout_is_a_retry(mini: MiniDiscord, session: aiohttp.ClientSession) -> None:
    mini.reply(ROUTE, Reply(200, delay_s=30))
    result = await send(WebhookSink(session, timeout_s=0.2), item())
    assert result.kind == "retry"
    assert "did not answer" in (result.error or "")


async def test_malformed_url_is_gone(session: aiohttp.ClientSession) -> None:
    result = await send(WebhookSink(session), item("https://example.com/hook"))
    assert result.kind == "gone"
    assert "invalid webhook URL" in (result.error or "")


# --- worker + webhook sink + loopback Discord, on the real clock --------------------------


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def _deliver_all(store: FakeOutboxStore, worker: DeliveryWorker, rows: list[int]) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run_forever(stop))
    try:
        for _ in range(300):
            if all(store.status(r) != "pending" for r in rows):
                break
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        await asyncio.wait_for(task, 2)


async def test_two_500s_then_success_posts_one_message(
    mini: MiniDiscord, session: aiohttp.ClientSession
) -> None:
    store = FakeOutboxStore()
    first = store.enqueue(store.subscribe("webhook", URL), now=_utc_now())
    second = store.enqueue(store.subscribe("webhook", URL, topic="other"), now=_utc_now())
    mini.reply(ROUTE, Reply(500, {"message": "oops"}), Reply(500, {"message": "oops"}))
    worker = DeliveryWorker(
        store,
        {"webhook": WebhookSink(session)},
        clock=_utc_now,
        policy=RetryPolicy(base_s=0.05, jitter=0),
    )
    await _deliver_all(store, worker, [first, second])
    assert store.status(first) == store.status(second) == "sent"
    assert len(mini.requests) == 4  # 500, 500, 200 for the first row; 200 for the second
    assert [m["embeds"][0]["title"] for m in mini.messages] == ["story 1", "story 2"]
    assert store.rows[first].message_id == mini.messages[0]["id"]


async def test_429_is_honoured_then_the_message_is_posted(
    mini: MiniDiscord, session: aiohttp.ClientSession
) -> None:
    store = FakeOutboxStore()
    row = store.enqueue(store.subscribe("webhook", URL), now=_utc_now())
    mini.reply(
        ROUTE,
        Reply(
            429,
            {"message": "slow down", "retry_after": 0.3, "global": False},
            {"Via": "1.1 google", "Retry-After": "1"},
        ),
    )
    worker = DeliveryWorker(store, {"webhook": WebhookSink(session)}, clock=_utc_now)
    started = _utc_now()
    await _deliver_all(store, worker, [row])
    assert store.status(row) == "sent"
    assert len(mini.messages) == 1
    assert store.rows[row].sent_at is not None
    assert (store.rows[row].sent_at - started).total_seconds() >= 0.3
    assert store.rows[row].attempts == 1  # the 429 did not count


async def test_deleted_webhook_pauses_and_tells(
    mini: MiniDiscord, session: aiohttp.ClientSession
) -> None:
    store = FakeOutboxStore()
    sub = store.subscribe("webhook", URL, guild_id=9, created_by=31)
    rows = [store.enqueue(sub, now=_utc_now()) for _ in range(3)]
    mini.reply(ROUTE, Reply(404, {"message": "Unknown Webhook", "code": 10015}))
    told: list[tuple[PausedInfo, str]] = []

    async def notifier(info: PausedInfo, reason: str) -> None:
        told.append((info, reason))

    worker = DeliveryWorker(store, {"webhook": WebhookSink(session)}, notifier, clock=_utc_now)
    await worker.run_once()
    assert store.subscriptions[sub].paused
    assert [s for s in (store.status(r) for r in rows)] == ["pending"] * 3
    assert len(mini.requests) == 1
    ((info, reason),) = told
    assert (info.guild_id, info.created_by) == (9, 31)
    assert reason == "HTTP 404 (code 10015): Unknown Webhook"
