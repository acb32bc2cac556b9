"""Fetcher against the loopback feed server: validators, errors, caps, redirects, SSRF, limits."""

from __future__ import annotations

import asyncio
import socket
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp.abc import AbstractResolver

from bot.feeds.fetch import Fetcher, FetchLimits, parse_max_age, parse_retry_after
from tests.feedserver import FakeDNS

if TYPE_CHECKING:
    from tests.feedserver import FeedServer

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Border news</title>
<item><guid>1</guid><title>Drills near the Aras</title></item>
</channel></rss>"""

LOOPBACK_OK = FetchLimits(allow_private_networks=True)


FetcherFactory = Callable[..., Coroutine[Any, Any, Fetcher]]


@pytest.fixture
async def make_fetcher() -> AsyncIterator[FetcherFactory]:
    made: list[Fetcher] = []

    async def make(
        limits: FetchLimits = LOOPBACK_OK, resolver: AbstractResolver | None = None
    ) -> Fetcher:
        fetcher = await Fetcher.create(limits, resolver=resolver)
        made.append(fetcher)
        return fetcher

    yield make
    for fetcher in made:
        await fetcher.close()


# --- plain fetches and validators -------------------------------------------------------------


async def test_ok_fetch_returns_body_headers_and_sends_feed_request_headers(
    feed_server: FeedServer, make_fetcher: FetcherFactory
) -> None:
    feed_server.route("/rss", RSS, headers={"Cache-Control": "public, max-age=600"})
    fetcher = await make_fetcher(FetchLimits(allow_private_networks=True, user_agent="UA-test/1"))

    result = await fetcher.fetch(feed_server.url("/rss"), None, None)

    assert result.status == "ok"
    assert result.http_status == 200
    assert result.body == RSS
    assert result.url == feed_server.url("/rss")
    assert result.max_age_s == 600
    assert result.error is None
    assert dict(result.headers)["Content-Type"] == "application/rss+xml; charset=utf-8"
    sent = feed_server.requests_to("/rss")[0].headers
    assert sent["User-Agent"] == "UA-test/1"
    assert sent["Accept-Encoding"] == "gzip, deflate"
    assert "application/rss+xml" in sent["Accept"]
    assert "application/atom+xml" in sent["Accept"]
    assert "If-None-Match" not in sent
    assert "If-Modified-Since" not in sent


async def test_etag_round_trip_gets_304_without_body(
    feed_server: FeedServer, make_fetcher: FetcherFactory
) -> None:
    feed_server.route("/rss", RSS, etag='"v1"')
    fetcher = await make_fetcher()

    first = await fetcher.fetch(feed_server.url("/rss"), None, None)
    assert (first.status, first.etag) == ("ok", '"v1"')

    second = await fetcher.fetch(feed_server.url("/rss"), first.etag, None)
    assert feed_server.requests_to("/rss")[1].headers["If-None-Match"] == '"v1"'
    assert second.status == "not_modified"
    assert second.http_status == 304
    assert second.body is None
    assert second.etag == '"v1"'

    # The feed changes: a new ETag, so the old validator no longer matches.
    feed_server.route("/rss", RSS + b"\n", etag='"v2"')
    third = await fetcher.fetch(feed_server.url("/rss"), second.etag, None)
    assert (third.status, third.etag, third.body) == ("ok", '"v2"', RSS + b"\n")


async def test_last_modified_round_trip_gets_304(
    feed_server: FeedServer, make_fetcher: FetcherFactory
) -> None:
    stamp = "Sat, 01 Mar 2026 10:00:00 GMT"
    feed_server.route("/rss", RSS, last_modified=stamp)
    fetcher = await make_fetcher()

    first = await fetcher.fetch(feed_server.url("/rss"), None, None)
    assert (first.status, first.last_modified) == ("ok", stamp)

    second = await fetcher.fetch(feed_server.url("/rss"), None, first.last_modified)
    assert feed_server.requests_to("/rss")[1].headers["If-Modified-Since"] == stamp
    assert (second.status, second.body, second.last_modified) == ("not_modified", None, stamp)


async def test_server_ignoring_validators_gives_full_body(
    feed_server: FeedServer, make_fetcher: FetcherFactory
) -> None:
    feed_server.route("/rss", RSS, etag='"v1"', honour_validators=False)
    fetcher = await make_fetcher()

    result = await fetcher.fetch(feed_server.url("/rss"), '"v1"', "Sat, 01 Mar 2026 10:00:00 GMT")

    sent = feed_server.requests_to("/rss")[0].headers
    assert sent["If-None-Match"] == '"v1"'
    assert sent["If-Modified-Since"] == "Sat, 01 Mar 2026 10:00:00 GMT"
    assert (result.status, result.body) == ("ok", RSS)


async def test_gzip_body_is_returned_decompressed(
    feed_server: FeedServer, make_fetcher: FetcherFactory
) -> None:
    feed_server.route("/rss", RSS, gzip=True)
    fetcher = await make_fetcher()

    result = await fetcher.fetch(feed_server.url("/rss"), None, None)

    assert (result.status, result.body) == ("ok", RSS)
    # The returned headers describe the returned (decoded) body.
    names = {name.lower() for name, _ in result.headers}
    assert "content-encoding" not in names
    assert "content-length" not in names


# --- HTTP errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "words"),
    [(404, "HTTP 404 Not Found"), (410, "HTTP 410 Gone"), (500, "HTTP 500"), (403, "refuses")],
)
async def test_http_error_statuses_become_error_results(
    feed_server: FeedServer, make_fetcher: FetcherFactory, status: int, words: str
) -> None:
    feed_server.route("/rss", b"oops", status=status, content_type="text/plain")
    fetcher = await make_fetcher()

    result = await fetcher.fetch(feed_server.url("/rss"), None, None)

    assert result.status == "error"
    assert result.http_status == status
    assert result.body is None
    assert result.error is not None
    assert words in result.error


async def test_unknown_path_is_404(feed_server: FeedServer, make_fetcher: FetcherFactory) -> None:
    fetcher = await make_fetcher()
    result = await fetcher.fetch(feed_server.url("/missing"), None, None)
    assert (result.status, result.http_status) == ("error", 404)


async def test_429_with_retry_after_seconds(
    feed_server: FeedServer, make_fetcher: FetcherFactory
) -> None:
    feed_server.route("/rss", b"", status=429, headers={"Retry-After": "120"})
    fetcher = await make_fetcher()

    result = await fetcher.fetch(feed_server.url("/rss"), None, None)

    assert (result.status, result.http_status, result.retry_after_s) == ("error", 429, 120.0)
    assert result.error is not None
    assert "429" in result.error
    assert "120" in result.error


async def test_429_with_retry_after_http_date_uses_server_clock(
    feed_server: FeedServer, make_fetcher: FetcherFactory
) -> None:
    feed_server.route(
        "/rss",
        b"",
        status=429,
        headers={
            "Date": "Wed, 21 Oct 2015 07:28:00 GMT",
            "Retry-After": "Wed, 21 Oct 2015 07:33:00 GMT",
        },
    )
    fetcher = await make_fetcher()

    result = await fetcher.fetch(feed_server.url("/rss"), None, None)

    assert (result.status, result.http_status, result.retry_after_s) == ("error", 429, 300.0)


async def test_503_with_retry_after(feed_server: FeedServer, make_fetcher: FetcherFactory) -> None:
    feed_server.route("/rss", b"", status=503, headers={"Retry-After": "30"})
    fetcher = await make_fetcher()
    result = await fetcher.fetch(feed_server.url("/rss"), None, None)
    assert (result.status, result.http_status, result.retry_after_s) == ("error", 503, 30.0)


async def test_retry_after_is_ignored_on_other_statuses(
    feed_server: FeedServer, make_fetcher: FetcherFactory
) -> None:
    feed_server.route("/rss", b"", status=500, headers={"Retry-After": "30"})
    fetcher = await make_fetcher()
    result = await fetcher.fetch(feed_server.url("/rss"), None, None)
    assert (result.http_status, result.retry_after_s) == (500, None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        ("0", 0.0),
        ("Sun, 01 Mar 2026 12:02:00 GMT", 120.0),
        ("Sun, 01 Mar 2026 11:00:00 GMT", 0.0),  # in the past: retry now
        ("", None),
        ("soon", None),
        ("-5", None),
    ],
)
def test_parse_retry_after(value: str, expected: float | None) -> None:
    assert parse_retry_after(value, datetime(2026, 3, 1, 12, 0, tzinfo=UTC)) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("max-age=600", 600),
        ("public, max-age=300, must-revalidate", 300),
        ("Max-Age = 60", 60),
        ('max-age="90"', 90),
        ("s-maxage=100", None),
        ("no-cache", None),
        ("", None),
    ],
)
def test_parse_max_age(value: str, expected: int | None) -> None:
    assert parse_max_age(value) == expected


# --- timeouts and size caps -------------------------------------------------------------------


async def test_server_that_never_answers_times_out(
    feed_server: FeedServer, make_fetcher: FetcherFactory
) -> None:
    feed_server.route("/rss", RSS, hang=True)
    fetcher = await make_fetcher(FetchLimits(allow_private_networks=True, total_timeout=0.3))

    began = time.monotonic()
    result = await fetcher.fetch(feed_server.url("/rss"), None, None)

    assert time.monotonic() - began < 2
    assert result.status == "error"
    assert result.error is not None
    assert "timed out after 0.3 s" in result.error
    assert 0.25 < result.elapsed_s < 2


async def test_trickling_body_hits_the_total_timeout(
    feed_server: FeedServer, make_fetcher: FetcherFactory
) -> None:
    # Each chunk comes quickly enough to keep a socket-read timeout happy; the total is what
    # stops a server that drips a feed forever.
    feed_server.route("/rss", RSS * 20, trickle=(50, 0.05))
    fetcher = await make_fetcher(FetchLimits(allow_private_networks=True, total_timeout=0.4))

    result = await fetcher.fetch(feed_server.url("/rss"), None, None)

    assert result.status == "error"
    assert result.error is not None
    assert "timed out" in result.error


async def test_declared_body_over_the_cap_is_refused(
    feed_server: FeedServer, make_fetcher: FetcherFactory
) -> None:
    feed_server.route("/rss", RSS, filler_bytes=300_000)
    fetcher = await make_fetcher(FetchLimits(allow_private_networks=True, max_body_bytes=100_000))

    result = await fetcher.fetch(feed_server.url("/rss"), None, None)

    assert (result.status, result.http_status, result.body) == ("error", 200, None)
    assert result.error is not None
    assert "too large" in result.error
    assert "100,000" in result.error


async def test_undeclared_body_over_the_cap_stops_streaming(
    feed_server: FeedServer, make_fetcher: FetcherFactory
) -> None:
    # No Content-Length: only counting while streaming can stop it.
    feed_server.route("/rss", RSS, filler_bytes=5_000_000, declare_length=False)
    fetcher = await make_fetcher(FetchLimits(allow_private_networks=True, max_body_bytes=100_000))

    result = await fetcher.fetch(feed_server.url("/rss"), None, None)

    assert (result.status, result.body) == ("error", None)
    assert result.error is not None
    assert "more than 100,000 bytes" in result.error


async def test_body_exactly_at_the_cap_is_accepted(
    feed_server: FeedServer, make_fetcher: FetcherFactory
) -> None:
    feed_server.route("/rss", RSS, filler_bytes=1000 - len(RSS), declare_length=False)
    fetcher = await make_fetcher(FetchLimits(allow_private_networks=True, max_body_bytes=1000))

    result = await fetcher.fetch(feed_server.url("/rss"), None, None)

    assert result.status == "ok"
    assert result.body is not None
    assert len(result.body) == 1000


async def test_gzip_bomb_is_stopped_at_the_cap_on_inflated_bytes(
    feed_server: FeedServer, make_fetcher: FetcherFactory
) -> None:
    inflated_mib = 64
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: gzip framing
    megabyte = b" " * (1 << 20)
    bomb = b"".join(
        [packer.compress(RSS), *(packer.compress(megabyte) for _ in range(inflated_mib))]
    )
    bomb += packer.flush()
    assert len(bomb) < 100_000  # small on the wire, far under the cap ...
    feed_server.route("/rss", bomb, headers={"Content-Encoding": "gzip"})
    fetcher = await make_fetcher(
        FetchLimits(allow_private_networks=True, max_body_bytes=1024 * 1024)
    )

    tracemalloc.start()
    try:
        result = await fetcher.fetch(feed_server.url("/rss"), None, None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # ... but 64 MiB once inflated: refused by the 1 MiB cap on decompressed bytes, and
    # refused while streaming, not after inflating everything in memory.
    assert (result.status, result.body) == ("error", None)
    assert result.error is not None
    assert "too large" in result.error
    assert "gzip" in result.error
    assert peak < 16 * 1024 * 1024


# --- redirects --------------------------------------------------------------------------------


async def test_redirect_is_followed_and_final_url_reported(
    feed_server: FeedServer, make_fetcher: FetcherFactory
) -> None:
    feed_server.redirect("/old", "/new", status=301)
    feed_server.route("/new", RSS)
    fetcher = await make_fetcher()

    result = await fetcher.fetch(feed_server.url("/old"), None, None)

    assert (result.status, result.body, result.url) == ("ok", RSS, feed_server.url("/new"))


async def test_redirect_loop_is_an_error(
    feed_server: FeedServer, make_fetcher: FetcherFactory
) -> None:
    feed_server.redirect("/a", "/b")
    feed_server.redirect("/b", "/a")
    fetcher = await make_fetcher()

    result = await fetcher.fetch(feed_server.url("/a"), None, None)

    assert result.status == "error"
    assert result.error is not None
    assert result.error.startswith("redirect loop")
    assert len(feed_server.requests) == 2  # it noticed without going round again


@pytest.mark.parametrize(("hops", "status"), [(5, "ok"), (6, "error")])
async def test_at_most_five_redirects(
    feed_server: FeedServer, make_fetcher: FetcherFactory, hops: int, status: str
) -> None:
    for i in range(hops):
        feed_server.redirect(f"/r{i}", f"/r{i + 1}")
    feed_server.route(f"/r{hops}", RSS)
    fetcher = await make_fetcher()

    result = await fetcher.fetch(feed_server.url("/r0"), None, None)

    assert result.status == status
    if status == "error":
        assert result.error is not None
        assert "too many redirects" in result.error
        assert not feed_server.requests_to(f"/r{hops}")


async def test_redirect_without_location_is_an_error(
    feed_server: FeedServer, make_fetcher: FetcherFactory
) -> None:
    feed_server.route("/rss", b"", status=302, content_type=None)
    fetcher = await make_fetcher()
    result = await fetcher.fetch(feed_server.url("/rss"), None, None)
    assert (result.status, result.http_status) == ("error", 302)
    assert result.error is not None
    assert "Location" in result.error


# --- hostile URLs (SSRF) ----------------------------------------------------------------------


async def test_loopback_url_is_refused_by_default_before_any_request(
    feed_server: FeedServer, make_fetcher: FetcherFactory
) -> None:
    feed_server.route("/rss", RSS)
    fetcher = await make_fetcher(FetchLimits())  # allow_private_networks=False

    result = await fetcher.fetch(feed_server.url("/rss"), None, None)

    assert result.status == "error"
    assert result.error == (
        f"refusing {feed_server.url('/rss')}: 127.0.0.1 is a loopback address; "
        "set fetch.allow_private_networks = true to allow"
    )
    assert feed_server.requests == []


async def test_redirect_to_cloud_metadata_is_refused_even_with_private_networks_allowed(
    feed_server: FeedServer, make_fetcher: FetcherFactory
) -> None:
    feed_server.redirect("/rss", "http://169.254.169.254/latest/meta-data/iam/")
    fetcher = await make_fetcher(FetchLimits(allow_private_networks=True))

    result = await fetcher.fetch(feed_server.url("/rss"), None, None)

    assert result.status == "error"
    assert result.error is not None
    assert "169.254.169.254 is a cloud metadata address" in result.error
    assert result.error.startswith(f"redirected from {feed_server.url('/rss')}")
    assert len(feed_server.requests) == 1


async def test_hostname_resolving_to_loopback_is_refused_at_connect_time(
    feed_server: FeedServer, make_fetcher: FetcherFactory
) -> None:
    # A name check_url cannot judge (no DNS there): the guarded resolver refuses the address it
    # resolves to, so a name that rebinds to 127.0.0.1 never reaches the loopback server.
    feed_server.route("/rss", RSS)
    dns = FakeDNS({"rebind.test": "127.0.0.1"})
    fetcher = await make_fetcher(FetchLimits(), resolver=dns)

    result = await fetcher.fetch(feed_server.url("/rss", host="rebind.test"), None, None)

    assert dns.lookups == ["rebind.test"]
    assert result.status == "error"
    assert result.error is not None
    assert "refusing host rebind.test: it resolves to 127.0.0.1, a loopback address" in (
        result.error
    )
    assert feed_server.requests == []


async def test_hostname_resolving_to_loopback_is_fetched_when_allowed(
    feed_server: FeedServer, make_fetcher: FetcherFactory
) -> None:
    feed_server.route("/rss", RSS)
    fetcher = await make_fetcher(LOOPBACK_OK, resolver=FakeDNS({"feeds.test": "127.0.0.1"}))

    result = await fetcher.fetch(feed_server.url("/rss", host="feeds.test"), None, None)

    assert (result.status, result.body) == ("ok", RSS)
    assert feed_server.requests[0].host == "feeds.test"


async def test_redirect_to_a_name_resolving_to_link_local_is_refused(
    feed_server: FeedServer, make_fetcher: FetcherFactory
) -> None:
    dns = FakeDNS({"feeds.test": "127.0.0.1", "metadata.test": "169.254.169.254"})
    feed_server.redirect("/rss", f"http://metadata.test:{feed_server.port}/latest")
    fetcher = await make_fetcher(LOOPBACK_OK, resolver=dns)

    result = await fetcher.fetch(feed_server.url("/rss", host="feeds.test"), None, None)

    assert result.status == "error"
    assert result.error is not None
    assert "refusing host metadata.test: it resolves to 169.254.169.254" in result.error
    assert [r.path for r in feed_server.requests] == ["/rss"]


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("file:///etc/passwd", "only http and https"),
        ("ftp://example.com/feed", "only http and https"),
        ("http:///feed", "no host"),
        ("http://10.0.0.5/feed", "private address"),
        ("http://[::1]:8080/feed", "loopback address"),
        ("http://0.0.0.0/", "unspecified address"),
    ],
)
async def test_unsafe_urls_are_error_results(
    make_fetcher: FetcherFactory, url: str, words: str
) -> None:
    fetcher = await make_fetcher(FetchLimits())
    result = await fetcher.fetch(url, None, None)
    assert result.status == "error"
    assert result.error is not None
    assert words in result.error


async def test_connection_refused_is_an_error_result(make_fetcher: FetcherFactory) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    fetcher = await make_fetcher()

    result = await fetcher.fetch(f"http://127.0.0.1:{port}/rss", None, None)

    assert (result.status, result.http_status) == ("error", None)
    assert result.error is not None
    assert f"could not connect to 127.0.0.1:{port}" in result.error


async def test_unknown_host_is_an_error_result(make_fetcher: FetcherFactory) -> None:
    fetcher = await make_fetcher(LOOPBACK_OK, resolver=FakeDNS({}))
    result = await fetcher.fetch("http://nowhere.test/rss", None, None)
    assert result.status == "error"
    assert result.error is not None
    assert "DNS lookup failed for nowhere.test" in result.error


# --- concurrency ------------------------------------------------------------------------------


async def test_per_host_limit_is_never_exceeded(
    feed_server: FeedServer, make_fetcher: FetcherFactory
) -> None:
    feed_server.route("/rss", RSS, delay_s=0.1)
    fetcher = await make_fetcher(
        FetchLimits(allow_private_networks=True, per_host_concurrency=2, concurrency=20)
    )

    results = await asyncio.gather(
        *(fetcher.fetch(feed_server.url("/rss"), None, None) for _ in range(8))
    )

    assert [r.status for r in results] == ["ok"] * 8
    assert feed_server.max_in_flight["127.0.0.1"] == 2


async def test_global_limit_is_never_exceeded_across_hosts(
    feed_server: FeedServer, make_fetcher: FetcherFactory
) -> None:
    feed_server.route("/rss", RSS, delay_s=0.1)
    hosts = [f"h{i}.test" for i in range(6)]
    fetcher = await make_fetcher(
        FetchLimits(allow_private_networks=True, per_host_concurrency=2, concurrency=3),
        resolver=FakeDNS(dict.fromkeys(hosts, "127.0.0.1")),
    )

    results = await asyncio.gather(
        *(fetcher.fetch(feed_server.url("/rss", host=h), None, None) for h in hosts * 2)
    )

    assert [r.status for r in results] == ["ok"] * 12
    assert feed_server.max_in_flight_total == 3
    assert max(feed_server.max_in_flight[h] for h in hosts) <= 2


async def test_a_busy_host_does_not_hold_up_other_hosts(
    feed_server: FeedServer, make_fetcher: FetcherFactory
) -> None:
    # 3 feeds on a host that never answers, one slot per host, two slots in all: the queue for
    # slow.test must not sit on the global slots while it waits, so fast.test is served while
    # every slow request is still pending.
    feed_server.route("/slow", RSS, hang=True)
    feed_server.route("/fast", RSS)
    fetcher = await make_fetcher(
        FetchLimits(
            allow_private_networks=True,
            per_host_concurrency=1,
            concurrency=2,
            total_timeout=5,
        ),
        resolver=FakeDNS({"slow.test": "127.0.0.1", "fast.test": "127.0.0.1"}),
    )
    slow = [
        asyncio.create_task(fetcher.fetch(feed_server.url("/slow", host="slow.test"), None, None))
        for _ in range(3)
    ]
    for _ in range(500):  # until the first slow request has reached the server
        if feed_server.requests_to("/slow"):
            break
        await asyncio.sleep(0.01)

    fast = await fetcher.fetch(feed_server.url("/fast", host="fast.test"), None, None)

    assert fast.status == "ok"
    assert not any(task.done() for task in slow)
    assert len(feed_server.requests_to("/slow")) == 1  # the other two wait for slow.test's slot
    for task in slow:
        task.cancel()
    await asyncio.gather(*slow, return_exceptions=True)
