"""The outbox worker: sends pending outbox rows through the sinks and records what happened.

Delivery is at-least-once: a row is written before any send (by the pipeline) and marked sent
only after the sink reports success, so a crash at any point leaves it pending and it is sent after
restart (channel sends carry the row's nonce, which Discord uses to drop the duplicate).

Order: rows of one destination (same kind and destination) go out strictly in id order, one at a
time. When a row must wait (retry), the rows behind it wait too, but other destinations carry on:
each destination is its own lane and lanes run concurrently. Retrying follows one declared
``RetryPolicy``. No SQL here: the store and the sinks are handed in.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bot.core.render import RenderedMessage, render_alert
from bot.core.types import Alert, DestinationKind, OutboxItem
from bot.delivery.base import DeliveryResult, PausedInfo, Sink, describe_destination

log = logging.getLogger(__name__)


class OutboxStore(Protocol):
    """What the worker needs from storage. Implemented by the SQLite store.

    A destination is the pair (destination_kind, destination). Rows of paused subscriptions are
    invisible to the worker. Rows are ordered by id (insertion order).
    """

    async def due_outbox(
        self, now: datetime, limit: int, kinds: Collection[DestinationKind]
    ) -> Sequence[OutboxItem]:
        """Pending rows ready to send, ordered by id, at most ``limit``.

        A row is ready when: status is pending; its subscription is not paused; its
        destination_kind is in ``kinds``; its next_attempt_at <= now; and no pending row of an
        active subscription with the same destination and a smaller id has next_attempt_at > now
        (a destination in backoff sends nothing, so its order is kept).
        """
        ...

    async def next_due_at(self, kinds: Collection[DestinationKind]) -> datetime | None:
        """When ``due_outbox`` will next have something: the earliest next_attempt_at among the
        heads of destinations (a destination's head is its pending row of an active subscription
        with the smallest id; kinds in ``kinds`` only). May be in the past; None when nothing is
        pending. Lets the worker sleep exactly until a retry is due."""
        ...

    async def mark_sent(self, outbox_id: int, message_id: str | None, now: datetime) -> None:
        """status = sent, sent_at = now, message_id recorded, attempts + 1."""
        ...

    async def mark_retry(
        self,
        outbox_id: int,
        *,
        attempts: int,
        error: str,
        next_attempt_at: datetime,
        now: datetime,
    ) -> None:
        """Stays pending: attempts = ``attempts`` (the worker counts; a 429 does not add one),
        last_error = error, next_attempt_at as given."""
        ...

    async def mark_failed(
        self, outbox_id: int, *, attempts: int, error: str, now: datetime
    ) -> None:
        """status = failed for good: attempts and last_error recorded. Never picked up again."""
        ...

    async def pause_subscription(
        self, subscription_id: int, reason: str, now: datetime
    ) -> PausedInfo | None:
        """Pause the subscription and record why, atomically (UPDATE ... WHERE NOT paused).

        Returns who to tell, or None when it was already paused or no longer exists (then
        nobody is told twice). Its pending rows stay pending and are hidden while paused.
        """
        ...


Notifier = Callable[[PausedInfo, str], Awaitable[None]]
"""Tells a guild that a subscription was paused and why (system channel, or DM to its creator)."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Capped exponential backoff with jitter, and when to give up.

    The n-th failed attempt (n >= 1) waits base_s * factor**(n-1), at most cap_s, scaled by a
    random factor in [1 - jitter, 1 + jitter] (still at most cap_s). After max_attempts failed
    attempts the row is marked failed. With the defaults: 2, 4, 8, ... 256, then 300 s; giving
    up after 20 attempts, about 64 minutes after the first one. A 429 waits exactly what Discord
    asked for and does not count as an attempt: the message was fine, the rate was not.
    """

    base_s: float = 2.0
    factor: float = 2.0
    cap_s: float = 300.0
    jitter: float = 0.1
    max_attempts: int = 20

    def delay_s(self, attempt: int, rand: float) -> float:
        """Wait after the ``attempt``-th failure; ``rand`` is uniform in [0, 1)."""
        raw = min(self.cap_s, self.base_s * self.factor ** max(attempt - 1, 0))
        return min(self.cap_s, raw * (1.0 + self.jitter * (2.0 * rand - 1.0)))


_MIN_IDLE_WAIT_S = 0.05
_ERROR_WAIT_S = 5.0  # after a batch failed (e.g. the database was locked)
# While a destination is being sent to, its head row still reads as due: look again this often
# (or when a lane finishes) instead of spinning on it.
_BUSY_RECHECK_S = 0.25


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def _no_notifier(info: PausedInfo, reason: str) -> None:
    return None


class DeliveryWorker:
    """Drains the outbox. ``run_forever`` for the bot; ``run_once`` for the CLI and tests.

    Do not run two workers (or ``run_once`` beside ``run_forever``) on one store: each would
    send the same rows. Calls on one worker are serialised.
    """

    def __init__(
        self,
        store: OutboxStore,
        sinks: Mapping[DestinationKind, Sink],
        notifier: Notifier = _no_notifier,
        *,
        clock: Callable[[], datetime] = _utc_now,
        policy: RetryPolicy | None = None,
        rand: Callable[[], float] = random.random,
        render: Callable[[Alert], RenderedMessage] = render_alert,
        batch_size: int = 100,
        max_concurrency: int = 16,
        poll_interval_s: float = 30.0,
    ) -> None:
        self._store = store
        self._sinks = dict(sinks)
        self._notifier = notifier
        self._clock = clock
        self._policy = policy or RetryPolicy()
        self._rand = rand
        self._render = render
        self._batch_size = batch_size
        self._max_concurrency = max_concurrency
        self._poll_interval_s = poll_interval_s
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._stopping: asyncio.Event | None = None  # run_forever's stop: lanes end early
        # Rows the sink posted but the store failed to mark sent (database locked or full):
        # their next turn records them instead of posting them again.
        self._sent_unrecorded: dict[int, DeliveryResult] = {}

    @property
    def policy(self) -> RetryPolicy:
        return self._policy

    def notify(self) -> None:
        """New rows were committed: wake ``run_forever`` now instead of at the next poll."""
        self._wake.set()

    async def run_once(self, now: datetime | None = None) -> int:
        """Send one batch of due rows; returns how many rows were attempted."""
        _, attempted = await self._run_batch(self._clock() if now is None else now)
        return attempted

    async def drain(self, max_batches: int = 1000) -> int:
        """Run batches until nothing is due now (retries in the future are left). For `once`."""
        total = 0
        for _ in range(max_batches):
            fetched, attempted = await self._run_batch(self._clock())
            total += attempted
            if fetched == 0 or attempted == 0:
                break
        return total

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set. Sends in flight complete and are recorded first; rows
        a lane has not started stay pending for the next start (a slow destination must not
        hold a shutdown for a whole batch). Cancelling the task instead leaves unrecorded rows
        pending, to be resent (and de-duplicated by nonce) after restart.

        Each destination's lane runs as a task of its own, and new rows are picked up while other
        lanes are still busy: a destination that answers slowly (discord.py retrying a 500 for
        16 s, or sleeping through a 429) holds up only its own rows.
        """
        kinds = frozenset(self._sinks)
        self._stopping = stop
        busy: dict[tuple[str, str], tuple[asyncio.Task[int], int]] = {}  # lane -> (task, rows)

        def lane_done(key: tuple[str, str], task: asyncio.Task[int]) -> None:
            busy.pop(key, None)
            self._wake.set()
            if not task.cancelled() and task.exception() is not None:
                log.error("Delivery lane %s failed", key, exc_info=task.exception())

        try:
            while not stop.is_set():
                self._wake.clear()  # before fetching: a notify() or a lane ending is not lost
                try:
                    fetched, more = await self._start_lanes(self._clock(), kinds, busy, lane_done)
                except Exception:
                    pause = min(self._poll_interval_s, _ERROR_WAIT_S)
                    log.exception("Delivery batch failed; trying again in %.0f s", pause)
                    await _wait_any(stop, seconds=pause)
                    continue
                if more:
                    continue  # more rows are waiting
                timeout = self._poll_interval_s
                try:
                    next_due = await self._store.next_due_at(kinds)
                except Exception:
                    log.exception("Could not read the next outbox due time")
                    next_due = None
                if next_due is not None:
                    until = (next_due - self._clock()).total_seconds()
                    if until <= 0 and busy:
                        until = _BUSY_RECHECK_S  # most likely the head of a lane in flight
                    timeout = min(timeout, max(until, 0.0))
                if fetched == 0:
                    timeout = max(timeout, _MIN_IDLE_WAIT_S)  # never spin on an empty outbox
                if timeout > 0:
                    await _wait_any(self._wake, stop, seconds=timeout)
            if busy:
                await asyncio.wait([task for task, _ in busy.values()])
        finally:
            for task, _ in list(busy.values()):
                task.cancel()

    async def _start_lanes(
        self,
        now: datetime,
        kinds: frozenset[DestinationKind],
        busy: dict[tuple[str, str], tuple[asyncio.Task[int], int]],
        on_done: Callable[[tuple[str, str], asyncio.Task[int]], None],
    ) -> tuple[int, bool]:
        """Start a lane for every due destination that has none running, up to the concurrency
        limit. Returns how many rows were fetched, and whether more may be waiting."""
        in_flight = sum(rows for _, rows in busy.values())  # those come back from the query too
        limit = self._batch_size + in_flight
        # A lane that ends while the query runs may have sent rows the query still read as
        # pending: its destination waits for the next round (the lane's end wakes the loop).
        skip = frozenset(busy)
        items = await self._store.due_outbox(now, limit, kinds)
        lanes: dict[tuple[str, str], list[OutboxItem]] = {}
        for item in items:
            key: tuple[str, str] = (item.destination_kind, item.destination)
            if key not in skip:
                lanes.setdefault(key, []).append(item)
        started = 0
        for key, lane in lanes.items():
            if len(busy) >= self._max_concurrency:
                break
            task = asyncio.create_task(self._run_lane(sorted(lane, key=lambda i: i.id)))
            busy[key] = (task, len(lane))
            task.add_done_callback(functools.partial(on_done, key))
            started += 1
        more = len(items) >= limit and started > 0 and len(busy) < self._max_concurrency
        return len(items), more

    async def _run_batch(self, now: datetime) -> tuple[int, int]:
        async with self._lock:
            items = await self._store.due_outbox(now, self._batch_size, frozenset(self._sinks))
            lanes: dict[tuple[str, str], list[OutboxItem]] = {}
            for item in items:
                lanes.setdefault((item.destination_kind, item.destination), []).append(item)
            limiter = asyncio.Semaphore(self._max_concurrency)

            async def run_lane(lane: list[OutboxItem]) -> int:
                async with limiter:
                    return await self._run_lane(sorted(lane, key=lambda i: i.id))

            counts = await asyncio.gather(*(run_lane(lane) for lane in lanes.values()))
            return len(items), sum(counts)

    async def _run_lane(self, lane: list[OutboxItem]) -> int:
        """Rows of one destination, in order. Stops at the first row that has to wait."""
        attempted = 0
        for item in lane:
            if self._stopping is not None and self._stopping.is_set():
                break
            attempted += 1
            try:
                keep_going = await self._deliver(item)
            except Exception:
                # The store failed to record an outcome: the row stays pending and is retried
                # with the next batch; the rest of this lane waits to keep the order.
                log.exception("Could not record delivery of outbox row %d", item.id)
                return attempted
            if not keep_going:
                break
        return attempted

    async def _send(self, item: OutboxItem) -> DeliveryResult | None:
        """Render and send one row; None when it could not be rendered (then marked failed)."""
        sink = self._sinks[item.destination_kind]
        try:
            rendered = self._render(item.alert)
        except Exception as exc:  # a renderer bug must not wedge the destination
            log.exception("Could not render outbox row %d", item.id)
            await self._store.mark_failed(
                item.id,
                attempts=item.attempts + 1,
                error=f"render error: {exc!r}",
                now=self._clock(),
            )
            return None
        try:
            return await sink.send(item, rendered)
        except Exception as exc:  # sinks report failures as results; this is a bug or the unknown
            log.exception("Sink %s raised for outbox row %d", item.destination_kind, item.id)
            return DeliveryResult.retry(f"unexpected error: {exc!r}")

    async def _deliver(self, item: OutboxItem) -> bool:
        """Send one row and record the outcome; True when the rows behind it may go next."""
        where = describe_destination(item.destination_kind, item.destination)
        result = self._sent_unrecorded.pop(item.id, None) or await self._send(item)
        if result is None:
            return True

        now = self._clock()
        if result.kind == "sent":
            try:
                await self._store.mark_sent(item.id, result.message_id, now)
            except Exception:
                self._sent_unrecorded[item.id] = result  # posted: never post it again
                raise
            log.debug("Outbox row %d sent to %s as %s", item.id, where, result.message_id)
            return True
        error = result.error or result.kind
        if result.kind == "failed":
            log.warning(
                "Outbox row %d to %s failed for good: %s",
                item.id,
                where,
                error,
                extra=_ids(item),
            )
            await self._store.mark_failed(item.id, attempts=item.attempts + 1, error=error, now=now)
            return True
        if result.kind == "gone":
            await self._pause(item, error, now)
            return False
        await self._schedule_retry(item, result, error, now)
        return False

    async def _schedule_retry(
        self, item: OutboxItem, result: DeliveryResult, error: str, now: datetime
    ) -> None:
        where = describe_destination(item.destination_kind, item.destination)
        rate_limited = result.retry_after_s is not None
        attempts = item.attempts if rate_limited else item.attempts + 1
        if attempts >= self._policy.max_attempts:
            log.warning(
                "Outbox row %d to %s failed after %d attempts: %s", item.id, where, attempts, error
            )
            await self._store.mark_failed(
                item.id,
                attempts=attempts,
                error=f"gave up after {attempts} attempts: {error}",
                now=now,
            )
            return
        if rate_limited:
            assert result.retry_after_s is not None
            delay = result.retry_after_s
        else:
            delay = self._policy.delay_s(attempts, self._rand())
        next_at = now + timedelta(seconds=delay)
        log.info(
            "Outbox row %d to %s will be retried in %.1f s (attempt %d): %s",
            item.id,
            where,
            delay,
            attempts,
            error,
        )
        await self._store.mark_retry(
            item.id, attempts=attempts, error=error, next_attempt_at=next_at, now=now
        )

    async def _pause(self, item: OutboxItem, reason: str, now: datetime) -> None:
        where = describe_destination(item.destination_kind, item.destination)
        log.warning(
            "Pausing subscription %d: %s unusable: %s",
            item.subscription_id,
            where,
            reason,
            extra=_ids(item),
        )
        info = await self._store.pause_subscription(item.subscription_id, reason, now)
        if info is None:
            return
        try:
            await self._notifier(info, reason)
        except Exception:  # telling the guild is best effort; the pause is recorded either way
            log.exception(
                "Could not tell guild %s about paused subscription %d",
                info.guild_id,
                info.subscription_id,
            )


def _ids(item: OutboxItem) -> dict[str, object]:
    """Structured-log fields (bot.logs.JsonFormatter shows them)."""
    return {
        "guild_id": item.guild_id,
        "subscription_id": item.subscription_id,
        "outbox_id": item.id,
    }


async def _wait_any(*events: asyncio.Event, seconds: float) -> None:
    """Until one of ``events`` is set or ``seconds`` pass."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
