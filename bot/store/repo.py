"""Queries. One `Store` over one aiosqlite connection; every write is one transaction."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import aiosqlite

from bot.core.types import Alert, DestinationKind, OutboxItem
from bot.delivery.base import PausedInfo
from bot.store.db import StoreError, connect, wrap_error
from bot.store.rows import (
    Delivery,
    FeedRow,
    PollWrite,
    StoredItem,
    SubscriptionRow,
    from_ts,
    to_ts,
)

ALL_KINDS: tuple[str, ...] = ("channel", "webhook", "console")

_FEED_COLS = (
    "id, url, name, title, interval_minutes, from_config, etag, last_modified, body_hash, "
    "baselined, last_poll_at, last_success_at, next_poll_at, error_count, last_error, items_seen"
)
_SUB_COLS = (
    "id, guild_id, kind, destination, topic, min_score, role_id, mode, paused, paused_reason, "
    "created_by, from_config"
)


def _feed(row: Any) -> FeedRow:
    return FeedRow(
        id=row["id"],
        url=row["url"],
        name=row["name"],
        title=row["title"],
        interval_minutes=row["interval_minutes"],
        from_config=bool(row["from_config"]),
        etag=row["etag"],
        last_modified=row["last_modified"],
        body_hash=row["body_hash"],
        baselined=bool(row["baselined"]),
        last_poll_at=from_ts(row["last_poll_at"]),
        last_success_at=from_ts(row["last_success_at"]),
        next_poll_at=from_ts(row["next_poll_at"]),
        error_count=row["error_count"],
        last_error=row["last_error"],
        items_seen=row["items_seen"],
    )


def _sub(row: Any) -> SubscriptionRow:
    return SubscriptionRow(
        id=row["id"],
        guild_id=row["guild_id"],
        kind=row["kind"],
        destination=row["destination"],
        topic=row["topic"],
        min_score=row["min_score"],
        role_id=row["role_id"],
        mode=row["mode"],
        paused=bool(row["paused"]),
        paused_reason=row["paused_reason"],
        created_by=row["created_by"],
        from_config=bool(row["from_config"]),
    )


class Store:
    def __init__(self, conn: aiosqlite.Connection, path: str) -> None:
        self._conn = conn
        self.path = path
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str | Path) -> Store:
        return cls(await connect(path), str(path))

    async def close(self) -> None:
        await self._conn.close()

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction; writers queue on a lock so BEGIN IMMEDIATE never nests."""
        async with self._write_lock:
            try:
                await self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise wrap_error(exc, self.path) from None
            try:
                yield self._conn
            except BaseException as exc:
                await self._rollback()
                if isinstance(exc, sqlite3.Error):
                    raise wrap_error(exc, self.path) from None
                raise
            else:
                try:
                    await self._conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    await self._rollback()
                    raise wrap_error(exc, self.path) from None

    async def _rollback(self) -> None:
        # SQLite rolls a transaction back by itself on some errors (a full disk, an I/O error):
        # a second ROLLBACK would fail and hide the error that matters.
        if self._conn.in_transaction:
            await self._conn.execute("ROLLBACK")

    async def _write1(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One statement is its own transaction (autocommit): one round trip instead of three.
        Returns the number of rows changed."""
        async with self._write_lock:
            try:
                cur = await self._conn.execute(sql, params)
            except sqlite3.Error as exc:
                raise wrap_error(exc, self.path) from None
            return cur.rowcount

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            async with self._conn.execute(sql, params) as cur:
                return list(await cur.fetchall())
        except sqlite3.Error as exc:
            raise wrap_error(exc, self.path) from None

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = await self._all(sql, params)
        return rows[0] if rows else None

    # -- feeds ---------------------------------------------------------------------------

    async def sync_config_feeds(
        self, feeds: Iterable[tuple[str, str | None, float | None]], now: datetime
    ) -> list[FeedRow]:
        """Make the config's feeds (url, name, interval) present; others lose `from_config`."""
        wanted = list(feeds)
        async with self._tx() as db:
            await db.execute("UPDATE feeds SET from_config = 0")
            for url, name, interval in wanted:
                await db.execute(
                    "INSERT INTO feeds (url, name, interval_minutes, from_config, added_at,"
                    " next_poll_at) VALUES (?, ?, ?, 1, ?, ?)"
                    " ON CONFLICT (url) DO UPDATE SET name = excluded.name,"
                    " interval_minutes = excluded.interval_minutes, from_config = 1",
                    (url, name, interval, to_ts(now), to_ts(now)),
                )
            # A feed taken out of the config that no guild follows is no longer polled; its
            # items go with it (like /feeds remove of the last guild following it).
            await db.execute(
                "DELETE FROM feeds WHERE from_config = 0"
                " AND NOT EXISTS (SELECT 1 FROM guild_feeds WHERE feed_id = feeds.id)"
            )
        return await self.feeds()

    async def add_guild_feed(
        self,
        guild_id: int,
        url: str,
        *,
        name: str | None,
        interval_minutes: float | None,
        added_by: int | None,
        now: datetime,
    ) -> tuple[FeedRow, bool]:
        """Follow `url` in a guild; a feed followed by several guilds is stored (and fetched) once.

        Returns the feed and whether this guild newly follows it.
        """
        async with self._tx() as db:
            await db.execute(
                # The guild's own name for the feed lives in guild_feeds: another guild
                # following the same feed must not see it.
                "INSERT INTO feeds (url, interval_minutes, added_at, next_poll_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (url) DO NOTHING",
                (url, interval_minutes, to_ts(now), to_ts(now)),
            )
            async with db.execute("SELECT id FROM feeds WHERE url = ?", (url,)) as cur:
                row = await cur.fetchone()
            assert row is not None
            feed_id = int(row[0])
            cur2 = await db.execute(
                "INSERT INTO guild_feeds (guild_id, feed_id, name, added_by, added_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (guild_id, feed_id, name, added_by, to_ts(now)),
            )
            added = cur2.rowcount == 1
        feed = await self.feed(feed_id)
        assert feed is not None
        return feed, added

    async def remove_guild_feed(self, guild_id: int, feed_id: int) -> bool:
        """Unfollow; a feed no guild and no config follows any more is deleted."""
        async with self._tx() as db:
            cur = await db.execute(
                "DELETE FROM guild_feeds WHERE guild_id = ? AND feed_id = ?", (guild_id, feed_id)
            )
            removed = cur.rowcount == 1
            await db.execute(
                "DELETE FROM feeds WHERE id = ? AND from_config = 0"
                " AND NOT EXISTS (SELECT 1 FROM guild_feeds WHERE feed_id = ?)",
                (feed_id, feed_id),
            )
        return removed

    async def feeds(self) -> list[FeedRow]:
        rows = await self._all(f"SELECT {_FEED_COLS} FROM feeds ORDER BY id")
        return [_feed(r) for r in rows]

    async def guild_feeds(self, guild_id: int) -> list[FeedRow]:
        """Feeds a guild sees: the config's and its own."""
        rows = await self._all(
            f"SELECT {_FEED_COLS} FROM feeds WHERE from_config = 1 OR id IN"
            " (SELECT feed_id FROM guild_feeds WHERE guild_id = ?) ORDER BY id",
            (guild_id,),
        )
        return [_feed(r) for r in rows]

    async def feed(self, feed_id: int) -> FeedRow | None:
        row = await self._one(f"SELECT {_FEED_COLS} FROM feeds WHERE id = ?", (feed_id,))
        return _feed(row) if row else None

    async def known_keys(self, feed_id: int, keys: Sequence[str]) -> dict[str, str]:
        """Identity key -> content hash, for the given keys already stored for this feed."""
        found: dict[str, str] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = await self._all(
                f"SELECT key, content_hash FROM items WHERE feed_id = ? AND key IN ({marks})",
                (feed_id, *chunk),
            )
            found.update((r[0], r[1]) for r in rows)
        return found

    async def record_unchanged(
        self,
        feed_id: int,
        now: datetime,
        next_poll_at: datetime,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        keep_validators: bool = True,
    ) -> None:
        """A 304 or an identical body: the poll succeeded and nothing needs parsing."""
        async with self._tx() as db:
            if keep_validators:
                await db.execute(
                    "UPDATE feeds SET last_poll_at = ?, last_success_at = ?, next_poll_at = ?,"
                    " error_count = 0 WHERE id = ?",
                    (to_ts(now), to_ts(now), to_ts(next_poll_at), feed_id),
                )
            else:
                await db.execute(
                    "UPDATE feeds SET last_poll_at = ?, last_success_at = ?, next_poll_at = ?,"
                    " error_count = 0, etag = ?, last_modified = ? WHERE id = ?",
                    (to_ts(now), to_ts(now), to_ts(next_poll_at), etag, last_modified, feed_id),
                )

    async def record_failure(
        self, feed_id: int, error: str, now: datetime, next_poll_at: datetime
    ) -> int:
        """Count a failed poll and keep its error; returns the consecutive failure count."""
        async with self._tx() as db:
            await db.execute(
                "UPDATE feeds SET last_poll_at = ?, next_poll_at = ?,"
                " error_count = error_count + 1, total_errors = total_errors + 1,"
                " last_error = ?, last_error_at = ? WHERE id = ?",
                (to_ts(now), to_ts(next_poll_at), error[:1000], to_ts(now), feed_id),
            )
            async with db.execute("SELECT error_count FROM feeds WHERE id = ?", (feed_id,)) as cur:
                row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def record_poll(self, write: PollWrite) -> list[int]:
        """Store one successful poll: feed state, new and updated items, matches, outbox rows.

        All of it commits together or not at all. Returns the ids of new outbox rows.
        """
        now = to_ts(write.now)
        outbox_ids: list[int] = []
        async with self._tx() as db:
            await db.execute(
                "UPDATE feeds SET etag = ?, last_modified = ?, body_hash = ?,"
                " title = COALESCE(?, title), ttl_minutes = ?, baselined = 1, last_poll_at = ?,"
                " last_success_at = ?, next_poll_at = ?, error_count = 0,"
                " last_error = COALESCE(?, last_error), items_seen = items_seen + ? WHERE id = ?",
                (
                    write.etag,
                    write.last_modified,
                    write.body_hash,
                    write.feed_title,
                    write.ttl_minutes,
                    now,
                    now,
                    to_ts(write.next_poll_at),
                    write.warning,
                    sum(1 for d in write.items if d.change == "new"),
                    write.feed_id,
                ),
            )
            new_rows = [
                (
                    write.feed_id,
                    d.entry.key,
                    d.entry.title,
                    d.entry.link,
                    d.entry.summary,
                    ", ".join(d.entry.authors),
                    d.entry.image,
                    to_ts(d.published),
                    to_ts(d.entry.updated) if d.entry.updated else None,
                    now,
                    d.content_hash,
                    0 if d.alert else 1,
                )
                for d in write.items
                if d.change == "new"
            ]
            changed_rows = [
                (
                    d.entry.title,
                    d.entry.link,
                    d.entry.summary,
                    d.entry.image,
                    to_ts(d.entry.updated) if d.entry.updated else None,
                    now,
                    d.content_hash,
                    write.feed_id,
                    d.entry.key,
                )
                for d in write.items
                if d.change == "updated"
            ]
            # One statement per kind of row: a poll of a 50-item feed is 3 round trips to the
            # database thread instead of 100.
            await db.executemany(
                "INSERT INTO items (feed_id, key, title, link, summary, authors, image,"
                " published_at, updated_at, first_seen_at, content_hash, baseline)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (feed_id, key) DO NOTHING",
                new_rows,
            )
            await db.executemany(
                "UPDATE items SET title = ?, link = ?, summary = ?, image = ?,"
                " updated_at = ?, last_changed_at = ?, content_hash = ?,"
                " update_count = update_count + 1 WHERE feed_id = ? AND key = ?",
                changed_rows,
            )
            # Ids of the rows this poll wrote (first seen or changed now): an item another
            # writer stored first is not ours to match or alert.
            item_ids: dict[str, int] = {}
            keys = [d.entry.key for d in write.items]
            for chunk_start in range(0, len(keys), 500):
                chunk = keys[chunk_start : chunk_start + 500]
                marks = ",".join("?" * len(chunk))
                async with db.execute(
                    f"SELECT key, id FROM items WHERE feed_id = ? AND key IN ({marks})"
                    " AND (first_seen_at = ? OR last_changed_at = ?)",
                    (write.feed_id, *chunk, now, now),
                ) as cur:
                    item_ids.update((r[0], int(r[1])) for r in await cur.fetchall())
            await db.executemany(
                "INSERT INTO item_matches (item_id, topic, score, terms) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (item_id, topic) DO UPDATE SET score = excluded.score,"
                " terms = excluded.terms",
                [
                    (item_ids[key], m.topic, m.score, json.dumps(list(m.terms)))
                    for key, m in write.matches
                    if key in item_ids
                ],
            )
            for dl in write.deliveries:
                if dl.item_key not in item_ids:
                    continue
                cur = await db.execute(
                    "INSERT INTO outbox (subscription_id, item_id, story_key, score, terms,"
                    " summary, nonce, created_at, next_attempt_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (subscription_id, story_key) DO NOTHING RETURNING id",
                    (
                        dl.subscription_id,
                        item_ids[dl.item_key],
                        dl.story_key,
                        dl.score,
                        json.dumps(list(dl.terms)),
                        dl.summary,
                        _nonce(),
                        now,
                        now,
                    ),
                )
                row = await cur.fetchone()
                if row is not None:
                    outbox_ids.append(int(row[0]))
        return outbox_ids

    # -- subscriptions -------------------------------------------------------------------

    async def sync_config_subscriptions(
        self,
        subs: Iterable[tuple[int | None, DestinationKind, str, str, float, int | None]],
        now: datetime,
    ) -> None:
        """Static subscriptions from the file: (guild, kind, destination, topic, min, role)."""
        wanted = list(subs)
        async with self._tx() as db:
            await db.execute("UPDATE subscriptions SET from_config = 0 WHERE from_config = 1")
            for guild_id, kind, dest, topic, min_score, role_id in wanted:
                await db.execute(
                    "INSERT INTO subscriptions (guild_id, kind, destination, topic, min_score,"
                    " role_id, created_at, from_config) VALUES (?, ?, ?, ?, ?, ?, ?, 1)"
                    # IFNULL: a static subscription has no guild, and NULLs never conflict.
                    " ON CONFLICT (IFNULL(guild_id, 0), kind, destination, topic) DO UPDATE SET"
                    " min_score = excluded.min_score, role_id = excluded.role_id, from_config = 1,"
                    " paused = CASE WHEN paused_reason = 'removed from config' THEN 0"
                    " ELSE paused END, paused_reason = CASE WHEN paused_reason ="
                    " 'removed from config' THEN NULL ELSE paused_reason END",
                    (guild_id, kind, dest, topic, min_score, role_id, to_ts(now)),
                )
            # A static subscription removed from the file stops; its history stays.
            await db.execute(
                "UPDATE subscriptions SET paused = 1, paused_reason = 'removed from config'"
                " WHERE from_config = 0 AND created_by IS NULL AND guild_id IS NULL"
            )

    async def add_subscription(
        self,
        *,
        guild_id: int | None,
        kind: DestinationKind,
        destination: str,
        topic: str,
        min_score: float = 0,
        role_id: int | None = None,
        created_by: int | None = None,
        now: datetime,
    ) -> SubscriptionRow:
        async with self._tx() as db:
            await db.execute(
                "INSERT INTO subscriptions (guild_id, kind, destination, topic, min_score,"
                " role_id, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (guild_id, kind, destination, topic) DO UPDATE SET"
                " min_score = excluded.min_score, role_id = excluded.role_id, paused = 0,"
                " paused_reason = NULL",
                (guild_id, kind, destination, topic, min_score, role_id, created_by, to_ts(now)),
            )
        row = await self._one(
            f"SELECT {_SUB_COLS} FROM subscriptions WHERE guild_id IS ? AND kind = ?"
            " AND destination = ? AND topic = ?",
            (guild_id, kind, destination, topic),
        )
        return _sub(row)

    async def subscriptions(self, guild_id: int | None = None) -> list[SubscriptionRow]:
        if guild_id is None:
            rows = await self._all(f"SELECT {_SUB_COLS} FROM subscriptions ORDER BY id")
        else:
            rows = await self._all(
                f"SELECT {_SUB_COLS} FROM subscriptions WHERE guild_id = ? ORDER BY id",
                (guild_id,),
            )
        return [_sub(r) for r in rows]

    async def subscribers_for_feed(self, feed: FeedRow) -> list[SubscriptionRow]:
        """Active subscriptions that see this feed: config feeds reach every subscription,
        a guild's own feed reaches that guild's subscriptions only."""
        if feed.from_config:
            rows = await self._all(
                f"SELECT {_SUB_COLS} FROM subscriptions WHERE paused = 0 ORDER BY id"
            )
        else:
            rows = await self._all(
                f"SELECT {_SUB_COLS} FROM subscriptions WHERE paused = 0 AND guild_id IN"
                " (SELECT guild_id FROM guild_feeds WHERE feed_id = ?) ORDER BY id",
                (feed.id,),
            )
        return [_sub(r) for r in rows]

    async def set_subscription_paused(
        self, subscription_id: int, paused: bool, reason: str | None, guild_id: int | None = None
    ) -> SubscriptionRow | None:
        """Pause or resume; with `guild_id`, only that guild's subscription is touched."""
        async with self._tx() as db:
            cur = await db.execute(
                "UPDATE subscriptions SET paused = ?, paused_reason = ? WHERE id = ?"
                " AND (? IS NULL OR guild_id = ?)",
                (int(paused), reason if paused else None, subscription_id, guild_id, guild_id),
            )
            changed = cur.rowcount == 1
        if not changed:
            return None
        row = await self._one(
            f"SELECT {_SUB_COLS} FROM subscriptions WHERE id = ?", (subscription_id,)
        )
        return _sub(row) if row else None

    async def remove_subscription(self, subscription_id: int, guild_id: int) -> bool:
        async with self._tx() as db:
            cur = await db.execute(
                "DELETE FROM subscriptions WHERE id = ? AND guild_id = ?",
                (subscription_id, guild_id),
            )
            return cur.rowcount == 1

    # -- outbox --------------------------------------------------------------------------

    _DUE_HEAD = (
        " FROM outbox o JOIN subscriptions s ON s.id = o.subscription_id"
        " WHERE o.status = 'pending' AND s.paused = 0 AND s.kind IN ({kinds})"
    )
    # A destination's earlier pending row (still waiting for its retry) holds back later ones,
    # so a channel's alerts arrive in order.
    _NOT_BEHIND = (
        " AND NOT EXISTS (SELECT 1 FROM outbox o2 JOIN subscriptions s2"
        " ON s2.id = o2.subscription_id WHERE o2.status = 'pending' AND s2.paused = 0"
        " AND s2.kind = s.kind AND s2.destination = s.destination AND o2.id < o.id{extra})"
    )

    async def due_outbox(
        self, now: datetime, limit: int = 100, kinds: Collection[str] = ALL_KINDS
    ) -> list[OutboxItem]:
        """Pending rows ready to send, oldest first (see bot.delivery.worker.OutboxStore)."""
        marks = ",".join("?" * len(kinds))
        rows = await self._all(
            "SELECT o.id, o.subscription_id, o.nonce, o.attempts, o.score, o.terms, o.summary,"
            " s.guild_id, s.kind, s.destination, s.topic, s.role_id,"
            " i.title, i.link, i.image, i.published_at,"
            " COALESCE((SELECT gf.name FROM guild_feeds gf WHERE gf.feed_id = f.id"
            " AND gf.guild_id = s.guild_id), f.name, f.title, f.url) AS feed_title"
            + self._DUE_HEAD.format(kinds=marks).replace(
                " WHERE", " JOIN items i ON i.id = o.item_id JOIN feeds f ON f.id = i.feed_id WHERE"
            )
            + " AND o.next_attempt_at <= ?"
            + self._NOT_BEHIND.format(extra=" AND o2.next_attempt_at > ?")
            + " ORDER BY o.id LIMIT ?",
            (*kinds, to_ts(now), to_ts(now), limit),
        )
        out = []
        for r in rows:
            alert = Alert(
                topic=r["topic"],
                feed_title=r["feed_title"],
                title=r["title"],
                link=r["link"],
                summary=r["summary"],
                published=from_ts(r["published_at"]),
                terms=tuple(json.loads(r["terms"])),
                score=r["score"],
                image=r["image"],
                role_id=r["role_id"],
            )
            out.append(
                OutboxItem(
                    id=r["id"],
                    subscription_id=r["subscription_id"],
                    guild_id=r["guild_id"],
                    destination_kind=r["kind"],
                    destination=r["destination"],
                    nonce=r["nonce"],
                    attempts=r["attempts"],
                    alert=alert,
                )
            )
        return out

    async def next_due_at(self, kinds: Collection[str] = ALL_KINDS) -> datetime | None:
        marks = ",".join("?" * len(kinds))
        row = await self._one(
            "SELECT MIN(o.next_attempt_at)"
            + self._DUE_HEAD.format(kinds=marks)
            + self._NOT_BEHIND.format(extra=""),
            tuple(kinds),
        )
        return from_ts(row[0]) if row is not None else None

    async def mark_sent(self, outbox_id: int, message_id: str | None, now: datetime) -> None:
        await self._write1(
            "UPDATE outbox SET status = 'sent', sent_at = ?, message_id = ?,"
            " attempts = attempts + 1, last_error = NULL WHERE id = ?",
            (to_ts(now), message_id, outbox_id),
        )

    async def mark_retry(
        self,
        outbox_id: int,
        *,
        attempts: int,
        error: str,
        next_attempt_at: datetime,
        now: datetime,
    ) -> None:
        await self._write1(
            "UPDATE outbox SET attempts = ?, last_error = ?, next_attempt_at = ? WHERE id = ?",
            (attempts, error[:1000], to_ts(next_attempt_at), outbox_id),
        )

    async def mark_failed(
        self, outbox_id: int, *, attempts: int, error: str, now: datetime
    ) -> None:
        await self._write1(
            "UPDATE outbox SET status = 'failed', attempts = ?, last_error = ? WHERE id = ?",
            (attempts, error[:1000], outbox_id),
        )

    async def pause_subscription(
        self, subscription_id: int, reason: str, now: datetime
    ) -> PausedInfo | None:
        """Pause because the destination is gone; returns who to tell, once."""
        async with self._tx() as db:
            cur = await db.execute(
                "UPDATE subscriptions SET paused = 1, paused_reason = ? WHERE id = ? AND paused = 0"
                " RETURNING guild_id, kind, destination, topic, created_by",
                (reason[:500], subscription_id),
            )
            row = await cur.fetchone()
        if row is None:
            return None
        return PausedInfo(
            subscription_id=subscription_id,
            guild_id=row[0],
            destination_kind=row[1],
            destination=row[2],
            topic=row[3],
            created_by=row[4],
        )

    async def outbox_rows(self, status: str | None = None) -> list[dict[str, Any]]:
        """For tests, /status and the operator: outbox rows as dicts."""
        sql = "SELECT * FROM outbox" + (" WHERE status = ?" if status else "") + " ORDER BY id"
        rows = await self._all(sql, (status,) if status else ())
        return [dict(r) for r in rows]

    # -- retention -----------------------------------------------------------------------

    async def prune(self, before: datetime) -> int:
        """Drop the text of items first seen before `before`; their identity keys stay as
        tombstones, so a feed that re-serves an old item never re-alerts it. Delivered and
        failed outbox rows of those items go too; pending ones are kept."""
        cutoff = to_ts(before)
        async with self._tx() as db:
            await db.execute(
                "DELETE FROM outbox WHERE status != 'pending' AND item_id IN"
                " (SELECT id FROM items WHERE first_seen_at < ? AND pruned = 0)",
                (cutoff,),
            )
            await db.execute(
                "DELETE FROM item_matches WHERE item_id IN"
                " (SELECT id FROM items WHERE first_seen_at < ? AND pruned = 0)",
                (cutoff,),
            )
            cur = await db.execute(
                "UPDATE items SET title = '', summary = '', link = NULL, image = NULL,"
                " authors = '', pruned = 1 WHERE first_seen_at < ? AND pruned = 0"
                " AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.item_id = items.id"
                " AND o.status = 'pending')",
                (cutoff,),
            )
            return cur.rowcount

    async def compact(self) -> None:
        """Give the space of pruned text back to the file system (VACUUM): blanking text in
        place leaves pages mostly empty, which SQLite does not consolidate by itself."""
        async with self._write_lock:
            try:
                await self._conn.execute("VACUUM")
            except sqlite3.Error as exc:
                raise wrap_error(exc, self.path) from None

    # -- items ---------------------------------------------------------------------------

    async def items(self, feed_id: int | None = None) -> list[StoredItem]:
        sql = (
            "SELECT i.*, COALESCE(f.name, f.title, f.url) AS feed_title FROM items i"
            " JOIN feeds f ON f.id = i.feed_id"
        )
        params: tuple[Any, ...] = ()
        if feed_id is not None:
            sql += " WHERE i.feed_id = ?"
            params = (feed_id,)
        rows = await self._all(sql + " ORDER BY i.id", params)
        return [_item(r) for r in rows]

    async def counts(self) -> dict[str, int]:
        row = await self._one(
            "SELECT (SELECT COUNT(*) FROM feeds) AS feeds, (SELECT COUNT(*) FROM items) AS items,"
            " (SELECT COUNT(*) FROM outbox WHERE status = 'pending') AS pending,"
            " (SELECT COUNT(*) FROM outbox WHERE status = 'sent') AS sent,"
            " (SELECT COUNT(*) FROM outbox WHERE status = 'failed') AS failed"
        )
        return dict(row) if row else {}


def _item(r: Any) -> StoredItem:
    published = from_ts(r["published_at"])
    first_seen = from_ts(r["first_seen_at"])
    assert published is not None
    assert first_seen is not None
    return StoredItem(
        id=r["id"],
        feed_id=r["feed_id"],
        feed_title=r["feed_title"],
        key=r["key"],
        title=r["title"],
        link=r["link"],
        summary=r["summary"],
        image=r["image"],
        published_at=published,
        first_seen_at=first_seen,
        baseline=bool(r["baseline"]),
    )


def _nonce() -> str:
    # Discord nonces are at most 25 characters.
    return uuid.uuid4().hex[:25]


__all__ = ["Delivery", "Store", "StoreError"]


class GuildTopicStore:
    """Per-guild keyword lists and topic queries (migration 0002)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def all_lists(self) -> dict[int, dict[str, tuple[str, ...]]]:
        rows = await self._store._all("SELECT guild_id, name, terms FROM guild_lists")
        out: dict[int, dict[str, tuple[str, ...]]] = {}
        for r in rows:
            out.setdefault(r[0], {})[r[1]] = tuple(json.loads(r[2]))
        return out

    async def all_topics(self) -> dict[int, dict[str, str]]:
        rows = await self._store._all("SELECT guild_id, name, query FROM guild_topics")
        out: dict[int, dict[str, str]] = {}
        for r in rows:
            out.setdefault(r[0], {})[r[1]] = r[2]
        return out

    async def save_list(
        self, guild_id: int, name: str, terms: Sequence[str], by: int | None, now: datetime
    ) -> None:
        async with self._store._tx() as db:
            await db.execute(
                "INSERT INTO guild_lists (guild_id, name, terms, updated_by, updated_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, name) DO UPDATE SET"
                " terms = excluded.terms, updated_by = excluded.updated_by,"
                " updated_at = excluded.updated_at",
                (guild_id, name, json.dumps(list(terms), ensure_ascii=False), by, to_ts(now)),
            )

    async def save_topic(
        self, guild_id: int, name: str, query: str, by: int | None, now: datetime
    ) -> None:
        async with self._store._tx() as db:
            await db.execute(
                "INSERT INTO guild_topics (guild_id, name, query, updated_by, updated_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, name) DO UPDATE SET"
                " query = excluded.query, updated_by = excluded.updated_by,"
                " updated_at = excluded.updated_at",
                (guild_id, name, query, by, to_ts(now)),
            )
