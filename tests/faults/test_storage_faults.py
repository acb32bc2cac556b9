"""Storage faults (issue 6): restarts, a database locked by another process, a read-only data
directory, a full disk, a corrupt database file.

The process tests run the real `python -m bot run` in console mode; the full-disk equivalent
with SQLite's `PRAGMA max_page_count` runs in-process, since that limit belongs to a connection.
"""

from __future__ import annotations

import asyncio
import io
import os
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings, settings_from_mapping
from bot.runtime import Runtime
from bot.store.db import migrations
from bot.store.repo import Store
from tests.faults.botproc import (
    PLACES,
    WEBHOOK_URL,
    Bot,
    WebhookServer,
    db_rows,
    integrity,
    wait_until,
    write_config,
)
from tests.feedserver import FeedServer
from tests.integration.rss import Item, rss

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
OLD = Item("old", "Aras archive", "An older story.", 0)


def settings(db: Path, feeds: list[str], *, webhook: bool = False) -> Settings:
    subs = [{"topic": "border", "webhook_url": WEBHOOK_URL}] if webhook else []
    return settings_from_mapping(
        {
            "bot": {"database": str(db)},
            "fetch": {"allow_private_networks": True, "parse_workers": 0},
            "schedule": {"jitter_seconds": 0},
            "feeds": [{"url": u} for u in feeds],
            "lists": {"places": PLACES},
            "topics": {"border": {"query": "@places"}},
            "subscriptions": subs,
        },
        source="test",
        environ={},
    )


