"""Hostile and broken feeds polled by the real Runtime next to good ones (issue 6, "Feeds").

One runtime polls every hostile feed and two good feeds in the same round, each feed on its own
host name, with the production default `allow_private_networks = false`. A test DNS maps the
names: "public" ones to a stand-in public address that the production GuardedResolver accepts
and that is then rewritten to 127.0.0.1 (our loopback "internet"), `intranet.test` to a private
address the guard must refuse. Each hostile feed must be bounded in time and memory, end with a
clear error (or warning) on that feed, and leave the good feeds' polls and alerts on time.
"""

from __future__ import annotations

import asyncio
import io
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from bot.config import Settings, settings_from_mapping
from bot.feeds.fetch import Fetcher, FetchLimits
from bot.feeds.netguard import GuardedResolver
from bot.pipeline import PollReport
from bot.runtime import Runtime, fetch_limits
from bot.store.rows import FeedRow
from tests.faults import hostile
from tests.faults.memory import peak_rss_growth, peak_rss_of_children
from tests.feedserver import FakeDNS, FeedServer
from tests.integration.rss import Item, rss

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
PUBLIC_STAND_IN = "93.184.215.14"  # a global unicast address; never contacted (rewritten)
PRIVATE_ADDRESS = "10.20.30.40"
SECRET = b"TOP-SECRET-a9f3c1"
TOTAL_TIMEOUT_S = 2.0
MIB = 1 << 20

ARAS = Item("a1", "Drills near the Aras river", "Troops gathered on the Aras.", 1)
OFF = Item("o1", "Baku hosts a chess festival", "No border news here.", 2)
NEW1 = Item("n1", "Astara crossing reopens", "Trucks queue at Astara.", 3)
NEW2 = Item("n2", "Nakhchivan bridge talks", "Officials met in Nakhchivan.", 4)


class LoopbackInternet(AbstractResolver):
    """The production guard over a table DNS; only what the guard let through is rewritten
    from the public stand-in address to 127.0.0.1, where the feed server listens."""

    def __init__(self, table: dict[str, str], *, allow_private_networks: bool) -> None:
        self.dns = FakeDNS(table)
        self._guard = GuardedResolver(self.dns, allow_private_networks=allow_private_networks)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._guard.resolve(host, port, family)
        return [{**r, "host": "127.0.0.1"} if r["host"] == PUBLIC_STAND_IN else r for r in results]

    async def close(self) -> None:
        await self._guard.close()


def internet_fetcher(limits: FetchLimits, resolver: AbstractResolver) -> Fetcher:
    """What Fetcher.create builds, with `resolver` as the connector's (already guarded) DNS."""
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(
            resolver=resolver,
            limit=limits.concurrency,
            limit_per_host=limits.per_host_concurrency,
            ttl_dns_cache=60,
        ),
        cookie_jar=aiohttp.DummyCookieJar(),
        headers={"User-Agent": limits.user_agent},
        timeout=aiohttp.ClientTimeout(
            total=None, connect=limits.connect_timeout, sock_connect=limits.connect_timeout
        ),
        trust_env=False,
    )
    return Fetcher(session, limits, owns_session=True)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


def make_settings(tmp_path: Path, feeds: list[str], **fetch: Any) -> Settings:
    return settings_from_mapping(
        {
            "bot": {"database": str(tmp_path / "bw.db")},
            "fetch": {
                "allow_private_networks": False,
                "total_timeout_s": TOTAL_TIMEOUT_S,
                "connect_timeout_s": TOTAL_TIMEOUT_S,
                **fetch,
            },
            "schedule": {"jitter_seconds": 0},
            "feeds": [{"url": u} for u in feeds],
            "lists": {"places": ["Aras", "Astara", "Nakhchivan"]},
            "topics": {"border": {"query": "@places"}},
        },
        source="test",
        environ={},
    )


@dataclass(frozen=True)
class Polled:
    report: PollReport
    finished_s: float  # seconds after the round started


def name_of(url: str) -> str:
    return url.split("//", 1)[1].split(".", 1)[0]


