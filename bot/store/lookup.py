"""Read queries behind the lookup and admin commands: search, latest alerts, /why, status.

Every query is scoped to one guild: a guild sees the config's feeds and the feeds it follows
itself, its own subscriptions and their outbox rows, never another guild's. Feed names follow the
same rule: the name a guild gave a feed (`guild_feeds.name`) is shown to that guild only; other
guilds see the feed's own title.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.core.ingest import story_key
from bot.core.normalize import canonical_url
from bot.core.text import fold, scan
from bot.core.types import DestinationKind, Entry
from bot.store.repo import Store
from bot.store.rows import from_ts, to_ts

MAX_QUERY_TERMS = 32
MIN_PREFIX_CHARS = 2

# A feed this guild may see: one from the config file, or one the guild follows itself.
_VISIBLE = "(f.from_config = 1 OR gf.guild_id IS NOT NULL)"
_GUILD_FEED_JOIN = " LEFT JOIN guild_feeds gf ON gf.feed_id = f.id AND gf.guild_id = ?"
# The name this guild knows a feed by (never another guild's name for a shared feed).
_FEED_NAME = (
    "COALESCE(gf.name, CASE WHEN f.from_config = 1 THEN f.name END, NULLIF(f.title, ''), f.url)"
)


# --------------------------------------------------------------------------------------------
# Search query: user text -> safe FTS5 syntax

_PHRASE = re.compile(r'"([^"]*)"')


def _fts_words(chunk: str) -> list[str]:
    """Folded words of `chunk` as quoted FTS5 strings; a trailing * makes the last a prefix."""
    words = scan(chunk)[0]
    out = [f'"{w}"' for w in words]  # scan yields letters and digits only: no quote inside
    if out and chunk.rstrip().endswith("*") and len(words[-1]) >= MIN_PREFIX_CHARS:
        out[-1] += "*"
    return out


def fts_query(text: str) -> str | None:
    """Turn what a user typed into an FTS5 query that cannot be a syntax error.

    Words are folded like the matcher folds text (bot.core.text) and each becomes a quoted
    string, so FTS operators and punctuation in the input (``NEAR(``, a stray ``"``, ``*``,
    ``:``, ``^``, ``AND``) are plain text. Kept on purpose: ``"a phrase"`` (balanced quotes),
    ``word*`` (prefix, at least two letters) and an upper-case ``OR`` between words. Words are
    otherwise all required (AND). Returns None when there is nothing to search for.
    """
    groups: list[list[str]] = [[]]
    pos = 0
    pieces: list[tuple[bool, str]] = []  # (is_phrase, text)
    for m in _PHRASE.finditer(text):
        pieces.append((False, text[pos : m.start()]))
        pieces.append((True, m.group(1)))
        pos = m.end()
    pieces.append((False, text[pos:]))
    count = 0
    for is_phrase, piece in pieces:
        if is_phrase:
            words = scan(piece)[0]
            if words and count < MAX_QUERY_TERMS:
                groups[-1].append('"' + " ".join(words) + '"')
                count += 1
            continue
        for chunk in piece.replace('"', " ").split():
            if chunk == "OR":
                if groups[-1]:
                    groups.append([])
                continue
            for word in _fts_words(chunk):
                if count < MAX_QUERY_TERMS:
                    groups[-1].append(word)
                    count += 1
    parts = [" ".join(g) for g in groups if g]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return " OR ".join(f"({p})" for p in parts)


# --------------------------------------------------------------------------------------------
# Rows


@dataclass(frozen=True, slots=True)
class GuildFeed:
    """A feed as one guild sees it."""

    id: int
    url: str
    name: str  # this guild's name for it, else the feed's title, else the URL
    title: str | None
    from_config: bool
    followed: bool  # this guild follows it itself (removable with /feeds remove)
    interval_minutes: float | None
    baselined: bool
    last_poll_at: datetime | None
    last_success_at: datetime | None
    next_poll_at: datetime | None
    error_count: int
    last_error: str | None
    items_seen: int


@dataclass(frozen=True, slots=True)
class SearchHit:
    item_id: int
    title: str
    link: str | None
    feed_name: str
    published_at: datetime


@dataclass(frozen=True, slots=True)
class SearchPage:
    total: int  # all matches (only the first `limit` are in hits)
    hits: tuple[SearchHit, ...]


@dataclass(frozen=True, slots=True)
class LatestAlert:
    item_id: int
    title: str
    link: str | None
    feed_name: str
    published_at: datetime
    alerted_at: datetime
    topics: tuple[str, ...]
    score: float
    sent: int
    pending: int
    failed: int


@dataclass(frozen=True, slots=True)
class WhyItem:
    id: int
    feed_id: int
    feed_name: str
    title: str
    link: str | None
    summary: str
    published_at: datetime
    first_seen_at: datetime
    baseline: bool
    followed_at: datetime | None  # when this guild started following the feed (None: config)


@dataclass(frozen=True, slots=True)
class WhySubscription:
    id: int
    kind: DestinationKind
    destination: str
    topic: str
    min_score: float
    paused: bool
    paused_reason: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class WhyDelivery:
    """An outbox row of one of the guild's subscriptions, for this item or the same story."""

    subscription_id: int
    item_id: int  # another id than the asked item's: the story came first through another feed
    status: str  # pending, sent, failed
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    message_id: str | None
    last_error: str | None
    score: float


@dataclass(frozen=True, slots=True)
class StoredMatch:
    topic: str  # engine topic id at the time ("name" or "g<guild>/name")
    score: float
    terms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WhyReport:
    item: WhyItem
    matches: tuple[StoredMatch, ...]
    subscriptions: tuple[WhySubscription, ...]
    deliveries: tuple[WhyDelivery, ...]


@dataclass(frozen=True, slots=True)
class GuildStatus:
    feeds: int
    feeds_polled: int  # with at least one poll
    feeds_failing: int  # last poll failed
    last_poll_at: datetime | None
    items_today: int
    alerts_sent_today: int
    pending: int
    failed: int
    oldest_pending_at: datetime | None
    subscriptions: int
    paused_subscriptions: int


def _dt(value: float) -> datetime:
    out = from_ts(value)
    assert out is not None
    return out


class LookupStore:
    """Guild-scoped reads for the slash commands (uses the Store's connection and helpers)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return await self._store._all(sql, params)

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return await self._store._one(sql, params)

    # -- feeds -------------------------------------------------------------------------------

    async def guild_feeds(self, guild_id: int) -> list[GuildFeed]:
        rows = await self._all(
            f"SELECT f.*, {_FEED_NAME} AS shown, gf.guild_id IS NOT NULL AS followed"
            f" FROM feeds f{_GUILD_FEED_JOIN} WHERE {_VISIBLE} ORDER BY shown COLLATE NOCASE, f.id",
            (guild_id,),
        )
        return [
            GuildFeed(
                id=r["id"],
                url=r["url"],
                name=r["shown"],
                title=r["title"],
                from_config=bool(r["from_config"]),
                followed=bool(r["followed"]),
                interval_minutes=r["interval_minutes"],
                baselined=bool(r["baselined"]),
                last_poll_at=from_ts(r["last_poll_at"]),
                last_success_at=from_ts(r["last_success_at"]),
                next_poll_at=from_ts(r["next_poll_at"]),
                error_count=r["error_count"],
                last_error=r["last_error"],
                items_seen=r["items_seen"],
            )
            for r in rows
        ]

    async def followed_count(self, guild_id: int) -> int:
        row = await self._one("SELECT COUNT(*) FROM guild_feeds WHERE guild_id = ?", (guild_id,))
        return int(row[0]) if row else 0

    # -- search ------------------------------------------------------------------------------

    async def search(
        self,
        guild_id: int,
        text: str,
        *,
        since: datetime | None = None,
        feed_id: int | None = None,
        limit: int = 50,
    ) -> SearchPage:
        """Items of the guild's feeds matching `text`, best first (bm25, title weighs 3x)."""
        query = fts_query(text)
        if query is None:
            return SearchPage(0, ())
        where = (
            " FROM items_fts JOIN items i ON i.id = items_fts.rowid"
            f" JOIN feeds f ON f.id = i.feed_id{_GUILD_FEED_JOIN}"
            f" WHERE items_fts MATCH ? AND {_VISIBLE} AND i.pruned = 0"
            " AND (? IS NULL OR i.published_at >= ?) AND (? IS NULL OR i.feed_id = ?)"
        )
        since_ts = to_ts(since) if since else None
        params = (guild_id, query, since_ts, since_ts, feed_id, feed_id)
        count = await self._one("SELECT COUNT(*)" + where, params)
        rows = await self._all(
            f"SELECT i.id, i.title, i.link, i.published_at, {_FEED_NAME} AS shown"
            + where
            + " ORDER BY bm25(items_fts, 3.0, 1.0), i.published_at DESC LIMIT ?",
            (*params, limit),
        )
        hits = tuple(
            SearchHit(r["id"], r["title"], r["link"], r["shown"], _dt(r["published_at"]))
            for r in rows
        )
        return SearchPage(int(count[0]) if count else 0, hits)

    # -- latest ------------------------------------------------------------------------------

    async def latest_alerts(
        self, guild_id: int, *, topic: str | None = None, limit: int = 5
    ) -> list[LatestAlert]:
        """The guild's most recent alerts (outbox rows), one line per item, newest first."""
        rows = await self._all(
            "SELECT o.item_id, MAX(o.created_at) AS at, i.title, i.link, i.published_at,"
            f" {_FEED_NAME} AS shown, group_concat(DISTINCT s.topic) AS topics,"
            " MAX(o.score) AS score, SUM(o.status = 'sent') AS sent,"
            " SUM(o.status = 'pending') AS pending, SUM(o.status = 'failed') AS failed"
            " FROM outbox o JOIN subscriptions s ON s.id = o.subscription_id"
            " JOIN items i ON i.id = o.item_id JOIN feeds f ON f.id = i.feed_id"
            " LEFT JOIN guild_feeds gf ON gf.feed_id = f.id AND gf.guild_id = s.guild_id"
            " WHERE s.guild_id = ? AND (? IS NULL OR s.topic = ?)"
            " GROUP BY o.item_id ORDER BY at DESC, o.item_id DESC LIMIT ?",
            (guild_id, topic, topic, limit),
        )
        return [
            LatestAlert(
                item_id=r["item_id"],
                title=r["title"],
                link=r["link"],
                feed_name=r["shown"],
                published_at=_dt(r["published_at"]),
                alerted_at=_dt(r["at"]),
                topics=tuple(sorted(set((r["topics"] or "").split(",")) - {""})),
                score=r["score"],
                sent=r["sent"],
                pending=r["pending"],
                failed=r["failed"],
            )
            for r in rows
        ]

    # -- why ---------------------------------------------------------------------------------

    async def find_item(self, guild_id: int, link_or_id: str) -> WhyItem | None:
        """An item of the guild's feeds by its id (as /search and /latest show it) or its link.

        A pasted link is also tried in canonical form (tracking parameters removed), which is how
        items store it. When several feeds carry the link, the most recently seen item wins.
        """
        raw = link_or_id.strip().strip("<>")
        digits = raw.lstrip("#")
        # ASCII digits only (int() refuses "²", which isdigit() accepts) and within SQLite's
        # 64-bit integers (a longer number cannot be an id; binding it would raise).
        item_id = (
            int(digits) if digits.isascii() and digits.isdigit() and len(digits) <= 18 else None
        )
        wanted = [raw]
        if item_id is None and "://" in raw:
            wanted.append(canonical_url(raw))
        marks = ",".join("?" * len(wanted))
        row = await self._one(
            f"SELECT i.*, {_FEED_NAME} AS shown, gf.added_at AS followed_at FROM items i"
            f" JOIN feeds f ON f.id = i.feed_id{_GUILD_FEED_JOIN}"
            f" WHERE {_VISIBLE} AND (i.id IS ? OR i.link IN ({marks}))"
            " ORDER BY i.id = ? DESC, i.first_seen_at DESC, i.id DESC LIMIT 1",
            (guild_id, item_id, *wanted, item_id),
        )
        if row is None:
            return None
        return WhyItem(
            id=row["id"],
            feed_id=row["feed_id"],
            feed_name=row["shown"],
            title=row["title"],
            link=row["link"],
            summary=row["summary"],
            published_at=_dt(row["published_at"]),
            first_seen_at=_dt(row["first_seen_at"]),
            baseline=bool(row["baseline"]),
            followed_at=from_ts(row["followed_at"]),
        )

    async def why(self, guild_id: int, item: WhyItem) -> WhyReport:
        """What the store knows about one item for this guild: matches, subscriptions, sends."""
        matches = await self._all(
            "SELECT topic, score, terms FROM item_matches WHERE item_id = ? ORDER BY topic",
            (item.id,),
        )
        subs = await self._all(
            "SELECT id, kind, destination, topic, min_score, paused, paused_reason, created_at"
            " FROM subscriptions WHERE guild_id = ? ORDER BY id",
            (guild_id,),
        )
        entry = Entry(key="", title=item.title, link=item.link, summary="")
        story = story_key(entry, fold(item.title))
        sends = await self._all(
            "SELECT o.subscription_id, o.item_id, o.status, o.attempts, o.created_at, o.sent_at,"
            " o.message_id, o.last_error, o.score FROM outbox o"
            " JOIN subscriptions s ON s.id = o.subscription_id"
            " WHERE s.guild_id = ? AND (o.item_id = ? OR o.story_key = ?) ORDER BY o.id",
            (guild_id, item.id, story),
        )
        return WhyReport(
            item=item,
            matches=tuple(
                StoredMatch(r["topic"], r["score"], tuple(json.loads(r["terms"]))) for r in matches
            ),
            subscriptions=tuple(
                WhySubscription(
                    id=r["id"],
                    kind=r["kind"],
                    destination=r["destination"],
                    topic=r["topic"],
                    min_score=r["min_score"],
                    paused=bool(r["paused"]),
                    paused_reason=r["paused_reason"],
                    created_at=_dt(r["created_at"]),
                )
                for r in subs
            ),
            deliveries=tuple(
                WhyDelivery(
                    subscription_id=r["subscription_id"],
                    item_id=r["item_id"],
                    status=r["status"],
                    attempts=r["attempts"],
                    created_at=_dt(r["created_at"]),
                    sent_at=from_ts(r["sent_at"]),
                    message_id=r["message_id"],
                    last_error=r["last_error"],
                    score=r["score"],
                )
                for r in sends
            ),
        )

    # -- status ------------------------------------------------------------------------------

    async def guild_status(self, guild_id: int, day_start: datetime) -> GuildStatus:
        """Counts for /status. `day_start`: the start of "today" (UTC midnight)."""
        day = to_ts(day_start)
        feeds = await self._one(
            "SELECT COUNT(*) AS n, SUM(f.last_poll_at IS NOT NULL) AS polled,"
            " SUM(f.error_count > 0) AS failing, MAX(f.last_poll_at) AS last_poll"
            f" FROM feeds f{_GUILD_FEED_JOIN} WHERE {_VISIBLE}",
            (guild_id,),
        )
        items = await self._one(
            f"SELECT COUNT(*) FROM items i JOIN feeds f ON f.id = i.feed_id{_GUILD_FEED_JOIN}"
            f" WHERE {_VISIBLE} AND i.first_seen_at >= ?",
            (guild_id, day),
        )
        outbox = await self._one(
            "SELECT SUM(o.status = 'sent' AND o.sent_at >= ?) AS sent_today,"
            " SUM(o.status = 'pending') AS pending, SUM(o.status = 'failed') AS failed,"
            " MIN(CASE WHEN o.status = 'pending' THEN o.created_at END) AS oldest"
            " FROM outbox o JOIN subscriptions s ON s.id = o.subscription_id"
            " WHERE s.guild_id = ?",
            (day, guild_id),
        )
        subs = await self._one(
            "SELECT COUNT(*) AS n, SUM(paused) AS paused FROM subscriptions WHERE guild_id = ?",
            (guild_id,),
        )
        return GuildStatus(
            feeds=feeds["n"] or 0,
            feeds_polled=feeds["polled"] or 0,
            feeds_failing=feeds["failing"] or 0,
            last_poll_at=from_ts(feeds["last_poll"]),
            items_today=int(items[0]),
            alerts_sent_today=outbox["sent_today"] or 0,
            pending=outbox["pending"] or 0,
            failed=outbox["failed"] or 0,
            oldest_pending_at=from_ts(outbox["oldest"]),
            subscriptions=subs["n"] or 0,
            paused_subscriptions=subs["paused"] or 0,
        )
