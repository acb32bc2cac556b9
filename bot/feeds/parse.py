"""Feed bytes -> ParsedFeed. The only module that touches feedparser.

feedparser is handed bytes wrapped in a BytesIO and the response headers, never a URL or a bare
string: given a str it fetches URLs, and given bytes it first tries to open() them as a local file
path, so a hostile server answering "/etc/passwd" would otherwise make it read a local file.
Its result is converted to our frozen `Entry` / `ParsedFeed` at once and never returned.
"""

from __future__ import annotations

import asyncio
import io
import re
import xml.sax
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
from feedparser.encodings import convert_to_utf8
from selectolax.lexbor import LexborHTMLParser

from bot.core.normalize import (
    canonical_url,
    collapse_whitespace,
    html_to_text,
    identity_key,
    to_utc,
)
from bot.core.types import Entry, ParsedFeed

# A date this far ahead of `now` is a broken clock or a placeholder (e.g. 2099-01-01), not news
# from the future: it is dropped so that the store falls back to the first-seen time.
FUTURE_DATE_TOLERANCE = timedelta(days=1)

_HTML_SNIFF = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)\b", re.I | re.S)
_HTML_MIME = ("text/html", "application/xhtml+xml")
# Markup of everyday HTML elements: text declared plain that contains these is really HTML.
_COMMON_MARKUP = re.compile(
    r"</?(a|abbr|b|big|blockquote|br|cite|code|del|div|em|font|h[1-6]|i|img|ins|li|mark|ol|p|"
    r"pre|q|s|small|span|strike|strong|sub|sup|table|td|th|tr|u|ul)(\s[^<>]*)?/?>",
    re.I,
)
_IMAGE_EXT = re.compile(r"\.(jpe?g|png|gif|webp|avif)(\?|$)", re.I)
# Internal entities a feed declares (<!ENTITY name "value">) and references to them. Entity
# expansion is how a 100 KB body becomes gigabytes of text (billion laughs, or one big entity
# referenced many times, which expat's amplification limit and feedparser's loose fallback both
# let through): the expanded size is computed before parsing and capped.
_ENTITY_DECL = re.compile(rb"""<!ENTITY\s+(?:%\s+)?([A-Za-z_][\w.:-]*)\s+(?:"([^"]*)"|'([^']*)')""")
_ENTITY_REF = re.compile(rb"[&%]([A-Za-z_][\w.:-]*);")
MAX_ENTITY_EXPANSION = 1024 * 1024  # bytes of text entities may add to a feed


class FeedParseError(Exception):
    """The body is not a feed feedparser can read. The message is meant for the operator."""


