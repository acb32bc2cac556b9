"""Table-driven tests for bot.core.normalize: expected values written by hand from the inputs."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.core.normalize import canonical_url, html_to_text, identity_key, to_utc


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("", ""),
        ("plain words", "plain words"),
        ("  lots \n\t of   space  ", "lots of space"),
        ("<p>One</p><p>Two</p>", "One Two"),
        ("<li>Baku</li><li>Tehran</li>", "Baku Tehran"),
        ("line one<br>line two<br/>three", "line one line two three"),
        ("<div>a</div><div>b</div>", "a b"),
        ("<h1>Head</h1>Body", "Head Body"),
        ("<b>Ex</b>ample <i>word</i>", "Example word"),
        ('<a href="http://x">link text</a> after', "link text after"),
        ("<script>alert('x')</script>visible", "visible"),
        ("<style>p { color: red }</style>shown", "shown"),
        ("<p>shown</p><noscript>fallback</noscript>ok", "shown ok"),
        ("AT&amp;T &lt;tag&gt; &quot;q&quot;", 'AT&T <tag> "q"'),
        ("caf&eacute; &#1040;&#x411;", "café АБ"),
        ("no&nbsp;break", "no break"),
        ("<p>Nakhchivan&nbsp;&mdash; Julfa</p>", "Nakhchivan — Julfa"),
        ("<table><tr><td>cell1</td><td>cell2</td></tr></table>", "cell1 cell2"),
        ("<!-- a comment --> text", "text"),
        ('<img src="x.jpg" alt="alt text">caption', "caption"),
        ("Iran &amp; Azerbaijan", "Iran & Azerbaijan"),
        ("<p>Астара — <b>граница</b></p>", "Астара — граница"),
        ("<p>Naxçıvan<br>Əliyev</p>", "Naxçıvan Əliyev"),
        ("a < b and c > d", "a < b and c > d"),
    ],
)
def test_html_to_text(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com/a", "https://example.com/a"),
        ("HTTPS://Example.COM/Path/Keep", "https://example.com/Path/Keep"),
        ("http://example.com", "http://example.com/"),
        ("http://example.com:80/x", "http://example.com/x"),
        ("https://example.com:443/x", "https://example.com/x"),
        ("http://example.com:8080/x", "http://example.com:8080/x"),
        ("https://example.com:80/x", "https://example.com:80/x"),
        ("https://example.com/a#section-2", "https://example.com/a"),
        (
            "https://news.example/story?id=7&utm_source=rss&utm_medium=feed&utm_campaign=x",
            "https://news.example/story?id=7",
        ),
        ("https://news.example/s?UTM_Source=rss&id=1", "https://news.example/s?id=1"),
        ("https://news.example/s?utm_source=rss", "https://news.example/s"),
        (
            "https://news.example/s?b=2&fbclid=abc&a=1&gclid=z&yclid=y&c=3",
            "https://news.example/s?b=2&a=1&c=3",
        ),
        (
            "https://e.x/?mc_cid=1&mc_eid=2&igshid=3&_ga=4&ref_src=twsrc&keep=yes",
            "https://e.x/?keep=yes",
        ),
        # Other parameters keep their exact spelling and order, including encodings and blanks.
        ("https://e.x/q?z=%20a+b&y=&x", "https://e.x/q?z=%20a+b&y=&x"),
        ("https://e.x/q?ref=home&utm_term=x", "https://e.x/q?ref=home"),
        ("  https://e.x/padded  ", "https://e.x/padded"),
        ("http://[2001:DB8::1]:80/v6", "http://[2001:db8::1]/v6"),
        ("https://user@Example.com/x", "https://user@example.com/x"),
        # Not http(s): returned as given (stripped), never rewritten.
        ("mailto:someone@example.com", "mailto:someone@example.com"),
        ("tag:example.com,2024:item-1", "tag:example.com,2024:item-1"),
        ("/relative/path?utm_source=x", "/relative/path?utm_source=x"),
        ("http://[broken/x", "http://[broken/x"),
    ],
)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


def _sha(title: str, content: str) -> str:
    return "sha256:" + hashlib.sha256(f"{title}\x00{content}".encode()).hexdigest()


@pytest.mark.parametrize(
    ("guid", "link", "title", "content", "expected"),
    [
        ("urn:uuid:1", "https://e.x/a", "T", "C", "urn:uuid:1"),
        ("  guid-with-space  ", None, "T", "C", "guid-with-space"),
        (None, "https://e.x/a", "T", "C", "https://e.x/a"),
        ("", "https://e.x/a", "T", "C", "https://e.x/a"),
        ("   ", "https://e.x/a", "T", "C", "https://e.x/a"),
        (None, None, "Title", "Body", _sha("Title", "Body")),
        (None, "  ", "Title", "Body", _sha("Title", "Body")),
    ],
)
def test_identity_key(
    guid: str | None, link: str | None, title: str, content: str, expected: str
) -> None:
    assert identity_key(guid, link, title, content) == expected


def test_identity_hash_separates_title_from_content() -> None:
    # "ab"+"c" and "a"+"bc" must not collide just because the concatenation is equal.
    assert identity_key(None, None, "ab", "c") != identity_key(None, None, "a", "bc")
    assert identity_key(None, None, "T", "C") == identity_key(None, None, "T", "C")


_TEHRAN = timezone(timedelta(hours=3, minutes=30))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (
            time.struct_time((2024, 5, 17, 8, 30, 0, 4, 138, 0)),
            datetime(2024, 5, 17, 8, 30, tzinfo=UTC),
        ),
        # Leap second is clamped rather than rejected.
        (
            time.struct_time((2016, 12, 31, 23, 59, 60, 5, 366, 0)),
            datetime(2016, 12, 31, 23, 59, 59, tzinfo=UTC),
        ),
        # Year 0 / month 0: no usable time.
        (time.struct_time((0, 0, 0, 0, 0, 0, 0, 0, 0)), None),
        (datetime(2024, 1, 1, 12, 0), datetime(2024, 1, 1, 12, 0, tzinfo=UTC)),
        (datetime(2024, 1, 1, 15, 30, tzinfo=_TEHRAN), datetime(2024, 1, 1, 12, 0, tzinfo=UTC)),
    ],
)
def test_to_utc(value: time.struct_time | datetime | None, expected: datetime | None) -> None:
    result = to_utc(value)
    assert result == expected
    if result is not None:
        assert result.utcoffset() == timedelta(0)
