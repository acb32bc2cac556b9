"""The whole ingestion path on loopback: fetch, parse, store, match, outbox, console output."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings, settings_from_mapping
from bot.runtime import Runtime
from tests.feedserver import FeedServer
from tests.integration.rss import Item, rss

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


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
            "fetch": {"allow_private_networks": True, "total_timeout_s": 2, **fetch},
            "schedule": {"jitter_seconds": 0},
            "feeds": [{"url": u} for u in feeds],
            "lists": {"places": ["Aras", "Astara", "Nakhchivan"]},
            "topics": {"border": {"query": "@places"}},
        },
        source="test",
        environ={},
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


Make = Callable[..., "Any"]


@pytest.fixture
async def runtime_factory(tmp_path: Path, clock: Clock) -> AsyncIterator[Callable[..., Any]]:
    made: list[Runtime] = []

    async def make(feeds: list[str], out: io.StringIO, **fetch: Any) -> Runtime:
        rt = await Runtime.create(make_settings(tmp_path, feeds, **fetch), out=out, clock=clock)
        made.append(rt)
        return rt

    yield make
    for rt in made:
        if not rt.store._conn._running:  # already stopped by the test
            continue
        await rt.stop()


async def poll_and_deliver(rt: Runtime) -> list[Any]:
    reports = await rt.poll_all_once()
    await rt.worker.drain()
    return reports


ARAS = Item("a1", "Drills near the Aras river", "Troops gathered on the Aras.", 1)
OFF = Item("o1", "Baku hosts a chess festival", "No border news here.", 2)
NEW1 = Item("n1", "Astara crossing reopens", "Trucks queue at Astara.", 3)
NEW2 = Item("n2", "Nakhchivan bridge talks", "Officials met in Nakhchivan.", 4)
NEW_OFF = Item("n3", "Oil output steady", "SOCAR reports output.", 5)


async def test_first_poll_is_a_silent_baseline_then_new_items_alert_once(
    feed_server: FeedServer, runtime_factory: Any, clock: Clock
) -> None:
    route = feed_server.route("/rss", rss([ARAS, OFF]))
    out = io.StringIO()
    rt = await runtime_factory([feed_server.url("/rss")], out)

    [first] = await poll_and_deliver(rt)
    assert (first.outcome, first.new_items, first.alerts, first.baseline) == (
        "new-items",
        2,
        0,
        True,
    )
    assert out.getvalue() == ""

    route.body = rss([ARAS, OFF, NEW1, NEW2, NEW_OFF])
    clock.advance(minutes=20)
    [second] = await poll_and_deliver(rt)
    assert (second.new_items, second.alerts) == (3, 2)
    printed = out.getvalue()
    assert "Astara crossing reopens" in printed
    assert "Nakhchivan bridge talks" in printed
    assert "Oil output steady" not in printed
    assert "Drills near the Aras" not in printed
    # canonical link: tracking parameters gone
    assert "https://news.test/n1" in printed
    assert "utm_source" not in printed

    # the same body again: nothing parsed, nothing printed twice
    clock.advance(minutes=20)
    [third] = await poll_and_deliver(rt)
    assert third.outcome == "unchanged"
    assert out.getvalue() == printed


async def test_validators_round_trip_and_304_skips_parsing(
    feed_server: FeedServer, runtime_factory: Any
) -> None:
    feed_server.route(
        "/rss", rss([ARAS]), etag='"v1"', last_modified="Fri, 20 Nov 2026 09:00:00 GMT"
    )
    rt = await runtime_factory([feed_server.url("/rss")], io.StringIO())
    await poll_and_deliver(rt)
    [second] = await poll_and_deliver(rt)
    assert second.outcome == "not-modified"
    sent = feed_server.requests_to("/rss")[1].headers
    assert sent["If-None-Match"] == '"v1"'
    assert sent["If-Modified-Since"] == "Fri, 20 Nov 2026 09:00:00 GMT"


async def test_changed_title_is_an_update_not_a_new_alert(
    feed_server: FeedServer, runtime_factory: Any
) -> None:
    route = feed_server.route("/rss", rss([ARAS]))
    out = io.StringIO()
    rt = await runtime_factory([feed_server.url("/rss")], out)
    await poll_and_deliver(rt)
    route.body = rss([Item("a1", "Drills near the Aras river (updated)", "More troops.", 1)])
    [report] = await poll_and_deliver(rt)
    assert (report.new_items, report.updated_items, report.alerts) == (0, 1, 0)
    [item] = await rt.store.items()
    assert item.title == "Drills near the Aras river (updated)"
    assert out.getvalue() == ""


async def test_restart_never_realerts_and_never_skips(
    feed_server: FeedServer, runtime_factory: Any
) -> None:
    route = feed_server.route("/rss", rss([ARAS]))
    out = io.StringIO()
    rt = await runtime_factory([feed_server.url("/rss")], out)
    await poll_and_deliver(rt)
    route.body = rss([ARAS, NEW1])
    await poll_and_deliver(rt)
    assert out.getvalue().count("Astara crossing reopens") == 1
    await rt.stop()

    # while the bot is down, another item arrives
    route.body = rss([ARAS, NEW1, NEW2])
    out2 = io.StringIO()
    rt2 = await runtime_factory([feed_server.url("/rss")], out2)
    await poll_and_deliver(rt2)
    assert "Nakhchivan bridge talks" in out2.getvalue()
    assert "Astara crossing reopens" not in out2.getvalue()


BROKEN = {
    "/404": dict(status=404, body=b"nope"),
    "/500": dict(status=500, body=b"oops"),
    "/html": dict(
        body=b"<!doctype html><html><body><h1>Login</h1></body></html>",
        content_type="text/html; charset=utf-8",
    ),
    "/slow": dict(hang=True),
    "/big": dict(body=b"<rss>", filler_bytes=3 * 1024 * 1024, declare_length=False),
    "/loop": dict(redirect_to="/loop", status=302, content_type=None),
    "/busy": dict(status=429, body=b"slow down", headers={"Retry-After": "3600"}),
}


async def test_broken_feeds_are_recorded_and_do_not_stop_the_good_one(
    feed_server: FeedServer, runtime_factory: Any, clock: Clock
) -> None:
    for path, spec in BROKEN.items():
        feed_server.route(path, **spec)
    good = feed_server.route("/rss", rss([ARAS]))
    urls = [feed_server.url(p) for p in BROKEN] + [feed_server.url("/rss")]
    out = io.StringIO()
    rt = await runtime_factory(urls, out, max_body_bytes=1024 * 1024)
    await poll_and_deliver(rt)
    good.body = rss([ARAS, NEW1])
    reports = {r.url.rsplit("/", 1)[1]: r for r in await poll_and_deliver(rt)}
    assert reports["rss"].alerts == 1
    assert "Astara crossing reopens" in out.getvalue()

    feeds = {f.url.rsplit("/", 1)[1]: f for f in await rt.store.feeds()}
    expected_error = {
        "404": "404",
        "500": "500",
        "html": "HTML",
        "slow": "timed out",
        "big": "too large",
        "loop": "redirect",
        "busy": "429",
    }
    for name, fragment in expected_error.items():
        feed = feeds[name]
        assert feed.error_count == 2, name
        assert feed.last_error is not None, name
        assert fragment.lower() in feed.last_error.lower(), (
            name,
            feed.last_error,
        )
    # Retry-After: 3600 pushes the next poll at least an hour out
    assert feeds["busy"].next_poll_at >= clock.now + timedelta(seconds=3600)  # type: ignore[operator]
    assert feeds["rss"].error_count == 0
