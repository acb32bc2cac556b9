"""Pure reply formatting (bot/discord_app/replies.py): untrusted text, limits, pages, /why."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.render import EMBED_TOTAL_LIMIT, embed_length
from bot.core.types import TopicMatch
from bot.discord_app import replies
from bot.store.lookup import (
    GuildFeed,
    GuildStatus,
    SearchHit,
    SearchPage,
    StoredMatch,
    WhyDelivery,
    WhyItem,
    WhyReport,
    WhySubscription,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
GUILD = 111
HOSTILE = "@everyone <@123> <@&456> **bold** `code` [click](https://evil.test) > quote"


def ts(when: datetime) -> str:
    return f"<t:{int(when.timestamp())}:R>"


# -- untrusted text -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "render",
    [
        lambda t: replies.inline(t),
        lambda t: replies.masked_link(t, "https://n.test/a"),
        lambda t: replies.feeds_list([feed(name=t)], 15)[0]["description"],
        lambda t: replies.search_pages("q", SearchPage(1, (hit(1, title=t),)), None, None)[0][
            "description"
        ],
        lambda t: replies.why(report(item=replace(ITEM, feed_name=t)), [], [])["description"],
    ],
)
def test_untrusted_text_cannot_mention_or_format(render: object) -> None:
    out = render(HOSTILE)  # type: ignore[operator]
    assert "@everyone" not in out
    assert "<@123>" not in out
    assert "<@&456>" not in out
    assert "**bold**" not in out
    assert "`code`" not in out
    assert "[click](" not in out


@pytest.mark.parametrize(
    "text",
    ["plain", "```\nbreak out\n```", "`a` ``b`` ```c```", "x" * 5000],
)
def test_code_block_cannot_be_closed_early_and_fits(text: str) -> None:
    block = replies.code_block(text, 1024)
    assert block.startswith("```\n")
    assert block.endswith("\n```")
    assert block.count("```") == 2
    assert len(block) <= 1024


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://n.test/a_(b)", "[t](https://n.test/a_%28b%29)"),
        ("javascript:alert(1)", "t"),
        (None, "t"),
        ("ftp://n.test/x", "t"),
    ],
)
def test_masked_links_only_for_http_urls(url: str | None, expected: str) -> None:
    assert replies.masked_link("t", url) == expected


@pytest.mark.parametrize(
    ("kind", "destination", "expected"),
    [
        ("channel", "42", "<#42>"),
        (
            "webhook",
            "https://discord.com/api/webhooks/123456789012345678/SECRET",
            "webhook 123456789012345678",
        ),
        ("webhook", "https://discord.com/api/webhooks/oops", "webhook"),
        ("console", "console", "console"),
    ],
)
def test_destinations_never_show_a_webhook_token(
    kind: str, destination: str, expected: str
) -> None:
    assert replies.destination_text(kind, destination) == expected  # type: ignore[arg-type]


# -- query errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "column", "expected_block"),
    [
        ("aras AND (", 11, "aras AND (\n          ^"),
        ("@nope", 1, "@nope\n^"),
        (
            "a" * 120 + " )",
            122,
            # 50 characters before the column are shown, after an ellipsis.
            "…" + "a" * 49 + " )" + "\n" + " " * 51 + "^",
        ),
    ],
)
def test_query_error_points_at_the_column(query: str, column: int, expected_block: str) -> None:
    text = replies.query_error(query, "expected ')'", column)
    assert text == (
        f"That query has an error at column {column}: expected ')'\n"
        f"```\n{expected_block}\n```Nothing was saved."
    )


# -- pages ----------------------------------------------------------------------------------------


def test_long_lists_become_pages_within_the_limits() -> None:
    lines = [f"line {i} " + "x" * 400 for i in range(40)]
    pages = replies.paged("Title", lines, max_lines=15)
    # 400-char lines: 8 fit in the 3,500-character page before 15 lines do.
    assert [p["description"].count("line ") for p in pages] == [8, 8, 8, 8, 8]
    assert [p["footer"]["text"] for p in pages] == [f"Page {n}/5" for n in range(1, 6)]
    assert all(embed_length(p) <= EMBED_TOTAL_LIMIT for p in pages)


def test_an_empty_list_says_so() -> None:
    [page] = replies.paged("Title", [], empty="No feeds yet.")
    assert page["description"] == "No feeds yet."
    assert "footer" not in page


# -- /feeds ---------------------------------------------------------------------------------------


def feed(**kw: object) -> GuildFeed:
    base = GuildFeed(
        id=1,
        url="https://n.test/rss",
        name="News",
        title="News",
        from_config=False,
        followed=True,
        interval_minutes=None,
        baselined=True,
        last_poll_at=NOW - timedelta(minutes=5),
        last_success_at=NOW - timedelta(minutes=5),
        next_poll_at=NOW + timedelta(minutes=10),
        error_count=0,
        last_error=None,
        items_seen=12,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_feeds_status_puts_failing_feeds_first_with_their_error() -> None:
    ok = feed(id=1, name="Alpha")
    bad = feed(
        id=2,
        name="Zulu",
        error_count=3,
        last_error="HTTP 503 from n.test",
        last_success_at=NOW - timedelta(hours=2),
    )
    never = feed(id=3, name="Mike", last_poll_at=None, last_success_at=None)
    [page] = replies.feeds_status([ok, bad, never], NOW)
    lines = page["description"].splitlines()
    assert lines[0] == "3 feeds, 1 failing."
    assert lines[2] == (
        f"⚠️ **Zulu** · polled {ts(NOW - timedelta(minutes=5))} · last success "
        f"{ts(NOW - timedelta(hours=2))} · next {ts(NOW + timedelta(minutes=10))} · 12 items seen"
    )
    assert lines[3] == "  3 failures in a row: HTTP 503 from n.test"
    assert lines[4].startswith("✅ **Alpha** · polled ")
    assert lines[5].startswith("⏳ **Mike** · polled never · last success never")
    assert page["color"] == replies.WARN_COLOUR


def test_feeds_status_stays_within_discord_limits_with_huge_errors() -> None:
    feeds = [feed(id=i, name=f"F{i}", error_count=1, last_error="e" * 3000) for i in range(30)]
    pages = replies.feeds_status(feeds, NOW)
    # Each feed takes ~430 characters (its error cut to 300): 8 per 3,500-character page.
    assert [p["description"].count("⚠️ **F") for p in pages] == [8, 8, 8, 6]
    for page in pages:
        assert len(page["description"]) <= 4096
        assert embed_length(page) <= EMBED_TOTAL_LIMIT


def test_feeds_list_says_where_each_feed_comes_from() -> None:
    feeds = [
        feed(id=1, name="Own", interval_minutes=30),
        feed(id=2, name="Shared", from_config=True, followed=False),
        feed(id=3, name="Both", from_config=True, followed=True),
    ]
    [page] = replies.feeds_list(feeds, 15)
    lines = page["description"].splitlines()
    assert lines[0] == "`1` **Own** · this server · every 30 min"
    assert lines[2] == "`2` **Shared** · config file · every 15 min (default)"
    assert lines[4] == "`3` **Both** · config file + this server · every 15 min (default)"


# -- /search --------------------------------------------------------------------------------------


def hit(i: int, title: str | None = None) -> SearchHit:
    return SearchHit(i, title or f"Story {i}", f"https://n.test/{i}", "Wire", NOW)


def test_search_pages_number_results_across_pages() -> None:
    page = SearchPage(total=60, hits=tuple(hit(i) for i in range(1, 13)))
    pages = replies.search_pages("aras", page, 7, "Wire")
    assert len(pages) == 3
    assert pages[0]["title"] == "Search: aras"
    assert pages[0]["description"].startswith("60 results, best 12 shown · last 7 days, feed Wire")
    assert "**6.** [Story 6](https://n.test/6)" in pages[1]["description"]
    assert pages[2]["description"].count("](https://n.test/") == 2
    assert pages[2]["footer"]["text"].startswith("Page 3/3")


def test_search_without_hits() -> None:
    [page] = replies.search_pages("aras", SearchPage(0, ()), None, None)
    assert page["description"].startswith("No stored item matches.")


# -- /why -----------------------------------------------------------------------------------------

ITEM = WhyItem(
    id=7,
    feed_id=1,
    feed_name="Wire",
    title="Drills on the Aras",
    link="https://n.test/7",
    summary="",
    published_at=NOW - timedelta(hours=3),
    first_seen_at=NOW - timedelta(hours=2),
    baseline=False,
    followed_at=None,
)
SUB = WhySubscription(
    id=1,
    kind="channel",
    destination="42",
    topic="border",
    min_score=0,
    paused=False,
    paused_reason=None,
    created_at=NOW - timedelta(days=1),
)
MATCH = StoredMatch("border", 55.0, ("aras",))


def delivery(**kw: object) -> WhyDelivery:
    base = WhyDelivery(
        subscription_id=1,
        item_id=7,
        status="sent",
        attempts=1,
        created_at=NOW - timedelta(hours=2),
        sent_at=NOW - timedelta(hours=2),
        message_id="999",
        last_error=None,
        score=55.0,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def report(
    item: WhyItem = ITEM,
    subs: tuple[WhySubscription, ...] = (SUB,),
    matches: tuple[StoredMatch, ...] = (MATCH,),
    deliveries: tuple[WhyDelivery, ...] = (),
) -> WhyReport:
    return WhyReport(item=item, matches=matches, subscriptions=subs, deliveries=deliveries)


WHY_CASES = [
    (
        report(deliveries=(delivery(),)),
        "sent",
        f"posted {ts(NOW - timedelta(hours=2))} ([message](https://discord.test/m))",
    ),
    (
        report(
            deliveries=(
                delivery(status="pending", sent_at=None, attempts=2, last_error="HTTP 500"),
            )
        ),
        "pending",
        f"waiting to be posted (queued {ts(NOW - timedelta(hours=2))}, 2 attempts, last error: "
        "HTTP 500)",
    ),
    (
        report(deliveries=(delivery(status="failed", attempts=3, last_error="HTTP 400: bad"),)),
        "failed",
        "delivery failed after 3 attempts: HTTP 400: bad",
    ),
    (
        report(deliveries=(delivery(item_id=5),)),
        "duplicate",
        "the same story came first from another feed (item `5`): posted "
        f"{ts(NOW - timedelta(hours=2))} ([message](https://discord.test/m)); one post per story",
    ),
    (
        report(item=replace(ITEM, baseline=True)),
        "baseline",
        "the feed was added after this item was published: its existing items were recorded as "
        f"already seen ({ts(NOW - timedelta(hours=2))}) and never posted",
    ),
    (
        report(item=replace(ITEM, followed_at=NOW - timedelta(hours=1))),
        "feed_added_after",
        f"this server added the feed {ts(NOW - timedelta(hours=1))}, after the item arrived "
        f"({ts(NOW - timedelta(hours=2))})",
    ),
    (
        report(subs=(replace(SUB, created_at=NOW - timedelta(minutes=30)),)),
        "subscribed_after",
        f"the subscription was created {ts(NOW - timedelta(minutes=30))}, after the item arrived "
        f"({ts(NOW - timedelta(hours=2))})",
    ),
    (report(matches=()), "not_matched", "topic **border** did not match it"),
    (
        report(matches=(StoredMatch("g999/border", 55.0, ()),)),  # another guild's copy
        "not_matched",
        "topic **border** did not match it",
    ),
    (
        report(subs=(replace(SUB, min_score=60),)),
        "below_min_score",
        "matched with score 55, below this subscription's minimum of 60",
    ),
    (
        report(
            subs=(replace(SUB, paused=True, paused_reason="HTTP 403: Missing Access"),),
            matches=(StoredMatch(f"g{GUILD}/border", 55.0, ()),),
        ),
        "paused",
        "the subscription is paused: HTTP 403: Missing Access",
    ),
    (
        report(),
        "unknown",
        "matched (score 55) but not queued: the subscription was probably paused when the item "
        "arrived",
    ),
]


@pytest.mark.parametrize(("why_report", "outcome", "detail"), WHY_CASES)
def test_why_verdicts(why_report: WhyReport, outcome: str, detail: str) -> None:
    [verdict] = replies.why_verdicts(GUILD, why_report, {"999": "https://discord.test/m"})
    assert (verdict.outcome, verdict.detail) == (outcome, detail)


def test_why_notes_a_topic_that_matches_now_but_did_not_then() -> None:
    [verdict] = replies.why_verdicts(GUILD, report(matches=()), {}, {"border": True})
    assert verdict.detail == (
        "topic **border** did not match it (it matches the topic as it is now: the topic "
        "changed since)"
    )


def test_why_embed_lists_each_subscription_and_each_topic() -> None:
    second = replace(SUB, id=2, destination="43", min_score=80)
    why_report = report(subs=(SUB, second), deliveries=(delivery(),))
    verdicts = replies.why_verdicts(GUILD, why_report, {})
    match = TopicMatch("border", 55.0, ("aras",))
    embed = replies.why(why_report, verdicts, [("border", match, "✓ aras")])
    assert embed["title"] == "Drills on the Aras"
    assert embed["url"] == "https://n.test/7"
    assert embed["description"].split("\n\n")[1].splitlines() == [
        f"✅ <#42> (border): posted {ts(NOW - timedelta(hours=2))}",
        "📉 <#43> (border): matched with score 55, below this subscription's minimum of 80",
    ]
    assert embed["fields"] == [
        {"name": "Topic border: matches, score 55", "value": "```\n✓ aras\n```", "inline": False}
    ]


# -- /status, /topic test, /alerts ----------------------------------------------------------------


def test_status_embed() -> None:
    counts = GuildStatus(
        feeds=4,
        feeds_polled=3,
        feeds_failing=1,
        last_poll_at=NOW - timedelta(minutes=1),
        items_today=17,
        alerts_sent_today=2,
        pending=1,
        failed=0,
        oldest_pending_at=NOW - timedelta(minutes=9),
        subscriptions=2,
        paused_subscriptions=1,
    )
    started = NOW - timedelta(hours=26, minutes=5)
    embed = replies.status(
        counts,
        now=NOW,
        started_at=NOW - timedelta(hours=26, minutes=5),
        version="1.2.3",
        latency_ms=41.6,
    )
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields == {
        "Feeds": f"4 (3 polled, **1 failing**)\nlast poll {ts(NOW - timedelta(minutes=1))}",
        "Items seen today": "17",
        "Alerts sent today": "2",
        "Pending deliveries": f"1 (oldest queued {ts(NOW - timedelta(minutes=9))})",
        "Failed deliveries": "0",
        "Subscriptions": "2 (1 paused)",
        "Uptime": f"1 d 2 h (since <t:{int(started.timestamp())}:f>)",
        "Version": "BorderWatch 1.2.3",
        "Gateway latency": "42 ms",
    }
    assert embed["color"] == replies.WARN_COLOUR


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(seconds=5), "5 s"),
        (timedelta(minutes=3, seconds=2), "3 min 2 s"),
        (timedelta(hours=5, minutes=1), "5 h 1 min"),
        (timedelta(days=3, hours=4, minutes=59), "3 d 4 h"),
        (timedelta(seconds=-3), "0 s"),
    ],
)
def test_duration(delta: timedelta, expected: str) -> None:
    assert replies.duration(delta) == expected


def test_topic_test_mentions_subscriptions_the_score_is_below() -> None:
    match = TopicMatch("border", 42.0, ("aras", "iran"))
    embed = replies.topic_test("border", match, "✓ aras", [0, 50, 90])
    assert embed["title"] == "Topic border: match, score 42"
    assert embed["description"] == (
        "Matched: aras, iran\nBelow the minimum score of 2 of this server's subscriptions (50, 90)."
    )


def test_subscription_choice_fits_discords_100_characters() -> None:
    from bot.store.rows import SubscriptionRow

    sub = SubscriptionRow(
        id=12,
        guild_id=GUILD,
        kind="channel",
        destination="42",
        topic="t" * 150,
        min_score=0,
        role_id=None,
        mode="instant",
        paused=True,
        paused_reason="x",
        created_by=None,
        from_config=False,
    )
    label = replies.subscription_choice(sub, "alerts")
    assert label.startswith("#12 #alerts · ttt")
    assert len(label) == 100
