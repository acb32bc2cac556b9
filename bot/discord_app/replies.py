"""What the slash commands say: pure functions from plain rows to text and embed dicts.

No discord import: an embed is a dict in the Discord API's shape (the cogs wrap it with
``discord.Embed.from_dict``), so every reply can be tested without a client. Text from feeds,
from admins (feed names, keywords, queries) and from remote servers (fetch errors) is untrusted:
it goes through ``safe_inline`` (mentions broken, markdown escaped, one line) or, inside code
blocks, through ``code_block`` (no fence can close early). Every piece is trimmed to its Discord
limit; a long list becomes several pages (embeds) for the pager.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from bot.core.render import (
    DESCRIPTION_LIMIT,
    EMBED_TOTAL_LIMIT,
    FIELD_NAME_LIMIT,
    FIELD_VALUE_LIMIT,
    FOOTER_LIMIT,
    MAX_FIELDS,
    TITLE_LIMIT,
    ZWSP,
    discord_timestamp,
    embed_length,
    safe_http_url,
    safe_inline,
    truncate,
)
from bot.core.types import DestinationKind, TopicMatch
from bot.store.lookup import (
    GuildFeed,
    GuildStatus,
    LatestAlert,
    SearchPage,
    WhyDelivery,
    WhyReport,
    WhySubscription,
)
from bot.store.rows import SubscriptionRow

Embed = dict[str, Any]

OK_COLOUR = 0x2CA02C
WARN_COLOUR = 0xFF7F0E
ERROR_COLOUR = 0xD62728
INFO_COLOUR = 0x1F77B4

SEARCH_PAGE_SIZE = 5
LIST_PAGE_LINES = 15
PAGE_CHARS = 3500  # description room per page (under 4,096, leaving room for the rest)


# --------------------------------------------------------------------------------------------
# Small pieces


def inline(text: str | None, limit: int = 200) -> str:
    """Untrusted text for a markdown slot: inert, one line, at most `limit` characters."""
    return truncate(safe_inline(text or ""), limit)


def code_block(text: str, limit: int = 1000) -> str:
    """Text in a ``` block; backticks cannot close it (a zero-width space splits every run)."""
    body = text.replace("`", "`" + ZWSP)
    fence = "```"
    room = limit - 2 * len(fence) - 2
    if len(body) > room:
        body = body[: max(room - 1, 0)] + "…"
    return f"{fence}\n{body}\n{fence}"


def code_span(text: str, limit: int = 100) -> str:
    """A short value in an inline code span; backticks become look-alikes so it cannot close."""
    clean = " ".join(text.replace("`", "ˋ").split())
    return f"`{truncate(clean, limit) or ' '}`"


def link_url(url: str | None) -> str | None:
    """A URL safe inside ``[text](url)``: http(s) only, and parentheses encoded."""
    safe = safe_http_url(url)
    if safe is None:
        return None
    return safe.replace("(", "%28").replace(")", "%29")


def masked_link(text: str, url: str | None, limit: int = 200) -> str:
    label = inline(text, limit) or "(untitled)"
    target = link_url(url)
    return f"[{label}]({target})" if target else label


def ts(when: datetime | None, style: str = "R") -> str:
    return discord_timestamp(when, style) if when is not None else "never"


def duration(delta: timedelta) -> str:
    seconds = max(int(delta.total_seconds()), 0)
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {seconds} s"
    return f"{seconds} s"


def destination_text(kind: DestinationKind, destination: str) -> str:
    """A destination for people: a channel mention, or a webhook without its secret token."""
    if kind == "channel":
        return f"<#{destination}>" if destination.isdigit() else code_span(destination)
    if kind == "webhook":
        parts = destination.split("/webhooks/", 1)
        webhook_id = parts[1].split("/", 1)[0] if len(parts) == 2 else ""
        return f"webhook {webhook_id}" if webhook_id.isdigit() else "webhook"
    return "console"


