"""/search, /latest, /why, /status end to end, on items that went through the real pipeline."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from bot.discord_app.bot import BorderWatchBot
from bot.store.lookup import fts_query
from tests.discord.conftest import TOPIC
from tests.fakediscord import FakeDiscord, InteractionRecord, StoredMessage
from tests.feedserver import FeedServer
from tests.integration.rss import Item, rss

Bot = tuple[BorderWatchBot, FakeDiscord]

OLD = [
    Item("old-1", "Naxçıvan border crossing reopens for trucks", "Iranian drivers wait."),
    Item("old-2", "Baku Grand Prix results", "Formula 1 in Azerbaijan.", hours=1),
    Item("old-3", "Drills near the Aras river", "Iran and Azerbaijan both watch.", hours=2),
]
MATCHING = Item("new-1", "Iran and Azerbaijan hold drills on the Aras border", "Troops.", hours=5)
NOT_MATCHING = Item("new-2", "Tehran fuel prices rise", "Iranian drivers protest.", hours=6)


def dated_rss(items: list[tuple[str, datetime]]) -> bytes:
    entries = "".join(
        f"<item><guid>{guid}</guid><title>Astara crossing {guid}</title>"
        f"<link>https://news.test/{guid}</link><pubDate>{format_datetime(when)}</pubDate></item>"
        for guid, when in items
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Dated</title>'
        f"<link>https://news.test/</link>{entries}</channel></rss>"
    ).encode()


def link(item: Item) -> str:
    return f"https://news.test/{item.guid}"  # canonical: the feed's utm_source is dropped


def db_rows(bot: BorderWatchBot, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(bot.rt.store.path)
    try:
        return list(conn.execute(sql, params).fetchall())
    finally:
        conn.close()


def item_id(bot: BorderWatchBot, item: Item) -> int:
    [(found,)] = db_rows(bot, "SELECT id FROM items WHERE key = ?", item.guid)
    return int(found)


@pytest.fixture
def bot_config(bot_config: dict[str, Any], feed_server: FeedServer) -> dict[str, Any]:
    feed_server.route("/wire.xml", body=rss(OLD, title="Caucasus Wire"))
    bot_config["feeds"] = [{"url": feed_server.url("/wire.xml"), "name": "Wire"}]
    return bot_config


async def publish(bot: BorderWatchBot, feed_server: FeedServer, *items: Item) -> None:
    """The feed gains `items`; poll it now (what the scheduler would do next)."""
    feed_server.route("/wire.xml", body=rss([*OLD, *items], title="Caucasus Wire"))
    [feed] = [f for f in await bot.rt.store.feeds() if f.url.endswith("/wire.xml")]
    report = await bot.rt.pipeline.poll(feed)
    assert report.outcome == "new-items", report


async def subscribe(fake: FakeDiscord, channel: str = "alerts", **options: Any) -> int:
    record = await fake.invoke(
        "alerts subscribe", options={"channel": fake.guild_a.channel(channel), **options}
    )
    assert record.content.startswith("Subscribed"), record.content
    return int(record.content.rsplit("`#", 1)[1].split("`", 1)[0])


def button(message: StoredMessage, label: str) -> str:
    for row in message.components:
        for component in row.get("components", []):
            if component.get("label") == label:
                return str(component["custom_id"])
    raise AssertionError(f"no button {label!r} in {message.components}")


# -- /search --------------------------------------------------------------------------------------


SEARCHES: list[tuple[str, list[str]]] = [
    ("naxcivan", ["Naxçıvan border crossing reopens for trucks"]),
    ("NAXÇIVAN", ["Naxçıvan border crossing reopens for trucks"]),
    ('naxcivan "', ["Naxçıvan border crossing reopens for trucks"]),
    ("NEAR(aras", ["Drills near the Aras river"]),
    ("aras) AND (", ["Drills near the Aras river"]),
    ("dril*", ["Drills near the Aras river"]),
    ('"aras river"', ["Drills near the Aras river"]),
    ("title:aras", []),  # no field syntax: "title" is a word, and no item has it
    (
        "baku OR naxcivan",
        ["Baku Grand Prix results", "Naxçıvan border crossing reopens for trucks"],
    ),
    ("-baku", ["Baku Grand Prix results"]),  # no NOT either: a word
]


async def test_search_folds_spelling_and_treats_fts_syntax_as_text(running_bot: Bot) -> None:
    """One bot for the whole table; every row is checked and all mismatches are reported."""
    _bot, fake = running_bot
    wrong = []
    for query, titles in SEARCHES:
        record = await fake.invoke("search", options={"query": query})
        assert record.response_type == 5  # deferred
        assert record.ephemeral
        [embed] = record.embeds
        text = embed.get("description", "")
        found = sorted(t for t in (i.title for i in OLD) if f"]({link_of(t)})" in text)
        head = f"{len(titles)} results" if titles else "No stored item matches."
        if found != sorted(titles) or not text.startswith(head):
            wrong.append((query, found, text[:80]))
        if titles and "Wire · <t:" not in text:
            wrong.append((query, "no source and date line", text[:80]))
    assert wrong == []


def link_of(title: str) -> str:
    return link(next(i for i in OLD if i.title == title))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("naxcivan", '"naxcivan"'),
        ("Naxçıvan border", '"naxcivan" "border"'),
        ('a"b', '"a" "b"'),
        ("NEAR(x, y)", '"near" "x" "y"'),
        ("aras*", '"aras"*'),
        ("a*", '"a"'),  # one letter is too short for a prefix
        ('"rasht  astara" railway', '"rasht astara" "railway"'),
        ("aras OR araz", '("aras") OR ("araz")'),
        ("or OR", '"or"'),
        ("* ^ : ()", None),
        ("", None),
    ],
)
def test_fts_query_quotes_every_word(text: str, expected: str | None) -> None:
    assert fts_query(text) == expected


async def test_search_needs_a_word(running_bot: Bot) -> None:
    _bot, fake = running_bot
    record = await fake.invoke("search", options={"query": "*:^"})
    assert record.content == "Type at least one word (letters or digits) to search for."


async def test_search_pages_with_buttons_only_for_the_searcher(
    running_bot: Bot, feed_server: FeedServer
) -> None:
    bot, fake = running_bot
    extra = [Item(f"p{i}", f"Aras bridge report {i}", "Aras.", hours=10 + i) for i in range(6)]
    await publish(bot, feed_server, *extra)
    record = await fake.invoke("search", options={"query": "aras"})
    first = record.embeds[0]
    assert first["description"].startswith("7 results")  # old-3 and the six reports
    assert first["footer"]["text"].startswith("Page 1/2")
    assert first["description"].count("](https://news.test/") == 5
    message = record.original
    assert message is not None
    assert [c["label"] for row in message.components for c in row["components"]] == [
        "◀",
        "1/2",
        "▶",
    ]

    bob = await fake.click(message, button(message, "▶"), user_id=fake.user("bob"))
    assert bob.content.startswith("Only the person who ran the command can turn these pages")
    assert fake.message(message.id).embeds[0]["footer"]["text"].startswith("Page 1/2")

    clicked = await fake.click(message, button(message, "▶"))
    assert clicked.response_type == 7
    second = fake.message(message.id).embeds[0]
    assert second["footer"]["text"].startswith("Page 2/2")
    assert second["description"].count("](https://news.test/") == 2
    assert "**6.**" in second["description"]


async def test_search_filters_by_days_and_feed_and_sees_only_this_guilds_feeds(
    running_bot: Bot, feed_server: FeedServer
) -> None:
    bot, fake = running_bot
    feed_server.route(
        "/alpha.xml", body=rss([Item("a-1", "Alpha desk exclusive on the Aras", "Aras.")])
    )
    await fake.invoke("feeds add", options={"url": feed_server.url("/alpha.xml"), "name": "Own"})

    mine = await fake.invoke("search", options={"query": "exclusive"})
    assert "Alpha desk exclusive" in mine.embeds[0]["description"]
    other = await fake.invoke("search", guild_id=fake.guild_b, options={"query": "exclusive"})
    assert other.embeds[0]["description"].startswith("No stored item matches.")

    [(own_id,)] = db_rows(bot, "SELECT feed_id FROM guild_feeds")
    only_own = await fake.invoke("search", options={"query": "aras", "feed": str(own_id)})
    assert only_own.embeds[0]["description"].startswith("1 results · feed Own")
    # Dates relative to the bot's clock: one item from yesterday, one from a month ago.
    now = bot.rt.clock()
    feed_server.route(
        "/dated.xml",
        body=dated_rss([("d-new", now - timedelta(days=1)), ("d-old", now - timedelta(days=30))]),
    )
    await fake.invoke("feeds add", options={"url": feed_server.url("/dated.xml")})
    week = await fake.invoke("search", options={"query": "astara", "days": 7})
    assert week.embeds[0]["description"].startswith("1 results · last 7 days")
    assert "(https://news.test/d-new)" in week.embeds[0]["description"]
    ever = await fake.invoke("search", options={"query": "astara"})
    assert ever.embeds[0]["description"].startswith("2 results")
    unknown = await fake.invoke(
        "search", guild_id=fake.guild_b, options={"query": "aras", "feed": str(own_id)}
    )
    assert unknown.content == "That is not one of this server's feeds. See `/feeds list`."


@pytest.mark.parametrize(
    "bot_config", [{"discord": {"command_cooldown_seconds": 60}}], indirect=True
)
async def test_search_has_a_per_user_cooldown(running_bot: Bot) -> None:
    _bot, fake = running_bot
    await fake.invoke("search", options={"query": "aras"})
    again = await fake.invoke("search", options={"query": "baku"})
    assert again.content.startswith("Slow down: you can use /search again in ")
    bob = await fake.invoke("search", user_id=fake.user("bob"), options={"query": "baku"})
    assert "Baku Grand Prix results" in bob.embeds[0]["description"]


# -- /latest and /why -----------------------------------------------------------------------------


async def delivered(fake: FakeDiscord, channel: str, count: int) -> list[StoredMessage]:
    channel_id = fake.guild_a.channel(channel).id
    return await fake.wait_for(
        lambda: m if len(m := fake.messages_in(channel_id, source="bot")) >= count else None,
        what=f"{count} alert(s) in #{channel}",
    )


def why_lines(record: InteractionRecord) -> list[str]:
    return record.embeds[0]["description"].split("\n\n", 1)[1].splitlines()


async def test_latest_and_why_for_a_posted_item(running_bot: Bot, feed_server: FeedServer) -> None:
    bot, fake = running_bot
    a = fake.guild_a
    await subscribe(fake)
    await publish(bot, feed_server, MATCHING, NOT_MATCHING)
    [message] = await delivered(fake, "alerts", 1)
    await fake.wait_for(lambda: db_rows(bot, "SELECT status FROM outbox") == [("sent",)])

    latest = await fake.invoke("latest")
    [embed] = latest.embeds
    assert embed["title"] == "Latest alerts"
    lines = embed["description"].splitlines()
    assert lines[0] == f"[{MATCHING.title}]({link(MATCHING)})"
    assert lines[1].startswith("Wire · <t:")
    assert f"{TOPIC} · score " in lines[1]
    assert lines[1].endswith(f"· sent · item `{item_id(bot, MATCHING)}`")
    empty = await fake.invoke("latest", guild_id=fake.guild_b)
    assert empty.embeds[0]["description"].startswith("No alerts yet")

    # Pasted with a tracking parameter, as readers copy links.
    why = await fake.invoke("why", options={"link_or_id": link(MATCHING) + "?utm_source=x"})
    [embed] = why.embeds
    assert embed["title"] == MATCHING.title
    assert embed["url"] == link(MATCHING)
    assert embed["description"].startswith("From **Wire** · published <t:")
    alerts = a.channel("alerts").id
    jump = f"https://discord.com/channels/{a.id}/{alerts}/{message.id}"
    [line] = why_lines(why)
    assert line.startswith(f"✅ <#{alerts}> ({TOPIC}): posted <t:")
    assert line.endswith(f"([message]({jump}))")
    [field] = embed["fields"]
    assert field["name"].startswith(f"Topic {TOPIC}: matches, score ")
    assert field["value"].startswith("```")


async def test_why_explains_items_that_were_not_posted(
    running_bot: Bot, feed_server: FeedServer
) -> None:
    bot, fake = running_bot
    a = fake.guild_a
    alerts, thread = a.channel("alerts").id, a.channel("alerts-thread").id
    first = await subscribe(fake)
    strict = await subscribe(fake, "alerts-thread", min_score=100)
    await publish(bot, feed_server, MATCHING, NOT_MATCHING)
    await delivered(fake, "alerts", 1)

    below = await fake.invoke("why", options={"link_or_id": str(item_id(bot, MATCHING))})
    assert why_lines(below)[1].startswith(f"📉 <#{thread}> ({TOPIC}): matched with score ")
    assert why_lines(below)[1].endswith("below this subscription's minimum of 100")

    unmatched = await fake.invoke("why", options={"link_or_id": link(NOT_MATCHING)})
    assert why_lines(unmatched) == [
        f"➖ <#{alerts}> ({TOPIC}): topic **{TOPIC}** did not match it",
        f"➖ <#{thread}> ({TOPIC}): topic **{TOPIC}** did not match it",
    ]
    assert unmatched.embeds[0]["fields"][0]["name"] == f"Topic {TOPIC}: no match"

    baseline = await fake.invoke("why", options={"link_or_id": link(OLD[2])})
    for line in why_lines(baseline):
        assert "🆕" in line
        assert "its existing items were recorded as already seen" in line

    await fake.invoke("alerts unsubscribe", options={"subscription": str(strict)})
    await fake.invoke("alerts pause", options={"subscription": str(first)})
    later = Item("new-3", "Aliyev warns Iran over the Aras dam border", "Baku.", hours=7)
    await publish(bot, feed_server, MATCHING, NOT_MATCHING, later)
    paused = await fake.invoke("why", options={"link_or_id": link(later)})
    assert why_lines(paused) == [
        f"⏸️ <#{alerts}> ({TOPIC}): the subscription is paused: paused by alice with /alerts pause"
    ]


async def test_why_reports_a_failed_delivery(running_bot: Bot, feed_server: FeedServer) -> None:
    bot, fake = running_bot
    alerts = fake.guild_a.channel("alerts").id
    await subscribe(fake)
    fake.fail_next(
        "POST", f"/channels/{alerts}/messages", 400, body={"message": "Bad embed", "code": 50035}
    )
    await publish(bot, feed_server, MATCHING)
    await fake.wait_for(lambda: db_rows(bot, "SELECT status FROM outbox") == [("failed",)])
    why = await fake.invoke("why", options={"link_or_id": link(MATCHING)})
    [line] = why_lines(why)
    assert line.startswith(f"❌ <#{alerts}> ({TOPIC}): delivery failed after 1 attempts: HTTP 400")
    assert "Bad embed" in line

    status = await fake.invoke("status")
    fields = {f["name"]: f["value"] for f in status.embeds[0]["fields"]}
    assert fields["Failed deliveries"] == "1"
    assert fields["Alerts sent today"] == "0"


async def test_why_stays_within_this_guild(running_bot: Bot, feed_server: FeedServer) -> None:
    bot, fake = running_bot
    feed_server.route("/alpha.xml", body=rss([Item("a-1", "Alpha only: Aras", "Aras.")]))
    await fake.invoke("feeds add", options={"url": feed_server.url("/alpha.xml")})
    own = item_id(bot, Item("a-1", ""))
    other = await fake.invoke("why", guild_id=fake.guild_b, options={"link_or_id": str(own)})
    assert other.content.startswith("No stored item of this server's feeds has that link or id.")
    # Guild B has no subscriptions: /why says so instead of inventing reasons.
    shared = await fake.invoke("why", guild_id=fake.guild_b, options={"link_or_id": link(OLD[0])})
    assert (
        "This server has no subscriptions, so nothing is posted."
        in (shared.embeds[0]["description"])
    )
    missing = await fake.invoke("why", options={"link_or_id": "https://news.test/nope"})
    assert missing.content.startswith("No stored item")


# -- /status --------------------------------------------------------------------------------------


async def test_status_counts_this_guilds_activity(
    running_bot: Bot, feed_server: FeedServer
) -> None:
    bot, fake = running_bot
    await subscribe(fake)
    await publish(bot, feed_server, MATCHING, NOT_MATCHING)
    await delivered(fake, "alerts", 1)
    await fake.wait_for(lambda: db_rows(bot, "SELECT status FROM outbox") == [("sent",)])

    record = await fake.invoke("status")
    [embed] = record.embeds
    assert embed["title"] == "BorderWatch status"
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Feeds"].startswith("1 (1 polled)\nlast poll <t:")
    assert fields["Items seen today"] == "5"  # 3 baselined + 2 new, all first seen today
    assert fields["Alerts sent today"] == "1"
    assert fields["Pending deliveries"] == "0"
    assert fields["Failed deliveries"] == "0"
    assert fields["Subscriptions"] == "1"
    assert fields["Version"] == f"BorderWatch {bot.version}"
    assert fields["Uptime"].endswith(")")

    other = await fake.invoke("status", guild_id=fake.guild_b)
    other_fields = {f["name"]: f["value"] for f in other.embeds[0]["fields"]}
    assert other_fields["Alerts sent today"] == "0"  # guild A's alert is not B's
    assert other_fields["Items seen today"] == "5"  # the config feed is shared
    assert other_fields["Subscriptions"] == "0"
