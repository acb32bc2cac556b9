"""Soak run: the real bot, many feeds, many guilds, faults everywhere, for minutes. Nothing lost?

Three processes:

- a loopback **feed server** (its own process, spawned): N RSS feeds spread over several
  loopback addresses (127.0.0.1 .. 127.0.0.H). Each feed starts with a small backlog (the
  baseline the bot must NOT alert on); then items arrive continuously (a Poisson stream,
  ``--items-per-minute`` in all, each on a random feed), a fraction ``--on-topic`` of them about
  Iran and Azerbaijan at the border (they match the soak's topic), the rest near misses (one
  country only) or unrelated. The server remembers when each item was published (monotonic clock)
  and which items the first 200 answer of each feed carried (the bot's baseline). It honours
  If-None-Match (304) and fails ``--feed-faults`` (5%) of the answers: half 500, half a hang
  longer than the bot's fetch timeout. Item text comes from bench/poll.py's generator.
- the **fake Discord** (tests/fakediscord, in this process): G guilds, each with a static
  subscription (config file) of its ``#alerts`` channel to the topic. A fault injector adds
  scripted failures to ``POST /channels/*/messages`` at random (exponential gaps, mean
  ``--discord-fault-every`` s): 500 (discord.py retries it), 503 (raised at once: the outbox
  retries), 429 with a random retry_after (a fifth of them global).
- the **bot**: ``python -m bot --config X run`` with DISCORD_TOKEN / DISCORD_API_BASE /
  DISCORD_GATEWAY_URL from the fake: the real BorderWatchBot (cogs, scheduler, pipeline,
  SQLite, outbox worker, channel sink), unmodified. Its RSS is sampled every second (psutil).

After ``--duration`` seconds the feeds stop publishing and all faults stop; the run then drains
(at most ``--drain`` seconds) until every expected alert is there, waits a few seconds more for
late duplicates, and stops the bot with SIGTERM.

Expected alerts are computed from the feed server alone: on-topic items that were not in their
feed's first 200 answer (published after the baseline), times the number of subscriptions.
Delivered alerts are the messages the fake Discord created (not the scripted failures, not the
nonce-deduplicated resends), each tied to its item by the story link in the embed. Duplicates are
a (channel, item) pair created more than once; a resend that Discord's nonce check answered with
the existing message is reported apart (no crash happens here, so each one is a bug). Latency is
from the item's publication on the feed server to the POST that created the message
(CLOCK_MONOTONIC is system-wide on Linux, so the two processes' clocks agree). The leak check
compares the median RSS of the third and the fourth quarter of the publishing period and fits
a line through its second half, for the bot process and for it with its parse-pool children.

The database is reported at the end (size, bytes per item); since retention works in days and
a soak lasts minutes, the run then applies the bot's own `Store.prune` to every item offline and
reports what the tombstones still hold, before and after a VACUUM.

Exit status: 0 when delivered == expected (the same pairs), no duplicates, every item stored,
every outbox row sent, every feed's baseline taken from the answer the server recorded, and the
bot exited 0 on SIGTERM; 1 otherwise (the report names the problem).

Run:  .venv/bin/python bench/soak.py [--duration 600] [--feeds 1000] [--guilds 50]
          [--items-per-minute 120] [--on-topic 0.2] [--interval-s 15] [--seed N]
          [--workdir DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing
import multiprocessing.connection
import os
import random
import re
import signal
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make `bench` and `tests` importable
    sys.path.insert(0, str(ROOT))

from bench.poll import Item, make_item, render_rss  # noqa: E402 - after the sys.path fix

TOPIC = "iran-azerbaijan-border"
# The soak's own topic, so "on topic" is known by construction: bench/poll.py's "on" items carry
# an Iran word, an Azerbaijan word and "border"; its near misses carry one country only, and its
# filler vocabulary has no word of these lists.
LISTS: dict[str, list[str]] = {
    "iran": ["Iran", "Iranian", "Tehran"],
    "azerbaijan": ["Azerbaijan", "Azerbaijani", "Baku"],
    "border": ["border", "Aras", "crossing"],
}
QUERY = "@iran AND @azerbaijan AND @border"
STORY = re.compile(r"/story-(\d+)-(\d+)")  # bench/poll.py links: .../story-{feed}-{serial}?...
MESSAGES = re.compile(r"/channels/(\d+)/messages")
BOT_COMMAND = [sys.executable, "-m", "bot"]


@dataclass(frozen=True)
class SoakParams:
    duration_s: float = 600.0
    feeds: int = 1000
    guilds: int = 50
    items_per_minute: float = 120.0
    on_topic: float = 0.2  # fraction of new items that match the topic
    backlog: int = 5  # items per feed before the first poll (the baseline; never alerted)
    window: int = 30  # items a feed serves (newest first)
    hosts: int = 50  # loopback addresses the feeds are spread over
    interval_s: float = 15.0  # schedule.default_interval_minutes * 60
    jitter_s: float = 1.0
    feed_fault_rate: float = 0.05
    fetch_timeout_s: float = 8.0  # fetch.total_timeout_s; a "timeout" fault hangs 2 s longer
    discord_fault_every_s: float = 3.0  # mean gap between scripted Discord failures
    drain_s: float = 120.0  # at most this long after publishing stops
    settle_s: float = 5.0  # after everything arrived: time for a late duplicate to show up
    seed: int = 20260301
    progress_every_s: float = 30.0


# --- the feed server (its own process) -----------------------------------------------------


@dataclass
class _Feed:
    index: int
    items: deque[tuple[int, Item]]  # (serial, item), newest first
    next_serial: int = 0
    version: int = 0
    rendered: tuple[int, bytes] | None = None  # (version, body)
    baseline: set[int] | None = None  # serials in the first 200 answer
    baseline_version: int = -1
    first_inm_after_baseline: str | None = None
    last_ok_at: float = 0.0  # monotonic time of the last 200 or 304
    unserved: list[int] = field(default_factory=list)  # ledger rows not yet in a 200 answer

    def etag(self, version: int | None = None) -> str:
        return f'"soak-{self.index}-v{self.version if version is None else version}"'


def serve_soak_feeds(params: SoakParams, conn: multiprocessing.connection.Connection) -> None:
    """Serve the feeds; send the URLs and the control URL through `conn`; run until killed.

    Control (on the first address): POST /_soak/start (publishing and faults on), POST
    /_soak/stop (both off), GET /_soak/ledger (every item and the per-feed baseline).
    """
    from aiohttp import web

    rng = random.Random(params.seed)
    now = datetime.now(UTC)
    feeds: list[_Feed] = []
    # ledger rows: [feed, serial, published (monotonic; 0 for the backlog), on_topic,
    # first served in a 200 answer (monotonic; 0 until then)]
    ledger: list[list[Any]] = []
    kinds_off = ("iran", "az", "off", "off")
    for f in range(params.feeds):
        feed = _Feed(f, deque(maxlen=params.window))
        for k in range(params.backlog):
            kind = "on" if rng.random() < params.on_topic else rng.choice(kinds_off)
            pub = now - timedelta(minutes=30 * (params.backlog - k) + f % 29)
            serial = feed.next_serial
            feed.next_serial += 1
            feed.items.appendleft((serial, make_item(rng, f, serial, pub, kind)))
            feed.unserved.append(len(ledger))
            ledger.append([f, serial, 0.0, kind == "on", 0.0])
        feeds.append(feed)
    state: dict[str, bool] = {"publishing": False, "faults": False}
    stopped_at = [math.inf]
    stats: Counter[str] = Counter()
    hang_s = params.fetch_timeout_s + 2.0

    async def handle_feed(request: web.Request) -> web.Response:
        feed = feeds[int(request.match_info["i"])]
        stats["requests"] += 1
        stats["requests while faulting"] += state["faults"]
        inm = request.headers.get("If-None-Match")
        if inm is not None and feed.baseline is not None and feed.first_inm_after_baseline is None:
            feed.first_inm_after_baseline = inm.strip()
        if state["faults"] and rng.random() < params.feed_fault_rate:
            if rng.random() < 0.5:
                stats["fault 500"] += 1
                return web.Response(status=500, text="soak: injected server error")
            stats["fault timeout"] += 1
            await asyncio.sleep(hang_s)  # the client gave up before this
            return web.Response(status=503, text="soak: injected hang")
        etag = feed.etag()
        if inm is not None and etag in (t.strip() for t in inm.split(",")):
            stats["304"] += 1
            feed.last_ok_at = time.monotonic()
            return web.Response(status=304, headers={"ETag": etag})
        if feed.rendered is None or feed.rendered[0] != feed.version:
            items = [it for _s, it in feed.items]
            feed.rendered = (feed.version, render_rss(feed.index, items, items[0].pub))
        if feed.baseline is None:
            feed.baseline = {s for s, _it in feed.items}
            feed.baseline_version = feed.version
        stats["200"] += 1
        feed.last_ok_at = time.monotonic()
        for row in feed.unserved:
            ledger[row][4] = feed.last_ok_at
        feed.unserved.clear()
        return web.Response(
            body=feed.rendered[1],
            headers={"Content-Type": "application/rss+xml; charset=utf-8", "ETag": etag},
        )

    async def publish_forever() -> None:
        rate = params.items_per_minute / 60.0
        while True:
            await asyncio.sleep(rng.expovariate(rate) if rate > 0 else 3600)
            if not state["publishing"]:
                continue
            i = rng.randrange(params.feeds)
            feed = feeds[i]
            # Exactly the on-topic share of what was published, spread evenly (not drawn), so a
            # short run always has alerts to check.
            n = stats["published"]
            on = math.floor((n + 1) * params.on_topic) > math.floor(n * params.on_topic)
            kind = "on" if on else rng.choice(kinds_off)
            if len(feed.items) == feed.items.maxlen:
                stats["pushed out of a full window"] += 1  # lost only if never served
            serial = feed.next_serial
            feed.next_serial += 1
            feed.items.appendleft((serial, make_item(rng, i, serial, datetime.now(UTC), kind)))
            feed.version += 1
            feed.unserved.append(len(ledger))
            ledger.append([i, serial, time.monotonic(), kind == "on", 0.0])
            stats["published"] += 1

    async def control(request: web.Request) -> web.Response:
        action = request.match_info["action"]
        if action == "start":
            state["publishing"] = state["faults"] = True
        elif action == "stop":
            state["publishing"] = state["faults"] = False
            stopped_at[0] = min(stopped_at[0], time.monotonic())
        elif action != "ledger":
            raise web.HTTPNotFound(text=f"unknown action {action}")
        return web.json_response(
            {
                "ledger": ledger,
                "baselines": {
                    str(f.index): sorted(f.baseline) for f in feeds if f.baseline is not None
                },
                # The bot's first validator after the baseline names the version it stored:
                # proof that it took the same answer as its baseline as the server thinks.
                "baseline_confirmed": sum(
                    1 for f in feeds if f.first_inm_after_baseline == f.etag(f.baseline_version)
                ),
                "baseline_contradicted": [
                    f.index
                    for f in feeds
                    if f.first_inm_after_baseline is not None
                    and f.first_inm_after_baseline != f.etag(f.baseline_version)
                ],
                # Feeds that answered (200/304) after publishing stopped: their last items are out.
                "fresh_after_stop": sum(1 for f in feeds if f.last_ok_at > stopped_at[0]),
                "stats": dict(stats),
            }
        )

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/feed/{i:\\d+}.xml", handle_feed)
        app.router.add_route("*", "/_soak/{action}", control)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        bound: list[tuple[str, int]] = []
        for h in range(params.hosts):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((f"127.0.0.{h + 1}", 0))
            await web.SockSite(runner, sock, backlog=1024).start()
            bound.append(sock.getsockname()[:2])
        urls = [
            f"http://{bound[i % params.hosts][0]}:{bound[i % params.hosts][1]}/feed/{i}.xml"
            for i in range(params.feeds)
        ]
        conn.send({"urls": urls, "control": f"http://{bound[0][0]}:{bound[0][1]}/_soak/"})
        await publish_forever()

    asyncio.run(main())


def start_feed_server(
    params: SoakParams,
) -> tuple[multiprocessing.process.BaseProcess, list[str], str]:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=serve_soak_feeds, args=(params, child), daemon=True)
    proc.start()
    if not parent.poll(120):
        proc.terminate()
        raise RuntimeError("the feed server did not start within 120 s")
    info = parent.recv()
    return proc, list(info["urls"]), str(info["control"])


# --- the expected alerts, from the feed server's ledger ------------------------------------


@dataclass
class Ledger:
    total_items: int = 0
    backlog_items: int = 0
    published: int = 0
    on_topic_published: int = 0
    baseline_items: int = 0
    baseline_on_topic: int = 0
    feeds_baselined: int = 0
    on_topic_unbaselined: int = 0  # on a feed the bot never got a 200 from
    expected: dict[tuple[int, int], float] = field(default_factory=dict)  # item -> published
    served: dict[tuple[int, int], float] = field(default_factory=dict)  # item -> first served
    fresh_after_stop: int = 0
    baseline_confirmed: int = 0
    baseline_contradicted: list[int] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Ledger:
        baselines = {int(k): set(v) for k, v in data["baselines"].items()}
        led = cls(
            feeds_baselined=len(baselines),
            fresh_after_stop=int(data["fresh_after_stop"]),
            baseline_confirmed=int(data["baseline_confirmed"]),
            baseline_contradicted=list(data["baseline_contradicted"]),
            stats=dict(data["stats"]),
        )
        for feed, serial, pub, on, served in data["ledger"]:
            led.total_items += 1
            if pub == 0.0:
                led.backlog_items += 1
            else:
                led.published += 1
                led.on_topic_published += bool(on)
            base = baselines.get(feed)
            if base is None:
                led.on_topic_unbaselined += bool(on)
            elif serial in base:
                led.baseline_items += 1
                led.baseline_on_topic += bool(on)
            elif on:
                led.expected[(feed, serial)] = float(pub)
                led.served[(feed, serial)] = float(served)
        return led


# --- what the fake Discord received ----------------------------------------------------------


@dataclass
class Deliveries:
    """Messages the fake created, by (channel, feed, serial); read incrementally."""

    channels: frozenset[int]
    created: dict[tuple[int, int, int], list[float]] = field(default_factory=dict)
    statuses: Counter[str] = field(default_factory=Counter)
    other_posts: int = 0  # not an alert (e.g. a "subscription paused" notice)
    _seen: int = 0
    _in_flight: list[Any] = field(default_factory=list)

    def scan(self, requests: list[Any]) -> None:
        fresh = requests[self._seen :]
        self._seen = len(requests)
        pending, self._in_flight = self._in_flight + fresh, []
        for rec in pending:
            if rec.method != "POST":
                continue
            m = MESSAGES.fullmatch(rec.path)
            if m is None:
                continue
            if rec.status == 0:  # still being answered
                self._in_flight.append(rec)
                continue
            kind = "scripted" if rec.scripted else "nonce-dedup" if rec.deduplicated else "new"
            self.statuses[f"{rec.status} {kind}"] += 1
            if rec.status != 200 or rec.scripted or rec.deduplicated:
                continue
            channel = int(m.group(1))
            story = STORY.search(json.dumps(rec.json))
            if channel not in self.channels or story is None:
                self.other_posts += 1
                continue
            key = (channel, int(story.group(1)), int(story.group(2)))
            self.created.setdefault(key, []).append(rec.time)

    def duplicates(self) -> int:
        return sum(len(times) - 1 for times in self.created.values())

    def resends(self) -> int:
        """Sends of a message Discord already had, answered from the nonce check: without it
        they would be duplicates. No crash happens in a soak, so each one is a bug."""
        return sum(n for status, n in self.statuses.items() if status.endswith("nonce-dedup"))


@dataclass
class Comparison:
    expected: int
    delivered: int
    missing: list[tuple[int, int, int]]
    unexpected: list[tuple[int, int, int]]
    latencies: list[float]  # publication -> the POST that created the message
    poll_waits: list[float]  # publication -> the first 200 answer carrying the item
    bot_times: list[float]  # that answer -> the POST (fetch, parse, store, outbox, send)


def compare(ledger: Ledger, deliveries: Deliveries) -> Comparison:
    want = {
        (ch, feed, serial): pub
        for (feed, serial), pub in ledger.expected.items()
        for ch in deliveries.channels
    }
    got = deliveries.created
    latencies = [min(got[k]) - pub for k, pub in want.items() if k in got]
    served = {k: ledger.served.get(k[1:], 0.0) for k in want if k in got}
    poll_waits = [served[k] - want[k] for k in served if served[k] > 0]
    bot_times = [min(got[k]) - served[k] for k in served if served[k] > 0]
    return Comparison(
        expected=len(want),
        delivered=len(got),
        missing=sorted(k for k in want if k not in got),
        unexpected=sorted(k for k in got if k not in want),
        latencies=latencies,
        poll_waits=poll_waits,
        bot_times=bot_times,
    )


# --- the fake Discord's world and faults -----------------------------------------------------


def add_guilds(fake: Any, count: int) -> list[tuple[int, int]]:
    """At least `count` guilds (the default world has two); (guild id, #alerts id) of each."""
    world = fake.world
    owner = world.user("alice")
    while len(world.guilds) < count:
        world.add_guild(f"Soak Desk {len(world.guilds) + 1}", owner=owner)
    guilds = list(world.guilds.values())[:count]
    return [(g.id, g.channel("alerts").id) for g in guilds]


async def inject_discord_faults(
    fake: Any, rng: random.Random, mean_gap_s: float, stop: asyncio.Event, scripted: list[Any]
) -> None:
    """Random scripted failures on message posts until `stop`: 500, 503, 429 (some global)."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), rng.expovariate(1 / mean_gap_s))
        if stop.is_set():
            break
        r = rng.random()
        times = rng.choice((1, 1, 2))
        if r < 0.35:
            f = fake.fail_next("POST", "/channels/*/messages", 500, times=times)
        elif r < 0.5:
            f = fake.fail_next("POST", "/channels/*/messages", 503, times=1)
        else:
            f = fake.fail_next(
                "POST",
                "/channels/*/messages",
                429,
                times=times,
                retry_after=round(rng.uniform(0.05, 2.0), 2),
                is_global=rng.random() < 0.2,
            )
        scripted.append(f)
        fake.failures[:] = [x for x in fake.failures if x.remaining != 0]


# --- the bot process -------------------------------------------------------------------------


def write_config(
    path: Path, params: SoakParams, db: Path, urls: Sequence[str], subs: Sequence[tuple[int, int]]
) -> None:
    def q(value: str) -> str:
        return json.dumps(value)  # a JSON string is a valid TOML basic string (ASCII here)

    lines = [
        "# Written by bench/soak.py",
        "[bot]",
        f"database = {q(str(db))}",
        'log_level = "INFO"',
        "baseline_newest = 0",
        "retention_days = 1  # the smallest retention the config allows",
        "[fetch]",
        "allow_private_networks = true  # the feeds are on 127.0.0.x",
        "concurrency = 100",
        "per_host_concurrency = 8",
        f"total_timeout_s = {params.fetch_timeout_s}",
        "connect_timeout_s = 5",
        "[schedule]",
        f"default_interval_minutes = {params.interval_s / 60:.6f}",
        "min_interval_minutes = 0.05",
        "max_interval_minutes = 5",
        f"jitter_seconds = {params.jitter_s}",
        # A failed feed is retried after half an interval, then doubling (capped at a minute).
        f"backoff_base_minutes = {params.interval_s / 2 / 60:.6f}",
        "backoff_max_minutes = 1",
        "[discord]",
        "command_cooldown_seconds = 0",
        "[lists]",
        *(f"{name} = [{', '.join(q(t) for t in terms)}]" for name, terms in LISTS.items()),
        f"[topics.{TOPIC}]",
        f"query = {q(QUERY)}",
    ]
    for i, url in enumerate(urls):
        lines += ["[[feeds]]", f"url = {q(url)}", f'name = "Soak feed {i}"']
    for guild_id, channel_id in subs:
        lines += [
            "[[subscriptions]]",
            f"topic = {q(TOPIC)}",
            f"guild_id = {guild_id}",
            f"channel_id = {channel_id}",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@dataclass
class RssSampler:
    pid: int
    samples: list[tuple[float, int]] = field(default_factory=list)  # (monotonic, bytes)
    # The bot and its descendants (the feed-parsing worker pool): RSS summed, so shared pages
    # count more than once; an upper bound of what the bot costs.
    tree: list[tuple[float, int]] = field(default_factory=list)
    max_children: int = 0
    children_seen: dict[int, Any] = field(default_factory=dict)  # pid -> psutil.Process

    async def run(self, stop: asyncio.Event) -> None:
        import psutil  # type: ignore[import-untyped,unused-ignore]

        proc = psutil.Process(self.pid)
        while not stop.is_set():
            try:
                now, rss = time.monotonic(), proc.memory_info().rss
                children = proc.children(recursive=True)
            except psutil.Error:
                return
            total = rss
            for child in children:
                with contextlib.suppress(psutil.Error):
                    total += child.memory_info().rss
            self.samples.append((now, rss))
            self.tree.append((now, total))
            self.max_children = max(self.max_children, len(children))
            for child in children:
                self.children_seen.setdefault(child.pid, child)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)

    async def survivors(self, grace_s: float = 3.0) -> list[Any]:
        """Children of the bot still running after it exited (psutil checks the start time,
        so a reused pid is not mistaken for one)."""
        deadline = time.monotonic() + grace_s
        while True:
            alive = [p for p in self.children_seen.values() if _running(p)]
            if not alive or time.monotonic() > deadline:
                return alive
            await asyncio.sleep(0.2)


def _running(proc: Any) -> bool:
    """Alive and not a zombie waiting to be reaped."""
    try:
        return bool(proc.is_running()) and proc.status() != "zombie"
    except Exception:  # psutil.NoSuchProcess and friends: gone
        return False


def vm_hwm_bytes(pid: int) -> int | None:
    """The kernel's high-water mark of the process's RSS (exact peak, not sampled)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


@dataclass
class LeakCheck:
    q3_mib: float
    q4_mib: float
    slope_mib_per_min: float  # least squares over the second half
    tolerance_mib: float

    @property
    def grew(self) -> bool:
        return self.q4_mib - self.q3_mib > self.tolerance_mib


def leak_check(samples: Sequence[tuple[float, int]], t0: float, t1: float) -> LeakCheck | None:
    span = t1 - t0
    if span <= 0:
        return None

    def part(a: float, b: float) -> list[tuple[float, float]]:
        return [(t, r / 2**20) for t, r in samples if t0 + a * span <= t < t0 + b * span]

    q3, q4, half = part(0.5, 0.75), part(0.75, 1.0001), part(0.5, 1.0001)
    if len(q3) < 2 or len(q4) < 2:
        return None
    m3 = statistics.median(r for _t, r in q3)
    m4 = statistics.median(r for _t, r in q4)
    xs = [t for t, _r in half]
    ys = [r for _t, r in half]
    slope = statistics.linear_regression(xs, ys).slope * 60 if len(set(xs)) > 1 else 0.0
    return LeakCheck(m3, m4, slope, tolerance_mib=max(3.0, 0.03 * m3))


# --- the run ---------------------------------------------------------------------------------


@dataclass
class SoakResult:
    params: SoakParams
    ledger: Ledger
    comparison: Comparison
    duplicates: int
    deliveries: Deliveries
    discord_faults: Counter[str]
    rss_samples: list[tuple[float, int]]
    peak_rss_mib: float
    tree_samples: list[tuple[float, int]]
    peak_tree_mib: float
    max_children: int
    tree_leak: LeakCheck | None
    hwm_mib: float | None
    leak: LeakCheck | None
    bot_cpu_s: float | None
    db: dict[str, Any]
    bot_exit: int | None
    bot_crashed: bool
    log_counts: Counter[str]
    timings: dict[str, float]
    workdir: Path
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        p, led, c = self.params, self.ledger, self.comparison
        lat = sorted(c.latencies)
        st = led.stats
        feed_faults = st.get("fault 500", 0) + st.get("fault timeout", 0)
        hits = ", ".join(f"{k} x{v}" for k, v in sorted(self.discord_faults.items())) or "none"
        posts = ", ".join(f"{k}: {v}" for k, v in sorted(self.deliveries.statuses.items()))
        t = self.timings
        out = [
            f"Soak: {p.feeds} feeds on {p.hosts} loopback addresses, {p.guilds} guilds with one "
            f"subscription each, {t['publishing_s']:.0f} s of publishing "
            f"({p.items_per_minute:g} items/min, {p.on_topic:.0%} on topic), then "
            f"{t['drain_s']:.1f} s of draining (limit {p.drain_s:g} s)",
            f"  bot: python -m bot run (pid {t.get('pid', 0):.0f}); poll interval "
            f"{p.interval_s:g} s, jitter {p.jitter_s:g} s; ready {t['ready_s']:.1f} s after "
            f"start; first poll of every feed done {t.get('baselined_s', float('nan')):.1f} s "
            "after start",
            f"  feed server: {st.get('requests', 0)} requests, {st.get('200', 0)} x 200, "
            f"{st.get('304', 0)} x 304, faults: {st.get('fault 500', 0)} x 500 + "
            f"{st.get('fault timeout', 0)} x hang > {p.fetch_timeout_s:g} s "
            f"({feed_faults / max(st.get('requests while faulting', 0), 1):.1%} of the "
            f"{st.get('requests while faulting', 0)} requests while faults were on)",
            f"  Discord faults served on POST /channels/*/messages: {hits}",
            f"  Discord message POSTs: {posts}",
            f"items: {led.backlog_items} backlog (baseline: {led.baseline_items}, "
            f"{led.baseline_on_topic} of them on topic, never to alert), {led.published} published "
            f"during the run ({led.on_topic_published} on topic); ingested by the bot: "
            f"{self.db.get('items', '?')} of {led.total_items}",
            f"  feeds baselined {led.feeds_baselined}/{p.feeds} (confirmed by the bot's first "
            f"If-None-Match: {led.baseline_confirmed}); answered after publishing stopped: "
            f"{led.fresh_after_stop}/{p.feeds}",
            f"alerts expected {c.expected} ({len(led.expected)} on-topic items after the baseline "
            f"x {len(self.deliveries.channels)} subscriptions), delivered {c.delivered}, "
            f"missing {len(c.missing)}, unexpected {len(c.unexpected)}, duplicates "
            f"{self.duplicates}, resends caught by Discord's nonce check "
            f"{self.deliveries.resends()}; other bot posts {self.deliveries.other_posts}",
        ]
        if lat:
            out.append(
                f"latency publication -> Discord POST: p50 {_pct(lat, 50):.1f} s, p90 "
                f"{_pct(lat, 90):.1f} s, p99 {_pct(lat, 99):.1f} s, max {lat[-1]:.1f} s "
                f"(n={len(lat)})"
            )
            waits, bot = sorted(c.poll_waits), sorted(c.bot_times)
            if waits and bot:
                out.append(
                    f"  = waiting for the next poll (p50 {_pct(waits, 50):.1f} s, p99 "
                    f"{_pct(waits, 99):.1f} s) + feed answer -> POST (p50 {_pct(bot, 50):.2f} s, "
                    f"p99 {_pct(bot, 99):.2f} s, max {bot[-1]:.2f} s)"
                )
        rss_line = f"bot RSS (main process): peak {self.peak_rss_mib:.1f} MiB (1 s samples)"
        if self.hwm_mib is not None:
            rss_line += f", kernel high-water mark {self.hwm_mib:.1f} MiB"
        if self.rss_samples:
            rss_line += f", at the end {self.rss_samples[-1][1] / 2**20:.1f} MiB"
        if self.bot_cpu_s is not None:
            busy = self.bot_cpu_s / max(t["bot_alive_s"], 1e-9)
            rss_line += f"; CPU incl. children {self.bot_cpu_s:.1f} s ({busy:.0%} of one core)"
        out.append(rss_line)
        if self.tree_samples:
            out.append(
                f"  with its {self.max_children} child processes (parse pool; RSS summed): peak "
                f"{self.peak_tree_mib:.1f} MiB, at the end "
                f"{self.tree_samples[-1][1] / 2**20:.1f} MiB"
            )
        for name, lk in (("main process", self.leak), ("with children", self.tree_leak)):
            if lk is None:
                continue
            verdict = "GREW" if lk.grew else "flat"
            out.append(
                f"  leak check ({name}): median RSS 3rd quarter {lk.q3_mib:.1f} MiB, 4th quarter "
                f"{lk.q4_mib:.1f} MiB ({lk.q4_mib - lk.q3_mib:+.1f} MiB, tolerance "
                f"{lk.tolerance_mib:.1f}); slope over the second half "
                f"{lk.slope_mib_per_min:+.2f} MiB/min -> {verdict}"
            )
        d = self.db
        if d:
            out.append(
                f"database: {d['file_mib']:.2f} MiB (+ WAL {d['wal_mib']:.2f} MiB) for "
                f"{d['items']} items ({d['file_mib'] * 1024 / max(d['items'], 1):.2f} KiB/item); "
                f"outbox {d['outbox']}; retention_days=1 (the soak is shorter than a day)"
            )
            waits = d["outbox_wait_s"]
            if waits:
                out.append(
                    f"  outbox row written -> marked sent: p50 {_pct(waits, 50):.2f} s, p99 "
                    f"{_pct(waits, 99):.2f} s, max {waits[-1]:.2f} s; rows "
                    f"retried after a failure (429s not counted): {d['outbox_retried']}"
                )
            if "pruned" in d:
                n = max(d["pruned"], 1)
                out.append(
                    f"  retention, checked offline after the run: Store.prune(now) turned "
                    f"{d['pruned']} items into tombstones; pages in use {d['used_before_mib']:.2f}"
                    f" -> {d['used_after_mib']:.2f} MiB ({d['used_after_mib'] * 1024 / n:.2f} "
                    f"KiB/item still held); after VACUUM {d['vacuumed_mib']:.2f} MiB "
                    f"({d['vacuumed_mib'] * 1024 / n:.2f} KiB/item)"
                )
        logs = ", ".join(f"{k} {v}" for k, v in sorted(self.log_counts.items()))
        out.append(
            f"bot exit status {self.bot_exit} after SIGTERM; log lines: {logs or 'none'}; "
            f"work dir {self.workdir}"
        )
        out.append("PASS" if self.ok else "FAIL: " + "; ".join(self.problems))
        return out


def _pct(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    k = max(math.ceil(p / 100 * len(sorted_values)) - 1, 0)
    return sorted_values[k]


async def _ledger(session: Any, control: str, action: str = "ledger") -> Ledger:
    method = "GET" if action == "ledger" else "POST"
    async with session.request(method, control + action) as resp:
        resp.raise_for_status()
        return Ledger.from_json(await resp.json())


def _db_stats(db: Path) -> dict[str, Any]:
    if not db.exists():
        return {}
    wal = db.with_name(db.name + "-wal")
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        items = con.execute("SELECT COUNT(*) FROM items").fetchone()[0]
        outbox = dict(con.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status").fetchall())
        waits = sorted(
            float(r[0])
            for r in con.execute(
                "SELECT sent_at - created_at FROM outbox WHERE sent_at IS NOT NULL"
            ).fetchall()
        )
        retried = con.execute("SELECT COUNT(*) FROM outbox WHERE attempts > 1").fetchone()[0]
    finally:
        con.close()
    return {
        "file_mib": db.stat().st_size / 2**20,
        "wal_mib": wal.stat().st_size / 2**20 if wal.exists() else 0.0,
        "items": items,
        "outbox": outbox,
        "outbox_wait_s": waits,
        "outbox_retried": retried,
    }


def _pages_in_use_mib(db: Path) -> float:
    con = sqlite3.connect(str(db))
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = con.execute("PRAGMA page_size").fetchone()[0]
        pages = con.execute("PRAGMA page_count").fetchone()[0]
        free = con.execute("PRAGMA freelist_count").fetchone()[0]
    finally:
        con.close()
    return float((pages - free) * size / 2**20)


async def _offline_prune(db: Path) -> dict[str, Any]:
    """What retention leaves behind: on a copy of the database (the original stays for a
    post-mortem), prune every item with the bot's own Store.prune, as retention would a day
    later, and compare the pages in use; then what a VACUUM would leave."""
    from bot.store.repo import Store

    copy, vacuumed = db.with_name("prune-check.db"), db.with_name("prune-check-vacuumed.db")
    for path in (copy, vacuumed):
        path.unlink(missing_ok=True)
    src, dst = sqlite3.connect(f"file:{db}?mode=ro", uri=True), sqlite3.connect(str(copy))
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    before = _pages_in_use_mib(copy)
    store = await Store.open(str(copy))
    try:
        pruned = await store.prune(datetime.now(UTC) + timedelta(seconds=1))
    finally:
        await store.close()
    after = _pages_in_use_mib(copy)
    # Rows shrunk by an UPDATE stay on their half-empty pages until a VACUUM.
    con = sqlite3.connect(str(copy))
    try:
        con.execute("VACUUM INTO ?", (str(vacuumed),))
    finally:
        con.close()
    result = {
        "pruned": pruned,
        "used_before_mib": before,
        "used_after_mib": after,
        "vacuumed_mib": vacuumed.stat().st_size / 2**20,
    }
    for path in (copy, vacuumed):
        path.unlink(missing_ok=True)
    return result


def _log_counts(log: Path) -> Counter[str]:
    counts: Counter[str] = Counter()
    if not log.exists():
        return counts
    with log.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            for level in ("WARNING", "ERROR", "CRITICAL", "Traceback"):
                if level in line:
                    counts[level] += 1
    return counts


def _describe_process(proc: Any) -> str:
    try:
        return f"pid {proc.pid} ({' '.join(proc.cmdline())[:80]})"
    except Exception:  # it may have exited meanwhile
        return f"pid {proc.pid}"


def _exited(proc: asyncio.subprocess.Process) -> bool:
    return proc.returncode is not None


def _tail(path: Path, n: int = 30) -> str:
    if not path.exists():
        return "(no log)"
    return "".join(path.read_text(encoding="utf-8", errors="replace").splitlines(True)[-n:])


async def run_soak(
    params: SoakParams,
    *,
    workdir: Path | None = None,
    out: Callable[[str], None] = print,
) -> SoakResult:
    """Run one soak and return its figures (see the module docstring)."""
    import aiohttp

    from tests.fakediscord import FakeDiscord

    work = workdir or Path(tempfile.mkdtemp(prefix="borderwatch-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    db, config, log = work / "data" / "soak.db", work / "soak.toml", work / "bot.log"
    for old in (db, db.with_name("soak.db-wal"), db.with_name("soak.db-shm"), config, log):
        old.unlink(missing_ok=True)  # a fresh database every run: the feeds' ports change
    rng = random.Random(params.seed + 1)
    timings: dict[str, float] = {}
    problems: list[str] = []

    t_start = time.monotonic()
    server, urls, control = start_feed_server(params)
    out(f"feed server up: {len(urls)} feeds (pid {server.pid}), {time.monotonic() - t_start:.1f} s")
    fake = FakeDiscord(echo_messages=False, interaction_deadline=None)
    await fake.start()
    subs = add_guilds(fake, params.guilds)
    write_config(config, params, db, urls, subs)
    deliveries = Deliveries(frozenset(ch for _g, ch in subs))
    scripted: list[Any] = []
    stop_faults, stop_rss = asyncio.Event(), asyncio.Event()
    bot: asyncio.subprocess.Process | None = None
    sampler: RssSampler | None = None
    tasks: list[asyncio.Task[None]] = []
    ledger = Ledger()
    bot_cpu: float | None = None
    hwm: int | None = None
    bot_exit: int | None = None
    crashed = False
    t_pub0 = t_pub1 = t_drained = time.monotonic()
    session = aiohttp.ClientSession()
    try:
        env = {**os.environ, **fake.env(), "PYTHONUNBUFFERED": "1"}
        with log.open("wb") as log_file:
            bot = await asyncio.create_subprocess_exec(
                *BOT_COMMAND,
                "--config",
                str(config),
                "run",
                cwd=ROOT,
                env=env,
                stdout=log_file,
                stderr=asyncio.subprocess.STDOUT,
            )
        t_bot = time.monotonic()
        timings["pid"] = bot.pid
        sampler = RssSampler(bot.pid)
        tasks.append(asyncio.create_task(sampler.run(stop_rss)))
        await fake.wait_for(
            lambda: fake.gateway.ready_count > 0 or _exited(bot),
            60,
            "the bot to connect",
        )
        if _exited(bot):
            raise RuntimeError(f"the bot exited with {bot.returncode}:\n{_tail(log)}")
        timings["ready_s"] = time.monotonic() - t_bot
        out(f"bot connected {timings['ready_s']:.1f} s after start; publishing starts")

        await _ledger(session, control, "start")
        t_pub0 = time.monotonic()
        tasks.append(
            asyncio.create_task(
                inject_discord_faults(
                    fake, rng, params.discord_fault_every_s, stop_faults, scripted
                )
            )
        )
        next_progress = t_pub0 + params.progress_every_s
        while (now := time.monotonic()) < t_pub0 + params.duration_s:
            await asyncio.sleep(min(1.0, t_pub0 + params.duration_s - now))
            if _exited(bot):
                crashed = True
                out(f"THE BOT EXITED with {bot.returncode}; its log ends:\n{_tail(log)}")
                break
            if "baselined_s" not in timings or time.monotonic() >= next_progress:
                ledger = await _ledger(session, control)
                if "baselined_s" not in timings and ledger.feeds_baselined == params.feeds:
                    timings["baselined_s"] = time.monotonic() - t_bot
            if time.monotonic() >= next_progress:
                next_progress += params.progress_every_s
                deliveries.scan(fake.requests)
                c = compare(ledger, deliveries)
                rss = sampler.samples[-1][1] / 2**20 if sampler.samples else 0.0
                out(
                    f"  t={time.monotonic() - t_pub0:5.0f} s: published {ledger.published} "
                    f"({ledger.on_topic_published} on topic), alerts expected so far "
                    f"{c.expected}, delivered {c.delivered}, RSS {rss:.1f} MiB, "
                    f"feed requests {ledger.stats.get('requests', 0)}"
                )

        # Publishing and faults stop; everything published must now arrive.
        stop_faults.set()
        fake.clear_failures()
        ledger = await _ledger(session, control, "stop")
        t_pub1 = time.monotonic()
        out(f"publishing stopped after {t_pub1 - t_pub0:.0f} s; draining")
        while not crashed:
            await asyncio.sleep(1.0)
            if _exited(bot):
                crashed = True
                out(f"THE BOT EXITED with {bot.returncode}; its log ends:\n{_tail(log)}")
                break
            ledger = await _ledger(session, control)
            if "baselined_s" not in timings and ledger.feeds_baselined == params.feeds:
                timings["baselined_s"] = time.monotonic() - t_bot
            deliveries.scan(fake.requests)
            c = compare(ledger, deliveries)
            done = (
                not c.missing
                and ledger.feeds_baselined == params.feeds
                and ledger.fresh_after_stop == params.feeds
            )
            if done or time.monotonic() - t_pub1 > params.drain_s:
                break
        t_drained = time.monotonic()
        if not crashed:
            await asyncio.sleep(params.settle_s)  # a late duplicate would show up now
        ledger = await _ledger(session, control)
        deliveries.scan(fake.requests)

        hwm = vm_hwm_bytes(bot.pid)
        with contextlib.suppress(Exception):
            import psutil  # type: ignore[import-untyped,unused-ignore]

            main_proc = psutil.Process(bot.pid)
            procs = [main_proc, *main_proc.children(recursive=True)]
            bot_cpu = 0.0
            for proc in procs:  # the parse pool works for the bot: its CPU counts
                with contextlib.suppress(psutil.Error):
                    cpu = proc.cpu_times()
                    bot_cpu += cpu.user + cpu.system
        timings["bot_alive_s"] = time.monotonic() - t_bot
    finally:
        stop_faults.set()
        stop_rss.set()
        for task in tasks:
            with contextlib.suppress(Exception):
                await task
        if bot is not None:
            if bot.returncode is None:
                bot.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(bot.wait(), 30)
                except TimeoutError:
                    problems.append("the bot did not stop within 30 s of SIGTERM (killed)")
                    bot.kill()
                    await bot.wait()
            bot_exit = bot.returncode
            if sampler is not None:
                orphans = await sampler.survivors()
                if orphans:
                    problems.append(
                        f"{len(orphans)} child processes of the bot were still running after it "
                        f"exited: {', '.join(_describe_process(p) for p in orphans)}"
                    )
                for orphan in orphans:
                    with contextlib.suppress(Exception):
                        orphan.kill()
        await session.close()
        await fake.stop()
        server.terminate()
        server.join(5)

    db_stats = _db_stats(db)
    if db_stats:
        db_stats.update(await _offline_prune(db))
    comparison = compare(ledger, deliveries)
    duplicates = deliveries.duplicates()
    faults: Counter[str] = Counter()
    for f in scripted:
        if f.hits:
            faults[f"{f.status}{' global' if getattr(f, 'is_global', False) else ''}"] += f.hits

    if comparison.delivered != comparison.expected or comparison.missing:
        problems.append(
            f"delivered {comparison.delivered} != expected {comparison.expected} "
            f"(missing {len(comparison.missing)}, e.g. {comparison.missing[:3]}; unexpected "
            f"{len(comparison.unexpected)}, e.g. {comparison.unexpected[:3]})"
        )
    elif comparison.unexpected:
        problems.append(f"unexpected alerts: {comparison.unexpected[:5]}")
    if duplicates:
        dup = [k for k, v in deliveries.created.items() if len(v) > 1][:3]
        problems.append(f"{duplicates} duplicate posts (channel, feed, serial), e.g. {dup}")
    if deliveries.resends():
        problems.append(
            f"{deliveries.resends()} alerts were sent again after Discord had them (only the "
            "nonce check kept them from being duplicates)"
        )
    if comparison.expected == 0:
        problems.append("no alert was expected: the soak tested nothing")
    if ledger.feeds_baselined != params.feeds:
        problems.append(f"only {ledger.feeds_baselined}/{params.feeds} feeds were ever polled")
    if ledger.baseline_contradicted:
        problems.append(
            f"feeds whose baseline the bot took from another answer: "
            f"{ledger.baseline_contradicted[:5]}"
        )
    if db_stats and db_stats["items"] != ledger.total_items:
        problems.append(f"the bot stored {db_stats['items']} of {ledger.total_items} items")
    if db_stats and set(db_stats["outbox"]) - {"sent"}:
        problems.append(f"outbox rows not sent: {db_stats['outbox']}")
    if crashed:
        problems.append(f"the bot exited during the run (status {bot_exit})")
    elif bot_exit not in (0, None):
        problems.append(f"the bot exited with status {bot_exit} after SIGTERM")

    samples = sampler.samples if sampler else []
    tree = sampler.tree if sampler else []
    timings["publishing_s"] = t_pub1 - t_pub0
    timings["drain_s"] = t_drained - t_pub1
    timings.setdefault("ready_s", float("nan"))
    timings.setdefault("bot_alive_s", float("nan"))
    return SoakResult(
        params=params,
        ledger=ledger,
        comparison=comparison,
        duplicates=duplicates,
        deliveries=deliveries,
        discord_faults=faults,
        rss_samples=samples,
        peak_rss_mib=max((r for _t, r in samples), default=0) / 2**20,
        hwm_mib=hwm / 2**20 if hwm else None,
        leak=leak_check(samples, t_pub0, t_pub1),
        tree_samples=tree,
        peak_tree_mib=max((r for _t, r in tree), default=0) / 2**20,
        max_children=sampler.max_children if sampler else 0,
        tree_leak=leak_check(tree, t_pub0, t_pub1),
        bot_cpu_s=bot_cpu,
        db=db_stats,
        bot_exit=bot_exit,
        bot_crashed=crashed,
        log_counts=_log_counts(log),
        timings=timings,
        workdir=work,
        problems=problems,
    )


def main(argv: Sequence[str] | None = None) -> int:
    d = SoakParams()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--duration", type=float, default=d.duration_s, help="seconds of publishing")
    ap.add_argument("--feeds", type=int, default=d.feeds)
    ap.add_argument("--guilds", type=int, default=d.guilds)
    ap.add_argument("--items-per-minute", type=float, default=d.items_per_minute)
    ap.add_argument("--on-topic", type=float, default=d.on_topic)
    ap.add_argument("--interval-s", type=float, default=d.interval_s, help="poll interval")
    ap.add_argument("--hosts", type=int, default=d.hosts)
    ap.add_argument("--feed-faults", type=float, default=d.feed_fault_rate)
    ap.add_argument("--discord-fault-every", type=float, default=d.discord_fault_every_s)
    ap.add_argument("--drain", type=float, default=d.drain_s, help="max seconds of draining")
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--progress-every", type=float, default=d.progress_every_s)
    ap.add_argument("--workdir", type=Path, help="keep the database, config and bot log here")
    ap.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    if not 1 <= args.hosts <= 254:
        ap.error("--hosts must be between 1 and 254")
    params = SoakParams(
        duration_s=args.duration,
        feeds=args.feeds,
        guilds=args.guilds,
        items_per_minute=args.items_per_minute,
        on_topic=args.on_topic,
        interval_s=args.interval_s,
        hosts=args.hosts,
        feed_fault_rate=args.feed_faults,
        discord_fault_every_s=args.discord_fault_every,
        drain_s=args.drain,
        seed=args.seed,
        progress_every_s=args.progress_every,
    )
    print(f"bench/soak.py {' '.join(sys.argv[1:])}".rstrip(), flush=True)
    result = asyncio.run(run_soak(params, workdir=args.workdir, out=lambda s: print(s, flush=True)))
    print()
    for line in result.lines():
        print(line)
    if args.json:
        c = result.comparison
        lat = sorted(c.latencies)
        args.json.write_text(
            json.dumps(
                {
                    "params": vars(args) | {"workdir": str(result.workdir), "json": str(args.json)},
                    "expected": c.expected,
                    "delivered": c.delivered,
                    "missing": len(c.missing),
                    "unexpected": len(c.unexpected),
                    "duplicates": result.duplicates,
                    "latency_p50_s": _pct(lat, 50) if lat else None,
                    "latency_p99_s": _pct(lat, 99) if lat else None,
                    "peak_rss_mib": result.peak_rss_mib,
                    "hwm_mib": result.hwm_mib,
                    "leak": vars(result.leak) if result.leak else None,
                    "peak_tree_mib": result.peak_tree_mib,
                    "tree_leak": vars(result.tree_leak) if result.tree_leak else None,
                    "db": {k: v for k, v in result.db.items() if k != "outbox_wait_s"},
                    "problems": result.problems,
                },
                indent=1,
            ),
            encoding="utf-8",
        )
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