def _embed(
    title: str,
    description: str = "",
    *,
    colour: int = INFO_COLOUR,
    fields: Sequence[tuple[str, str, bool]] = (),
    footer: str | None = None,
    url: str | None = None,
) -> Embed:
    embed: Embed = {"type": "rich", "title": truncate(title, TITLE_LIMIT), "color": colour}
    if url:
        embed["url"] = url
    if description:
        embed["description"] = truncate(description, DESCRIPTION_LIMIT)
    if fields:
        embed["fields"] = [
            {
                "name": truncate(name, FIELD_NAME_LIMIT) or ZWSP,
                "value": truncate(value, FIELD_VALUE_LIMIT) or ZWSP,
                "inline": inline_,
            }
            for name, value, inline_ in fields[:MAX_FIELDS]
        ]
    if footer:
        embed["footer"] = {"text": truncate(footer, FOOTER_LIMIT)}
    _fit(embed)
    return embed


def _fit(embed: Embed) -> None:
    """Drop trailing fields, then shorten the description, until the 6,000 total holds."""
    while embed_length(embed) > EMBED_TOTAL_LIMIT and embed.get("fields"):
        embed["fields"].pop()
    excess = embed_length(embed) - EMBED_TOTAL_LIMIT
    if excess > 0 and "description" in embed:
        embed["description"] = truncate(
            embed["description"], max(len(embed["description"]) - excess, 0)
        )


def paged(
    title: str,
    lines: Sequence[str],
    *,
    header: str = "",
    footer: str = "",
    colour: int = INFO_COLOUR,
    empty: str = "Nothing here yet.",
    max_lines: int = LIST_PAGE_LINES,
) -> list[Embed]:
    """Split lines into pages (embeds) of at most `max_lines` lines and PAGE_CHARS characters."""
    pages: list[list[str]] = [[]]
    size = 0
    for line in lines:
        line = truncate(line, PAGE_CHARS - len(header) - 2)
        if pages[-1] and (
            len(pages[-1]) >= max_lines or size + len(line) + 1 > PAGE_CHARS - len(header)
        ):
            pages.append([])
            size = 0
        pages[-1].append(line)
        size += len(line) + 1
    out: list[Embed] = []
    for n, page in enumerate(pages, 1):
        body = "\n".join(page) if page else empty
        text = f"{header}\n\n{body}" if header else body
        foot = footer
        if len(pages) > 1:
            foot = f"Page {n}/{len(pages)}" + (f" · {footer}" if footer else "")
        out.append(_embed(title, text, colour=colour, footer=foot or None))
    return out


def error_embed(message: str) -> Embed:
    return _embed("Cannot do that", message, colour=ERROR_COLOUR)


# --------------------------------------------------------------------------------------------
# /feeds


def _feed_origin(feed: GuildFeed) -> str:
    if feed.from_config and feed.followed:
        return "config file + this server"
    return "config file" if feed.from_config else "this server"


def _interval(minutes: float | None, default_minutes: float) -> str:
    value = minutes if minutes else default_minutes
    return f"every {value:g} min" + ("" if minutes else " (default)")


def feeds_list(feeds: Sequence[GuildFeed], default_interval_minutes: float) -> list[Embed]:
    lines = [
        f"`{f.id}` **{inline(f.name, 120)}** · {_feed_origin(f)} · "
        f"{_interval(f.interval_minutes, default_interval_minutes)}\n{inline(f.url, 300)}"
        for f in feeds
    ]
    return paged(
        f"Feeds of this server ({len(feeds)})",
        lines,
        empty="No feeds yet. Add one with `/feeds add`.",
        footer="Feeds from the config file apply to every server; /feeds remove takes this "
        "server's own.",
        max_lines=10,
    )


def _feed_health(feed: GuildFeed) -> str:
    if feed.last_poll_at is None:
        return "⏳"
    return "⚠️" if feed.error_count else "✅"


