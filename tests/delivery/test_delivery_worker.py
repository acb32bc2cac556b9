"""DeliveryWorker against an in-memory store and scripted sinks: order, retries, pauses."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.render import RenderedMessage
from bot.core.types import Alert
from bot.delivery.base import DeliveryResult, PausedInfo, describe_destination
from bot.delivery.worker import DeliveryWorker, RetryPolicy
from tests.delivery.fake_outbox import T0, Clock, FakeOutboxStore, ScriptedSink

CHAN_A = "111111111111111111"
CHAN_B = "222222222222222222"


class Notes:
    """The notifier: records who would be told what."""

    def __init__(self) -> None:
        self.told: list[tuple[PausedInfo, str]] = []

    async def __call__(self, info: PausedInfo, reason: str) -> None:
        self.told.append((info, reason))


def setup(
    policy: RetryPolicy | None = None,
) -> tuple[FakeOutboxStore, ScriptedSink, Clock, Notes, DeliveryWorker]:
    store = FakeOutboxStore()
    clock = Clock()
    sink = ScriptedSink(clock)
    notes = Notes()
    worker = DeliveryWorker(
        store,
        {"channel": sink, "webhook": sink, "console": sink},
        notes,
        clock=clock,
        policy=policy or RetryPolicy(),
        rand=lambda: 0.5,  # no jitter: delays are exactly base * factor**(n-1)
    )
    return store, sink, clock, notes, worker


async def test_rows_of_one_destination_go_out_in_order() -> None:
    store, sink, _, _, worker = setup()
    a = store.subscribe("channel", CHAN_A)
    b = store.subscribe("channel", CHAN_B)
    a_rows = []
    for _ in range(4):
        a_rows.append(store.enqueue(a))
        store.enqueue(b)
    assert await worker.run_once() == 8
    assert sink.attempted_rows(CHAN_A) == a_rows
    assert all(store.status(r) == "sent" for r in store.rows)
    # Each row records the message id its own send returned.
    ids = {c.row_id: None for c in sink.calls}
    assert len({store.rows[r].message_id for r in ids}) == 8


async def test_two_server_errors_then_success_sends_once() -> None:
    store, sink, clock, _, worker = setup()
    a = store.subscribe("channel", CHAN_A)
    first, second = store.enqueue(a), store.enqueue(a)
    sink.will(first, DeliveryResult.retry("HTTP 502"), DeliveryResult.retry("HTTP 503"))

    await worker.run_once()
    row = store.rows[first]
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "HTTP 502")
    assert row.next_attempt_at == T0 + timedelta(seconds=2)
    assert sink.attempted_rows() == [first]  # the second row waits behind the first

    clock.advance(1.9)
    await worker.run_once()
    assert sink.attempted_rows() == [first]  # not due yet

    clock.advance(0.1)
    await worker.run_once()
    assert store.rows[first].attempts == 2
    assert store.rows[first].next_attempt_at == clock.now + timedelta(seconds=4)

    clock.advance(4)
    await worker.run_once()
    assert sink.attempted_rows() == [first, first, first, second]
    assert store.status(first) == store.status(second) == "sent"
    assert store.rows[first].attempts == 3


async def test_rate_limit_waits_exactly_retry_after_and_is_not_an_attempt() -> None:
    store, sink, clock, _, worker = setup()
    a = store.subscribe("webhook", "https://discord.com/api/webhooks/1/x")
    row = store.enqueue(a)
    sink.will(row, DeliveryResult.retry("HTTP 429", retry_after_s=7.5))
    await worker.run_once()
    assert store.rows[row].attempts == 0
    assert store.rows[row].next_attempt_at == T0 + timedelta(seconds=7.5)
    clock.advance(7.4)
    await worker.run_once()
    assert store.status(row) == "pending"
    clock.advance(0.1)
    await worker.run_once()
    assert store.status(row) == "sent"
    assert len(sink.calls) == 2


async def test_gone_pauses_the_subscription_and_tells_the_guild_once() -> None:
    store, sink, _, notes, worker = setup()
    gone_sub = store.subscribe("channel", CHAN_A, guild_id=5, created_by=42)
    other = store.subscribe("channel", CHAN_B)
    r1, r2 = store.enqueue(gone_sub), store.enqueue(gone_sub)
    ok = store.enqueue(other)
    sink.will(r1, DeliveryResult.gone("HTTP 403 (code 50001): Missing Access"))

    await worker.run_once()
    assert store.subscriptions[gone_sub].paused
    assert store.subscriptions[gone_sub].paused_reason == "HTTP 403 (code 50001): Missing Access"
    assert notes.told == [
        (
            PausedInfo(
                subscription_id=gone_sub,
                guild_id=5,
                destination_kind="channel",
                destination=CHAN_A,
                topic="iran-azerbaijan-border",
                created_by=42,
            ),
            "HTTP 403 (code 50001): Missing Access",
        )
    ]
    # The paused subscription's rows stay pending and are no longer tried; others go on.
    assert store.status(r1) == store.status(r2) == "pending"
    assert store.status(ok) == "sent"
    await worker.run_once()
    await worker.run_once()
    assert sink.attempted_rows(CHAN_A) == [r1]
    assert len(notes.told) == 1


async def test_failed_row_is_not_retried_and_does_not_block_the_next() -> None:
    store, sink, clock, _, worker = setup()
    a = store.subscribe("channel", CHAN_A)
    bad, good = store.enqueue(a), store.enqueue(a)
    sink.will(bad, DeliveryResult.failed("HTTP 400 (code 50035): Invalid Form Body"))
    await worker.run_once()
    assert store.status(bad) == "failed"
    assert store.rows[bad].last_error == "HTTP 400 (code 50035): Invalid Form Body"
    assert store.status(good) == "sent"
    clock.advance(3600)
    await worker.run_once()
    assert sink.attempted_rows() == [bad, good]


async def test_a_destination_in_backoff_does_not_hold_up_others() -> None:
    store, sink, clock, _, worker = setup()
    a = store.subscribe("channel", CHAN_A)
    b = store.subscribe("channel", CHAN_B)
    stuck = store.enqueue(a)
    sink.will(stuck, *[DeliveryResult.retry("network error")] * 3)
    b_rows = []
    for _ in range(3):
        clock.advance(1)
        b_rows.append(store.enqueue(b, now=clock.now))
        await worker.run_once()
    assert [store.status(r) for r in b_rows] == ["sent"] * 3
    assert store.status(stuck) == "pending"


async def test_slow_destination_does_not_delay_others_within_a_batch() -> None:
    store = FakeOutboxStore()
    clock = Clock()
    order: list[str] = []

    class SlowSink:
        async def send(self, item: object, rendered: RenderedMessage) -> DeliveryResult:
            await asyncio.sleep(0.3)
            order.append("slow")
            return DeliveryResult.sent("1")

    class FastSink:
        async def send(self, item: object, rendered: RenderedMessage) -> DeliveryResult:
            order.append("fast")
            return DeliveryResult.sent("2")

    store.enqueue(store.subscribe("webhook", "https://discord.com/api/webhooks/1/x"))
    store.enqueue(store.subscribe("console", "console"))
    worker = DeliveryWorker(store, {"webhook": SlowSink(), "console": FastSink()}, clock=clock)
    await worker.run_once()
    assert order == ["fast", "slow"]


async def test_gives_up_after_max_attempts() -> None:
    store, sink, clock, _, worker = setup(RetryPolicy(base_s=1, factor=2, cap_s=4, max_attempts=4))
    a = store.subscribe("channel", CHAN_A)
    row = store.enqueue(a)
    sink.will(row, *[DeliveryResult.retry("HTTP 500")] * 10)
    waits = []
    for _ in range(4):
        await worker.run_once()
        wait = (store.rows[row].next_attempt_at - clock.now).total_seconds()
        waits.append(wait)
        clock.advance(max(wait, 0))
    assert store.status(row) == "failed"
    assert store.rows[row].attempts == 4
    assert store.rows[row].last_error == "gave up after 4 attempts: HTTP 500"
    assert waits[:3] == [1, 2, 4]
    assert len(sink.calls) == 4


DELAYS = [
    # (attempt, rand, seconds) for base 2, factor 2, cap 300, jitter 0.1
    (1, 0.5, 2.0),
    (2, 0.5, 4.0),
    (3, 0.5, 8.0),
    (8, 0.5, 256.0),
    (9, 0.5, 300.0),
    (15, 0.5, 300.0),
    (1, 0.0, 1.8),
    (1, 1.0, 2.2),
    (9, 1.0, 300.0),  # jitter never goes over the cap
    (9, 0.0, 270.0),
]


@pytest.mark.parametrize(("attempt", "rand", "seconds"), DELAYS)
def test_retry_policy_delays(attempt: int, rand: float, seconds: float) -> None:
    assert RetryPolicy().delay_s(attempt, rand) == pytest.approx(seconds)


async def test_a_raising_sink_counts_as_a_failed_attempt() -> None:
    store, sink, _, _, worker = setup()
    row = store.enqueue(store.subscribe("channel", CHAN_A))
    sink.will(row, RuntimeError("boom"))
    await worker.run_once()
    assert store.status(row) == "pending"
    assert store.rows[row].attempts == 1
    assert "boom" in (store.rows[row].last_error or "")


async def test_render_error_fails_the_row_only() -> None:
    store = FakeOutboxStore()
    clock = Clock()
    sink = ScriptedSink(clock)

    def render(alert: Alert) -> RenderedMessage:
        if alert.title == "poison":
            raise ValueError("cannot render")
        return RenderedMessage("", {"title": alert.title}, {"parse": []})

    sub = store.subscribe("channel", CHAN_A)
    bad = store.enqueue(sub, title="poison")
    good = store.enqueue(sub)
    worker = DeliveryWorker(store, {"channel": sink}, clock=clock, render=render)
    await worker.run_once()
    assert store.status(bad) == "failed"
    assert store.status(good) == "sent"
    assert sink.attempted_rows() == [good]


async def test_rows_without_a_sink_are_left_alone() -> None:
    store, _, clock, _, _ = setup()
    sink = ScriptedSink(clock)
    channel_row = store.enqueue(store.subscribe("channel", CHAN_A))
    console_row = store.enqueue(store.subscribe("console", "console"))
    worker = DeliveryWorker(store, {"console": sink}, clock=clock)
    await worker.run_once()
    assert store.status(console_row) == "sent"
    assert store.status(channel_row) == "pending"


async def test_notifier_failure_does_not_stop_delivery() -> None:
    store = FakeOutboxStore()
    clock = Clock()
    sink = ScriptedSink(clock)

    async def broken_notifier(info: PausedInfo, reason: str) -> None:
        raise RuntimeError("cannot DM")

    gone = store.enqueue(store.subscribe("channel", CHAN_A))
    fine = store.enqueue(store.subscribe("channel", CHAN_B))
    sink.will(gone, DeliveryResult.gone("HTTP 404: Unknown Channel"))
    worker = DeliveryWorker(store, {"channel": sink}, broken_notifier, clock=clock)
    await worker.run_once()
    assert store.subscriptions[1].paused
    assert store.status(fine) == "sent"


async def test_rendered_message_reaches_the_sink() -> None:
    store, sink, _, _, worker = setup()
    sub = store.subscribe("channel", CHAN_A, role_id=99)
    store.enqueue(sub, title="@everyone look")
    await worker.run_once()
    rendered = sink.calls[0].rendered
    assert rendered.content == "<@&99>"
    assert rendered.allowed_mentions == {"parse": [], "roles": ["99"]}
    assert "@everyone" not in rendered.embed["title"]


def test_webhook_token_is_never_described() -> None:
    url = "https://discord.com/api/webhooks/123456789012345678/" + "t" * 68
    assert describe_destination("webhook", url) == "webhook 123456789012345678"
    assert describe_destination("channel", CHAN_A) == f"<#{CHAN_A}>"


# --- run_forever, on the real clock -------------------------------------------------------


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def test_notify_wakes_the_worker_before_the_poll_interval() -> None:
    store = FakeOutboxStore()
    sink = ScriptedSink(Clock())
    worker = DeliveryWorker(store, {"channel": sink}, clock=_utc_now, poll_interval_s=60)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run_forever(stop))
    await asyncio.sleep(0.05)
    row = store.enqueue(store.subscribe("channel", CHAN_A), now=_utc_now())
    worker.notify()
    for _ in range(100):
        if store.status(row) == "sent":
            break
        await asyncio.sleep(0.01)
    assert store.status(row) == "sent"
    # Once delivered it goes back to sleep instead of polling in a loop.
    calls = store.due_calls
    await asyncio.sleep(0.3)
    assert store.due_calls - calls <= 1
    stop.set()
    await asyncio.wait_for(task, 1)


async def test_run_forever_retries_when_due_without_a_notify() -> None:
    store = FakeOutboxStore()
    sink = ScriptedSink(Clock())
    policy = RetryPolicy(base_s=0.1, jitter=0)
    worker = DeliveryWorker(
        store, {"channel": sink}, clock=_utc_now, policy=policy, poll_interval_s=60
    )
    row = store.enqueue(store.subscribe("channel", CHAN_A), now=_utc_now())
    sink.will(row, DeliveryResult.retry("HTTP 500"), DeliveryResult.retry("HTTP 500"))
    stop = asyncio.Event()
    started = asyncio.get_running_loop().time()
    task = asyncio.create_task(worker.run_forever(stop))
    for _ in range(200):
        if store.status(row) == "sent":
            break
        await asyncio.sleep(0.01)
    elapsed = asyncio.get_running_loop().time() - started
    assert store.status(row) == "sent"
    assert len(sink.calls) == 3
    assert 0.3 <= elapsed < 1.5  # waited 0.1 s then 0.2 s, not the 60 s poll interval
    stop.set()
    await asyncio.wait_for(task, 1)


async def test_stop_ends_an_idle_worker_promptly() -> None:
    worker = DeliveryWorker(FakeOutboxStore(), {}, clock=_utc_now, poll_interval_s=60)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run_forever(stop))
    await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 0.5)
