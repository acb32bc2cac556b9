"""Data that crosses module boundaries. Every type here is a frozen dataclass of plain values."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal


@dataclass(frozen=True, slots=True)
class Entry:
    """One feed entry, normalized. Produced by bot.feeds.parse, never holds feedparser objects.

    `key` is the identity within a feed (guid/id, then link, then a hash of title + content).
    `link` is the canonical link (tracking parameters removed) used for display and for spotting
    the same story on several feeds; it is not the identity.
    """

    key: str
    title: str
    link: str | None
    summary: str  # plain text: HTML stripped, entities decoded, whitespace collapsed
    authors: tuple[str, ...] = ()
    published: datetime | None = None  # timezone-aware UTC
    updated: datetime | None = None  # timezone-aware UTC
    image: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    title: str
    link: str | None
    ttl_minutes: int | None  # RSS <ttl>
    entries: tuple[Entry, ...]
    bozo: bool = False
    bozo_reason: str | None = None  # why feedparser flagged it, when it could still read it


FetchStatus = Literal["ok", "not_modified", "error"]


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one conditional GET of a feed produced. Errors are values, not exceptions."""

    status: FetchStatus
    url: str  # final URL after redirects
    http_status: int | None = None
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()  # response headers, for feedparser
    etag: str | None = None
    last_modified: str | None = None
    retry_after_s: float | None = None  # from Retry-After on 429/503
    max_age_s: int | None = None  # from Cache-Control max-age
    error: str | None = None  # a sentence an operator can act on
    elapsed_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Document:
    """The text a matcher sees: one item's title and plain-text body."""

    title: str
    body: str


@dataclass(frozen=True, slots=True)
class Span:
    """A matched stretch of text: character offsets into Document.title or Document.body."""

    field: Literal["title", "body"]
    start: int
    end: int
    term: str  # the query term (folded) that matched here


@dataclass(frozen=True, slots=True)
class TopicMatch:
    topic: str  # topic id, opaque to the engine (e.g. "global/iran-azerbaijan-border", "g123/x")
    score: float
    terms: tuple[str, ...]  # distinct matched terms, in order of first appearance
    spans: tuple[Span, ...] = ()


@dataclass(frozen=True, slots=True)
class TopicDef:
    """A topic as configured: a query in the rule language plus the named keyword lists it uses."""

    id: str
    query: str
    lists: tuple[tuple[str, tuple[str, ...]], ...] = field(default_factory=tuple)

    def list_map(self) -> dict[str, tuple[str, ...]]:
        return dict(self.lists)


@dataclass(frozen=True, slots=True)
class Alert:
    """Everything a sink needs to show one matched item to one subscription."""

    topic: str  # topic name as users see it, e.g. "iran-azerbaijan-border"
    feed_title: str
    title: str  # raw (untrusted) title; the renderer escapes it
    link: str | None
    summary: str  # query-biased summary, already markdown-safe (bot.core.summarize)
    published: datetime | None  # UTC
    terms: tuple[str, ...]
    score: float
    image: str | None = None
    role_id: int | None = None  # role to mention, the only mention allowed


DestinationKind = Literal["channel", "webhook", "console"]


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One pending delivery: a (subscription, item) pair, durable before any send."""

    id: int
    subscription_id: int
    guild_id: int | None
    destination_kind: DestinationKind
    destination: str  # channel/thread id as text, webhook URL, or "console"
    nonce: str  # stable per row, so a resend after a crash is de-duplicated by Discord
    attempts: int
    alert: Alert
