"""Turn an Alert into what a sink shows: a Discord message (content + embed JSON) or console text.

Pure: no discord import. The embed is a plain dict in the shape of the Discord API's embed object,
so any sink (bot channel, webhook, a test) can use it; the discord.py sinks wrap it with
``discord.Embed.from_dict``.

Feed text is untrusted. Everything that comes from a feed is neutralised (no mention can form),
markdown-escaped (no link, code span, spoiler, quote or heading can form) and trimmed at a word
boundary to the Discord limit of the slot it lands in (DESIGN.md, "Discord limits the renderer
must respect"). Nothing here raises on odd input: an over-long or empty alert still renders.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from bot.core.types import Alert

# Discord limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
CONTENT_LIMIT = 2000
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
AUTHOR_LIMIT = 256
MAX_FIELDS = 25
EMBED_TOTAL_LIMIT = 6000
URL_LIMIT = 2048  # Discord rejects longer embed URLs as "not a well formed URL"

ELLIPSIS = "…"
ZWSP = "\u200b"

# Topic colours: distinct, readable on both Discord themes.
PALETTE: tuple[int, ...] = (
    0x1F77B4,  # blue
    0xD62728,  # red
    0x2CA02C,  # green
    0xFF7F0E,  # orange
    0x9467BD,  # purple
    0x17BECF,  # cyan
    0xE377C2,  # pink
    0xBCBD22,  # olive
    0x8C564B,  # brown
    0x3F51B5,  # indigo
)


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    """One Discord message in API shape. ``embed`` and ``allowed_mentions`` are JSON-ready dicts."""

    content: str
    embed: dict[str, Any] = field(hash=False)
    allowed_mentions: dict[str, Any] = field(hash=False)


# --- untrusted text -------------------------------------------------------------------------

# Control characters (C0 except tab/newline, DEL, C1) and bidi overrides that could reorder what a
# reader sees. Zero-width spaces we insert ourselves are not in this set.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_MASS_MENTION = re.compile(r"@(everyone|here)", re.IGNORECASE)
# <@123>, <@!123>, <@&123>, <#123>: user, nickname, role and channel mentions.
_ID_MENTION = re.compile(r"<(@[!&]?|#)(\d)")
# Characters that start inline markdown anywhere on a line (bold/italic, underline, strike,
# code, spoilers, masked links, <...> mentions/timestamps/emoji/slash-command mentions).
_INLINE_MD = re.compile(r"([\\*_~`|\[\]<>])")
# Block markdown only counts at the start of a line: headings, subtext (-#), quotes, lists.
_BLOCK_MD = re.compile(r"(?m)^(\s*)([#>+-])")
# "1. item" is a list: escape the dot, since Discord shows a backslash before a digit.
_ORDERED_LIST = re.compile(r"(?m)^(\s*\d+)\.")


def neutralize_mentions(text: str) -> str:
    """Break every mention pattern with a zero-width space so it shows as text and pings no one."""
    text = _MASS_MENTION.sub(lambda m: "@" + ZWSP + m.group(1), text)
    return _ID_MENTION.sub(lambda m: "<" + m.group(1) + ZWSP + m.group(2), text)


def escape_markdown(text: str) -> str:
    """Backslash-escape Discord markdown so feed text renders literally.

    Discord drops a backslash before any punctuation, so the escapes are invisible to readers.
    """
    text = _INLINE_MD.sub(r"\\\1", text)
    text = _BLOCK_MD.sub(lambda m: m.group(1) + "\\" + m.group(2), text)
    return _ORDERED_LIST.sub(lambda m: m.group(1) + "\\.", text)


def _clean(text: str) -> str:
    return _CONTROL.sub("", text)


def _one_line(text: str) -> str:
    return " ".join(_clean(text).split())


def safe_inline(text: str) -> str:
    """Untrusted text for a markdown slot (title, description, field): one line, inert."""
    return escape_markdown(neutralize_mentions(_one_line(text)))


def safe_plain(text: str) -> str:
    """Untrusted text for a slot Discord shows without markdown (footer, author name)."""
    return neutralize_mentions(_one_line(text))


# --- trimming -------------------------------------------------------------------------------


def _drop_dangling_escape(text: str) -> str:
    """A cut may leave a lone trailing backslash that would escape whatever we append next."""
    trailing = len(text) - len(text.rstrip("\\"))
    return text[:-1] if trailing % 2 else text


def _cut_at_word(text: str, limit: int) -> str:
    """The longest prefix of ``text`` of at most ``limit`` chars ending at a word boundary.

    Falls back to a hard cut when the last boundary would throw away more than half the room
    (one huge word, or text in a script written without spaces).
    """
    if len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    head = text[: limit + 1]
    boundary = max(head.rfind(" "), head.rfind("\n"))
    cut = text[:boundary] if boundary >= limit // 2 else text[:limit]
    return _drop_dangling_escape(cut.rstrip())


def truncate(text: str, limit: int) -> str:
    """``text`` if it fits, else cut at a word boundary with an ellipsis, at most ``limit`` long."""
    if len(text) <= limit:
        return text
    if limit <= len(ELLIPSIS):
        return ELLIPSIS[:limit]
    return _cut_at_word(text, limit - len(ELLIPSIS)) + ELLIPSIS


def _count_bold_markers(text: str) -> int:
    """Number of unescaped ``**`` markers."""
    count = 0
    i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
        elif text.startswith("**", i):
            count += 1
            i += 2
        else:
            i += 1
    return count


def _strip_unescaped_stars(text: str) -> str:
    while text.endswith("*"):
        body = text[:-1]
        if (len(body) - len(body.rstrip("\\"))) % 2:  # "\\*" is an escaped, literal star
            break
        text = body
    return text


def truncate_markdown(text: str, limit: int) -> str:
    """Like ``truncate`` for text with ``**bold**`` markers: a cut never leaves bold open."""
    if len(text) <= limit:
        return text
    closing = "**"
    if limit <= len(ELLIPSIS) + len(closing):
        return ELLIPSIS[:limit]

    def cut_to(room: int) -> str:
        # A hard cut may split a "**" pair, leaving a stray "*".
        cut = _strip_unescaped_stars(_cut_at_word(text, room)).rstrip()
        return _drop_dangling_escape(cut)

    cut = cut_to(limit - len(ELLIPSIS))
    if _count_bold_markers(cut) % 2:
        # Bold is open at the cut: make room to close it.
        cut = cut_to(limit - len(ELLIPSIS) - len(closing))
        if _count_bold_markers(cut) % 2:
            cut += closing
    return cut + ELLIPSIS


# --- pieces of the embed --------------------------------------------------------------------


def safe_http_url(url: str | None) -> str | None:
    """``url`` as a well-formed http(s) URL Discord accepts, or None (javascript:, data:, junk)."""
    if not url:
        return None
    url = url.strip()
    if _CONTROL.search(url):
        return None
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
        port = parts.port  # raises ValueError on a malformed port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not hostname:
        return None
    try:
        host = hostname.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    netloc = host if port is None else f"{host}:{port}"
    if ":" in host:  # IPv6 literal
        netloc = f"[{host}]" if port is None else f"[{host}]:{port}"
    # Percent-encode non-ASCII and characters Discord's URL check rejects; keep existing escapes.
    safe = "/%:@!$&'()*+,;=-._~"
    rebuilt = urlunsplit(
        (
            parts.scheme.lower(),
            netloc,
            quote(parts.path, safe=safe),
            quote(parts.query, safe=safe + "?"),
            quote(parts.fragment, safe=safe + "?#"),
        )
    )
    return rebuilt if len(rebuilt) <= URL_LIMIT else None


def topic_colour(topic: str) -> int:
    """A colour chosen from PALETTE by a stable hash of the topic name (same on every run)."""
    digest = hashlib.sha256(topic.encode("utf-8")).digest()
    return PALETTE[int.from_bytes(digest[:4], "big") % len(PALETTE)]


def discord_timestamp(when: datetime, style: str) -> str:
    """``<t:UNIX:style>``: Discord shows it in each reader's own time zone and language."""
    return f"<t:{int(when.timestamp())}:{style}>"