async def poll_round(rt: Runtime, names: set[str] | None = None) -> dict[str, Polled]:
    """Poll every feed (or the named ones) concurrently, as the scheduler's jobs would, and
    deliver what they produced. Each feed's finishing time is recorded."""
    feeds = [f for f in await rt.store.feeds() if names is None or name_of(f.url) in names]
    start = time.monotonic()

    async def one(feed: FeedRow) -> tuple[str, Polled]:
        report = await rt.pipeline.poll(feed)
        return name_of(feed.url), Polled(report, time.monotonic() - start)

    done = dict(await asyncio.gather(*(one(f) for f in feeds)))
    await rt.worker.drain()
    return done


@pytest.fixture
def clock() -> Clock:
    return Clock()


RuntimeFactory = Callable[..., Any]


@pytest.fixture
async def internet_runtime(
    tmp_path: Path, clock: Clock, feed_server: FeedServer
) -> AsyncIterator[RuntimeFactory]:
    """make(names, out, **fetch) -> a Runtime polling http://{name}.test:PORT/{name} for each
    name, through the loopback internet (intranet.test is the private address)."""
    made: list[Runtime] = []

    async def make(names: list[str], out: io.StringIO, **fetch: Any) -> Runtime:
        urls = [feed_server.url(f"/{n}", host=f"{n}.test") for n in names]
        settings = make_settings(tmp_path, urls, **fetch)
        rt = await Runtime.create(settings, out=out, clock=clock)
        limits = fetch_limits(settings)
        table = {f"{n}.test": PUBLIC_STAND_IN for n in names}
        table["intranet.test"] = PRIVATE_ADDRESS
        await rt.fetcher.close()
        rt.fetcher = rt.pipeline.fetcher = internet_fetcher(
            limits, LoopbackInternet(table, allow_private_networks=limits.allow_private_networks)
        )
        made.append(rt)
        return rt

    yield make
    for rt in made:
        await rt.stop()


def stored_text(items: list[Any]) -> str:
    return "\n".join(f"{i.title}\n{i.summary}\n{i.link}" for i in items)


# --- every hostile feed in one runtime with two good ones -------------------------------------


