"""One APScheduler job per feed, each rescheduled after every poll by the pipeline's decision."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from apscheduler.job import Job
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.pipeline import Pipeline, PollReport
from bot.store.repo import Store

log = logging.getLogger(__name__)

SYNC_JOB_ID = "feeds:sync"


def feed_job_id(feed_id: int) -> str:
    return f"feed:{feed_id}"


class FeedScheduler:
    """Owns the AsyncIOScheduler. `start()` pairs with `stop()`.

    Each feed's job runs on an interval trigger (a safety net), but after every poll its next run
    is moved to the time the pipeline chose (backoff, Retry-After, max-age, <ttl>).
    `max_instances=1`
    and `coalesce=True` keep one poll per feed at a time and collapse missed runs into one.
    """

    def __init__(
        self,
        store: Store,
        pipeline: Pipeline,
        *,
        clock: Callable[[], datetime],
        default_interval_s: float,
        jitter_s: float,
        resync_s: float = 60.0,
        on_poll: Callable[[PollReport], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self.pipeline = pipeline
        self.clock = clock
        self.default_interval_s = default_interval_s
        self.jitter_s = jitter_s
        self.resync_s = resync_s
        self.on_poll = on_poll
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._inflight: set[asyncio.Task[PollReport]] = set()
        self.started_at: datetime | None = None
        self.last_tick_at: datetime | None = None

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    async def start(self) -> None:
        self._scheduler.start()
        self.started_at = self.clock()
        await self.sync_feeds()
        self._scheduler.add_job(
            self.sync_feeds,
            IntervalTrigger(seconds=self.resync_s),
            id=SYNC_JOB_ID,
            replace_existing=True,
            max_instances=1,
            coalesce=True,
        )

    async def stop(self, grace_s: float = 8.0) -> None:
        """Stop scheduling, then let in-flight polls finish (their transactions are short)."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        if self._inflight:
            log.info("waiting for %d in-flight polls", len(self._inflight))
            _done, pending = await asyncio.wait(self._inflight, timeout=grace_s)
            for task in pending:
                task.cancel()

    async def sync_feeds(self) -> None:
        """Add jobs for new feeds, drop jobs of removed ones (feeds added by /feeds add too)."""
        feeds = await self.store.feeds()
        wanted = {feed_job_id(f.id): f for f in feeds}
        for job in self._scheduler.get_jobs():
            if job.id.startswith("feed:") and job.id not in wanted:
                job.remove()
        now = self.clock()
        for job_id, feed in wanted.items():
            if self._scheduler.get_job(job_id) is not None:
                continue
            interval = (
                feed.interval_minutes * 60 if feed.interval_minutes else self.default_interval_s
            )
            first = feed.next_poll_at if feed.next_poll_at and feed.next_poll_at > now else now
            self._scheduler.add_job(
                self._run,
                IntervalTrigger(seconds=interval, jitter=int(self.jitter_s) or None),
                args=[feed.id],
                id=job_id,
                name=feed.url,
                next_run_time=first,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
                replace_existing=True,
            )

    def add_maintenance(
        self, job_id: str, func: Callable[[], Awaitable[None]], every_s: float
    ) -> None:
        """A periodic housekeeping job (retention pruning), first run one interval from now."""
        self._scheduler.add_job(
            func,
            IntervalTrigger(seconds=every_s),
            id=job_id,
            replace_existing=True,
            max_instances=1,
            coalesce=True,
        )

    def poll_soon(self, feed_id: int) -> None:
        job = self._scheduler.get_job(feed_job_id(feed_id))
        if job is not None:
            job.modify(next_run_time=self.clock())

    def jobs(self) -> list[Job]:
        return list(self._scheduler.get_jobs())

    async def _run(self, feed_id: int) -> None:
        task = asyncio.ensure_future(self._poll(feed_id))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        try:
            report = await asyncio.shield(task)
        except asyncio.CancelledError:
            # Shutdown: APScheduler cancels running jobs. The poll goes on, shielded, and
            # stop() waits for it; nothing here is an error worth a traceback in the log.
            return
        self.last_tick_at = self.clock()
        if report.next_poll_at is not None:
            job = self._scheduler.get_job(feed_job_id(feed_id))
            if job is not None:
                # Never earlier than a few seconds from now; the pipeline decided the time.
                at = max(report.next_poll_at, self.clock() + timedelta(seconds=1))
                job.modify(next_run_time=at)
        if self.on_poll is not None:
            await self.on_poll(report)

    async def _poll(self, feed_id: int) -> PollReport:
        feed = await self.store.feed(feed_id)
        if feed is None:
            return PollReport(feed_id, "", "error", error="feed removed")
        return await self.pipeline.poll(feed)
