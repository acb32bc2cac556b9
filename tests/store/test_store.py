"""The store on a real SQLite file: migrations, one transaction per poll, uniqueness, isolation."""

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.ingest import decide_items
from bot.core.types import Entry, TopicMatch
from bot.store.db import StoreError, migrations
from bot.store.repo import Store
from bot.store.rows import Delivery, PollWrite

NOW = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


def entry(key: str, link: str | None = None) -> Entry:
    return Entry(
        key=key,
        title=f"Title {key}",
        link=link or f"https://n.test/{key}",
        summary=f"Summary {key}",
        published=NOW - timedelta(hours=1),
    )


async def open_store(tmp_path: Path) -> Store:
    return await Store.open(tmp_path / "data" / "bw.db")


def poll_write(
    feed_id: int,
    entries: list[Entry],
    known: dict[str, str],
    *,
    first: bool,
    deliveries: tuple[Delivery, ...] = (),
) -> PollWrite:
    decisions = decide_items(entries, known, first_poll=first, baseline_newest=0, now=NOW)
    return PollWrite(
        feed_id=feed_id,
        now=NOW,
        next_poll_at=NOW + timedelta(minutes=15),
        etag='"v1"',
        last_modified=None,
        body_hash="h1",
        feed_title="Feed",
        ttl_minutes=None,
        items=tuple(decisions),
        deliveries=deliveries,
        matches=tuple((e.key, TopicMatch("t", 5.0, ("aras",))) for e in entries),
    )


