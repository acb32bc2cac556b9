"""Normalization of feed data: plain text from HTML, canonical links, identity keys, UTC times.

Pure functions only. selectolax is an HTML parser, not I/O, so it is allowed here.
"""

from __future__ import annotations

import calendar
import hashlib
import re
import time
from datetime import UTC, datetime
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from selectolax.lexbor import LexborHTMLParser

# Elements whose content is never visible text.
_INVISIBLE_TAGS = ["script", "style", "noscript", "template", "iframe", "applet"]
# Elements that end a run of words: text on either side must not be glued together.
_BREAKING_TAGS = (
    "address,article,aside,blockquote,br,caption,dd,details,dialog,div,dl,dt,fieldset,"
    "figcaption,figure,footer,form,h1,h2,h3,h4,h5,h6,header,hgroup,hr,img,li,main,nav,ol,p,"
    "pre,section,summary,table,tbody,td,tfoot,th,thead,title,tr,ul"
)
# Cheap test for "could this contain markup or an entity at all?" to skip the parser.
_MARKUP = re.compile(r"[<&]")


def collapse_whitespace(text: str) -> str:
    """Every run of whitespace (including no-break spaces and newlines) becomes one space."""
    return " ".join(text.split())


def html_to_text(html: str) -> str:
    """Visible text of an HTML fragment, on one line.

    Scripts and styles are dropped, entities decoded, block boundaries and <br> become spaces so
    that words in adjacent paragraphs or list items do not run together, and whitespace is
    collapsed. Inline markup (<b>, <a>, ...) does not split words: "<b>Ex</b>ample" is "Example".
    """
    if not html:
        return ""
    if _MARKUP.search(html) is None:
        return collapse_whitespace(html)
    tree = LexborHTMLParser(html)
    tree.strip_tags(_INVISIBLE_TAGS)
    for node in tree.css(_BREAKING_TAGS):
        node.insert_before(" ")
        node.insert_after(" ")
    root = tree.root
    if root is None:
        return ""
    return collapse_whitespace(root.text(deep=True))


# Query parameters that only track where a click came from. Matched case-insensitively.
TRACKING_PARAMS = frozenset(
    {
        "fbclid",  # Facebook
        "gclid",  # Google Ads
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "_ga",  # Google Analytics cross-domain
        "_gl",
        "yclid",  # Yandex
        "ysclid",
        "msclkid",  # Microsoft Ads
        "mc_cid",  # Mailchimp
        "mc_eid",
        "igshid",  # Instagram
        "igsh",
        "ref_src",  # Twitter / X
        "ref_url",
        "twclid",
        "ttclid",  # TikTok
        "li_fat_id",  # LinkedIn
        "_hsenc",  # HubSpot
        "_hsmi",
        "__hstc",
        "__hssc",
        "__hsfp",
        "mkt_tok",  # Marketo
        "oly_anon_id",  # Omeda
        "oly_enc_id",
        "vero_id",  # Vero
        "vero_conv",
        "wickedid",
        "rb_clickid",
        "s_cid",  # Adobe
        "srsltid",  # Google Merchant
        "at_medium",  # AT Internet
        "at_campaign",
        "spm",  # Alibaba / AliExpress
    }
)
_TRACKING_PREFIXES = ("utm_",)  # utm_source, utm_medium, utm_campaign, utm_term, utm_content, ...
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _is_tracking_param(raw_name: str) -> bool:
    name = unquote_plus(raw_name).strip().lower()
    return name in TRACKING_PARAMS or name.startswith(_TRACKING_PREFIXES)


def canonical_url(url: str) -> str:
    """The link as shown to users and compared across feeds.

    For http(s) URLs: scheme and host lower-cased, default port dropped, empty path becomes "/",
    tracking parameters (utm_*, fbclid, gclid, ...) removed while every other parameter keeps its
    position and exact spelling, fragment dropped. Other schemes and unparseable strings come back
    stripped but otherwise unchanged: a canonical form must never invent a different link.
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return url

    host = parts.hostname  # already lower-cased by urllib
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{host}:{port}"
    if "@" in parts.netloc:
        userinfo = parts.netloc.rsplit("@", 1)[0]
        netloc = f"{userinfo}@{netloc}"

    kept = [
        pair
        for pair in parts.query.split("&")
        if pair and not _is_tracking_param(pair.split("=", 1)[0])
    ]
    return urlunsplit((scheme, netloc, parts.path or "/", "&".join(kept), ""))


def identity_key(guid: str | None, link: str | None, title: str, content: str) -> str:
    """Identity of an entry within its feed: guid/id, else link, else a hash of title + content.

    Whitespace around guid and link is ignored and an all-blank value counts as missing.
    """
    if guid is not None and guid.strip():
        return guid.strip()
    if link is not None and link.strip():
        return link.strip()
    digest = hashlib.sha256(f"{title}\x00{content}".encode()).hexdigest()
    return f"sha256:{digest}"


def to_utc(value: time.struct_time | datetime | None) -> datetime | None:
    """A timezone-aware UTC datetime, or None when there is no usable time.

    struct_time values are read as UTC (feedparser's *_parsed fields are UTC). Naive datetimes
    are taken to be UTC; aware ones are converted. Out-of-range values (year 0, month 13, ...)
    give None rather than an exception; a leap second (:60) is clamped to :59.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        try:
            return value.astimezone(UTC)
        except OverflowError:
            return None
    try:
        year, month, day, hour, minute, second = (int(v) for v in value[:6])
        return datetime(year, month, day, hour, minute, min(second, 59), tzinfo=UTC)
    except (ValueError, TypeError, OverflowError):
        pass
    # Fields out of range but the instant still meaningful (e.g. hour 24): let timegm normalize.
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (ValueError, TypeError, OverflowError, OSError):
        return None
