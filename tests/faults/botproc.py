"""A real `python -m bot --config X run` in console mode (no token) for process and storage
faults, plus the loopback observers those tests need: the database seen from outside, alerts
printed on stdout, and a webhook endpoint that records every POST.

Each start of the bot is a `BotProcess`; its stdout (the console alerts) and stderr (the log) go
to files numbered per start, so alerts printed before a SIGKILL are still counted afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from aiohttp import web

ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_ID = "112233445566778899"
WEBHOOK_TOKEN = "T" * 68
WEBHOOK_URL = f"https://discord.com/api/webhooks/{WEBHOOK_ID}/{WEBHOOK_TOKEN}"
PLACES = ["Aras", "Astara", "Nakhchivan"]


def write_config(
    folder: Path,
    feed_urls: Iterable[str],
    *,
    database: Path | None = None,
    webhook: bool = False,
    fetch: str = "",
) -> Path:
    """A console-mode config: fast polling, the loopback allowed, topic "border" = @places."""
    feeds = "".join(f'[[feeds]]\nurl = "{u}"\n' for u in feed_urls)
    hook = (
        f'[[subscriptions]]\ntopic = "border"\nwebhook_url = "{WEBHOOK_URL}"\n' if webhook else ""
    )
    path = folder / "config.toml"
    path.write_text(
        f"""
[bot]
database = "{database or folder / "bw.db"}"
log_level = "INFO"
[fetch]
allow_private_networks = true
total_timeout_s = 10
{fetch}
[schedule]
default_interval_minutes = 0.02
min_interval_minutes = 0.01
backoff_base_minutes = 0.01
backoff_max_minutes = 0.05
jitter_seconds = 0
[lists]
places = {json.dumps(PLACES)}
[topics.border]
query = "@places"
{hook}
{feeds}
""",
        encoding="utf-8",
    )
    return path


@dataclass
class BotProcess:
    proc: asyncio.subprocess.Process
    out: Path
    log: Path
    started: float

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def children(self) -> list[int]:
        try:
            return [c.pid for c in psutil.Process(self.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    async def kill(self) -> None:
        """SIGKILL, as the OOM killer or a power cut would."""
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def terminate(self, timeout: float = 10.0) -> float:  # noqa: ASYNC109
        """SIGTERM; returns the seconds until the process exited (kills it after `timeout`)."""
        sent = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            await self.kill()
            raise AssertionError(f"no exit within {timeout:g} s of SIGTERM") from None
        return time.monotonic() - sent

    async def wait_log(self, text: str, timeout: float = 20.0) -> None:  # noqa: ASYNC109
        await wait_until(lambda: text in self.log_text(), timeout, f"{text!r} in the bot's log")


class Bot:
    """Starts the bot on one config, again and again; counts the starts."""

    def __init__(self, folder: Path, config: Path, env: dict[str, str] | None = None) -> None:
        self.folder = folder
        self.config = config
        self.env = env or {}
        self.runs: list[BotProcess] = []

    async def start(self) -> BotProcess:
        n = len(self.runs)
        env = {k: v for k, v in os.environ.items() if not k.startswith("DISCORD_")}
        env.update(PYTHONUNBUFFERED="1", **self.env)
        out, log = self.folder / f"out-{n}.txt", self.folder / f"log-{n}.txt"
        with out.open("wb") as stdout, log.open("wb") as stderr:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "--config",
                str(self.config),
                "run",
                cwd=str(ROOT),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
            )
        run = BotProcess(proc, out, log, time.monotonic())
        self.runs.append(run)
        return run

    def printed_titles(self) -> list[str]:
        """Titles of every console alert printed by every start, in order."""
        titles = []
        for run in self.runs:
            for line in run.out.read_text(encoding="utf-8", errors="replace").splitlines():
                if line.startswith("Title:"):
                    titles.append(line.removeprefix("Title:").strip())
        return titles

    def logs(self) -> str:
        return "\n".join(run.log_text() for run in self.runs)

    async def stop_all(self) -> None:
        for run in self.runs:
            if run.proc.returncode is None:
                await run.kill()


async def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:g} s for {what}")
        await asyncio.sleep(0.02)


def db_rows(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Read the bot's database from outside (WAL: readers never wait for the bot's writes)."""
    if not db.exists():
        return []
    try:
        conn = sqlite3.connect(db, timeout=5)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return []


def integrity(db: Path) -> str:
    conn = sqlite3.connect(db, timeout=10)
    try:
        return "; ".join(r[0] for r in conn.execute("PRAGMA integrity_check").fetchall())
    finally:
        conn.close()


def writer_active(db: Path) -> bool:
    """True when some connection holds the write lock right now (BEGIN IMMEDIATE is refused at
    once). The probe itself holds the lock for microseconds only."""
    conn = sqlite3.connect(db, timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:
        return True
    else:
        conn.execute("ROLLBACK")
        return False
    finally:
        conn.close()


def gone(pids: Iterable[int]) -> bool:
    return not any(psutil.pid_exists(p) and _alive(p) for p in pids)


def _alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


@dataclass
class WebhookServer:
    """Discord's webhook execution on loopback: POST /api/v10/webhooks/{id}/{token}?wait=true.

    Like Discord, the message exists as soon as the POST is received (`posts`); the answer is
    held back `delay_s`, the window in which a crash loses the bot's knowledge that it posted.
    """

    delay_s: float = 0.0
    posts: list[dict[str, Any]] = field(default_factory=list)
    answered: int = 0
    base: str = ""
    _runner: web.AppRunner | None = None
    _closing: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/api/v10/webhooks/{id}/{token}", self._execute)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://127.0.0.1:{port}/api/v10"
        return self.base

    async def close(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def titles(self) -> list[str]:
        return [p["embeds"][0]["title"] for p in self.posts]

    async def _execute(self, request: web.Request) -> web.Response:
        payload = await request.json()
        if request.match_info["id"] != WEBHOOK_ID or request.match_info["token"] != WEBHOOK_TOKEN:
            return _json(404, {"message": "Unknown Webhook", "code": 10015})
        if request.query.get("wait") not in ("true", "1"):  # discord.py sends wait=1
            return _json(400, {"message": "expected ?wait=true", "code": 0})
        self.posts.append(payload)
        message_id = str(900000000000000000 + len(self.posts))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), self.delay_s)
        self.answered += 1
        return _json(
            200,
            {
                "id": message_id,
                "type": 0,
                "channel_id": "600000000000000001",
                "webhook_id": WEBHOOK_ID,
                "author": {
                    "id": WEBHOOK_ID,
                    "username": "BorderWatch",
                    "discriminator": "0000",
                    "avatar": None,
                    "bot": True,
                },
                "content": payload.get("content") or "",
                "embeds": payload.get("embeds", []),
                "attachments": [],
                "mentions": [],
                "mention_roles": [],
                "mention_everyone": False,
                "pinned": False,
                "tts": False,
                "timestamp": "2026-11-27T12:00:00+00:00",
                "edited_timestamp": None,
                "flags": 0,
            },
        )


def _json(status: int, body: Any) -> web.Response:
    # discord.py parses JSON only when Content-Type is exactly application/json.
    return web.Response(
        status=status, body=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
