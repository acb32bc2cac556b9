"""Shared pytest fixtures. Keep each small; heavier helpers live in their own modules."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import pytest

try:  # tests/ is a rootdir-relative package when it has an __init__.py, a plain path otherwise
    from tests.feedserver import FeedServer
except ImportError:
    from feedserver import FeedServer  # type: ignore[no-redef]


@pytest.fixture
async def feed_server() -> AsyncIterator[FeedServer]:
    """A scriptable HTTP feed server on 127.0.0.1 (a random port), stopped after the test.

    API (full details in tests/feedserver.py):
    - `feed_server.url("/path")` -> "http://127.0.0.1:PORT/path"; `url(path, host="a.test")`
      uses another host name (map it to 127.0.0.1 with a fake resolver).
    - `feed_server.route("/path", body=b"...", **fields)` adds or replaces a route and returns
      its mutable `Route`. Fields: status, content_type, headers (extra response headers),
      etag / last_modified (sent, and a matching If-None-Match / If-Modified-Since gets 304
      unless honour_validators=False), redirect_to (Location), delay_s, hang (never answer),
      trickle=(bytes, seconds) per chunk, gzip=True (Content-Encoding: gzip), filler_bytes
      (that many spaces after the body), declare_length=False (no Content-Length).
    - `feed_server.redirect("/a", "/b", status=302)`.
    - `feed_server.requests` / `feed_server.requests_to("/path")`: RecordedRequest(method, path,
      query, host, headers) in arrival order.
    - `feed_server.max_in_flight[host]`, `feed_server.max_in_flight_total`: peak concurrency seen.
    - Unknown paths answer 404.
    """
    server = FeedServer()
    await server.start()
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture(autouse=True)
def _restore_root_logging() -> Iterator[None]:
    """`borderwatch` commands configure the root logger; undo it after each test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
