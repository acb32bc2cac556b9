"""parse_feed on fixture feeds. Each expected ParsedFeed is written by hand from the fixture."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bot.core.types import Entry, ParsedFeed
from bot.feeds.parse import FeedParseError, parse_feed, parse_feed_async

if TYPE_CHECKING:
    from tests.feedserver import FeedServer

FEEDS = Path(__file__).resolve().parent.parent / "data" / "feeds"
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
RSS_HEADERS = {"Content-Type": "application/rss+xml"}


def load(name: str) -> bytes:
    return (FEEDS / name).read_bytes()


def sha_key(title: str, summary: str) -> str:
    return "sha256:" + hashlib.sha256(f"{title}\x00{summary}".encode()).hexdigest()


EXPECTED: dict[str, tuple[str, ParsedFeed]] = {
    "rss20.xml": (
        "https://news.example.com/feed.xml",
        ParsedFeed(
            title="Caucasus Border Watch",
            link="https://news.example.com/",
            ttl_minutes=30,
            entries=(
                Entry(
                    key="news-example-1001",
                    title="Iran holds drills near the Aras river",
                    link="https://news.example.com/2026/03/drills-aras?id=42",
                    summary=(
                        "Iranian forces held exercises near the border. "
                        "Baku & Tehran exchanged notes."
                    ),
                    authors=("Leyla Mammadova",),
                    published=datetime(2026, 3, 1, 9, 0, tzinfo=UTC),  # 12:30 +0330
                    updated=None,
                    image="https://cdn.example.com/aras.jpg",
                ),
                Entry(
                    key="https://news.example.com/astara",
                    title="Astara railway: new schedule",
                    link="https://news.example.com/astara",
                    summary="Full text about the Rasht–Astara line.",  # content:encoded wins
                    published=datetime(2026, 2, 28, 9, 0, tzinfo=UTC),
                    image="https://news.example.com/img/train.png",  # first <img>, made absolute
                ),
                Entry(
                    key="nx-3",
                    title="Nakhchivan border crossing reopens",
                    link="https://news.example.com/nakhchivan-crossing",
                    summary="Trucks queue at Julfa.",
                    image="https://cdn.example.com/julfa.jpg",  # image enclosure
                ),
            ),
        ),
    ),
    "atom10.xml": (
        "https://atom.example.org/feed.atom",
        ParsedFeed(
            title="South Caucasus & Iran",
            link="https://atom.example.org/",
            ttl_minutes=None,
            entries=(
                Entry(
                    key="tag:atom.example.org,2026:1",
                    title="Zangezur corridor talks resume",
                    link="https://atom.example.org/zangezur?page=2",
                    summary="Officials met in Goris.",
                    authors=("Arman Petrosyan", "Reza Karimi"),
                    published=datetime(2026, 3, 1, 4, 15, tzinfo=UTC),
                    updated=datetime(2026, 3, 1, 5, 0, tzinfo=UTC),
                ),
                Entry(
                    key="tag:atom.example.org,2026:2",
                    title="Embassy incident in Baku",
                    link="https://atom.example.org/embassy",
                    summary="First paragraph. Second line.",
                    # No <published>: the <updated> time stands in for it.
                    published=datetime(2026, 2, 27, 18, 0, tzinfo=UTC),
                    updated=datetime(2026, 2, 27, 18, 0, tzinfo=UTC),
                ),
            ),
        ),
    ),
    "rss10.rdf": (
        "https://rdf.example.net/rss",
        ParsedFeed(
            title="RDF Regional Wire",
            link="https://rdf.example.net/",
            ttl_minutes=None,
            entries=(
                Entry(
                    key="https://rdf.example.net/a1",
                    title="Aras dam water-sharing deal",
                    link="https://rdf.example.net/a1",
                    summary="Khudafarin dam output discussed.",
                    authors=("Wire Desk",),
                    # dc:date is the only date: 06:00 +03:30.
                    published=datetime(2026, 2, 20, 2, 30, tzinfo=UTC),
                    updated=datetime(2026, 2, 20, 2, 30, tzinfo=UTC),
                ),
                Entry(
                    key="https://rdf.example.net/a2",
                    title="Truck drivers detained at the border",
                    link="https://rdf.example.net/a2",
                    summary="Drivers held near Bileh Savar.",
                ),
            ),
        ),
    ),
    "windows1251.xml": (
        "https://ru.example.com/rss",
        ParsedFeed(
            title="Новости Кавказа",
            link="https://ru.example.com/",
            ttl_minutes=None,
            entries=(
                Entry(
                    key="ru-1",
                    title="Учения Ирана у границы с Азербайджаном",
                    link="https://ru.example.com/news/1",
                    summary="Манёвры прошли вблизи реки Аракс.",
                    published=datetime(2026, 3, 2, 4, 45, tzinfo=UTC),
                ),
            ),
        ),
    ),
    "no_guid.xml": (
        "https://noguid.example.com/rss",
        ParsedFeed(
            title="No GUIDs Here",
            link="https://noguid.example.com/",
            ttl_minutes=None,
            entries=(
                Entry(
                    # No guid: the canonical link is the identity, so a feed that rotates
                    # utm_* parameters does not make the same item look new.
                    key="https://noguid.example.com/goris-kapan",
                    title="Goris-Kapan road closed",
                    link="https://noguid.example.com/goris-kapan",
                    summary="Road works near Syunik.",
                ),
                Entry(
                    key=sha_key("Border post statement", "A statement with no link and no guid."),
                    title="Border post statement",
                    link=None,
                    summary="A statement with no link and no guid.",
                ),
            ),
        ),
    ),
    "duplicates.xml": (
        "https://dups.example.com/rss",
        ParsedFeed(
            title="Duplicate GUIDs",
            link="https://dups.example.com/",
            ttl_minutes=None,
            entries=(
                Entry(
                    key="story-1",
                    title="First version",
                    link="https://dups.example.com/story",
                    summary="Original text.",
                ),
                Entry(
                    key="story-2",
                    title="Other story",
                    link="https://dups.example.com/other",
                    summary="Different.",
                ),
                # The second "story-1" is dropped: the first one wins.
            ),
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_feed_parses_to_expected(name: str) -> None:
    base_url, expected = EXPECTED[name]
    got = parse_feed(load(name), RSS_HEADERS, NOW, base_url)
    assert got.entries == expected.entries
    assert got == expected


def test_windows_1251_charset_from_http_header_also_works() -> None:
    headers = {"content-type": "text/xml; charset=windows-1251"}
    got = parse_feed(load("windows1251.xml"), headers, NOW, "https://ru.example.com/rss")
    assert got.title == "Новости Кавказа"
    assert got.entries[0].summary == "Манёвры прошли вблизи реки Аракс."
    assert not got.bozo


def test_bozo_feed_that_can_be_read_is_used_with_its_reason() -> None:
    got = parse_feed(load("bozo.xml"), RSS_HEADERS, NOW, "https://sloppy.example.com/rss")

    assert got.bozo is True
    assert got.bozo_reason is not None
    assert got.bozo_reason.startswith("malformed XML at line 4")
    assert got.title == "Sloppy Feed & Co"
    assert got.entries == (
        Entry(
            key="sloppy-1",
            title="Bridge over the Araz inspected",
            link="https://sloppy.example.com/bridge?a=1&b=2",
            summary="Engineers & officials visited.",
        ),
    )


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        (
            {"Content-Type": "text/html; charset=utf-8"},
            "not a feed: got an HTML page (text/html)",
        ),
        ({}, "not a feed: got an HTML page (no Content-Type)"),
    ],
)
def test_html_page_is_not_a_feed(headers: dict[str, str], message: str) -> None:
    with pytest.raises(FeedParseError) as caught:
        parse_feed(load("page.html"), headers, NOW, "https://news.example.com/")
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "not a feed: the response body is empty"),
        (b"  \n\t ", "not a feed: the response body is empty"),
        (b"just some words", "not a feed: no RSS, Atom or RDF document found (text/plain"),
        (b'{"items": []}', "not a feed: no RSS, Atom or RDF document found (text/plain"),
    ],
)
def test_unreadable_bodies_raise_feed_parse_error(body: bytes, message: str) -> None:
    with pytest.raises(FeedParseError) as caught:
        parse_feed(body, {"Content-Type": "text/plain"}, NOW, "https://e.x/feed")
    assert str(caught.value).startswith(message)


def test_body_naming_a_local_file_is_not_read(tmp_path: Path) -> None:
    # feedparser.parse(bytes) tries open(bytes) first: a hostile server could answer with a
    # path and have a local file parsed. We hand it a stream, so the path is just text.
    secret_feed = tmp_path / "local.xml"
    secret_feed.write_bytes(load("rss20.xml"))
    with pytest.raises(FeedParseError):
        parse_feed(str(secret_feed).encode(), {}, NOW, "https://e.x/feed")


def test_external_entities_are_not_resolved(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-TOKEN")
    body = f"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{secret}">]>
<rss version="2.0"><channel><title>XXE &xxe; test</title>
<item><guid>x1</guid><title>Item &xxe;</title><description>Body &xxe;</description></item>
</channel></rss>""".encode()

    got = parse_feed(body, RSS_HEADERS, NOW, "https://e.x/feed")

    everything = repr(got)
    assert "TOP-SECRET-TOKEN" not in everything
    assert got.entries[0].key == "x1"


