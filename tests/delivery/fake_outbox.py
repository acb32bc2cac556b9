"""An in-memory OutboxStore (a fake, not a mock) with the semantics the worker's protocol states,
plus a scripted sink and a settable clock for worker tests."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from bot.core.render import RenderedMessage
from bot.core.types import Alert, DestinationKind, OutboxItem
from bot.delivery.base import DeliveryResult, PausedInfo

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def make_alert(title: str = "Iran holds drills near the Aras", **changes: object) -> Alert:
    alert = Alert(
        topic="iran-azerbaijan-border",
        feed_title="Eurasianet",
        title=title,
        link="https://eurasianet.org/x",
        summary="Iranian forces held **drills** near the Aras.",
        published=T0,
        terms=("aras",),
        score=2.5,
    )
    return replace(alert, **changes)  # type: ignore[arg-type]


@dataclass
class Subscription:
    id: int
    guild_id: int | None
    kind: DestinationKind
    destination: str
    topic: str
    created_by: int | None
    role_id: int | None = None
    paused: bool = False
    paused_reason: str | None = None


@dataclass
class Row:
    id: int
    subscription_id: int
    alert: Alert
    nonce: str
    next_attempt_at: datetime
    status: str = "pending"
    attempts: int = 0
    message_id: str | None = None
    last_error: str | None = None
    sent_at: datetime | None = None


@dataclass
class FakeOutboxStore:
    subscriptions: dict[int, Subscription] = field(default_factory=dict)
    rows: dict[int, Row] = field(default_factory=dict)
    pauses: list[tuple[int, str]] = field(default_factory=list)
    due_calls: int = 0  # how often the worker asked: a spinning worker shows up here

    # --- test set-up ---------------------------------------------------------------------

    def subscribe(
        self,
        kind: DestinationKind,
        destination: str,
        *,
        guild_id: int | None = 1,
        created_by: int | None = 77,
        topic: str = "iran-azerbaijan-border",
        role_id: int | None = None,
    ) -> int:
        sub_id = len(self.subscriptions) + 1
        self.subscriptions[sub_id] = Subscription(
            sub_id, guild_id, kind, destination, topic, created_by, role_id
        )
        return sub_id

    def enqueue(self, subscription_id: int, now: datetime = T0, title: str | None = None) -> int:
        row_id = len(self.rows) + 1
        sub = self.subscriptions[subscription_id]
        alert = make_alert(title or f"story {row_id}", role_id=sub.role_id, topic=sub.topic)
        self.rows[row_id] = Row(row_id, subscription_id, alert, f"n{row_id}", next_attempt_at=now)
        return row_id

    def status(self, row_id: int) -> str:
        return self.rows[row_id].status

    # --- the OutboxStore protocol --------------------------------------------------------

    def _item(self, row: Row) -> OutboxItem:
        sub = self.subscriptions[row.subscription_id]
        return OutboxItem(
            id=row.id,
            subscription_id=sub.id,
            guild_id=sub.guild_id,
            destination_kind=sub.kind,
            destination=sub.destination,
            nonce=row.nonce,
            attempts=row.attempts,
            alert=row.alert,
        )

    def _active_pending(self, kinds: Collection[DestinationKind]) -> list[Row]:
        return [
            row
            for row in sorted(self.rows.values(), key=lambda r: r.id)
            if row.status == "pending"
            and not self.subscriptions[row.subscription_id].paused
            and self.subscriptions[row.subscription_id].kind in kinds
        ]

    def _destination(self, row: Row) -> tuple[str, str]:
        sub = self.subscriptions[row.subscription_id]
        return (sub.kind, sub.destination)

    async def due_outbox(
        self, now: datetime, limit: int, kinds: Collection[DestinationKind]
    ) -> Sequence[OutboxItem]:
        self.due_calls += 1
        blocked: set[tuple[str, str]] = set()
        out: list[OutboxItem] = []
        for row in self._active_pending(kinds):
            dest = self._destination(row)
            if dest in blocked:
                continue
            if row.next_attempt_at > now:
                blocked.add(dest)  # rows behind it wait, to keep the order
                continue
            out.append(self._item(row))
        return out[:limit]

    async def next_due_at(self, kinds: Collection[DestinationKind]) -> datetime | None:
        heads: dict[tuple[str, str], Row] = {}
        for row in self._active_pending(kinds):
            heads.setdefault(self._destination(row), row)
        return min((row.next_attempt_at for row in heads.values()), default=None)

    async def mark_sent(self, outbox_id: int, message_id: str | None, now: datetime) -> None:
        row = self.rows[outbox_id]
        assert row.status == "pending", f"row {outbox_id} marked sent twice"
        row.status, row.message_id, row.sent_at = "sent", message_id, now
        row.attempts += 1

    async def mark_retry(
        self,
        outbox_id: int,
        *,
        attempts: int,
        error: str,
        next_attempt_at: datetime,
        now: datetime,
    ) -> None:
        row = self.rows[outbox_id]
        assert row.status == "pending"
        row.attempts, row.last_error, row.next_attempt_at = attempts, error, next_attempt_at

    async def mark_failed(
        self, outbox_id: int, *, attempts: int, error: str, now: datetime
    ) -> None:
        row = self.rows[outbox_id]
        assert row.status == "pending"
        row.status, row.attempts, row.last_error = "failed", attempts, error

    async def pause_subscription(
        self, subscription_id: int, reason: str, now: datetime
    ) -> PausedInfo | None:
        sub = self.subscriptions.get(subscription_id)
        if sub is None or sub.paused:
            return None
        sub.paused, sub.paused_reason = True, reason
        self.pauses.append((subscription_id, reason))
        return PausedInfo(
            subscription_id=sub.id,
            guild_id=sub.guild_id,
            destination_kind=sub.kind,
            destination=sub.destination,
            topic=sub.topic,
            created_by=sub.created_by,
        )


class Clock:
    """A settable clock: tests move time forward by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Sent:
    row_id: int
    destination: str
    at: datetime
    rendered: RenderedMessage


class ScriptedSink:
    """Returns scripted results per row id (then "sent"), recording every call in order."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.script: dict[int, list[DeliveryResult | Exception]] = {}
        self.calls: list[Sent] = []
        self.next_message_id = 1000

    def will(self, row_id: int, *results: DeliveryResult | Exception) -> None:
        self.script.setdefault(row_id, []).extend(results)

    async def send(self, item: OutboxItem, rendered: RenderedMessage) -> DeliveryResult:
        self.calls.append(Sent(item.id, item.destination, self.clock(), rendered))
        queued = self.script.get(item.id)
        if queued:
            result = queued.pop(0)
            if isinstance(result, Exception):
                raise result
            return result
        self.next_message_id += 1
        return DeliveryResult.sent(str(self.next_message_id))

    def attempted_rows(self, destination: str | None = None) -> list[int]:
        return [c.row_id for c in self.calls if destination in (None, c.destination)]