def _format_score(score: float) -> str:
    return f"{score:.2f}"


# When the 6,000-char total forces pieces to shrink: the order they give up room, and how far.
# The summary is what readers came for, so it goes last; a huge topic or feed name goes first.
_SHRINK_ORDER: tuple[tuple[str, int], ...] = (
    ("footer", 100),
    ("source", 200),
    ("matched", 300),
    ("title", 150),
    ("description", 300),
)


def render_alert(alert: Alert, *, colour: int | None = None) -> RenderedMessage:
    """The Discord message for one alert, within every Discord limit, never raising."""
    title = truncate(safe_inline(alert.title), TITLE_LIMIT) or "(untitled)"
    description = truncate_markdown(
        neutralize_mentions(_clean(alert.summary).strip()), DESCRIPTION_LIMIT
    )
    matched = truncate(
        ", ".join(safe_inline(t) for t in alert.terms if t.strip()), FIELD_VALUE_LIMIT
    )
    source = truncate(safe_inline(alert.feed_title), FIELD_VALUE_LIMIT)
    footer = truncate(safe_plain(alert.topic), FOOTER_LIMIT)
    published = None
    if alert.published is not None:
        absolute = discord_timestamp(alert.published, "f")
        published = f"{absolute} ({discord_timestamp(alert.published, 'R')})"
    parts = {
        "title": title,
        "description": description,
        "matched": matched,
        "source": source,
        "footer": footer,
    }

    def total() -> int:
        n = sum(len(v) for v in parts.values())
        n += len("Matched") if parts["matched"] else 0
        n += len("Score") + len(_format_score(alert.score))
        n += len("Source") if parts["source"] else 0
        n += len("Published") + len(published) if published else 0
        return n

    for name, floor in _SHRINK_ORDER:
        excess = total() - EMBED_TOTAL_LIMIT
        if excess <= 0:
            break
        text = parts[name]
        target = max(floor, len(text) - excess)
        parts[name] = (
            truncate_markdown(text, target) if name == "description" else truncate(text, target)
        )

    embed: dict[str, Any] = {"type": "rich", "title": parts["title"]}
    url = safe_http_url(alert.link)
    if url is not None:
        embed["url"] = url
    if parts["description"]:
        embed["description"] = parts["description"]
    embed["color"] = topic_colour(alert.topic) if colour is None else colour
    fields: list[dict[str, Any]] = []
    if parts["matched"]:
        fields.append({"name": "Matched", "value": parts["matched"], "inline": False})
    fields.append({"name": "Score", "value": _format_score(alert.score), "inline": True})
    if parts["source"]:
        fields.append({"name": "Source", "value": parts["source"], "inline": True})
    if published:
        fields.append({"name": "Published", "value": published, "inline": True})
    embed["fields"] = fields[:MAX_FIELDS]
    if parts["footer"]:
        embed["footer"] = {"text": parts["footer"]}
    thumbnail = safe_http_url(alert.image)
    if thumbnail is not None:
        embed["thumbnail"] = {"url": thumbnail}

    if alert.role_id is not None:
        content = f"<@&{alert.role_id}>"
        allowed: dict[str, Any] = {"parse": [], "roles": [str(alert.role_id)]}
    else:
        content = ""
        allowed = {"parse": [], "roles": []}
    return RenderedMessage(content=content, embed=embed, allowed_mentions=allowed)


