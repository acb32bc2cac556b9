"""Discord faults end to end (issue 6): the real BorderWatchBot on the loopback fake Discord, fed
by a loopback feed server, while Discord misbehaves.

Each test publishes matching items on the feed server, polls the feed (as the scheduler would),
injects one fault and then checks what a user would see (messages in channels, notices, replies)
and what SQLite holds (outbox rows, subscription state). The promise checked everywhere: every
alert reaches every destination that can take it exactly once, in order per destination; a
destination that is gone is paused and its guild told; nothing else is held up.

Time is compressed honestly: outages last seconds, not a minute, but the retry schedules are
the real ones (discord.py's own 1 + 2n s retries of a 500, the worker's RetryPolicy) and the
tests count the attempts each made during the outage.
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.core.render import RenderedMessage
from bot.core.types import DestinationKind, OutboxItem
from bot.delivery.base import DeliveryResult
from bot.delivery.worker import DeliveryWorker
from bot.discord_app.bot import BorderWatchBot
from bot.store.rows import SubscriptionRow
from tests.delivery.fake_outbox import FakeOutboxStore
from tests.discord.conftest import (
    TOPIC,
    base_config,
    borderwatch,
    make_settings,
    wait_polled,
)
from tests.fakediscord import FakeDiscord, RecordedRequest, StoredMessage
from tests.fakediscord.fixtures import fake_discord  # noqa: F401 - fixture
from tests.feedserver import FeedServer
from tests.integration.rss import Item, rss

Bot = tuple[BorderWatchBot, FakeDiscord]

FEED = "/news.xml"
OLD = Item("old-1", "Iran and Azerbaijan discuss the Aras border", "An older story.", 0)


def hit(n: int) -> Item:
    """A matching item; `n` orders them (published n hours after the baseline item)."""
    return Item(
        f"hit-{n}",
        f"Iran holds drills near the Azerbaijan border, part {n}",
        f"Iranian forces began drills on the Aras river border with Azerbaijan (report {n}).",
        1 + n,
    )


@pytest.fixture
async def running(
    fake_discord: FakeDiscord,  # noqa: F811 - the fixture imported above
    feed_server: FeedServer,
    tmp_path: Path,
) -> AsyncIterator[Bot]:
    """The real bot on the fake Discord, following one feed whose backlog is already seen."""
    config = base_config(tmp_path)
    feed_server.route(FEED, rss([OLD], title="Caucasus Wire"))
    config["feeds"] = [{"url": feed_server.url(FEED), "name": "Caucasus Wire"}]
    async with borderwatch(fake_discord, make_settings(config, fake_discord)) as bot:
        await wait_polled(bot, fake_discord)
        yield bot, fake_discord


class Wire:
    """The feed: every publish adds items and polls it now, as the scheduler would."""

    def __init__(self, bot: BorderWatchBot, feed_server: FeedServer) -> None:
        self.bot = bot
        self.feed_server = feed_server
        self.items: list[Item] = [OLD]

    async def publish(self, *items: Item) -> None:
        self.items.extend(items)
        self.feed_server.route(FEED, rss(self.items, title="Caucasus Wire"))
        [feed] = await self.bot.rt.store.feeds()
        report = await self.bot.rt.pipeline.poll(feed)
        assert report.outcome == "new-items", report


async def subscribe(
    bot: BorderWatchBot, guild_id: int, kind: str, destination: str, created_by: int | None = None
) -> SubscriptionRow:
    return await bot.rt.store.add_subscription(
        guild_id=guild_id,
        kind=kind,  # type: ignore[arg-type]
        destination=destination,
        topic=TOPIC,
        created_by=created_by,
        now=bot.rt.clock(),
    )


def db_rows(bot: BorderWatchBot, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """What is really committed, read through a connection of our own."""
    conn = sqlite3.connect(bot.rt.store.path)
    try:
        return list(conn.execute(sql, params).fetchall())
    finally:
        conn.close()


def titles(messages: Iterable[StoredMessage]) -> list[str]:
    return [m.embeds[0]["title"] for m in messages]


def outbox_of(bot: BorderWatchBot, sub: SubscriptionRow) -> list[tuple[Any, ...]]:
    """(status, attempts, message_id) of a subscription's outbox rows, in id order."""
    return db_rows(
        bot,
        "SELECT status, attempts, message_id FROM outbox WHERE subscription_id = ? ORDER BY id",
        sub.id,
    )