def feeds_status(feeds: Sequence[GuildFeed], now: datetime) -> list[Embed]:
    """Per feed: last poll, last success, next poll, errors and the last one, items seen."""
    ordered = sorted(feeds, key=lambda f: (-f.error_count, f.name.casefold()))
    lines = []
    for f in ordered:
        line = (
            f"{_feed_health(f)} **{inline(f.name, 100)}** · polled {ts(f.last_poll_at)}"
            f" · last success {ts(f.last_success_at)} · next {ts(f.next_poll_at)}"
            f" · {f.items_seen} items seen"
        )
        if f.error_count:
            plural = "s" if f.error_count != 1 else ""
            line += f"\n  {f.error_count} failure{plural} in a row: {inline(f.last_error, 300)}"
        lines.append(line)
    failing = sum(1 for f in feeds if f.error_count)
    header = f"{len(feeds)} feeds, {failing} failing." if feeds else ""
    return paged(
        "Feed status",
        lines,
        header=header,
        colour=WARN_COLOUR if failing else OK_COLOUR,
        empty="No feeds yet. Add one with `/feeds add`.",
        max_lines=10,
    )


@dataclass(frozen=True, slots=True)
class PreviewItem:
    title: str
    link: str | None
    published: datetime | None
    matches: tuple[tuple[str, float], ...]  # (topic name, score) of the guild's topics


@dataclass(frozen=True, slots=True)
class FeedPreview:
    feed_id: int
    url: str
    title: str
    name: str | None
    newest: tuple[PreviewItem, ...]  # newest first, at most three
    entries: int
    baselined: int  # items recorded as already seen (never posted)
    already_known: bool  # another server follows it: already polled, no new baseline
    interval_minutes: float
    warning: str | None = None  # e.g. a malformed but readable feed


def feed_added(p: FeedPreview) -> Embed:
    fields: list[tuple[str, str, bool]] = []
    for item in p.newest:
        when = ts(item.published) if item.published else "no date"
        if item.matches:
            verdict = "✅ matches " + ", ".join(
                f"**{inline(name, 80)}** (score {score:.0f})" for name, score in item.matches
            )
        else:
            verdict = "— matches none of this server's topics"
        fields.append((inline(item.title, 200) or "(untitled)", f"{when} · {verdict}", False))
    if p.already_known:
        baseline = "Another server already follows this feed: it is fetched once for both."
    else:
        baseline = (
            f"{p.baselined} existing items were recorded as already seen, so nothing old is "
            "posted; new items are checked from now on."
        )
    description = (
        f"**{inline(p.name or p.title, 200)}** · {inline(p.url, 300)}\n"
        f"{p.entries} items in the feed · polled every {p.interval_minutes:g} min\n{baseline}"
    )
    if p.warning:
        description += f"\n⚠️ {inline(p.warning, 300)}"
    if p.newest:
        description += "\n\nNewest items:"
    return _embed(
        "Feed added", description, colour=OK_COLOUR, fields=fields, footer=f"Feed id {p.feed_id}"
    )


# --------------------------------------------------------------------------------------------
# /keywords and /topic


def keywords_overview(lists: Mapping[str, Sequence[str]], customised: Iterable[str]) -> list[Embed]:
    own = set(customised)
    lines = [
        f"**@{inline(name, 60)}** · {len(terms)} terms"
        + (" · edited on this server" if name in own else "")
        for name, terms in sorted(lists.items())
    ]
    return paged(
        "Keyword lists",
        lines,
        empty="No keyword lists. Create one with `/keywords add`.",
        footer="/keywords list <list> shows the terms.",
        max_lines=40,
    )