def parse_feed(body: bytes, headers: Mapping[str, str], now: datetime, base_url: str) -> ParsedFeed:
    """Parse one fetched feed body (blocking: call it from a worker thread, see parse_feed_async).

    `headers` are the HTTP response headers (any case); Content-Type's charset is honoured.
    `base_url` (the final URL after redirects) resolves relative links. `now` (aware UTC) is
    used to drop dates implausibly far in the future.

    Within one feed, entries with the same identity key are kept once (the first wins). Raises
    FeedParseError when the body is not a readable feed; a feed feedparser flags as malformed
    ("bozo") but can still read is returned with `bozo=True` and the reason.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    # feedparser resolves relative URIs, guids included, against Content-Location: a guid such
    # as "item-17" would become "https://host/item-17" and change whenever the feed URL does
    # (a redirect, http -> https), re-alerting every item. So feedparser gets no base and keeps
    # guids as written; links and images are made absolute here instead.
    content_location = lowered.pop("content-location", "")
    base = _absolute(content_location, base_url) if content_location else base_url

    if not body.strip():
        raise FeedParseError("not a feed: the response body is empty")
    expansion = _entity_expansion(convert_to_utf8(lowered, body, {}))
    if expansion > MAX_ENTITY_EXPANSION:
        raise FeedParseError(
            f"refusing the feed: its XML entities would expand to more than "
            f"{MAX_ENTITY_EXPANSION:,} bytes (an XML entity expansion attack, or a broken feed)"
        )

    raw = feedparser.parse(
        io.BytesIO(body),
        response_headers=lowered,
        # Both off: we keep plain text only (html_to_text drops scripts and styles) and resolve
        # the one URL taken from HTML (an <img> src) ourselves; together they cost ~25% of
        # feedparser's time on a typical feed.
        resolve_relative_uris=False,
        sanitize_html=False,
    )
    version = str(raw.get("version") or "")
    raw_entries = raw.get("entries") or []
    bozo_exc = raw.get("bozo_exception") if raw.get("bozo") else None

    feed = raw.get("feed") or {}
    # Readable: a recognised format, or entries, or at least a channel title (an empty but
    # valid feed). An HTML page never counts, whatever feedparser scraped from it.
    looks_like_feed = bool(version or raw_entries) or (
        bool(feed.get("title")) and not _is_html(body, lowered)
    )
    if not looks_like_feed:
        raise FeedParseError(_unreadable_reason(body, lowered, bozo_exc))

    entries: list[Entry] = []
    seen: set[str] = set()
    for raw_entry in raw_entries:
        entry = _convert_entry(raw_entry, base, now)
        if entry.key in seen:
            continue
        seen.add(entry.key)
        entries.append(entry)

    feed_link = _str(feed.get("link"))
    return ParsedFeed(
        title=_detail_text(feed.get("title_detail"), feed.get("title")),
        link=canonical_url(_absolute(feed_link, base)) if feed_link else None,
        ttl_minutes=_ttl(feed.get("ttl")),
        entries=tuple(entries),
        bozo=bozo_exc is not None,
        bozo_reason=_describe_bozo(bozo_exc) if bozo_exc is not None else None,
    )


async def parse_feed_async(
    body: bytes, headers: Mapping[str, str], now: datetime, base_url: str
) -> ParsedFeed:
    """parse_feed in a worker thread, so a big or slow feed never blocks the event loop."""
    return await asyncio.to_thread(parse_feed, body, headers, now, base_url)


# --- entries -------------------------------------------------------------------------------


def _convert_entry(raw: Any, base: str, now: datetime) -> Entry:
    title = _detail_text(raw.get("title_detail"), raw.get("title"))

    content_html, summary = "", ""
    contents = raw.get("content") or []
    if contents and isinstance(contents[0], Mapping):
        first = contents[0]
        content_html = _str(first.get("value"))
        summary = _detail_text(first, first.get("value"))
    if not summary:
        content_html = _str(raw.get("summary"))
        summary = _detail_text(raw.get("summary_detail"), raw.get("summary"))

    raw_link = _str(raw.get("link")).strip()
    link = canonical_url(_absolute(raw_link, base)) if raw_link else None
    guid = _str(raw.get("id")) or None

    # dict.get: FeedParserDict.get("updated_parsed") silently answers with published_parsed.
    updated = _plausible(to_utc(dict.get(raw, "updated_parsed")), now)
    # Atom makes <published> optional and RSS 1.0 has only dc:date (feedparser: "updated"): the
    # last-updated time is a better publication time than the first-seen time the store would
    # use otherwise. Only an entry with no date at all gets None.
    published = _plausible(to_utc(dict.get(raw, "published_parsed")), now)
    return Entry(
        # The canonical link, not the raw one: feeds that rotate utm_* parameters on every fetch
        # would otherwise produce a "new" entry each time.
        key=identity_key(guid, link, title, summary),
        title=title,
        link=link,
        summary=summary,
        authors=_authors(raw),
        published=published or updated,
        updated=updated,
        image=_image(raw, content_html, base),
    )


def _detail_text(detail: Any, fallback: Any) -> str:
    """Plain text of a feedparser text construct: HTML is stripped, plain text kept as it is."""
    value = _str(detail.get("value")) if isinstance(detail, Mapping) else ""
    value = value or _str(fallback)
    kind = _str(detail.get("type")) if isinstance(detail, Mapping) else ""
    if kind == "text/plain" and not _COMMON_MARKUP.search(value):
        # feedparser already decoded entities; an HTML parser would eat a literal "<blink>".
        return collapse_whitespace(value)
    # HTML, or "plain text" that carries common markup anyway (feeds often mislabel it).
    return html_to_text(value)


def _authors(raw: Any) -> tuple[str, ...]:
    names: list[str] = []
    for author in raw.get("authors") or []:
        if isinstance(author, Mapping):
            name = collapse_whitespace(_str(author.get("name")) or _str(author.get("email")))
            if name:
                names.append(name)
    if not names:
        single = collapse_whitespace(_str(raw.get("author")))
        if single:
            names.append(single)
    return tuple(dict.fromkeys(names))


def _image(raw: Any, content_html: str, base: str) -> str | None:
    candidates: list[str] = []
    for thumb in raw.get("media_thumbnail") or []:
        if isinstance(thumb, Mapping):
            candidates.append(_str(thumb.get("url")))
    for media in raw.get("media_content") or []:
        if isinstance(media, Mapping) and (
            _str(media.get("medium")) == "image"
            or _str(media.get("type")).startswith("image/")
            or (not media.get("type") and _IMAGE_EXT.search(_str(media.get("url"))))
        ):
            candidates.append(_str(media.get("url")))
    for enclosure in raw.get("enclosures") or []:
        if isinstance(enclosure, Mapping) and _str(enclosure.get("type")).startswith("image/"):
            candidates.append(_str(enclosure.get("href")))
    for candidate in candidates:
        url = _web_url(candidate, base)
        if url:
            return url
    if "<img" in content_html.lower():
        img = LexborHTMLParser(content_html).css_first("img[src]")
        if img is not None:
            return _web_url(_str(img.attributes.get("src")), base)
    return None


def _web_url(candidate: str, base: str) -> str | None:
    """An absolute http(s) URL, or None (data:, javascript:, blank, unparseable)."""
    candidate = candidate.strip()
    if not candidate:
        return None
    url = _absolute(candidate, base)
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme in ("http", "https") and parts.netloc else None


def _absolute(url: str, base: str) -> str:
    if not base:
        return url
    try:
        return urljoin(base, url)
    except ValueError:
        return url


def _plausible(value: datetime | None, now: datetime) -> datetime | None:
    if value is not None and value > now + FUTURE_DATE_TOLERANCE:
        return None
    return value


def _ttl(value: Any) -> int | None:
    try:
        minutes = int(_str(value).strip())
    except ValueError:
        return None
    return minutes if minutes > 0 else None


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _entity_expansion(data: bytes) -> int:
    """Bytes the declared internal entities add when every reference is expanded (nested ones
    included), counted generously; stops counting past MAX_ENTITY_EXPANSION."""
    if b"<!ENTITY" not in data:
        return 0
    values: dict[bytes, bytes] = {}
    for m in _ENTITY_DECL.finditer(data):
        values.setdefault(m[1], m[2] if m[2] is not None else m[3])  # the first one counts
    sizes: dict[bytes, int] = {}

    def size(name: bytes, depth: int) -> int:
        if name not in sizes:
            if depth > 16:  # nesting this deep (or a cycle) is an attack whatever the size
                return MAX_ENTITY_EXPANSION + 1
            value = values[name]
            total = len(_ENTITY_REF.sub(b"", value))
            for ref in _ENTITY_REF.findall(value):
                if ref in values:
                    total = min(total + size(ref, depth + 1), MAX_ENTITY_EXPANSION + 1)
            sizes[name] = total
        return sizes[name]

    total = 0
    for ref in _ENTITY_REF.findall(data):
        if ref in values:
            total += size(ref, 0)
            if total > MAX_ENTITY_EXPANSION:
                break
    return total


# --- errors --------------------------------------------------------------------------------


def _describe_bozo(exc: Any) -> str:
    if isinstance(exc, xml.sax.SAXParseException):
        return (
            f"malformed XML at line {exc.getLineNumber()}, column {exc.getColumnNumber()}: "
            f"{exc.getMessage()}"
        )
    text = str(exc).strip()
    return text or type(exc).__name__


def _content_type(headers: Mapping[str, str]) -> str:
    return headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _is_html(body: bytes, headers: Mapping[str, str]) -> bool:
    return _content_type(headers) in _HTML_MIME or _HTML_SNIFF.match(body[:4096]) is not None


def _unreadable_reason(body: bytes, headers: Mapping[str, str], exc: Any) -> str:
    shown_type = _content_type(headers) or "no Content-Type"
    if _is_html(body, headers):
        return f"not a feed: got an HTML page ({shown_type})"
    detail = f"; {_describe_bozo(exc)}" if exc is not None else ""
    return f"not a feed: no RSS, Atom or RDF document found ({shown_type}{detail})"