def assert_delivered_once_in_order(
    bot: BorderWatchBot, sub: SubscriptionRow, messages: list[StoredMessage], items: list[Item]
) -> None:
    """Each item exactly once, in publication order, and every outbox row marked sent with the
    id of the message Discord created for it."""
    assert titles(messages) == [i.title for i in items]
    rows = outbox_of(bot, sub)
    assert [r[0] for r in rows] == ["sent"] * len(items)
    assert [r[2] for r in rows] == [str(m.id) for m in messages]


def gaps(requests: list[RecordedRequest]) -> list[float]:
    times = [r.time for r in requests]
    return [b - a for a, b in itertools.pairwise(times)]


# -- REST 500s ----------------------------------------------------------------------------------

OUTAGE_S = 3.5


@pytest.mark.parametrize(
    ("status", "min_gap_s"),
    [
        # discord.py retries a 500 itself after 1, 3, 5, 7 s: the sends at 0 and 1 s fail, the
        # one at 4 s passes.
        (500, 0.9),
        # discord.py raises a 503 at once; the worker's RetryPolicy waits 2 s, then 4 s: the
        # sends at 0 and ~2 s fail, the one at ~6 s passes.
        (503, 1.7),
    ],
)
async def test_rest_outage_on_a_channel_delays_it_without_loss_or_hammering(
    running: Bot, feed_server: FeedServer, status: int, min_gap_s: float
) -> None:
    bot, fake = running
    wire = Wire(bot, feed_server)
    a_alerts = fake.guild_a.channel("alerts")
    b_alerts = fake.guild_b.channel("alerts")
    hook = fake.create_webhook(fake.guild_b.channel("general").id, name="bw")
    down = await subscribe(bot, fake.guild_a.id, "channel", str(a_alerts.id))
    other_channel = await subscribe(bot, fake.guild_b.id, "channel", str(b_alerts.id))
    webhook = await subscribe(bot, fake.guild_b.id, "webhook", hook.url)

    loop = asyncio.get_running_loop()
    outage = fake.fail_next("POST", f"/channels/{a_alerts.id}/messages", status, times=None)
    started = loop.time()
    first, later = [hit(1), hit(2)], [hit(3), hit(4)]
    await wire.publish(*first)
    # The other destinations get their alerts while the channel is down, including items that
    # arrive during the outage (the stuck channel must not hold up the worker).
    await fake.wait_for(lambda: len(fake.webhook_messages(hook.id)) == 2, 3, "webhook alerts")
    await wire.publish(*later)
    await fake.wait_for(lambda: len(fake.webhook_messages(hook.id)) == 4, 3, "later alerts")
    await fake.wait_for(lambda: len(fake.messages_in(b_alerts.id)) == 4, 3, "other channel")
    assert loop.time() - started < OUTAGE_S
    assert fake.messages_in(a_alerts.id) == []
    assert [r[0] for r in outbox_of(bot, down)] == ["pending"] * 4  # kept, not lost

    await asyncio.sleep(max(0.0, OUTAGE_S - (loop.time() - started)))
    [(head_error,)] = db_rows(
        bot, "SELECT last_error FROM outbox WHERE subscription_id = ? ORDER BY id LIMIT 1", down.id
    )
    fake.clear_failures()  # Discord is back
    attempts = fake.requests_to("POST", f"/channels/{a_alerts.id}/messages")
    assert outage.hits == 2, [round(r.time - started, 2) for r in attempts]
    assert min(gaps(attempts)) >= min_gap_s, "the retries must back off, not hammer"

    await fake.wait_for(lambda: len(fake.messages_in(a_alerts.id)) == 4, 15, "alerts after")
    await asyncio.sleep(0.3)  # nothing else may follow
    items = [*first, *later]
    assert_delivered_once_in_order(bot, down, fake.messages_in(a_alerts.id), items)
    assert_delivered_once_in_order(bot, other_channel, fake.messages_in(b_alerts.id), items)
    assert titles(fake.webhook_messages(hook.id)) == [i.title for i in items]
    assert [r[0] for r in outbox_of(bot, webhook)] == ["sent"] * 4
    # The first row of the channel carries the failed attempts the worker saw, and the error.
    [(attempts_made,)] = db_rows(
        bot, "SELECT attempts FROM outbox WHERE subscription_id = ? ORDER BY id LIMIT 1", down.id
    )
    if status == 503:
        assert attempts_made == outage.hits + 1  # the failures the worker saw, then the send
        assert head_error.startswith("HTTP 503"), head_error
    else:
        assert attempts_made == 1  # discord.py's own retries are invisible to the worker
        assert head_error is None  # still inside discord.py's retries when the outage ended
    assert not [s for s in await bot.rt.store.subscriptions(fake.guild_a.id) if s.paused]
    assert Counter(r.status for r in fake.requests_to("POST", "/webhooks/*")) == {200: 4}


