"""The SQLite connection: WAL mode, numbered migrations tracked by PRAGMA user_version.

All SQL of the project lives in this package. sqlite errors a user can cause (a locked, corrupt
or read-only database) are wrapped into `StoreError` with a message that says what to do.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
from importlib import resources
from pathlib import Path

import aiosqlite

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class StoreError(Exception):
    """The database cannot be used; the message names the file and what to do."""


def migrations() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) for every migration shipped in bot/store/migrations, in order."""
    found = []
    for res in resources.files("bot.store.migrations").iterdir():
        m = _MIGRATION_NAME.match(res.name)
        if m:
            found.append((int(m.group(1)), res.name, res.read_text(encoding="utf-8")))
    found.sort()
    for expected, (version, name, _) in enumerate(found, start=1):
        if version != expected:
            raise RuntimeError(f"migration numbering has a gap or duplicate at {name}")
    return found


async def connect(path: str | Path, *, busy_timeout_ms: int = 5000) -> aiosqlite.Connection:
    """Open (creating if needed) and migrate the database at `path`."""
    target = str(path)
    if target != ":memory:":
        folder = Path(target).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the data folder {folder}: {exc.strerror}. "
                "Set bot.database to a writable path."
            ) from None
    try:
        conn = await aiosqlite.connect(target, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open database {target}: {exc}. Check the path.") from None
    conn.row_factory = aiosqlite.Row
    try:
        await conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        await _check_integrity(conn, target)
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA synchronous = NORMAL")
        await conn.execute("PRAGMA foreign_keys = ON")
        await migrate(conn)
    except sqlite3.DatabaseError as exc:
        await conn.close()
        raise wrap_error(exc, target) from None
    except BaseException:
        await conn.close()
        raise
    return conn


async def _check_integrity(conn: aiosqlite.Connection, target: str) -> None:
    async with conn.execute("PRAGMA quick_check") as cur:
        row = await cur.fetchone()
    if row is None or row[0] != "ok":
        detail = row[0] if row else "no answer"
        raise StoreError(
            f"database {target} is damaged ({detail}). Restore it from a backup "
            "(borderwatch backup) or move it aside to start a new one."
        )


async def migrate(conn: aiosqlite.Connection) -> int:
    """Apply the migrations newer than PRAGMA user_version, each in its own transaction."""
    async with conn.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    current = int(row[0]) if row else 0
    known = migrations()
    if current > len(known):
        raise StoreError(
            f"database schema version {current} is newer than this BorderWatch knows "
            f"({len(known)}); upgrade BorderWatch or use a backup made by this version."
        )
    for version, name, sql in known[current:]:
        log.info("applying migration %s", name)
        await conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _split_sql(sql):
                await conn.execute(statement)
            await conn.execute(f"PRAGMA user_version = {version}")
            await conn.execute("COMMIT")
        except BaseException:
            await conn.execute("ROLLBACK")
            raise
    return len(known)


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements; sqlite3.complete_statement keeps triggers whole."""
    statements: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        if not buf and line.strip().startswith("--"):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            statements.append(buf.strip())
            buf = ""
    if buf.strip():
        statements.append(buf.strip())
    return statements


def wrap_error(exc: sqlite3.Error, target: str) -> StoreError:
    text = str(exc)
    if "locked" in text or "busy" in text:
        hint = "another process holds the database; stop it or wait, then retry"
    elif "readonly" in text or "read-only" in text:
        hint = "the database or its folder is read-only; make it writable by the bot's user"
    elif "disk is full" in text or "full" in text:
        hint = "the disk is full; free space, nothing was lost (the transaction was rolled back)"
    elif "not a database" in text or "malformed" in text or "corrupt" in text:
        hint = "the file is damaged; restore a backup or move it aside"
    elif "unable to open" in text and not _writable_folder(target):
        # WAL mode creates <db>-wal and <db>-shm beside the file: the folder must be writable.
        hint = (
            f"its folder {Path(target).parent} is not writable (read-only file system or "
            "permissions); make it writable by the bot's user or set bot.database elsewhere"
        )
    else:
        hint = "see the message above"
    return StoreError(f"database {target}: {text}: {hint}.")


def _writable_folder(target: str) -> bool:
    return target == ":memory:" or os.access(Path(target).parent, os.W_OK)
