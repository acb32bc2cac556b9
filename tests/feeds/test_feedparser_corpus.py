"""parse_feed + normalization over feedparser's own test corpus (~2,200 feeds, good and broken).

The corpus is feedparser 6.0.12's tests/ directory from its sdist (BSD-2-Clause, see
tests/data/feedparser-tests.LICENSE), vendored as tests/data/feedparser-tests.tar.gz.
"""

from __future__ import annotations

import re
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.core.types import Entry, ParsedFeed
from bot.feeds.parse import FUTURE_DATE_TOLERANCE, FeedParseError, parse_feed

CORPUS = Path(__file__).resolve().parent.parent / "data" / "feedparser-tests.tar.gz"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
# feedparser's runtests.py reads the response headers a test simulates from these lines.
HEADER_LINE = re.compile(rb"^Header:\s+([^:]+):(.+)$", re.MULTILINE)
# Markup of everyday HTML elements. A plain-text title may legitimately say "the <blink> tag"
# (feedparser's corpus has such titles, written as &lt;blink&gt;), so only real leftovers of
# common markup count as a failure.
LEFTOVER_TAG = re.compile(
    r"</?(a|b|i|u|p|br|div|span|em|strong|img|script|style|font|h[1-6]|ul|li|table)\b[^<>]*>",
    re.I,
)
# The only files that are expected not to be feeds, each for a stated reason.
EXPECTED_UNREADABLE = re.compile(
    r"^tests/("
    r"compression/.*"  # gzip/deflate bytes: our fetcher decompresses before parsing
    r"|http/http_status_302-no-location\.xml"  # an empty document
    r"|illformed/rss_empty_document\.xml"  # an empty document
    r"|wellformed/cdf/channel_.*"  # CDF channel with no items and no title
    r")$"
)


def corpus_files() -> list[tuple[str, bytes]]:
    with tarfile.open(CORPUS, "r:gz") as tar:
        return [
            (member.name, tar.extractfile(member).read())  # type: ignore[union-attr]
            for member in tar.getmembers()
            if member.isfile()
        ]


def entry_problems(entry: Entry) -> list[str]:
    problems = []
    if not entry.key or entry.key != entry.key.strip():
        problems.append(f"bad key {entry.key!r}")
    for name in ("published", "updated"):
        value: datetime | None = getattr(entry, name)
        if value is None:
            continue
        if value.tzinfo is None or value.utcoffset() != timedelta(0):
            problems.append(f"{name} not UTC-aware: {value!r}")
        elif value > NOW + FUTURE_DATE_TOLERANCE:
            problems.append(f"{name} in the future: {value}")
    for name in ("title", "summary"):
        text: str = getattr(entry, name)
        if text != " ".join(text.split()):
            problems.append(f"{name} whitespace not collapsed: {text!r}")
    if LEFTOVER_TAG.search(entry.title):
        problems.append(f"HTML left in title: {entry.title!r}")
    if re.search(r"<(script|style)\b", entry.summary, re.I):
        problems.append(f"script/style left in summary: {entry.summary!r}")
    if entry.image is not None and not re.match(r"https?://[^/\s]", entry.image):
        problems.append(f"image not an absolute http(s) URL: {entry.image!r}")
    if entry.link is not None and (not entry.link or entry.link != entry.link.strip()):
        problems.append(f"bad link {entry.link!r}")
    if any(not author or author != author.strip() for author in entry.authors):
        problems.append(f"bad authors {entry.authors!r}")
    return problems


def feed_problems(feed: ParsedFeed) -> list[str]:
    problems = [problem for entry in feed.entries for problem in entry_problems(entry)]
    keys = [entry.key for entry in feed.entries]
    if len(keys) != len(set(keys)):
        problems.append("duplicate keys within one feed")
    if LEFTOVER_TAG.search(feed.title):
        problems.append(f"HTML left in feed title: {feed.title!r}")
    if feed.ttl_minutes is not None and feed.ttl_minutes <= 0:
        problems.append(f"ttl {feed.ttl_minutes}")
    if feed.bozo != (feed.bozo_reason is not None):
        problems.append("bozo flag and reason disagree")
    return problems


def test_whole_corpus_parses_without_exceptions_and_entries_hold_invariants() -> None:
    files = corpus_files()
    assert len(files) > 2000

    failures: list[str] = []
    unreadable: list[str] = []
    entries = 0
    for name, body in files:
        headers = {k.decode().strip(): v.decode().strip() for k, v in HEADER_LINE.findall(body)}
        try:
            feed = parse_feed(body, headers, NOW, "http://example.com/feed.xml")
        except FeedParseError as exc:
            if not str(exc).startswith("not a feed: "):
                failures.append(f"{name}: unclear FeedParseError message {exc}")
            unreadable.append(name)
            continue
        except Exception as exc:  # the point of the test: nothing else may escape
            failures.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        entries += len(feed.entries)
        failures.extend(f"{name}: {problem}" for problem in feed_problems(feed))

    assert failures == []
    assert [name for name in unreadable if not EXPECTED_UNREADABLE.match(name)] == []
    assert entries > 1000  # 1,206 entries in all: the corpus really was read
