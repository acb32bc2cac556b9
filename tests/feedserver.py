"""A scriptable feed server on 127.0.0.1 for tests: real HTTP, no internet, no mocks.

Usage (see the `feed_server` fixture in tests/conftest.py):

    feed_server.route("/rss", body=b"<rss ...>", etag='"v1"')
    result = await fetcher.fetch(feed_server.url("/rss"), None, None)
    assert feed_server.requests_to("/rss")[0].headers["User-Agent"].startswith("BorderWatch")

Each path has a mutable `Route`; `route()` adds or replaces it (keyword arguments are the Route
fields below) and returns it, so a test can change the body between polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip as gzip_module
import socket
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

RSS_TYPE = "application/rss+xml; charset=utf-8"


@dataclass
class Route:
    """What one path answers. Mutable: tests may change fields between requests."""

    body: bytes = b""
    status: int = 200
    content_type: str | None = RSS_TYPE
    headers: dict[str, str] = field(default_factory=dict)  # extra response headers
    etag: str | None = None  # sent as ETag; a matching If-None-Match gets 304
    last_modified: str | None = None  # sent as Last-Modified; If-Modified-Since >= it gets 304
    honour_validators: bool = True  # False: always a full 200, like many real servers
    redirect_to: str | None = None  # a path on this server or an absolute URL (Location)
    delay_s: float = 0.0  # wait this long before answering
    hang: bool = False  # never answer (until the server closes)
    trickle: tuple[int, float] | None = None  # (bytes per chunk, seconds between chunks)
    gzip: bool = False  # send `body` gzip-compressed with Content-Encoding: gzip
    filler_bytes: int = 0  # after `body`, stream this many b" " (big bodies, no big buffer)
    declare_length: bool = True  # False: no Content-Length (chunked), so only streaming can cap


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    host: str  # Host header without the port
    headers: Mapping[str, str]  # as received (case-insensitive lookups)


class FeedServer:
    """Loopback HTTP server with scripted routes, request recording and concurrency counters.

    - `url(path)` -> "http://127.0.0.1:PORT/path"; `url(path, host="a.test")` puts another name
      in the URL (resolve it to 127.0.0.1 with a fake resolver to test per-host limits).
    - `route(path, **fields)` -> Route: body/status/headers/validators/behaviours (see Route).
    - `redirect(path, to, status=302)`: shorthand for a redirect route.
    - `requests` (all, in arrival order) and `requests_to(path)`.
    - `max_in_flight[host]` / `max_in_flight_total`: the peak number of requests being handled at
      the same time, per Host name and overall.
    - Unknown paths answer 404.
    """

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[RecordedRequest] = []
        self.in_flight: Counter[str] = Counter()
        self.max_in_flight: Counter[str] = Counter()
        self.in_flight_total = 0
        self.max_in_flight_total = 0
        self.port = 0
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None

    # --- set-up ----------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.base_events.Server)
        self.port = server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def route(self, path: str, body: bytes = b"", **fields: Any) -> Route:
        route = Route(body=body, **fields)
        self.routes[path] = route
        return route

    def redirect(self, path: str, to: str, status: int = 302) -> Route:
        return self.route(path, status=status, redirect_to=to, content_type=None)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    # --- serving ---------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        host = (request.host or "").rsplit(":", 1)[0] if request.host else ""
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=request.query_string,
                host=host,
                headers=request.headers.copy(),
            )
        )
        self.in_flight[host] += 1
        self.in_flight_total += 1
        self.max_in_flight[host] = max(self.max_in_flight[host], self.in_flight[host])
        self.max_in_flight_total = max(self.max_in_flight_total, self.in_flight_total)
        try:
            return await self._answer(request, self.routes.get(request.path))
        finally:
            self.in_flight[host] -= 1
            self.in_flight_total -= 1

    async def _answer(self, request: web.Request, route: Route | None) -> web.StreamResponse:
        if route is None:
            return web.Response(status=404, text="no such feed")
        if route.hang:
            await self._closing.wait()
            return web.Response(status=503)
        if route.delay_s:
            await self._sleep(route.delay_s)

        headers = dict(route.headers)
        if route.etag is not None:
            headers["ETag"] = route.etag
        if route.last_modified is not None:
            headers["Last-Modified"] = route.last_modified
        if route.redirect_to is not None:
            headers["Location"] = route.redirect_to
            return web.Response(status=route.status, headers=headers)
        if route.honour_validators and _not_modified(request, route):
            return web.Response(status=304, headers=headers)

        if route.content_type is not None:
            headers["Content-Type"] = route.content_type
        if route.gzip:
            body = gzip_module.compress(route.body + b" " * route.filler_bytes, compresslevel=9)
            headers["Content-Encoding"] = "gzip"
            filler = 0
        else:
            body, filler = route.body, route.filler_bytes

        if route.trickle is None and route.declare_length and not filler:
            return web.Response(status=route.status, body=body, headers=headers)

        resp = web.StreamResponse(status=route.status, headers=headers)
        if route.declare_length:
            resp.content_length = len(body) + filler
        await resp.prepare(request)
        size, pause = route.trickle or (64 * 1024, 0.0)
        try:
            for chunk in _chunks(body, filler, size):
                await resp.write(chunk)
                if pause:
                    await self._sleep(pause)
                if self._closing.is_set():
                    return resp
            await resp.write_eof()
        except (ConnectionResetError, RuntimeError):
            pass  # the client hung up (cap reached or timed out): that is the point
        return resp

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)


def _chunks(body: bytes, filler: int, size: int) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]
    block = b" " * size
    while filler > 0:
        yield block[: min(size, filler)]
        filler -= size


def _not_modified(request: web.Request, route: Route) -> bool:
    """RFC 9110 13.1: If-None-Match wins over If-Modified-Since when both are sent."""
    inm = request.headers.get("If-None-Match")
    if inm is not None and route.etag is not None:
        wanted = {tag.strip().removeprefix("W/") for tag in inm.split(",")}
        return "*" in wanted or route.etag.removeprefix("W/") in wanted
    ims = request.headers.get("If-Modified-Since")
    if ims is not None and route.last_modified is not None:
        try:
            return parsedate_to_datetime(route.last_modified) <= parsedate_to_datetime(ims)
        except (TypeError, ValueError):
            return False
    return False


class FakeDNS(AbstractResolver):
    """Resolves names from a table, like a DNS server we control (for rebinding tests)."""

    def __init__(self, table: dict[str, str]) -> None:
        self.table = table
        self.lookups: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.lookups.append(host)
        if host not in self.table:
            raise OSError(f"no such host {host}")
        return [
            {
                "hostname": host,
                "host": self.table[host],
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        pass