# -- 429 storms ---------------------------------------------------------------------------------


async def test_429_storm_on_a_channel_and_globally_delivers_each_alert_once_in_order(
    running: Bot, feed_server: FeedServer
) -> None:
    bot, fake = running
    wire = Wire(bot, feed_server)
    a_alerts = fake.guild_a.channel("alerts")
    b_alerts = fake.guild_b.channel("alerts")
    hook = fake.create_webhook(fake.guild_b.channel("general").id, name="bw")
    subs = {
        "a": await subscribe(bot, fake.guild_a.id, "channel", str(a_alerts.id)),
        "b": await subscribe(bot, fake.guild_b.id, "channel", str(b_alerts.id)),
        "hook": await subscribe(bot, fake.guild_b.id, "webhook", hook.url),
    }
    a_path, b_path = f"/channels/{a_alerts.id}/messages", f"/channels/{b_alerts.id}/messages"
    storms = [
        # Six in a row on one channel: more than discord.py's five tries of one send, so the
        # sink reports the 429 and the worker waits too.
        fake.fail_next("POST", a_path, 429, times=6, retry_after=0.2),
        # The bot's global limit, hit from another channel.
        fake.fail_next(
            "POST", "/channels/*/messages", 429, times=3, retry_after=0.3, is_global=True
        ),
        fake.fail_next("POST", "/webhooks/*", 429, times=3, retry_after=0.2),
        fake.fail_next("POST", "/webhooks/*", 429, times=1, retry_after=0.3, is_global=True),
    ]
    items = [hit(n) for n in range(1, 6)]
    await wire.publish(*items)

    def all_delivered() -> bool:
        return (
            len(fake.messages_in(a_alerts.id)) >= 5
            and len(fake.messages_in(b_alerts.id)) >= 5
            and len(fake.webhook_messages(hook.id)) >= 5
        )

    await fake.wait_for(all_delivered, 15, "every alert through the 429s")
    await asyncio.sleep(0.3)  # nothing else may follow
    assert [s.hits for s in storms] == [6, 3, 3, 1], "the storm really happened"
    assert_delivered_once_in_order(bot, subs["a"], fake.messages_in(a_alerts.id), items)
    assert_delivered_once_in_order(bot, subs["b"], fake.messages_in(b_alerts.id), items)
    assert titles(fake.webhook_messages(hook.id)) == [i.title for i in items]
    assert [r[0] for r in outbox_of(bot, subs["hook"])] == ["sent"] * 5
    # A 429 costs no attempt: every row was sent on its first counted attempt.
    assert {r[1] for s in subs.values() for r in outbox_of(bot, s)} == {1}
    # Each route waited what Discord asked before trying again.
    for path, wait in ((a_path, 0.2), (b_path, 0.3), (f"/webhooks/{hook.id}/*", 0.2)):
        sent = fake.requests_to("POST", path)
        for before, after in itertools.pairwise(sent):
            if before.status == 429:
                assert after.time - before.time >= wait - 0.02, (path, before, after)
    assert not [r for r in fake.requests if r.deduplicated], "no resend of a delivered alert"


