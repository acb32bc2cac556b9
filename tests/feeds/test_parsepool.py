"""Parsing in worker processes gives what parsing in a thread gives, and survives a bad feed."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.feeds.parse import FeedParseError
from bot.feeds.parsepool import FeedParser

DATA = Path(__file__).resolve().parents[1] / "data" / "feeds"
NOW = datetime(2026, 11, 27, tzinfo=UTC)
HEADERS = {"content-type": "application/rss+xml"}


def many_items(n: int) -> bytes:
    items = "".join(
        f"<item><guid>g{i}</guid><title>Item {i} {'word ' * 40}</title>"
        f"<description>{'<p>text &amp; more</p>' * 40}</description></item>"
        for i in range(n)
    )
    return f'<rss version="2.0"><channel><title>Big</title>{items}</channel></rss>'.encode()


def one_huge_item(mib: int) -> bytes:
    text = b"word &amp; " * (mib * 1024 * 1024 // 11)
    return (
        b'<rss version="2.0"><channel><title>Huge</title><item><guid>g</guid><title>t</title>'
        b"<description>" + text + b"</description></item></channel></rss>"
    )


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*.xml")))
async def test_process_pool_and_thread_agree(name: str) -> None:
    body = (DATA / name).read_bytes()
    thread, pool = FeedParser(0), FeedParser(2)
    try:
        try:
            expected = await thread.parse(body, HEADERS, NOW, "https://feed.test/")
        except FeedParseError as exc:
            with pytest.raises(FeedParseError, match=re.escape(str(exc)[:20])):
                await pool.parse(body, HEADERS, NOW, "https://feed.test/")
            return
        assert await pool.parse(body, HEADERS, NOW, "https://feed.test/") == expected
    finally:
        pool.close()


async def test_a_feed_that_exhausts_a_workers_memory_fails_alone_and_the_pool_recovers() -> None:
    # 16 MiB of text needs several times that while feedparser assembles it: past 120 MiB of
    # address space the worker fails, not the bot.
    pool = FeedParser(1, memory_limit_bytes=120 * 1024 * 1024)
    try:
        with pytest.raises(FeedParseError, match=r"memory|crashed"):
            await pool.parse(one_huge_item(16), HEADERS, NOW, "https://feed.test/")
        small = await pool.parse(many_items(3), HEADERS, NOW, "https://feed.test/")
        assert [e.key for e in small.entries] == ["g0", "g1", "g2"]
    finally:
        pool.close()


async def test_a_parse_past_the_timeout_is_an_error_for_that_feed() -> None:
    pool = FeedParser(1, timeout_s=0.05)
    try:
        with pytest.raises(FeedParseError, match="longer than"):
            await pool.parse(many_items(3000), HEADERS, NOW, "https://feed.test/")
    finally:
        pool.close()
