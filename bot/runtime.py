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
from datetime import UTC, datetime, timedelta
from typing import TextIO

import aiohttp

from bot.config import Settings
from bot.core.engine import Engine
from bot.core.topics import TopicCatalog
from bot.core.types import DestinationKind
from bot.delivery.base import PausedInfo, Sink, describe_destination
from bot.delivery.console import ConsoleSink
from bot.delivery.webhook import WebhookSink
from bot.delivery.worker import DeliveryWorker, Notifier
from bot.feeds.fetch import Fetcher, FetchLimits
from bot.feeds.parsepool import FeedParser
from bot.health import HealthInputs, HealthServer
from bot.pipeline import Pipeline, PipelineSettings, PollReport
from bot.scheduler import FeedScheduler
from bot.store.db import StoreError
from bot.store.repo import GuildTopicStore, Store
from bot.store.rows import SubscriptionRow

log = logging.getLogger(__name__)


# In-flight polls and deliveries get this long after a stop request (SIGTERM), together.
STOP_GRACE_S = 6.0


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


async def log_paused(info: PausedInfo, reason: str) -> None:
    """Console mode has nobody to DM: the operator reads it in the log."""
    log.warning(
        "subscription %d (%s, topic %s) paused: %s",
        info.subscription_id,
        describe_destination(info.destination_kind, info.destination),
        info.topic,
        reason,
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
    catalog: TopicCatalog | None = None
    # Set by the Discord bot; None in console mode (the health check then ignores the gateway).
    gateway_connected: Callable[[], bool] | None = None
    health: HealthServer | None = None
    _sessions: list[aiohttp.ClientSession] = field(default_factory=list)
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
        # Webhooks work in every mode: a webhook-only deployment needs no bot token.
        webhook_session = aiohttp.ClientSession()
        all_sinks: dict[DestinationKind, Sink] = {
            "console": ConsoleSink(out or sys.stdout),
            "webhook": WebhookSink(webhook_session),
        }
        all_sinks.update(sinks or {})
        worker = DeliveryWorker(store, all_sinks, notifier or log_paused, clock=clock)
        parser = FeedParser(settings.fetch.parse_workers)
        pipeline = Pipeline(
            store=store,
            fetcher=fetcher,
            parser=parser,
            engine=Engine([]),
            settings=pipeline_settings(settings),
            clock=clock,
            on_outbox=worker.notify,
        )
        scheduler = FeedScheduler(
            store,
            pipeline,
            clock=clock,
            default_interval_s=settings.schedule.default_interval_minutes * 60,
            jitter_s=settings.schedule.jitter_seconds,
        )
        runtime = cls(settings, store, fetcher, pipeline, scheduler, worker, clock)
        runtime._sessions.append(webhook_session)
        try:
            await runtime.reload_topics()
        except BaseException:
            await webhook_session.close()
            await fetcher.close()
            await store.close()
            raise
        return runtime

    async def reload_topics(self) -> TopicCatalog:
        """Recompile every topic (config + guild copies) into one engine and swap it in."""
        guild_store = GuildTopicStore(self.store)
        catalog = TopicCatalog(
            base_lists={k: tuple(v) for k, v in self.settings.lists.items()},
            base_topics={k: t.query for k, t in self.settings.topics.items()},
            guild_lists=await guild_store.all_lists(),
            guild_topics=await guild_store.all_topics(),
        )
        self.pipeline.set_engine(Engine(catalog.definitions()))
        self.pipeline.topic_for = self._topic_for
        self.catalog = catalog
        return catalog

    def _topic_for(self, sub: SubscriptionRow) -> str:
        assert self.catalog is not None
        return self.catalog.topic_id(sub.guild_id, sub.topic)

    async def health_inputs(self) -> HealthInputs:
        return HealthInputs(
            scheduler_running=self.scheduler.running,
            gateway_connected=self.gateway_connected() if self.gateway_connected else None,
            feeds=tuple(await self.store.feeds()),
            now=self.clock(),
            overdue_after=timedelta(minutes=self.settings.health.overdue_minutes),
        )

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self.worker.run_forever(self._stop)))
        await self.scheduler.start()
        if self.settings.bot.retention_days:
            await self.prune()
            self.scheduler.add_maintenance("retention:prune", self.prune, every_s=6 * 3600)
        if self.settings.health.enabled:
            self.health = HealthServer(
                self.settings.health.host, self.settings.health.port, self.health_inputs
            )
            await self.health.start()
        feeds = await self.store.feeds()
        log.info("polling %d feeds; database %s", len(feeds), self.store.path)

    async def stop(self) -> None:
        """Reverse of start: no new polls or deliveries; in-flight polls and sends finish
        together within STOP_GRACE_S (what is cut off stays pending or unpolled, and is redone
        after a restart), then everything closes. Fits Docker's 10 s between SIGTERM and KILL.
        """
        if self.health is not None:
            await self.health.stop()
        self._stop.set()
        self.worker.notify()
        await asyncio.gather(self.scheduler.stop(grace_s=STOP_GRACE_S), self._stop_tasks())
        for session in self._sessions:
            await session.close()
        await asyncio.to_thread(self.pipeline.parser.close)
        await self.fetcher.close()
        await self.store.close()

    async def _stop_tasks(self) -> None:
        if self._tasks:
            _done, pending = await asyncio.wait(self._tasks, timeout=STOP_GRACE_S)
            for task in pending:
                task.cancel()

    async def prune(self) -> None:
        """Retention: drop old item text, keep identity keys (no re-alerts of old items)."""
        days = self.settings.bot.retention_days
        try:
            pruned = await self.store.prune(self.clock() - timedelta(days=days))
        except StoreError as exc:
            log.error("retention pruning failed: %s", exc)
            return
        if pruned:
            log.info("retention: pruned %d items older than %d days", pruned, days)
            try:
                await self.store.compact()
            except StoreError as exc:
                log.error("compacting the database after pruning failed: %s", exc)

    async def poll_all_once(self) -> list[PollReport]:
        """Poll every feed now (concurrently, within the fetcher's limits)."""
        feeds = await self.store.feeds()
        return list(await asyncio.gather(*(self.pipeline.poll(f) for f in feeds)))