# -- gateway disconnect during delivery ---------------------------------------------------------


async def _no_identify_wait(shard_id: int | None, *, initial: bool = False) -> None:
    """discord.py sleeps 5 s before every re-IDENTIFY (Discord's identify rate); not here."""


@pytest.mark.parametrize("resumable", [True, False], ids=["resume", "session-invalidated"])
async def test_gateway_drop_mid_delivery_loses_and_doubles_nothing(
    running: Bot, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch, resumable: bool
) -> None:
    bot, fake = running
    monkeypatch.setattr(bot, "before_identify_hook", _no_identify_wait)
    wire = Wire(bot, feed_server)
    a_alerts = fake.guild_a.channel("alerts")
    b_alerts = fake.guild_b.channel("alerts")
    hook = fake.create_webhook(fake.guild_b.channel("general").id, name="bw")
    a = await subscribe(bot, fake.guild_a.id, "channel", str(a_alerts.id))
    b = await subscribe(bot, fake.guild_b.id, "channel", str(b_alerts.id))
    await subscribe(bot, fake.guild_b.id, "webhook", hook.url)
    assert bot.ws is not None
    session_id = bot.ws.session_id
    fake.latency = 0.1  # every REST answer takes 100 ms: sends are in flight when it drops

    before, after = [hit(n) for n in range(1, 7)], [hit(n) for n in range(7, 10)]
    await wire.publish(*before)
    await fake.wait_for(lambda: len(fake.messages_in(a_alerts.id)) >= 1, 5, "delivery started")
    assert len(fake.messages_in(a_alerts.id)) < len(before), "the drop must come mid-delivery"
    outcome = await fake.disconnect_gateway(4000, resumable=resumable, timeout=10)
    assert outcome == ("RESUMED" if resumable else "READY")
    if resumable:
        assert fake.resumes[-1]["session_id"] == session_id
        assert fake.gateway.connect_paths[-1] == "/gateway-resume"
    else:
        assert fake.gateway.invalid_sessions == 1
        assert len(fake.identifies) == 2
    await wire.publish(*after)

    items = [*before, *after]
    await fake.wait_for(
        lambda: (
            len(fake.messages_in(a_alerts.id)) >= len(items)
            and len(fake.messages_in(b_alerts.id)) >= len(items)
            and len(fake.webhook_messages(hook.id)) >= len(items)
        ),
        15,
        "every alert after the reconnect",
    )
    await asyncio.sleep(0.3)
    assert_delivered_once_in_order(bot, a, fake.messages_in(a_alerts.id), items)
    assert_delivered_once_in_order(bot, b, fake.messages_in(b_alerts.id), items)
    assert titles(fake.webhook_messages(hook.id)) == [i.title for i in items]
    # The bot is usable again: a member's command is answered.
    fake.latency = 0.0
    await fake.wait_for(bot.is_ready, 5, "on_ready after the reconnect")
    status = await fake.invoke("status", user_id=fake.user("bob"))
    assert status.response_type == 4
    assert not status.expired


# -- destinations that disappear ------------------------------------------------------------------