async def test_migrations_set_user_version_and_reopen_cleanly(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    await store.close()
    store = await open_store(tmp_path)  # second open applies nothing and keeps data
    await store.close()
    conn = sqlite3.connect(tmp_path / "data" / "bw.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(migrations())
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_poll_is_stored_once_and_outbox_is_one_row_per_story(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    try:
        [feed] = await store.sync_config_feeds([("https://f.test/rss", "F", None)], NOW)
        sub = await store.add_subscription(
            guild_id=1, kind="channel", destination="10", topic="t", now=NOW
        )
        await store.record_poll(poll_write(feed.id, [entry("a")], {}, first=True))
        known = await store.known_keys(feed.id, ["a", "b", "c"])
        assert list(known) == ["a"]
        # b and c carry the same link: one story, so one outbox row for the subscription.
        b, c = entry("b", "https://n.test/same"), entry("c", "https://n.test/same")
        ids = await store.record_poll(
            poll_write(
                feed.id,
                [entry("a"), b, c],
                known,
                first=False,
                deliveries=(
                    Delivery(sub.id, "b", "link:https://n.test/same", 5, ("aras",), "s"),
                    Delivery(sub.id, "c", "link:https://n.test/same", 5, ("aras",), "s"),
                ),
            )
        )
        assert len(ids) == 1
        items = await store.items(feed.id)
        assert [(i.key, i.baseline) for i in items] == [("a", True), ("b", False), ("c", False)]
        due = await store.due_outbox(NOW)
        assert [(d.alert.title, d.destination) for d in due] == [("Title b", "10")]
    finally:
        await store.close()


async def test_failed_transaction_leaves_nothing_behind(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    try:
        [feed] = await store.sync_config_feeds([("https://f.test/rss", "F", None)], NOW)
        bad = poll_write(
            feed.id,
            [entry("a")],
            {},
            first=False,
            deliveries=(Delivery(999, "a", "link:x", 1, (), "s"),),
        )  # no such sub
        with pytest.raises(StoreError, match="FOREIGN KEY"):
            await store.record_poll(bad)
        assert await store.items(feed.id) == []
        assert (await store.feed(feed.id)).baselined is False  # type: ignore[union-attr]
    finally:
        await store.close()


async def test_guild_feed_reaches_only_that_guilds_subscriptions(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    try:
        own, added = await store.add_guild_feed(
            1, "https://g1.test/rss", name=None, interval_minutes=None, added_by=5, now=NOW
        )
        again, added_again = await store.add_guild_feed(
            2, "https://g1.test/rss", name=None, interval_minutes=None, added_by=6, now=NOW
        )
        assert added
        assert added_again
        assert own.id == again.id
        s1 = await store.add_subscription(
            guild_id=1, kind="channel", destination="10", topic="t", now=NOW
        )
        await store.add_subscription(
            guild_id=3, kind="channel", destination="30", topic="t", now=NOW
        )
        subs = await store.subscribers_for_feed(own)
        assert [s.guild_id for s in subs] == [1]
        assert s1.id in {s.id for s in subs}
        assert await store.set_subscription_paused(s1.id, True, "x", guild_id=3) is None
        assert await store.remove_guild_feed(1, own.id) is True
        assert await store.feed(own.id) is not None  # guild 2 still follows it
        assert await store.remove_guild_feed(2, own.id) is True
        assert await store.feed(own.id) is None
    finally:
        await store.close()


async def test_corrupt_database_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "bw.db"
    path.write_bytes(b"this is not a database" * 200)
    with pytest.raises(StoreError, match=r"not a database|damaged"):
        await Store.open(path)


async def test_retention_prunes_text_but_keeps_keys_so_old_items_never_realert(
    tmp_path: Path,
) -> None:
    store = await open_store(tmp_path)
    try:
        [feed] = await store.sync_config_feeds([("https://f.test/rss", "F", None)], NOW)
        await store.record_poll(poll_write(feed.id, [entry("old")], {}, first=True))
        pruned = await store.prune(NOW + timedelta(days=1))
        assert pruned == 1
        [item] = await store.items(feed.id)
        assert (item.title, item.summary) == ("", "")
        known = await store.known_keys(feed.id, ["old"])
        decisions = decide_items(
            [entry("old")], known, first_poll=False, baseline_newest=0, now=NOW
        )
        assert decisions == []  # re-served old item: neither new nor an alert
    finally:
        await store.close()


async def test_a_guilds_name_for_a_shared_feed_stays_in_that_guild(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    try:
        feed, _ = await store.add_guild_feed(
            1, "https://s.test/rss", name="Alpha's wire", interval_minutes=None, added_by=5, now=NOW
        )
        await store.add_guild_feed(
            2, "https://s.test/rss", name=None, interval_minutes=None, added_by=6, now=NOW
        )
        subs = [
            await store.add_subscription(
                guild_id=g, kind="channel", destination=str(g * 10), topic="t", now=NOW
            )
            for g in (1, 2)
        ]
        await store.record_poll(poll_write(feed.id, [entry("a")], {}, first=True))
        await store.record_poll(
            poll_write(
                feed.id,
                [entry("a"), entry("b")],
                await store.known_keys(feed.id, ["a"]),
                first=False,
                deliveries=tuple(Delivery(s.id, "b", "link:b", 1, (), "s") for s in subs),
            )
        )
        shown = {d.guild_id: d.alert.feed_title for d in await store.due_outbox(NOW)}
        assert shown == {1: "Alpha's wire", 2: "Feed"}  # guild 2 sees the feed's own title
    finally:
        await store.close()


async def test_a_feed_removed_from_the_config_and_followed_by_no_guild_is_dropped(
    tmp_path: Path,
) -> None:
    store = await open_store(tmp_path)
    try:
        await store.sync_config_feeds(
            [
                ("https://keep.test/rss", None, None),
                ("https://gone.test/rss", None, None),
                ("https://guild.test/rss", None, None),
            ],
            NOW,
        )
        await store.add_guild_feed(
            7, "https://guild.test/rss", name=None, interval_minutes=None, added_by=1, now=NOW
        )
        feeds = await store.sync_config_feeds([("https://keep.test/rss", None, None)], NOW)
        assert sorted((f.url, f.from_config) for f in feeds) == [
            ("https://guild.test/rss", False),  # still followed by guild 7
            ("https://keep.test/rss", True),
        ]
    finally:
        await store.close()


async def test_compact_shrinks_the_file_after_pruning(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    try:
        [feed] = await store.sync_config_feeds([("https://f.test/rss", "F", None)], NOW)
        big = [
            Entry(key=f"k{i}", title=f"T{i}", link=None, summary="x " * 2000) for i in range(300)
        ]
        await store.record_poll(poll_write(feed.id, big, {}, first=True))
        await store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        path = tmp_path / "data" / "bw.db"
        before = path.stat().st_size
        assert await store.prune(NOW + timedelta(days=1)) == 300
        await store.compact()
        await store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert path.stat().st_size < before / 3
    finally:
        await store.close()
