"""Feed parsing off the event loop: a small pool of worker processes, or a thread.

feedparser is pure Python, so parsing in threads uses one core however many feeds are due; on a
first poll of hundreds of feeds it is most of the work. Worker processes use every core, and a
hostile feed that makes the parser balloon hits the worker's memory limit instead of the bot's
(the worker dies, the feed gets a clear error, a fresh pool takes over).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import resource
import select
import threading
import time
from collections.abc import Mapping
from concurrent.futures import BrokenExecutor, ProcessPoolExecutor
from datetime import datetime

from bot.core.types import ParsedFeed
from bot.feeds.parse import FeedParseError, parse_feed

log = logging.getLogger(__name__)

DEFAULT_MEMORY_LIMIT = 1024 * 1024 * 1024  # address space per worker process


def _limit_memory(limit_bytes: int) -> None:
    """Worker initializer: cap the address space, so runaway parsing fails in the worker."""
    if limit_bytes > 0:
        # Not permitted in some sandboxes: then the worker runs without the cap.
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))


def _init_worker(limit_bytes: int, bot_pid: int) -> None:
    """Worker initializer: the memory cap, and a watch that ends the worker with the bot."""
    _limit_memory(limit_bytes)
    threading.Thread(target=_exit_with, args=(bot_pid,), name="bot-watch", daemon=True).start()


def _exit_with(pid: int) -> None:
    """Exit when process `pid` (the bot) does. A SIGKILLed bot (OOM killer, crash) otherwise
    leaves its workers waiting on their call queue forever (each holds both ends of its pipe,
    so it never sees EOF), and the forkserver waits for them: orphans after every restart."""
    try:
        watch = os.pidfd_open(pid)
    except (AttributeError, OSError):  # not Linux 5.3+: look once a second
        while True:
            time.sleep(1.0)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            except PermissionError:
                continue
    else:
        select.select([watch], [], [])  # readable once the process has exited
    os._exit(0)


class FeedParser:
    """`await parser.parse(...)` -> ParsedFeed, or FeedParseError with a reason for the feed.

    `workers=0` parses in a thread of this process (small deployments, tests of the thread path).
    """

    def __init__(
        self,
        workers: int,
        *,
        timeout_s: float = 60.0,
        memory_limit_bytes: int = DEFAULT_MEMORY_LIMIT,
    ) -> None:
        self.workers = workers
        self.timeout_s = timeout_s
        self.memory_limit_bytes = memory_limit_bytes
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # forkserver: workers are forked from a clean server process, never from this one,
            # which runs threads (aiosqlite, the event loop's executor) that fork would copy.
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["bot.feeds.parse"])
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=context,
                initializer=_init_worker,
                initargs=(self.memory_limit_bytes, os.getpid()),
            )
        return self._pool

    async def parse(
        self, body: bytes, headers: Mapping[str, str], now: datetime, base_url: str
    ) -> ParsedFeed:
        if self.workers <= 0:
            return await asyncio.to_thread(parse_feed, body, dict(headers), now, base_url)
        for attempt in (1, 2):
            pool = self._executor()
            future = asyncio.get_running_loop().run_in_executor(
                pool, parse_feed, body, dict(headers), now, base_url
            )
            try:
                return await asyncio.wait_for(future, self.timeout_s)
            except TimeoutError:
                self._restart(pool, f"a parse took longer than {self.timeout_s:.0f} s")
                raise FeedParseError(
                    f"parsing took longer than {self.timeout_s:.0f} s; the feed is too large "
                    "or malformed"
                ) from None
            except BrokenExecutor:
                # A worker died: this feed's, or another feed's sharing the pool. Try once more
                # on a fresh pool; a feed that kills it again is the culprit.
                self._restart(pool, "a worker died")
                if attempt == 2:
                    raise FeedParseError(
                        "the parser ran out of memory or crashed on this feed "
                        "(a hostile or huge feed?)"
                    ) from None
            except MemoryError:
                raise FeedParseError("the parser ran out of memory on this feed") from None
        raise AssertionError("unreachable")

    def _restart(self, pool: ProcessPoolExecutor, why: str) -> None:
        if self._pool is not pool:  # someone else already replaced it
            return
        log.warning("restarting the feed parser pool: %s", why)
        self._pool = None
        if pool is not None:
            # Processes stuck in a runaway parse are killed; queued work of other feeds fails
            # with BrokenExecutor and is retried on their next poll.
            for proc in list(getattr(pool, "_processes", {}).values()):
                proc.kill()
            pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