def keywords_list(name: str, terms: Sequence[str], customised: bool) -> list[Embed]:
    origin = "this server's copy" if customised else "from the config file (unchanged here)"
    text = ", ".join(inline(t, 100) for t in terms)
    chunks: list[str] = []
    while text:
        if len(text) <= PAGE_CHARS:
            chunks.append(text)
            break
        cut = text.rfind(", ", 0, PAGE_CHARS)
        cut = cut if cut > 0 else PAGE_CHARS
        chunks.append(text[:cut])
        text = text[cut + 2 :]
    return paged(
        f"@{inline(name, 60)} · {len(terms)} terms",
        chunks,
        header=origin,
        empty="(empty)",
        max_lines=1,
    )


def keyword_changed(action: Literal["added", "removed"], name: str, term: str, size: int) -> str:
    where = "to" if action == "added" else "from"
    return (
        f"{action.capitalize()} {code_span(term)} {where} **@{inline(name, 60)}** "
        f"(now {size} terms). Topics using it were recompiled; new items are matched with it."
    )


def topic_show(name: str, query: str, customised: bool) -> Embed:
    origin = "this server's version" if customised else "from the config file (unchanged here)"
    return _embed(
        f"Topic {inline(name, 100)}",
        f"{origin}\n{code_block(query, 3800)}",
        footer="/keywords list shows the @lists it uses; /topic test tries it on a text.",
    )


def query_error(query: str, message: str, column: int) -> str:
    """A syntax error with a caret under its column (a window of the query if it is long)."""
    start = max(column - 1 - 50, 0)
    end = min(start + 100, len(query))
    window = query[start:end].replace("\n", " ")
    prefix = "…" if start else ""
    caret = " " * (len(prefix) + column - 1 - start) + "^"
    shown = f"{prefix}{window}{'…' if end < len(query) else ''}\n{caret}"
    return (
        f"That query has an error at column {column}: {inline(message, 300)}\n"
        f"{code_block(shown, 400)}Nothing was saved."
    )


def topic_saved(name: str, query: str, created: bool) -> str:
    verb = "Created" if created else "Updated"
    return (
        f"{verb} topic **{inline(name, 100)}** for this server:\n{code_block(query, 1500)}"
        "New items are matched with it from now on."
    )


def topic_test(
    name: str, match: TopicMatch | None, explanation: str, min_scores: Sequence[float] = ()
) -> Embed:
    if match is None:
        title = f"Topic {inline(name, 100)}: no match"
        summary = "This text would not be posted for this topic."
        colour = WARN_COLOUR
    else:
        title = f"Topic {inline(name, 100)}: match, score {match.score:.0f}"
        terms = ", ".join(inline(t, 60) for t in match.terms)
        summary = f"Matched: {terms}" if terms else "Matched."
        below = [m for m in min_scores if match.score < m]
        if below:
            summary += (
                f"\nBelow the minimum score of {len(below)} of this server's subscriptions "
                f"({', '.join(f'{m:g}' for m in below)})."
            )
        colour = OK_COLOUR
    return _embed(
        title,
        summary,
        colour=colour,
        fields=[("Clauses", code_block(explanation, FIELD_VALUE_LIMIT), False)],
    )


# --------------------------------------------------------------------------------------------
# /alerts


def subscription_line(s: SubscriptionRow) -> str:
    parts = [
        f"`#{s.id}` → {destination_text(s.kind, s.destination)}",
        f"topic **{inline(s.topic, 80)}**",
    ]
    if s.min_score:
        parts.append(f"min score {s.min_score:g}")
    if s.role_id:
        parts.append(f"pings <@&{s.role_id}>")
    if s.from_config:
        parts.append("from the config file")
    line = " · ".join(parts)
    if s.paused:
        line += f"\n  ⏸️ paused: {inline(s.paused_reason or 'by an admin', 200)}"
    return line


def subscription_choice(s: SubscriptionRow, channel_name: str | None) -> str:
    """An autocomplete label (plain text, at most 100 characters)."""
    where = f"#{channel_name}" if channel_name else destination_text(s.kind, s.destination)
    label = f"#{s.id} {where} · {s.topic}" + (" · paused" if s.paused else "")
    return label[:100]