async def test_external_entities_fetch_nothing(feed_server: FeedServer) -> None:
    feed_server.route("/dtd", b"<!ENTITY x 'leaked'>")
    feed_server.route("/ent", b"leaked")
    body = f"""<?xml version="1.0"?>
<!DOCTYPE rss SYSTEM "{feed_server.url("/dtd")}" [
  <!ENTITY remote SYSTEM "{feed_server.url("/ent")}">
]>
<rss version="2.0"><channel><title>T &remote;</title>
<item><guid>x1</guid><title>Item &remote;</title></item></channel></rss>""".encode()

    got = await parse_feed_async(body, RSS_HEADERS, NOW, "https://e.x/feed")

    assert "leaked" not in repr(got)
    assert feed_server.requests == []


def test_plain_text_title_keeps_literal_angle_brackets() -> None:
    body = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title>
<entry><id>e1</id><title type="text">History of the &lt;blink&gt; tag</title></entry>
<entry><id>e2</id><title type="html">History of the &lt;b&gt;bold&lt;/b&gt; tag</title></entry>
</feed>"""
    got = parse_feed(body, {"Content-Type": "application/atom+xml"}, NOW, "https://e.x/")
    assert [e.title for e in got.entries] == [
        "History of the <blink> tag",
        "History of the bold tag",
    ]


def test_dates_far_in_the_future_are_dropped_but_near_ones_kept() -> None:
    body = b"""<rss version="2.0"><channel><title>T</title>
