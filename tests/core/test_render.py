"""render_alert / format_console_alert: what a Discord reader or a terminal user would see."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.core.render import (
    PALETTE,
    RenderedMessage,
    embed_length,
    format_console_alert,
    relative_time,
    render_alert,
    safe_http_url,
    truncate,
    truncate_markdown,
)
from bot.core.types import Alert

PUBLISHED = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)  # 1740830400, computed by hand

BASE = Alert(
    topic="iran-azerbaijan-border",
    feed_title="Eurasianet",
    title="Iran holds drills near the Aras river",
    link="https://eurasianet.org/iran-drills-aras",
    summary="Iranian forces held **drills** near the **Aras** river on Saturday.",
    published=PUBLISHED,
    terms=("aras", "drills"),
    score=3.25,
    image="https://eurasianet.org/img/aras.jpg",
    role_id=None,
)


def texts(embed: dict[str, Any]) -> list[str]:
    """Every piece of text a reader sees in the embed."""
    out = [embed.get("title", ""), embed.get("description", "")]
    for f in embed.get("fields", []):
        out += [f["name"], f["value"]]
    out.append(embed.get("footer", {}).get("text", ""))
    return out


def unescaped(text: str, chars: str) -> list[str]:
    """Characters from ``chars`` in ``text`` not preceded by an escaping backslash."""
    found = []
    i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] in chars:
            found.append(text[i])
        i += 1
    return found


def assert_no_visible_backslash(text: str) -> None:
    """Discord drops a backslash only before punctuation: before a letter, digit or space
    readers would see it."""
    assert re.search(r"(?<!\\)(\\\\)*\\[0-9A-Za-z\s]", text) is None, text


def field(embed: dict[str, Any], name: str) -> str | None:
    for f in embed.get("fields", []):
        if f["name"] == name:
            return str(f["value"])
    return None


def assert_within_limits(msg: RenderedMessage) -> None:
    e = msg.embed
    assert len(msg.content) <= 2000
    assert len(e.get("title", "")) <= 256
    assert len(e.get("description", "")) <= 4096
    assert len(e["fields"]) <= 25
    for f in e["fields"]:
        assert 0 < len(f["name"]) <= 256
        assert 0 < len(f["value"]) <= 1024
    assert len(e.get("footer", {}).get("text", "")) <= 2048
    assert len(e.get("author", {}).get("name", "")) <= 256
    # The 6,000 total, counted independently of embed_length.
    total = sum(len(t) for t in texts(e)) + len(e.get("author", {}).get("name", ""))
    assert total <= 6000
    assert embed_length(e) == total


# --- the ordinary case ----------------------------------------------------------------------


def test_ordinary_alert_renders_every_part() -> None:
    msg = render_alert(BASE)
    e = msg.embed
    assert e["title"] == "Iran holds drills near the Aras river"
    assert e["url"] == "https://eurasianet.org/iran-drills-aras"
    assert e["description"] == BASE.summary
    assert field(e, "Matched") == "aras, drills"
    assert field(e, "Score") == "3.25"
    assert field(e, "Source") == "Eurasianet"
    assert field(e, "Published") == "<t:1740830400:f> (<t:1740830400:R>)"
    assert e["footer"] == {"text": "iran-azerbaijan-border"}
    assert e["thumbnail"] == {"url": "https://eurasianet.org/img/aras.jpg"}
    assert e["color"] in PALETTE
    assert msg.content == ""
    assert msg.allowed_mentions == {"parse": [], "roles": []}


def test_role_is_the_only_mention_allowed() -> None:
    msg = render_alert(replace(BASE, role_id=987654321012345678))
    assert msg.content == "<@&987654321012345678>"
    assert msg.allowed_mentions == {"parse": [], "roles": ["987654321012345678"]}


def test_optional_parts_are_omitted_not_empty() -> None:
    bare = replace(BASE, link=None, image=None, published=None, terms=(), feed_title="", summary="")
    e = render_alert(bare).embed
    assert "url" not in e
    assert "thumbnail" not in e
    assert "description" not in e
    assert [f["name"] for f in e["fields"]] == ["Score"]


def test_untitled_item_still_has_a_title() -> None:
    assert render_alert(replace(BASE, title="   ")).embed["title"] == "(untitled)"


def test_colour_is_stable_per_topic_and_overridable() -> None:
    a = render_alert(BASE).embed["color"]
    assert render_alert(replace(BASE, title="other")).embed["color"] == a
    assert render_alert(BASE, colour=0x123456).embed["color"] == 0x123456
    # Over several topic names more than one palette entry is used.
    colours = {render_alert(replace(BASE, topic=f"topic-{i}")).embed["color"] for i in range(20)}
    assert len(colours) > 1
    assert colours <= set(PALETTE)


# --- untrusted feed text --------------------------------------------------------------------

MENTION_PATTERN = re.compile(r"@everyone|@here|<@!?\d|<@&\d|<#\d", re.IGNORECASE)

HOSTILE = [
    "@everyone Iran closes border",
    "@here drills",
    "@EVERYONE loud",
    "ping <@123456789012345678> now",
    "nick <@!123456789012345678>",
    "role <@&123456789012345678>",
    "channel <#123456789012345678>",
]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_feed_text_cannot_form_a_mention(hostile: str) -> None:
    alert = replace(
        BASE,
        title=hostile,
        feed_title=hostile,
        summary=hostile,
        terms=(hostile,),
        topic=hostile,
        role_id=None,
    )
    msg = render_alert(alert)
    for text in texts(msg.embed):
        assert MENTION_PATTERN.search(text) is None, text
    assert msg.content == ""
    assert msg.allowed_mentions == {"parse": [], "roles": []}


def test_role_mention_is_not_widened_by_feed_text() -> None:
    msg = render_alert(replace(BASE, title="@everyone <@&1>", role_id=42))
    assert msg.content == "<@&42>"
    assert msg.allowed_mentions == {"parse": [], "roles": ["42"]}


MARKDOWN_ATTACKS = [
    # (title, characters that must not appear unescaped)
    ("[click me](https://evil.example/x)", "[]"),
    ("`code` and ```fence```", "`"),
    ("||spoiler|| text", "|"),
    ("**bold** __under__ *it* ~~strike~~", "*_~"),
    ("<https://evil.example> <t:0:R> <:emoji:123>", "<>"),
    ("back\\slash", ""),
]


@pytest.mark.parametrize(("raw", "specials"), MARKDOWN_ATTACKS)
def test_feed_text_cannot_form_markdown(raw: str, specials: str) -> None:
    e = render_alert(replace(BASE, title=raw, feed_title=raw, terms=(raw,))).embed
    for text in (e["title"], field(e, "Source"), field(e, "Matched")):
        assert text is not None
        assert unescaped(text, specials) == []
        # Removing the escapes gives back exactly what the feed said, and none shows.
        assert re.sub(r"\\(.)", r"\1", text) == raw
        assert_no_visible_backslash(text)


@pytest.mark.parametrize(
    "raw",
    ["# Heading", "> quoted", "- list item", "-# subtext", "1. numbered", "+ plus"],
)
def test_block_markdown_at_line_start_is_escaped(raw: str) -> None:
    title = render_alert(replace(BASE, title=raw)).embed["title"]
    assert title != raw
    assert re.sub(r"\\(.)", r"\1", title) == raw
    assert_no_visible_backslash(title)


def test_control_and_bidi_characters_are_dropped() -> None:
    e = render_alert(replace(BASE, title="Iran\x1b[31m red\u202e txt\x00")).embed
    assert e["title"] == "Iran\\[31m red txt"


def test_newlines_in_a_title_are_collapsed() -> None:
    e = render_alert(replace(BASE, title="Line one\n# Line two\n\n> three")).embed
    assert e["title"] == "Line one # Line two \\> three"


# --- links ----------------------------------------------------------------------------------

LINKS = [
    ("https://example.org/a?b=1#c", "https://example.org/a?b=1#c"),
    ("HTTP://Example.org/x", "http://example.org/x"),
    ("  https://example.org/padded  ", "https://example.org/padded"),
    ("https://example.org/a b", "https://example.org/a%20b"),
    ("https://example.org/خبر", "https://example.org/%D8%AE%D8%A8%D8%B1"),
    ("https://münchen.de/x", "https://xn--mnchen-3ya.de/x"),
    ("https://example.org:8443/p", "https://example.org:8443/p"),
    ("javascript:alert(1)", None),
    ("JavaScript:alert(1)", None),
    ("data:text/html,<script>", None),
    ("ftp://example.org/file", None),
    ("/relative/path", None),
    ("https://", None),
    ("https://example.org:99999/", None),
    ("https://example.org/\x00", None),
    ("https://example.org/" + "a" * 2100, None),
    ("", None),
    (None, None),
]


@pytest.mark.parametrize(("raw", "expected"), LINKS)
def test_links_are_http_only(raw: str | None, expected: str | None) -> None:
    assert safe_http_url(raw) == expected
    e = render_alert(replace(BASE, link=raw, image=raw)).embed
    assert e.get("url") == expected
    assert e.get("thumbnail") == (None if expected is None else {"url": expected})


# --- limits ---------------------------------------------------------------------------------

WORDS = "Nakhchivan Zangezur Astara Goris Kapan Araz Syunik "  # 51 chars, 7 words


def _words(n_chars: int) -> str:
    return (WORDS * (n_chars // len(WORDS) + 1))[:n_chars]


OVERSIZED = [
    ("long title", {"title": _words(1000)}),
    ("long summary", {"summary": _words(10_000)}),
    ("long summary with bold", {"summary": "**" + _words(9000) + "** tail"}),
    ("many long terms", {"terms": tuple(f"term{i}-{'x' * 40}" for i in range(200))}),
    ("long feed title", {"feed_title": _words(3000)}),
    ("long topic", {"topic": _words(3000)}),
    (
        "everything long at once",
        {
            "title": _words(1000),
            "summary": "**" + _words(9000),
            "terms": tuple(f"term{i}-{'x' * 40}" for i in range(200)),
            "feed_title": _words(3000),
            "topic": _words(3000),
        },
    ),
    ("one giant word", {"title": "x" * 5000, "summary": "y" * 9000, "feed_title": "z" * 2000}),
    ("escapes at the cut", {"title": "*" * 1000, "summary": "\\*" * 5000}),
]


@pytest.mark.parametrize(("case", "changes"), OVERSIZED, ids=[c for c, _ in OVERSIZED])
def test_oversized_alerts_fit_every_limit(case: str, changes: dict[str, Any]) -> None:
    msg = render_alert(replace(BASE, role_id=123456789012345678, **changes))
    assert_within_limits(msg)
    e = msg.embed
    for text in texts(e):
        # A trimmed piece ends with the ellipsis and never with a dangling escape.
        assert not re.search(r"(?<!\\)(\\\\)*\\…$", text), text
    if "summary" in changes:
        description = e["description"]
        assert description.endswith("…")
        body = description[: -len("…")]
        # "**" markers stay balanced so the rest of the embed is not bolded by accident.
        assert len(re.findall(r"(?<!\\)\*\*", body)) % 2 == 0, body[-50:]


def test_summary_keeps_its_room_when_other_parts_are_oversized() -> None:
    alert = replace(
        BASE,
        summary=_words(4000),
        terms=tuple(f"term{i}-{'x' * 40}" for i in range(200)),
        feed_title=_words(3000),
        topic=_words(3000),
    )
    msg = render_alert(alert)
    assert_within_limits(msg)
    assert msg.embed["description"] == _words(4000).strip()
    assert len(msg.embed["footer"]["text"]) < 1000


def test_trimmed_title_ends_at_a_word_boundary() -> None:
    title = _words(1000)
    shown = render_alert(replace(BASE, title=title)).embed["title"]
    assert len(shown) <= 256
    assert shown.endswith("…")
    kept = shown[: -len("…")]
    assert title.startswith(kept)
    assert title[len(kept)] == " "  # the cut fell between two words


def test_summary_that_fits_is_untouched() -> None:
    summary = _words(4000)
    assert render_alert(replace(BASE, summary=summary)).embed["description"] == summary.strip()


TRUNCATE = [
    ("alpha beta gamma", 100, "alpha beta gamma"),
    ("alpha beta gamma", 12, "alpha beta…"),
    ("alpha beta gamma", 16, "alpha beta gamma"),
    ("alpha beta gamma", 15, "alpha beta…"),
    ("x" * 20, 10, "xxxxxxxxx…"),
    ("ab\\*cdef", 4, "ab…"),  # a hard cut would leave "ab\\" escaping the ellipsis
    ("abc", 1, "…"),
]


@pytest.mark.parametrize(("text", "limit", "expected"), TRUNCATE)
def test_truncate(text: str, limit: int, expected: str) -> None:
    assert truncate(text, limit) == expected
    assert len(truncate(text, limit)) <= limit


TRUNCATE_MD = [
    ("aaa **bbb ccc** ddd", 100, "aaa **bbb ccc** ddd"),
    ("aaa **bbb ccc** ddd", 12, "aaa **bbb**…"),
    ("aaa **bbb** ccc ddd eee", 17, "aaa **bbb** ccc…"),
    ("**" + "x" * 30, 12, "**xxxxxxx**…"),
    ("xxxxxxx**yy**", 10, "xxxxxxx…"),  # hard cut through a "**" drops the stray star
    ("a \\*\\* b c d e f g h", 12, "a \\*\\* b c…"),  # escaped stars are not bold markers
]


@pytest.mark.parametrize(("text", "limit", "expected"), TRUNCATE_MD)
def test_truncate_markdown(text: str, limit: int, expected: str) -> None:
    assert truncate_markdown(text, limit) == expected
    assert len(truncate_markdown(text, limit)) <= limit


# --- console --------------------------------------------------------------------------------

NOW = datetime(2025, 3, 1, 14, 30, tzinfo=UTC)


def test_console_block() -> None:
    out = format_console_alert(BASE, NOW)
    assert out == (
        "=== [iran-azerbaijan-border] score 3.25 ===\n"
        "Feed:      Eurasianet\n"
        "Published: 2025-03-01T12:00:00+00:00 (2 hours ago)\n"
        "Title:     Iran holds drills near the Aras river\n"
        "Link:      https://eurasianet.org/iran-drills-aras\n"
        "Matched:   aras, drills\n"
        "Summary:   Iranian forces held drills near the Aras river on Saturday."
    )


def test_console_unescapes_markdown_and_drops_terminal_escapes() -> None:
    alert = replace(
        BASE,
        title="Red\x1b[31m alert\x07",
        summary="A \\*literal\\* star and **bold** with \\[brackets\\]",
        published=None,
        link="javascript:alert(1)",
        terms=(),
    )
    lines = format_console_alert(alert, NOW).splitlines()
    assert "Title:     Red[31m alert" in lines
    assert "Summary:   A *literal* star and bold with [brackets]" in lines
    assert "Published: unknown" in lines
    assert "Link:      -" in lines
    assert "Matched:   -" in lines
    assert "\x1b" not in "\n".join(lines)


RELATIVE = [
    (datetime(2025, 3, 1, 14, 29, 50, tzinfo=UTC), "just now"),
    (datetime(2025, 3, 1, 14, 29, 0, tzinfo=UTC), "1 minute ago"),
    (datetime(2025, 3, 1, 14, 25, 0, tzinfo=UTC), "5 minutes ago"),
    (datetime(2025, 3, 1, 13, 30, 0, tzinfo=UTC), "1 hour ago"),
    (datetime(2025, 2, 27, 14, 30, 0, tzinfo=UTC), "2 days ago"),
    (datetime(2025, 3, 1, 16, 30, 0, tzinfo=UTC), "in 2 hours"),
]


@pytest.mark.parametrize(("when", "expected"), RELATIVE)
def test_relative_time(when: datetime, expected: str) -> None:
    assert relative_time(when, NOW) == expected