async def test_deleted_channel_pauses_its_subscription_tells_the_guild_and_spares_the_rest(
    running: Bot, feed_server: FeedServer
) -> None:
    bot, fake = running
    wire = Wire(bot, feed_server)
    alice = fake.user("alice").id
    a_alerts = fake.guild_a.channel("alerts")
    b_alerts = fake.guild_b.channel("alerts")
    gone = await subscribe(bot, fake.guild_a.id, "channel", str(a_alerts.id), created_by=alice)
    kept = await subscribe(bot, fake.guild_b.id, "channel", str(b_alerts.id))
    await fake.delete_channel(a_alerts.id)
    await fake.wait_for(lambda: bot.get_channel(a_alerts.id) is None, 5, "CHANNEL_DELETE seen")

    items = [hit(1), hit(2), hit(3)]
    await wire.publish(*items)
    general = fake.guild_a.system_channel
    assert general is not None
    await fake.wait_for(lambda: len(fake.messages_in(b_alerts.id)) == 3, 10, "other channel")
    await fake.wait_for(lambda: fake.messages_in(general.id), 10, "the pause notice")
    await asyncio.sleep(0.3)

    # What the guild sees: one notice in its system channel, naming the channel and the fix.
    [notice] = fake.messages_in(general.id)
    assert f"<#{a_alerts.id}>" in notice.content
    assert "paused" in notice.content
    assert "/alerts resume" in notice.content
    assert "404" in notice.content or "Unknown Channel" in notice.content
    assert not notice.pings
    assert_delivered_once_in_order(bot, kept, fake.messages_in(b_alerts.id), items)
    # What SQLite holds: paused with the reason; the alerts kept, not lost.
    [(paused, reason)] = db_rows(
        bot, "SELECT paused, paused_reason FROM subscriptions WHERE id = ?", gone.id
    )
    assert paused == 1
    assert "10003" in reason
    assert [r[0] for r in outbox_of(bot, gone)] == ["pending"] * 3
    # Asked once (the first row), then left alone while paused.
    assert len(fake.requests_to("*", f"/channels/{a_alerts.id}*")) == 1

    # What an admin sees next: the list says why; resuming is refused until it is fixed.
    listing = await fake.invoke("alerts list")
    assert f"#{gone.id}" in listing.text()
    assert "paused: HTTP 404" in listing.text()
    refused = await fake.invoke("alerts resume", options={"subscription": str(gone.id)})
    assert "cannot see" in refused.content
    assert db_rows(bot, "SELECT paused FROM subscriptions WHERE id = ?", gone.id) == [(1,)]


async def test_revoked_webhook_pauses_its_subscription_and_tells_the_guild(
    running: Bot, feed_server: FeedServer
) -> None:
    bot, fake = running
    wire = Wire(bot, feed_server)
    carol = fake.user("carol").id
    b_alerts = fake.guild_b.channel("alerts")
    hook = fake.create_webhook(b_alerts.id, name="bw")
    revoked = await subscribe(bot, fake.guild_b.id, "webhook", hook.url, created_by=carol)
    kept = await subscribe(bot, fake.guild_b.id, "channel", str(b_alerts.id))
    await fake.delete_webhook(hook.id)

    items = [hit(1), hit(2)]
    await wire.publish(*items)
    general = fake.guild_b.system_channel
    assert general is not None
    await fake.wait_for(lambda: fake.messages_in(general.id), 10, "the pause notice")
    await fake.wait_for(lambda: len(fake.messages_in(b_alerts.id)) == 2, 10, "channel alerts")
    await asyncio.sleep(0.3)

    [notice] = fake.messages_in(general.id)
    assert f"webhook {hook.id}" in notice.content
    assert "paused" in notice.content
    assert "/alerts resume" in notice.content
    assert hook.token not in notice.content, "the webhook's secret never appears"
    assert not notice.pings
    assert_delivered_once_in_order(bot, kept, fake.messages_in(b_alerts.id), items)
    [(paused, reason)] = db_rows(
        bot, "SELECT paused, paused_reason FROM subscriptions WHERE id = ?", revoked.id
    )
    assert paused == 1
    assert "10015" in reason
    assert hook.token not in reason
    assert [r[0] for r in outbox_of(bot, revoked)] == ["pending"] * 2
    assert len(fake.requests_to("POST", f"/webhooks/{hook.id}/*")) == 1
    assert fake.webhook_messages(hook.id) == []


# -- an interaction slower than Discord's 3 s -----------------------------------------------------