<item><guid>far</guid><pubDate>Thu, 01 Jan 2099 00:00:00 GMT</pubDate></item>
<item><guid>near</guid><pubDate>Mon, 02 Mar 2026 15:00:00 GMT</pubDate></item>
<item><guid>junk</guid><pubDate>not a date at all</pubDate></item>
</channel></rss>"""
    got = parse_feed(body, RSS_HEADERS, NOW, "https://e.x/")
    published = {e.key: e.published for e in got.entries}
    assert published == {
        "far": None,  # a placeholder date: the store falls back to first-seen time
        "near": datetime(2026, 3, 2, 15, 0, tzinfo=UTC),  # 3 h ahead: a clock skew, kept
        "junk": None,
    }


def test_image_sources_in_order_of_preference() -> None:
    body = b"""<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><title>T</title>
<item><guid>media</guid>
  <media:content url="https://cdn.e.x/video.mp4" type="video/mp4"/>
  <media:content url="https://cdn.e.x/photo.webp" medium="image"/>
  <description>&lt;img src="https://cdn.e.x/inline.png"&gt;</description></item>
<item><guid>inline</guid>
  <enclosure url="https://cdn.e.x/a.mp3" type="audio/mpeg" length="1"/>
  <description>&lt;p&gt;x&lt;img src="pic.gif"&gt;&lt;/p&gt;</description></item>
<item><guid>none</guid>
  <description>&lt;img src="javascript:alert(1)"&gt;</description></item>
</channel></rss>"""
    got = parse_feed(body, RSS_HEADERS, NOW, "https://e.x/news/feed")
    assert {e.key: e.image for e in got.entries} == {
        "media": "https://cdn.e.x/photo.webp",
        "inline": "https://e.x/news/pic.gif",
        "none": None,
    }


async def test_async_variant_gives_the_same_result() -> None:
    body = load("atom10.xml")
    base = "https://atom.example.org/feed.atom"
    got = await parse_feed_async(body, RSS_HEADERS, NOW, base)
    assert got == parse_feed(body, RSS_HEADERS, NOW, base)


async def test_async_variant_does_not_block_the_event_loop() -> None:
    # A big feed (500 items) parses in a worker thread while the loop keeps ticking.
    items = b"".join(
        b"<item><guid>g%d</guid><title>Item %d</title><description>&lt;p&gt;Text %d&lt;/p&gt;"
        b"</description></item>" % (i, i, i)
        for i in range(500)
    )
    body = b'<rss version="2.0"><channel><title>Big</title>' + items + b"</channel></rss>"
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    got = await parse_feed_async(body, RSS_HEADERS, NOW, "https://e.x/")
    task.cancel()

    assert len(got.entries) == 500
    assert ticks >= 3