def subscriptions_list(subs: Sequence[SubscriptionRow]) -> list[Embed]:
    return paged(
        f"Subscriptions of this server ({len(subs)})",
        [subscription_line(s) for s in subs],
        empty="No subscriptions. Create one with `/alerts subscribe`.",
        max_lines=10,
    )


def subscribed(s: SubscriptionRow, updated: bool, warnings: Sequence[str] = ()) -> str:
    verb = "Updated the subscription" if updated else "Subscribed"
    text = (
        f"{verb}: {destination_text(s.kind, s.destination)} gets alerts for topic "
        f"**{inline(s.topic, 80)}**"
    )
    if s.min_score:
        text += f" with a score of at least {s.min_score:g}"
    if s.role_id:
        text += f", pinging <@&{s.role_id}>"
    text += f" (subscription `#{s.id}`)."
    for w in warnings:
        text += f"\n⚠️ {w}"
    return text


def missing_permissions_text(where: str, missing: Sequence[str]) -> str:
    names = ", ".join(f"**{m}**" for m in missing)
    return (
        f"BorderWatch cannot post in {where}: it lacks {names} there. Grant "
        f"{'it' if len(missing) == 1 else 'them'} to the bot (channel settings → Permissions), "
        "then run the command again. Nothing was changed."
    )


# --------------------------------------------------------------------------------------------
# /search, /latest


def search_pages(query: str, page: SearchPage, days: int | None, feed: str | None) -> list[Embed]:
    scope = []
    if days:
        scope.append(f"last {days} days")
    if feed:
        scope.append(f"feed {inline(feed, 80)}")
    title = f"Search: {truncate(query.strip(), 100)}"
    title = inline(title, TITLE_LIMIT)
    if not page.hits:
        hint = " in " + ", ".join(scope) if scope else ""
        return [
            _embed(
                title,
                f"No stored item matches{hint}. Items are kept for the retention period; "
                "try fewer or other words (every word must appear).",
                colour=WARN_COLOUR,
            )
        ]
    shown = len(page.hits)
    head = f"{page.total} results" + (f", best {shown} shown" if page.total > shown else "")
    if scope:
        head += " · " + ", ".join(scope)
    out: list[Embed] = []
    chunks = [page.hits[i : i + SEARCH_PAGE_SIZE] for i in range(0, shown, SEARCH_PAGE_SIZE)]
    for n, chunk in enumerate(chunks, 1):
        lines = [
            f"**{(n - 1) * SEARCH_PAGE_SIZE + i}.** {masked_link(h.title, h.link, 200)}\n"
            f"{inline(h.feed_name, 80)} · {ts(h.published_at, 'd')} · item `{h.item_id}`"
            for i, h in enumerate(chunk, 1)
        ]
        out.append(
            _embed(
                title,
                head + "\n\n" + "\n".join(lines),
                footer=f"Page {n}/{len(chunks)} · /why <item id> explains an item",
            )
        )
    return out


def latest(alerts: Sequence[LatestAlert], topic: str | None) -> Embed:
    title = "Latest alerts" + (f" · {inline(topic, 80)}" if topic else "")
    if not alerts:
        return _embed(
            title,
            "No alerts yet"
            + (f" for topic {inline(topic, 80)}" if topic else "")
            + ". Alerts appear when a new item matches a subscribed topic.",
            colour=WARN_COLOUR,
        )
    lines = []
    for a in alerts:
        state = "sent" if a.sent else "pending" if a.pending else "failed"
        lines.append(
            f"{masked_link(a.title, a.link, 200)}\n{inline(a.feed_name, 80)} · "
            f"{ts(a.alerted_at)} · {', '.join(inline(t, 60) for t in a.topics)} · "
            f"score {a.score:.0f} · {state} · item `{a.item_id}`"
        )
    return _embed(title, "\n".join(lines))


# --------------------------------------------------------------------------------------------
# /why