async def test_hostile_feeds_are_bounded_recorded_and_do_not_delay_the_good_ones(
    feed_server: FeedServer, internet_runtime: RuntimeFactory, clock: Clock
) -> None:
    port = feed_server.port
    secret_url = f"http://127.0.0.1:{port}/secret"
    feed_server.route("/secret", SECRET, content_type="text/plain")
    bomb = hostile.gzip_bomb(1 << 30)  # built before measuring: it is the server's, not ours
    good1 = feed_server.route("/good1", rss([ARAS, OFF]))
    good2 = feed_server.route("/good2", rss([OFF]))
    flaky = feed_server.route("/flaky", rss([ARAS]))
    feed_server.route("/hang", hang=True)
    feed_server.route("/trickle", rss([ARAS]), trickle=(1, 1.0))
    feed_server.route("/hugelength", b"<rss>", filler_bytes=50 * MIB)
    feed_server.route("/hugechunked", b"<rss>", filler_bytes=50 * MIB, declare_length=False)
    feed_server.route("/bomb", bomb, headers={"Content-Encoding": "gzip"})
    feed_server.route("/laughs", hostile.billion_laughs())
    feed_server.route("/quadratic", hostile.quadratic_blowup(64 * 1024, 16 * 1024))
    feed_server.route("/xxe", hostile.external_entities(secret_url))
    feed_server.route("/badutf8", hostile.invalid_utf8())
    feed_server.route("/login", hostile.login_page(), content_type="text/html; charset=utf-8")
    feed_server.redirect("/chain", "/chain/1")
    for hop in range(1, 20):
        feed_server.redirect(f"/chain/{hop}", f"/chain/{hop + 1}")
    feed_server.route("/chain/20", rss([ARAS]))
    feed_server.redirect("/privatename", f"http://intranet.test:{port}/secret")
    feed_server.redirect("/privateliteral", secret_url)
    names = [
        "good1",
        "good2",
        "flaky",
        "hang",
        "trickle",
        "hugelength",
        "hugechunked",
        "bomb",
        "laughs",
        "quadratic",
        "xxe",
        "badutf8",
        "login",
        "chain",
        "privatename",
        "privateliteral",
    ]
    out = io.StringIO()
    # Parsing in a thread of this process: the path where nothing but our own limits bound the
    # parser (no worker memory cap), and where the memory measured below sees all of it.
    rt = await internet_runtime(names, out, parse_workers=0)

    with peak_rss_growth() as memory:
        started = time.monotonic()
        first = await poll_round(rt)
        first_s = time.monotonic() - started

        good1.body = rss([ARAS, OFF, NEW1])
        good2.body = rss([OFF, NEW2])
        flaky.status = 500
        clock.advance(minutes=20)
        started = time.monotonic()
        second = await poll_round(rt)
        second_s = time.monotonic() - started

    # Time: a round lasts about the total timeout (the hanging and trickling feeds), no more;
    # the good feeds finish long before it. Margins allow for a loaded machine.
    print(
        f"\nround 1: {first_s:.2f} s, round 2: {second_s:.2f} s; good feeds done at "
        f"{[round(r[n].finished_s, 2) for r in (first, second) for n in ('good1', 'good2')]} s; "
        f"peak RSS growth {memory.growth / MIB:.1f} MiB ({memory.method})"
    )
    for round_s in (first_s, second_s):
        assert round_s < TOTAL_TIMEOUT_S + 3.0
    for polled in (first, second):
        for name in ("good1", "good2"):
            assert polled[name].report.outcome == "new-items", polled[name].report
            assert polled[name].finished_s < TOTAL_TIMEOUT_S, (name, polled[name].finished_s)
        assert polled["hang"].finished_s >= TOTAL_TIMEOUT_S * 0.9  # the timeout, not luck

    # Memory: the hostile payloads are a 50 MiB body (twice), a 1 GiB gzip bomb and a 1 GiB
    # entity expansion; the body cap is 10 MiB. Holding any of them whole would exceed this.
    assert memory.growth < 64 * MIB, memory

    # Alerts of the good feeds came out in the same round.
    assert (second["good1"].report.alerts, second["good2"].report.alerts) == (1, 1)
    printed = out.getvalue()
    assert printed.count("Astara crossing reopens") == 1
    assert printed.count("Nakhchivan bridge talks") == 1

    feeds = {name_of(f.url): f for f in await rt.store.feeds()}
    expected_errors = {
        "hang": f"timed out after {TOTAL_TIMEOUT_S:g} s (fetch.total_timeout_s)",
        "trickle": f"timed out after {TOTAL_TIMEOUT_S:g} s (fetch.total_timeout_s)",
        "hugelength": "the response is too large: 52,428,805 bytes declared, the limit is "
        "10,485,760 (fetch.max_body_bytes)",
        "hugechunked": "the response is too large: more than 10,485,760 bytes, stopped reading",
        "bomb": "the response is too large: more than 10,485,760 bytes after gzip "
        "decompression, stopped reading",
        "quadratic": "XML entity expansion",
        "laughs": "XML entity expansion",
        "login": "not a feed: got an HTML page (text/html)",
        "chain": "too many redirects (more than 5, fetch.max_redirects)",
        "privatename": "refusing host intranet.test: it resolves to 10.20.30.40, a private "
        "address; set fetch.allow_private_networks = true to allow",
        "privateliteral": f"redirected from http://privateliteral.test:{port}/privateliteral, "
        f"then refusing {secret_url}: 127.0.0.1 is a loopback address",
        "flaky": "HTTP 500 Internal Server Error",
    }
    for name, text in expected_errors.items():
        feed = feeds[name]
        assert text in (feed.last_error or ""), (name, feed.last_error)
        assert feed.error_count == (1 if name == "flaky" else 2), (name, feed.error_count)
    assert feeds["good1"].error_count == feeds["good2"].error_count == 0

    # External entities: never fetched, never read, never stored; the item itself is kept with
    # the references as plain text, and the feed carries the parser's warning.
    assert [r.path for r in feed_server.requests if r.path.startswith("/secret")] == []
    assert feeds["xxe"].error_count == 0
    assert "undefined entity" in (feeds["xxe"].last_error or "")
    everything = stored_text(await rt.store.items()) + "".join(
        f.last_error or "" for f in feeds.values()
    )
    assert SECRET.decode() not in everything
    assert "root:x:0:0" not in everything
    [xxe_item] = await rt.store.items(feeds["xxe"].id)
    assert xxe_item.title == "Aras border file=&file; net=&net;"

    # Invalid UTF-8: read as windows-1252 (feedparser's fallback), stored, and said so.
    assert feeds["badutf8"].error_count == 0
    assert "declared as utf-8, but parsed as windows-1252" in (feeds["badutf8"].last_error or "")
    [bad_item] = await rt.store.items(feeds["badutf8"].id)
    assert bad_item.title.startswith("Astara crossing ")
    assert bad_item.title.endswith(" reopens")

    # The redirect chain stopped after max_redirects hops: 6 requests per poll, not 21.
    chain_requests = [r for r in feed_server.requests if r.path.startswith("/chain")]
    assert len(chain_requests) == 2 * 6
    # The private address was refused before any connection: only the first hop was served.
    assert len(feed_server.requests_to("/privatename")) == 2
    # A hostile body never became an item.
    for name in ("laughs", "quadratic", "login", "bomb", "hugelength", "hugechunked"):
        assert await rt.store.items(feeds[name].id) == [], name

    # The flaky feed comes back: its new item alerts once, its old one is not re-alerted.
    flaky.status = 200
    flaky.body = rss([ARAS, Item("f2", "Aras dam inspection", "Engineers at Aras.", 5)])
    clock.advance(minutes=20)
    third = await poll_round(rt, {"flaky"})
    assert third["flaky"].report.alerts == 1
    [flaky_row] = [f for f in await rt.store.feeds() if name_of(f.url) == "flaky"]
    assert flaky_row.error_count == 0
    assert out.getvalue().count("Aras dam inspection") == 1
    assert out.getvalue().count("Drills near the Aras river") == 0


