"""Build small RSS documents for integration tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

BASE_TIME = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Item:
    guid: str
    title: str
    description: str = ""
    hours: float = 0  # published BASE_TIME + hours


def rss(items: list[Item], title: str = "Test Feed", ttl: int | None = None) -> bytes:
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<rss version="2.0"><channel>',
        f"<title>{escape(title)}</title><link>https://news.test/</link>",
        "<description>test</description>",
    ]
    if ttl is not None:
        parts.append(f"<ttl>{ttl}</ttl>")
    for it in items:
        when = format_datetime(BASE_TIME + timedelta(hours=it.hours))
        parts.append(
            f"<item><guid>{escape(it.guid)}</guid><title>{escape(it.title)}</title>"
            f"<link>https://news.test/{escape(it.guid)}?utm_source=rss</link>"
            f"<description>{escape(it.description)}</description>"
            f"<pubDate>{when}</pubDate></item>"
        )
    parts.append("</channel></rss>")
    return "\n".join(parts).encode("utf-8")