Outcome = Literal[
    "sent",
    "pending",
    "failed",
    "duplicate",
    "baseline",
    "feed_added_after",
    "subscribed_after",
    "not_matched",
    "below_min_score",
    "paused",
    "unknown",
]


@dataclass(frozen=True, slots=True)
class Verdict:
    subscription: WhySubscription
    outcome: Outcome
    detail: str


def topic_ids_for(guild_id: int, name: str) -> tuple[str, str]:
    """The engine ids a guild's topic may have had: the config's, or the guild's own copy."""
    return (name, f"g{guild_id}/{name}")


def _delivery_text(d: WhyDelivery, message_url: str | None) -> tuple[Outcome, str]:
    if d.status == "sent":
        where = f" ([message]({message_url}))" if message_url else ""
        return "sent", f"posted {ts(d.sent_at)}{where}"
    if d.status == "pending":
        detail = f"waiting to be posted (queued {ts(d.created_at)}, {d.attempts} attempts"
        if d.last_error:
            detail += f", last error: {inline(d.last_error, 200)}"
        return "pending", detail + ")"
    return "failed", (
        f"delivery failed after {d.attempts} attempts: {inline(d.last_error or 'unknown', 300)}"
    )


def why_verdicts(
    guild_id: int,
    report: WhyReport,
    message_urls: Mapping[str, str] | None = None,
    matched_now: Mapping[str, bool] | None = None,
) -> list[Verdict]:
    """For each of the guild's subscriptions: was the item posted there, and if not, why.

    `message_urls` maps a sent message id to its jump URL; `matched_now` says, per topic name,
    whether the topic as it is now matches the item (it may have changed since).
    """
    urls = message_urls or {}
    now_held = matched_now or {}
    item = report.item
    verdicts: list[Verdict] = []
    for sub in report.subscriptions:
        rows = [d for d in report.deliveries if d.subscription_id == sub.id]
        own = [d for d in rows if d.item_id == item.id]
        if own:
            outcome, detail = _delivery_text(own[-1], urls.get(own[-1].message_id or ""))
            verdicts.append(Verdict(sub, outcome, detail))
            continue
        if rows:
            other = rows[-1]
            _, detail = _delivery_text(other, urls.get(other.message_id or ""))
            verdicts.append(
                Verdict(
                    sub,
                    "duplicate",
                    f"the same story came first from another feed (item `{other.item_id}`): "
                    f"{detail}; one post per story",
                )
            )
            continue
        match = next(
            (m for m in report.matches if m.topic in topic_ids_for(guild_id, sub.topic)), None
        )
        if item.baseline:
            verdicts.append(
                Verdict(
                    sub,
                    "baseline",
                    "the feed was added after this item was published: its existing items "
                    f"were recorded as already seen ({ts(item.first_seen_at)}) and never posted",
                )
            )
        elif item.followed_at is not None and item.first_seen_at < item.followed_at:
            verdicts.append(
                Verdict(
                    sub,
                    "feed_added_after",
                    f"this server added the feed {ts(item.followed_at)}, after the item "
                    f"arrived ({ts(item.first_seen_at)})",
                )
            )
        elif sub.created_at > item.first_seen_at:
            verdicts.append(
                Verdict(
                    sub,
                    "subscribed_after",
                    f"the subscription was created {ts(sub.created_at)}, after the item "
                    f"arrived ({ts(item.first_seen_at)})",
                )
            )
        elif match is None:
            detail = f"topic **{inline(sub.topic, 80)}** did not match it"
            if now_held.get(sub.topic):
                detail += " (it matches the topic as it is now: the topic changed since)"
            verdicts.append(Verdict(sub, "not_matched", detail))
        elif match.score < sub.min_score:
            verdicts.append(
                Verdict(
                    sub,
                    "below_min_score",
                    f"matched with score {match.score:.0f}, below this subscription's "
                    f"minimum of {sub.min_score:g}",
                )
            )
        elif sub.paused:
            reason = inline(sub.paused_reason or "by an admin", 200)
            verdicts.append(Verdict(sub, "paused", f"the subscription is paused: {reason}"))
        else:
            verdicts.append(
                Verdict(
                    sub,
                    "unknown",
                    f"matched (score {match.score:.0f}) but not queued: the subscription was "
                    "probably paused when the item arrived",
                )
            )
    return verdicts