def sql(db: Path, query: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


# --- a restart keeps static subscriptions and their pending alerts ----------------------------


async def test_a_restart_keeps_static_subscriptions_and_their_pending_alerts(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    """Console and config-file webhook subscriptions have no guild. Before migration 0004 each
    start made new ones and paused the old, so alerts still pending at a restart were lost."""
    route = feed_server.route("/news", rss([OLD]))
    db = tmp_path / "bw.db"
    config = settings(db, [feed_server.url("/news")], webhook=True)
    rt = await Runtime.create(config, out=io.StringIO(), clock=lambda: NOW)
    await rt.poll_all_once()
    route.body = rss([OLD, Item("n1", "Astara crossing reopens", "At Astara.", 3)])
    await rt.poll_all_once()  # two outbox rows (console, webhook), not delivered: a crash here
    await rt.stop()
    subs_before = sql(db, "SELECT id, kind, paused FROM subscriptions ORDER BY id")

    rt = await Runtime.create(config, out=io.StringIO(), clock=lambda: NOW)
    try:
        due = await rt.store.due_outbox(NOW, 10)
    finally:
        await rt.stop()
    assert sql(db, "SELECT id, kind, paused FROM subscriptions ORDER BY id") == subs_before
    assert [s[2] for s in subs_before] == [0, 0]
    assert sorted(i.destination_kind for i in due) == ["console", "webhook"]


async def test_migration_merges_the_duplicates_earlier_versions_made(tmp_path: Path) -> None:
    db = tmp_path / "bw.db"
    conn = sqlite3.connect(db, isolation_level=None)
    for version, _name, script in migrations()[:3]:
        conn.executescript(script)
        conn.execute(f"PRAGMA user_version = {version}")
    conn.executescript(
        """
        INSERT INTO feeds (id, url, added_at) VALUES (1, 'http://f.test/', 0);
        INSERT INTO items (id, feed_id, key, title, link, summary, authors, published_at,
            first_seen_at, content_hash) VALUES
            (1, 1, 'k1', 'T1', NULL, '', '', 0, 0, 'h'),
            (2, 1, 'k2', 'T2', NULL, '', '', 0, 0, 'h');
        -- three starts of a console-mode bot: two paused copies and the live one
        INSERT INTO subscriptions (id, guild_id, kind, destination, topic, paused, paused_reason,
            created_at, from_config) VALUES
            (1, NULL, 'console', 'console', 'border', 1, 'removed from config', 0, 0),
            (2, NULL, 'console', 'console', 'border', 1, 'removed from config', 0, 0),
            (3, NULL, 'console', 'console', 'border', 0, NULL, 0, 1),
            (4, 7, 'channel', '55', 'border', 0, NULL, 0, 0);
        INSERT INTO outbox (id, subscription_id, item_id, story_key, status, score, terms,
            summary, nonce, created_at, next_attempt_at) VALUES
            (1, 1, 1, 's1', 'sent', 1, '[]', '', 'n1', 0, 0),
            (2, 2, 2, 's2', 'pending', 1, '[]', '', 'n2', 0, 0),
            (3, 3, 2, 's2', 'pending', 1, '[]', '', 'n3', 0, 0),
            (4, 4, 1, 's1', 'pending', 1, '[]', '', 'n4', 0, 0);
        """
    )
    conn.close()

    store = await Store.open(db)
    await store.close()
    assert sql(db, "SELECT id, guild_id FROM subscriptions ORDER BY id") == [(3, None), (4, 7)]
    # The sent row moved (history kept); the pending duplicate of story s2 went with its row.
    assert sql(db, "SELECT id, subscription_id, status FROM outbox ORDER BY id") == [
        (1, 3, "sent"),
        (3, 3, "pending"),
        (4, 4, "pending"),
    ]
    with pytest.raises(sqlite3.IntegrityError):
        sql(
            db,
            "INSERT INTO subscriptions (guild_id, kind, destination, topic, created_at)"
            " VALUES (NULL, 'console', 'console', 'border', 0)",
        )


# --- the database locked by another process ----------------------------------------------------


async def test_a_database_locked_by_another_process_delays_but_loses_and_repeats_nothing(
    feed_server: FeedServer, tmp_path: Path, webhook: WebhookServer, bots: list[Bot]
) -> None:
    """Another process holds the write lock for 7 s, longer than the bot's 5 s busy timeout,
    while a poll has news to store and a webhook send is waiting to be recorded."""
    webhook.delay_s = 1.0
    route = feed_server.route("/news", rss([OLD]))
    config = write_config(tmp_path, [feed_server.url("/news")], webhook=True)
    db = tmp_path / "bw.db"
    bot = Bot(tmp_path, config, env={"DISCORD_API_BASE": webhook.base})
    bots.append(bot)
    run = await bot.start()
    await wait_until(lambda: db_rows(db, "SELECT baselined FROM feeds") == [(1,)], 30, "baseline")

    first = [Item(f"a{j}", f"Astara crossing news {j}", "At Astara.", 10 + j) for j in range(3)]
    route.body = rss([OLD, *first])
    await wait_until(lambda: len(webhook.posts) >= 1, 30, "the first webhook POST")
    # The POST is out; its answer comes in a second. Lock the database now, for 7 s.
    locker = sqlite3.connect(db, timeout=10, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    locked_at = time.monotonic()
    second = [
        Item(f"b{j}", f"Nakhchivan bridge news {j}", "In Nakhchivan.", 20 + j) for j in range(3)
    ]
    route.body = rss([OLD, *first, *second])
    await asyncio.sleep(7.0)
    locker.execute("COMMIT")
    locker.close()
    held = time.monotonic() - locked_at

    everything = {i.title for i in [*first, *second]}
    await wait_until(
        lambda: (
            set(webhook.titles()) == everything
            and Counter(bot.printed_titles()).keys() == everything
            and db_rows(db, "SELECT COUNT(*) FROM outbox WHERE status = 'pending'") == [(0,)]
        ),
        40,
        "every alert after the lock",
    )
    assert await run.terminate() < 10
    log = run.log_text()
    posted, printed = Counter(webhook.titles()), Counter(bot.printed_titles())
    print(
        f"lock held {held:.1f} s: {sum(posted.values())} POSTs for {len(posted)} alerts, "
        f"{sum(printed.values())} console prints for {len(printed)}"
    )
    assert "database is locked: another process holds the database" in log
    assert "raised an exception" not in log  # no poll job died of it
    assert "crashed" not in log
    assert posted == Counter(everything)  # nothing lost, nothing posted twice
    assert printed == Counter(everything)
    assert integrity(db) == "ok"


# --- a full disk ---------------------------------------------------------------------------------


def big_items(count: int, start: int = 0) -> list[Item]:
    """Off-topic items with 2 KB of text each: they fill a small disk fast."""
    return [
        Item(f"big{n}", f"Market report {n}", f"Prices {n} " + "steady and calm. " * 120, n / 60)
        for n in range(start, start + count)
    ]


async def test_a_full_database_gives_a_clear_error_keeps_the_file_intact_and_recovers(
    feed_server: FeedServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """SQLite's PRAGMA max_page_count caps the file exactly like a full disk (SQLITE_FULL)."""
    route = feed_server.route("/news", rss([OLD]))
    db = tmp_path / "bw.db"
    out = io.StringIO()
    rt = await Runtime.create(settings(db, [feed_server.url("/news")]), out=out, clock=lambda: NOW)
    try:
        await rt.poll_all_once()
        [(pages,)] = await rt.store._conn.execute_fetchall("PRAGMA page_count")
        await rt.store._conn.execute(f"PRAGMA max_page_count = {pages + 8}")
        hits = [Item(f"h{j}", f"Astara crossing news {j}", "At Astara.", 50 + j) for j in range(3)]
        route.body = rss([OLD, *big_items(400), *hits])

        [report] = await rt.poll_all_once()
        [feed] = await rt.store.feeds()
        print(f"\nfull: {report.error}")
        assert report.outcome == "error"
        assert "database or disk is full" in (report.error or "")
        assert "nothing was lost" in (report.error or "")
        assert feed.last_error == report.error  # recorded on the feed (that row still fits)
        assert len(await rt.store.items()) == 1  # the poll's transaction was rolled back whole
        assert "Traceback" not in caplog.text
        assert integrity(db) == "ok"

        # Space again: the next poll stores everything and alerts once.
        await rt.store._conn.execute("PRAGMA max_page_count = 1073741823")
        [report] = await rt.poll_all_once()
        await rt.worker.drain()
    finally:
        await rt.stop()
    assert (report.outcome, report.new_items, report.alerts) == ("new-items", 403, 3)
    assert Counter(t for t in out.getvalue().splitlines() if t.startswith("Title:")) == Counter(
        f"Title:     {h.title}" for h in hits
    )
    assert integrity(db) == "ok"


def mount_tmpfs(path: Path, size: str) -> None:
    """A tiny real filesystem (root or CAP_SYS_ADMIN needed); skips the test otherwise."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
            check=True,
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or str(exc)
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {detail!r}")


def remount(path: Path, options: str) -> None:
    subprocess.run(
        ["mount", "-o", f"remount,{options}", str(path)], check=True, capture_output=True
    )


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    disk = tmp_path / "disk"
    mount_tmpfs(disk, "1m")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False, capture_output=True)


async def test_a_full_disk_gives_a_clear_error_and_the_bot_recovers_when_space_returns(
    feed_server: FeedServer, tmp_path: Path, small_disk: Path, bots: list[Bot]
) -> None:
    route = feed_server.route("/news", rss([OLD]))
    db = small_disk / "bw.db"
    config = write_config(tmp_path, [feed_server.url("/news")], database=db)
    bot = Bot(tmp_path, config)
    bots.append(bot)
    run = await bot.start()
    await wait_until(lambda: db_rows(db, "SELECT baselined FROM feeds") == [(1,)], 30, "baseline")

    hits = [Item(f"h{j}", f"Astara crossing news {j}", "At Astara.", 50 + j) for j in range(3)]
    route.body = rss([OLD, *big_items(600), *hits])  # about 1.5 MB of text for a 1 MB disk
    await run.wait_log("database or disk is full", timeout=30)
    assert db_rows(db, "SELECT COUNT(*) FROM items") == [(1,)]
    assert run.proc.returncode is None  # still running

    remount(small_disk, "size=64m")
    await wait_until(
        lambda: Counter(bot.printed_titles()).keys() == {h.title for h in hits}, 30, "alerts"
    )
    assert await run.terminate() < 10
    log = run.log_text()
    print(f"\nfull disk: {next(line for line in log.splitlines() if 'disk is full' in line)}")
    assert "free space, nothing was lost" in log
    assert "crashed" not in log
    assert "raised an exception" not in log
    assert Counter(bot.printed_titles()) == Counter(h.title for h in hits)
    assert db_rows(db, "SELECT COUNT(*) FROM items") == [(604,)]
    assert integrity(db) == "ok"


# --- a read-only data directory -----------------------------------------------------------------


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[tuple[Path, Callable[[bool], None]]]:
    """(folder, make_read_only(flag)): a tmpfs remounted read-only when we may mount, else a
    folder without write permission (which binds only a non-root user)."""
    folder = tmp_path / "data"
    try:
        mount_tmpfs(folder, "16m")
    except pytest.skip.Exception as skipped:
        if os.geteuid() == 0:
            raise pytest.skip.Exception(
                f"{skipped.msg}; and root ignores file permissions, so a read-only folder "
                "cannot be made either"
            ) from None

        def chmod(read_only: bool) -> None:
            folder.chmod(0o555 if read_only else 0o755)
            for f in folder.iterdir():
                f.chmod(0o444 if read_only else 0o644)

        yield folder, chmod
        chmod(False)
        return

    def set_mount(read_only: bool) -> None:
        remount(folder, "ro" if read_only else "rw")

    try:
        yield folder, set_mount
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False, capture_output=True)


async def test_a_read_only_data_directory_is_a_clear_start_up_error_and_harms_nothing(
    feed_server: FeedServer,
    tmp_path: Path,
    data_dir: tuple[Path, Callable[[bool], None]],
    bots: list[Bot],
) -> None:
    folder, read_only = data_dir
    feed_server.route("/news", rss([OLD]))
    db = folder / "bw.db"
    rt = await Runtime.create(settings(db, [feed_server.url("/news")]), clock=lambda: NOW)
    await rt.poll_all_once()
    await rt.stop()
    before = sql(db, "SELECT url, baselined, items_seen FROM feeds")

    read_only(True)
    try:
        for database in (db, folder / "new" / "bw.db"):  # the existing file, and a new one
            config = write_config(tmp_path, [feed_server.url("/news")], database=database)
            (tmp_path / "ro").mkdir(exist_ok=True)
            bot = Bot(tmp_path / "ro", config)
            bots.append(bot)
            run = await bot.start()
            await asyncio.wait_for(run.proc.wait(), 20)
            err = run.log_text()
            message = err.strip().splitlines()[-1]
            print(f"\nread-only, {database.relative_to(folder)}: {message}")
            assert run.proc.returncode == 1
            assert "Traceback" not in err
            assert message.startswith("borderwatch: ")
            assert "not writable (read-only file system" in message or (
                "cannot create the data folder" in message and "Read-only" in message
            )
    finally:
        read_only(False)
    assert integrity(db) == "ok"
    assert sql(db, "SELECT url, baselined, items_seen FROM feeds") == before


# --- a corrupt database file --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        ("header", "file is not a database: the file is damaged; restore a backup"),
        ("pages", "is damaged"),
    ],
)
async def test_a_corrupt_database_is_refused_at_start_with_a_clear_message(
    feed_server: FeedServer, tmp_path: Path, damage: str, expected: str, bots: list[Bot]
) -> None:
    feed_server.route("/news", rss([OLD, *big_items(200)]))
    db = tmp_path / "bw.db"
    rt = await Runtime.create(settings(db, [feed_server.url("/news")]), clock=lambda: NOW)
    await rt.poll_all_once()
    await rt.stop()  # the last connection: the WAL is checkpointed into the file
    page = int(sql(db, "PRAGMA page_size")[0][0])
    pages = db.stat().st_size // page
    assert pages > 20
    with db.open("r+b") as f:
        if damage == "header":
            f.write(os.urandom(100))
        else:  # a run of pages in the middle: b-tree pages of the tables and indexes
            f.seek(page * (pages // 2))
            f.write(os.urandom(page * 4))

    bot = Bot(tmp_path, write_config(tmp_path, [feed_server.url("/news")], database=db))
    bots.append(bot)
    run = await bot.start()
    await asyncio.wait_for(run.proc.wait(), 20)
    err = run.log_text()
    message = err.strip().splitlines()[-1]
    print(f"\ncorrupt {damage}: exit {run.proc.returncode}: {message}")
    assert run.proc.returncode == 1
    assert "Traceback" not in err
    assert message.startswith(f"borderwatch: database {db}")
    assert expected in message
    assert "restore" in message