# --- a feed of 20,000 items -------------------------------------------------------------------


async def test_a_feed_of_20000_items_is_stored_once_in_bounded_time_and_memory(
    feed_server: FeedServer, internet_runtime: RuntimeFactory, clock: Clock
) -> None:
    """Decision: a big feed is stored whole (no item cap). The body cap (10 MiB by default,
    about 45,000 items this small) bounds the work; parsing runs in a parser worker process
    (production default; its memory is capped and a parse over 60 s is abandoned) so the event
    loop and the other feeds keep going; the first poll is a silent baseline, so 20,000 items
    never become 20,000 alerts, and the next poll of the same body is skipped by its hash."""
    body = hostile.many_items(20_000, title="Aras archive story")
    assert len(body) < 10 * MIB  # under the default cap: the parser has to cope
    feed_server.route("/bulk", body)
    good = feed_server.route("/good1", rss([OFF]))
    out = io.StringIO()
    rt = await internet_runtime(["bulk", "good1"], out)

    with peak_rss_growth() as memory:
        started = time.monotonic()
        first = await poll_round(rt)
        elapsed = time.monotonic() - started
    worker_peak = max(peak_rss_of_children(), default=0)
    print(
        f"\n20,000 items ({len(body) / MIB:.1f} MiB): {elapsed:.1f} s, good feed done at "
        f"{first['good1'].finished_s:.2f} s, peak RSS growth {memory.growth / MIB:.0f} MiB, "
        f"parser worker peak RSS {worker_peak / MIB:.0f} MiB"
    )
    assert worker_peak > 0, "parsed in a worker process"
    assert worker_peak < 512 * MIB
    assert first["bulk"].report.new_items == 20_000
    assert first["bulk"].report.alerts == 0
    assert len(await rt.store.items()) == 20_000 + 1
    assert elapsed < 60
    assert memory.growth < 400 * MIB
    assert first["good1"].finished_s < 2.0  # not stuck behind the big parse

    # Same body again: skipped by its hash, nothing parsed or stored twice.
    good.body = rss([OFF, NEW1])
    clock.advance(minutes=20)
    started = time.monotonic()
    second = await poll_round(rt)
    assert second["bulk"].report.outcome == "unchanged"
    assert time.monotonic() - started < 5
    assert second["good1"].report.alerts == 1
    assert len(await rt.store.items()) == 20_000 + 2