_ICONS: dict[Outcome, str] = {
    "sent": "✅",
    "pending": "⏳",
    "failed": "❌",
    "duplicate": "🔁",
    "baseline": "🆕",
    "feed_added_after": "🆕",
    "subscribed_after": "🕒",
    "not_matched": "➖",
    "below_min_score": "📉",
    "paused": "⏸️",
    "unknown": "❔",
}


def why(
    report: WhyReport,
    verdicts: Sequence[Verdict],
    explanations: Sequence[tuple[str, TopicMatch | None, str]],
) -> Embed:
    """The /why answer: the item, one line per subscription, then each topic's clauses."""
    item = report.item
    description = (
        f"From **{inline(item.feed_name, 100)}** · published {ts(item.published_at)} · "
        f"first seen {ts(item.first_seen_at)} · item `{item.id}`"
    )
    if not verdicts:
        description += (
            "\n\nThis server has no subscriptions, so nothing is posted. "
            "Create one with `/alerts subscribe`."
        )
    else:
        lines = [
            f"{_ICONS[v.outcome]} {_where(v.subscription)} ({inline(v.subscription.topic, 60)}):"
            f" {v.detail}"
            for v in verdicts
        ]
        description += "\n\n" + "\n".join(lines)
    fields = []
    for name, match, text in explanations:
        head = (
            f"Topic {inline(name, 80)}: matches, score {match.score:.0f}"
            if match
            else f"Topic {inline(name, 80)}: no match"
        )
        fields.append((head, code_block(text, FIELD_VALUE_LIMIT), False))
    return _embed(
        inline(item.title, TITLE_LIMIT) or "(untitled)",
        description,
        url=safe_http_url(item.link),
        fields=fields,
        colour=INFO_COLOUR,
    )


def _where(sub: WhySubscription) -> str:
    return destination_text(sub.kind, sub.destination)


def message_url(guild_id: int, channel_id: int | str, message_id: str) -> str:
    return f"https://discord.com/channels/{guild_id}/{channel_id}/{message_id}"


# --------------------------------------------------------------------------------------------
# /status


def status(
    s: GuildStatus, *, now: datetime, started_at: datetime, version: str, latency_ms: float | None
) -> Embed:
    feeds = f"{s.feeds} ({s.feeds_polled} polled" + (
        f", **{s.feeds_failing} failing**)" if s.feeds_failing else ")"
    )
    if s.last_poll_at:
        feeds += f"\nlast poll {ts(s.last_poll_at)}"
    pending = str(s.pending)
    if s.oldest_pending_at is not None:
        pending += f" (oldest queued {ts(s.oldest_pending_at)})"
    subs = str(s.subscriptions) + (
        f" ({s.paused_subscriptions} paused)" if s.paused_subscriptions else ""
    )
    fields = [
        ("Feeds", feeds, True),
        ("Items seen today", str(s.items_today), True),
        ("Alerts sent today", str(s.alerts_sent_today), True),
        ("Pending deliveries", pending, True),
        ("Failed deliveries", str(s.failed), True),
        ("Subscriptions", subs, True),
        ("Uptime", f"{duration(now - started_at)} (since {ts(started_at, 'f')})", True),
        ("Version", f"BorderWatch {version}", True),
    ]
    if latency_ms is not None:
        fields.append(("Gateway latency", f"{latency_ms:.0f} ms", True))
    trouble = s.feeds_failing or s.failed or s.paused_subscriptions
    return _embed(
        "BorderWatch status",
        fields=fields,
        colour=WARN_COLOUR if trouble else OK_COLOUR,
        footer="Today = since 00:00 UTC",
    )
