"""Plain rows the store hands out. No aiosqlite types leave the store package."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from bot.core.ingest import ItemDecision
from bot.core.types import DestinationKind, TopicMatch


def to_ts(dt: datetime) -> float:
    return dt.timestamp()


def from_ts(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


@dataclass(frozen=True, slots=True)
class FeedRow:
    id: int
    url: str
    name: str | None
    title: str | None
    interval_minutes: float | None
    from_config: bool
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    baselined: bool
    last_poll_at: datetime | None
    last_success_at: datetime | None
    next_poll_at: datetime | None
    error_count: int
    last_error: str | None
    items_seen: int

    @property
    def display_name(self) -> str:
        return self.name or self.title or self.url


@dataclass(frozen=True, slots=True)
class SubscriptionRow:
    id: int
    guild_id: int | None
    kind: DestinationKind
    destination: str
    topic: str
    min_score: float
    role_id: int | None
    mode: str
    paused: bool
    paused_reason: str | None
    created_by: int | None
    from_config: bool


@dataclass(frozen=True, slots=True)
class Delivery:
    """An outbox row to write with a poll: subscription x item (by its identity key)."""

    subscription_id: int
    item_key: str
    story_key: str
    score: float
    terms: tuple[str, ...]
    summary: str


@dataclass(frozen=True, slots=True)
class PollWrite:
    """Everything one successful poll of a feed changes, written in one transaction."""

    feed_id: int
    now: datetime
    next_poll_at: datetime
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    feed_title: str | None
    ttl_minutes: int | None
    items: tuple[ItemDecision, ...] = ()
    matches: tuple[tuple[str, TopicMatch], ...] = ()  # (item key, match)
    deliveries: tuple[Delivery, ...] = ()
    warning: str | None = None  # e.g. a bozo feed that was still readable


@dataclass(frozen=True, slots=True)
class StoredItem:
    id: int
    feed_id: int
    feed_title: str
    key: str
    title: str
    link: str | None
    summary: str
    image: str | None
    published_at: datetime
    first_seen_at: datetime
    baseline: bool