def embed_length(embed: dict[str, Any]) -> int:
    """Characters Discord counts toward the 6,000 limit for one embed."""
    n = len(embed.get("title", "")) + len(embed.get("description", ""))
    n += sum(len(f.get("name", "")) + len(f.get("value", "")) for f in embed.get("fields", []))
    n += len(embed.get("footer", {}).get("text", ""))
    n += len(embed.get("author", {}).get("name", ""))
    return n


# --- console --------------------------------------------------------------------------------

_UNESCAPE = re.compile(r"\\([^0-9A-Za-z\s])")


def _console_text(text: str) -> str:
    """Markdown-safe text back to what a terminal should show: no ** markers, no escapes."""
    text = _one_line(text).replace(ZWSP, "")
    # Remove bold markers first (unescaped "**"), then drop the backslashes of escapes.
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            out.append(text[i : i + 2])
            i += 2
        elif text.startswith("**", i):
            i += 2
        else:
            out.append(text[i])
            i += 1
    return _UNESCAPE.sub(r"\1", "".join(out))


def relative_time(when: datetime, now: datetime) -> str:
    """'just now', '5 minutes ago', 'in 2 hours', '3 days ago'."""
    seconds = int((now - when).total_seconds())
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 45:
        return "just now"
    unit, size = next(
        ((u, s) for u, s in (("day", 86400), ("hour", 3600)) if seconds >= s), ("minute", 60)
    )
    n = max(seconds // size, 1)
    label = f"{n} {unit}{'' if n == 1 else 's'}"
    return f"in {label}" if future else f"{label} ago"


def format_console_alert(alert: Alert, now: datetime) -> str:
    """A readable multi-line block for the terminal (console mode), ending without a newline."""
    published = alert.published
    if published is None:
        when = "unknown"
    else:
        utc = published.astimezone(UTC)
        when = f"{utc.isoformat(timespec='seconds')} ({relative_time(utc, now)})"
    terms = ", ".join(_one_line(t) for t in alert.terms) or "-"
    link = safe_http_url(alert.link) or "-"
    lines = [
        f"=== [{_one_line(alert.topic)}] score {_format_score(alert.score)} ===",
        f"Feed:      {_one_line(alert.feed_title) or '-'}",
        f"Published: {when}",
        f"Title:     {_one_line(alert.title) or '(untitled)'}",
        f"Link:      {link}",
        f"Matched:   {terms}",
    ]
    summary = _console_text(alert.summary)
    if summary:
        lines.append(f"Summary:   {summary}")
    return "\n".join(lines)
