"""Feed health as a plain-text table, for `borderwatch feeds` and the logs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.store.rows import FeedRow


def ago(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "never"
    seconds = (now - when).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 90:
        text = f"{int(seconds)}s"
    elif seconds < 5400:
        text = f"{int(seconds // 60)}m"
    elif seconds < 172800:
        text = f"{seconds / 3600:.1f}h"
    else:
        text = f"{seconds / 86400:.1f}d"
    return f"in {text}" if future else f"{text} ago"


def feed_state(feed: FeedRow) -> str:
    if feed.last_poll_at is None:
        return "new"
    if feed.error_count:
        return f"FAILING x{feed.error_count}"
    return "ok"


def render_feed_table(feeds: Sequence[FeedRow], now: datetime) -> str:
    if not feeds:
        return "no feeds yet: add [[feeds]] to the config or use /feeds add"
    header = (
        "id",
        "state",
        "last poll",
        "last success",
        "next poll",
        "items",
        "feed",
        "last error",
    )
    rows = [
        (
            str(f.id),
            feed_state(f),
            ago(f.last_poll_at, now),
            ago(f.last_success_at, now),
            ago(f.next_poll_at, now),
            str(f.items_seen),
            _clip(f.display_name, 40),
            _clip(f.last_error or "", 60) if f.error_count else "",
        )
        for f in feeds
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    ]
    failing = sum(1 for f in feeds if f.error_count)
    lines.append(f"{len(feeds)} feeds, {failing} failing")
    return "\n".join(lines)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
