"""The long-lived parts wired together: store, fetcher, engine, pipeline, scheduler, delivery.

`Runtime.start()` pairs with `Runtime.stop()` (reverse order). Console mode uses it directly; the
Discord bot calls the same two from `setup_hook` and `close`.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TextIO

from bot.config import Settings
from bot.core.engine import Engine
from bot.core.types import DestinationKind
from bot.delivery.base import Notifier, Sink
from bot.delivery.console import ConsoleSink
from bot.delivery.worker import DeliveryWorker
from bot.feeds.fetch import Fetcher, FetchLimits
from bot.pipeline import Pipeline, PipelineSettings, PollReport, TopicResolver, config_topic
from bot.scheduler import FeedScheduler
from bot.store.repo import Store

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


def fetch_limits(settings: Settings) -> FetchLimits:
    f = settings.fetch
    return FetchLimits(
        user_agent=f.user_agent,
        connect_timeout=f.connect_timeout_s,
        total_timeout=f.total_timeout_s,
        max_body_bytes=f.max_body_bytes,
        max_redirects=f.max_redirects,
        concurrency=f.concurrency,
        per_host_concurrency=f.per_host_concurrency,
        allow_private_networks=f.allow_private_networks,
    )


def pipeline_settings(settings: Settings) -> PipelineSettings:
    s = settings.schedule
    return PipelineSettings(
        default_interval_s=s.default_interval_minutes * 60,
        min_interval_s=s.min_interval_minutes * 60,
        max_interval_s=s.max_interval_minutes * 60,
        backoff_base_s=s.backoff_base_minutes * 60,
        backoff_max_s=s.backoff_max_minutes * 60,
        jitter_s=s.jitter_seconds,
        baseline_newest=settings.bot.baseline_newest,
        summary_chars=settings.bot.summary_chars,
    )


@dataclass
class Runtime:
    settings: Settings
    store: Store
    fetcher: Fetcher
    pipeline: Pipeline
    scheduler: FeedScheduler
    worker: DeliveryWorker
    clock: Callable[[], datetime] = utcnow
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    async def create(
        cls,
        settings: Settings,
        *,
        sinks: Mapping[DestinationKind, Sink] | None = None,
        notifier: Notifier | None = None,
        console: bool = True,
        out: TextIO | None = None,
        clock: Callable[[], datetime] = utcnow,
        topic_for: TopicResolver = config_topic,
        engine: Engine | None = None,
    ) -> Runtime:
        store = await Store.open(settings.bot.database)
        try:
            now = clock()
            await store.sync_config_feeds(
                ((f.url, f.name, f.interval_minutes) for f in settings.feeds), now
            )
            static = [
                (
                    s.guild_id,
                    "webhook" if s.webhook_url else "channel",
                    s.webhook_url or str(s.channel_id),
                    s.topic,
                    s.min_score,
                    s.role_id,
                )
                for s in settings.subscriptions
            ]
            if console:
                static += [
                    (None, "console", "console", name, t.min_score, None)
                    for name, t in settings.topics.items()
                ]
            await store.sync_config_subscriptions(static, now)  # type: ignore[arg-type]
            fetcher = await Fetcher.create(fetch_limits(settings))
        except BaseException:
            await store.close()
            raise
        all_sinks: dict[DestinationKind, Sink] = {"console": ConsoleSink(out or sys.stdout)}
        all_sinks.update(sinks or {})
        worker = DeliveryWorker(store, all_sinks, notifier=notifier, clock=clock)
        pipeline = Pipeline(
            store=store,
            fetcher=fetcher,
            engine=engine or Engine(settings.topic_defs()),
            settings=pipeline_settings(settings),
            clock=clock,
            topic_for=topic_for,
            on_outbox=worker.notify,
        )
        scheduler = FeedScheduler(
            store,
            pipeline,
            clock=clock,
            default_interval_s=settings.schedule.default_interval_minutes * 60,
            jitter_s=settings.schedule.jitter_seconds,
        )
        return cls(settings, store, fetcher, pipeline, scheduler, worker, clock)

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self.worker.run_forever(self._stop)))
        await self.scheduler.start()
        feeds = await self.store.feeds()
        log.info("polling %d feeds; database %s", len(feeds), self.store.path)

    async def stop(self) -> None:
        """Reverse of start: no new polls, finish in-flight ones, drain the worker, close."""
        await self.scheduler.stop()
        self._stop.set()
        self.worker.notify()
        if self._tasks:
            _done, pending = await asyncio.wait(self._tasks, timeout=5)
            for task in pending:
                task.cancel()
        await self.fetcher.close()
        await self.store.close()

    async def poll_all_once(self) -> list[PollReport]:
        """Poll every feed now (concurrently, within the fetcher's limits)."""
        feeds = await self.store.feeds()
        return list(await asyncio.gather(*(self.pipeline.poll(f) for f in feeds)))
