"""One poll of one feed: fetch -> parse -> decide -> match -> store with outbox rows.

A thin shell: the decisions live in bot.core (ingest, schedule, engine, summarize); this module
only calls the fetcher, the parser and the store in order, and never raises for a feed's fault.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.core.engine import Engine
from bot.core.ingest import decide_items, story_key
from bot.core.schedule import PollOutcome, PollPolicy, next_poll_at
from bot.core.summarize import summarize
from bot.core.text import fold
from bot.core.types import Document, FetchResult, TopicMatch
from bot.feeds.fetch import Fetcher
from bot.feeds.parse import FeedParseError
from bot.feeds.parsepool import FeedParser
from bot.store.repo import Store, StoreError
from bot.store.rows import Delivery, FeedRow, PollWrite, SubscriptionRow

log = logging.getLogger(__name__)

# Maps a subscription to the engine topic id it follows (guild topics override config topics).
TopicResolver = Callable[[SubscriptionRow], str]


def config_topic(sub: SubscriptionRow) -> str:
    return sub.topic


@dataclass(frozen=True, slots=True)
class PipelineSettings:
    default_interval_s: float
    min_interval_s: float
    max_interval_s: float
    backoff_base_s: float
    backoff_max_s: float
    jitter_s: float
    baseline_newest: int = 0
    summary_chars: int = 350


@dataclass(frozen=True, slots=True)
class PollReport:
    feed_id: int
    url: str
    outcome: str  # "new-items", "unchanged", "not-modified", "error"
    new_items: int = 0
    updated_items: int = 0
    alerts: int = 0
    baseline: bool = False
    error: str | None = None
    next_poll_at: datetime | None = None


class Pipeline:
    def __init__(
        self,
        *,
        store: Store,
        fetcher: Fetcher,
        parser: FeedParser,
        engine: Engine,
        settings: PipelineSettings,
        clock: Callable[[], datetime],
        rng: random.Random | None = None,
        topic_for: TopicResolver = config_topic,
        on_outbox: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.fetcher = fetcher
        self.parser = parser
        self.engine = engine
        self.settings = settings
        self.clock = clock
        self.rng = rng or random.Random()
        self.topic_for = topic_for
        self.on_outbox = on_outbox
        # One poll of a feed at a time, whoever asks (the scheduler, /feeds add, `once`).
        self._feed_locks: dict[int, asyncio.Lock] = {}

    def set_engine(self, engine: Engine) -> None:
        """Swap in a recompiled engine (after a topic or keyword list changed)."""
        self.engine = engine

    def _policy(self, feed: FeedRow) -> PollPolicy:
        s = self.settings
        interval = feed.interval_minutes * 60 if feed.interval_minutes else s.default_interval_s
        return PollPolicy(
            interval_s=interval,
            min_interval_s=s.min_interval_s,
            max_interval_s=s.max_interval_s,
            backoff_base_s=s.backoff_base_s,
            backoff_max_s=s.backoff_max_s,
            jitter_s=s.jitter_s,
        )

    async def poll(self, feed: FeedRow) -> PollReport:
        """Poll one feed. Every failure is recorded on the feed; nothing propagates."""
        async with self._feed_locks.setdefault(feed.id, asyncio.Lock()):
            return await self._poll_unlocked(feed)

    async def _poll_unlocked(self, feed: FeedRow) -> PollReport:
        # Another poll may have finished while we waited: work from the stored state.
        feed = await self.store.feed(feed.id) or feed
        try:
            return await self._poll(feed)
        except StoreError as exc:
            # Locked by another process, disk full, read-only: nothing of this poll was stored
            # (one transaction), so the next one redoes it. An operator's problem, not a bug.
            return await self._fail(feed, None, f"could not store the poll: {exc}")
        except Exception as exc:  # a bug of ours must not stop the other feeds
            log.exception(
                "poll of feed %s (%s) crashed", feed.id, feed.url, extra={"feed_id": feed.id}
            )
            return await self._fail(feed, None, f"internal error: {type(exc).__name__}: {exc}")

    async def _poll(self, feed: FeedRow) -> PollReport:
        result = await self.fetcher.fetch(feed.url, feed.etag, feed.last_modified)
        now = self.clock()
        if result.status == "error":
            return await self._fail(feed, result, result.error or "fetch failed")
        ok = PollOutcome(ok=True, max_age_s=result.max_age_s)
        if result.status == "not_modified":
            nxt = next_poll_at(now, self._policy(feed), ok, self.rng.random())
            await self.store.record_unchanged(feed.id, now, nxt)
            return PollReport(feed.id, feed.url, "not-modified", next_poll_at=nxt)

        body = result.body or b""
        body_hash = hashlib.sha256(body).hexdigest()
        if feed.baselined and body_hash == feed.body_hash:
            nxt = next_poll_at(now, self._policy(feed), ok, self.rng.random())
            await self.store.record_unchanged(
                feed.id,
                now,
                nxt,
                etag=result.etag,
                last_modified=result.last_modified,
                keep_validators=False,
            )
            return PollReport(feed.id, feed.url, "unchanged", next_poll_at=nxt)

        try:
            parsed = await self.parser.parse(body, dict(result.headers), now, result.url)
        except FeedParseError as exc:
            return await self._fail(feed, result, str(exc))

        known = await self.store.known_keys(feed.id, [e.key for e in parsed.entries])
        decisions = decide_items(
            parsed.entries,
            known,
            first_poll=not feed.baselined,
            baseline_newest=self.settings.baseline_newest,
            now=now,
        )
        subscribers = await self.store.subscribers_for_feed(feed)
        matches: list[tuple[str, TopicMatch]] = []
        deliveries: list[Delivery] = []
        for d in decisions:
            if d.change != "new":
                continue
            doc = Document(title=d.entry.title, body=d.entry.summary)
            found = {m.topic: m for m in self.engine.match(doc)}
            matches.extend((d.entry.key, m) for m in found.values())
            if not d.alert or not found:
                continue
            key = story_key(d.entry, fold(d.entry.title))
            summaries: dict[str, str] = {}
            for sub in subscribers:
                match = found.get(self.topic_for(sub))
                if match is None or match.score < sub.min_score:
                    continue
                if match.topic not in summaries:
                    summaries[match.topic] = summarize(
                        doc, match.spans, max_chars=self.settings.summary_chars
                    )
                deliveries.append(
                    Delivery(
                        subscription_id=sub.id,
                        item_key=d.entry.key,
                        story_key=key,
                        score=match.score,
                        terms=match.terms,
                        summary=summaries[match.topic],
                    )
                )
        outcome = PollOutcome(ok=True, max_age_s=result.max_age_s, ttl_minutes=parsed.ttl_minutes)
        nxt = next_poll_at(now, self._policy(feed), outcome, self.rng.random())
        outbox_ids = await self.store.record_poll(
            PollWrite(
                feed_id=feed.id,
                now=now,
                next_poll_at=nxt,
                etag=result.etag,
                last_modified=result.last_modified,
                body_hash=body_hash,
                feed_title=parsed.title or None,
                ttl_minutes=parsed.ttl_minutes,
                items=tuple(decisions),
                matches=tuple(matches),
                deliveries=tuple(deliveries),
                warning=f"readable but malformed: {parsed.bozo_reason}" if parsed.bozo else None,
            )
        )
        if outbox_ids and self.on_outbox is not None:
            self.on_outbox()
        new = sum(1 for d in decisions if d.change == "new")
        if not feed.baselined:
            log.info(
                "feed %s baselined: %d items recorded, %d alerts",
                feed.url,
                new,
                len(outbox_ids),
                extra={"feed_id": feed.id},
            )
        return PollReport(
            feed.id,
            feed.url,
            "new-items",
            new_items=new,
            updated_items=len(decisions) - new,
            alerts=len(outbox_ids),
            baseline=not feed.baselined,
            next_poll_at=nxt,
        )

    async def _fail(self, feed: FeedRow, result: FetchResult | None, error: str) -> PollReport:
        now = self.clock()
        outcome = PollOutcome(
            ok=False,
            consecutive_failures=feed.error_count + 1,
            retry_after_s=result.retry_after_s if result else None,
        )
        nxt = next_poll_at(now, self._policy(feed), outcome, self.rng.random())
        log.warning(
            "feed %s failed (%d in a row): %s; next try %s",
            feed.url,
            feed.error_count + 1,
            error,
            nxt.isoformat(timespec="seconds"),
            extra={"feed_id": feed.id},
        )
        try:
            await self.store.record_failure(feed.id, error, now, nxt)
        except StoreError as exc:  # the same database problem, most likely: it is in the log
            log.error("feed %s: could not record the failure: %s", feed.url, exc)
        return PollReport(feed.id, feed.url, "error", error=error, next_poll_at=nxt)