async def test_slow_feeds_add_is_deferred_within_the_deadline_then_answered(
    running: Bot, feed_server: FeedServer
) -> None:
    bot, fake = running
    assert fake.interaction_deadline == 3.0  # the fake refuses a first answer after 3 s
    slow = feed_server.route("/slow.xml", rss([OLD, hit(1)], title="Slow Wire"), delay_s=4.0)
    url = feed_server.url("/slow.xml")

    answer = asyncio.create_task(
        fake.invoke("feeds add", options={"url": url, "name": "Slow"}, timeout=15)
    )
    # Only the check fetch is slow; the baseline poll right after it gets a prompt answer.
    await fake.wait_for(lambda: feed_server.requests_to("/slow.xml"), 5, "the check fetch")
    slow.delay_s = 0.0
    record = await answer

    assert record.response_type == 5  # deferred ("BorderWatch is thinking...")
    assert not record.expired
    assert not record.errors
    [callback, *_] = fake.requests_to("POST", f"/interactions/{record.id}/*")
    assert callback.status == 200
    assert callback.time - (record.dispatched_at or 0.0) < 3.0
    assert record.finished
    # The answer itself came after the 4 s fetch, long past the deadline a plain reply has.
    [answer_request] = fake.requests_to("POST", f"/webhooks/{fake.application_id}/{record.token}")
    assert answer_request.time - (record.dispatched_at or 0.0) >= 4.0
    assert record.ephemeral
    [embed] = record.embeds
    assert embed["title"] == "Feed added"
    assert "**Slow**" in embed["description"]
    [(feed_id, baselined)] = db_rows(bot, "SELECT id, baselined FROM feeds WHERE url = ?", url)
    assert baselined == 1
    assert db_rows(bot, "SELECT name FROM guild_feeds WHERE feed_id = ?", feed_id) == [("Slow",)]
    assert db_rows(bot, "SELECT COUNT(*) FROM outbox") == [(0,)]  # the backlog is not posted


# -- the worker's lanes and a slow database read --------------------------------------------------


class SnapshotStore(FakeOutboxStore):
    """An outbox whose reads (after the first) take a while and return what was committed when
    they started, as a busy SQLite read does."""

    read_delay_s = 0.3

    async def due_outbox(
        self, now: datetime, limit: int, kinds: Collection[DestinationKind]
    ) -> Sequence[OutboxItem]:
        first = self.due_calls == 0
        snapshot = await super().due_outbox(now, limit, kinds)
        if not first:
            await asyncio.sleep(self.read_delay_s)
        return snapshot


async def test_a_lane_ending_during_a_slow_read_is_not_sent_again() -> None:
    """Found with the outage test above (an alert posted twice to a webhook): a lane that ended
    while the worker's next read was running must not be restarted from that stale read."""
    store = SnapshotStore()
    sent: list[int] = []

    class SlowSink:
        async def send(self, item: OutboxItem, rendered: RenderedMessage) -> DeliveryResult:
            sent.append(item.id)
            await asyncio.sleep(0.15 if item.destination == "111" else 0.0)
            return DeliveryResult.sent(f"m{item.id}")

    def now() -> datetime:
        return datetime.now(UTC)

    worker = DeliveryWorker(store, {"channel": SlowSink()}, clock=now, poll_interval_s=60)
    busy_row = store.enqueue(store.subscribe("channel", "111"), now=now())
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run_forever(stop))
    try:
        await asyncio.sleep(0.05)  # the first lane is sending
        other_row = store.enqueue(store.subscribe("channel", "222"), now=now())
        worker.notify()  # a read starts while the first lane is still busy, and outlives it
        for _ in range(100):
            if store.status(other_row) == "sent":
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.4)  # a stale restart of the first lane would have sent by now
    finally:
        stop.set()
        await asyncio.wait_for(task, 2)
    assert store.status(busy_row) == store.status(other_row) == "sent"
    assert sorted(sent) == [busy_row, other_row], sent
