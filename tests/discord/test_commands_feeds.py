"""/feeds add, remove, list, status end to end: fake Discord -> real bot -> SQLite, feed server."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from bot.discord_app.bot import BorderWatchBot
from tests.discord.conftest import TOPIC
from tests.fakediscord import MANAGE_GUILD, FakeDiscord
from tests.feedserver import FeedServer
from tests.integration.rss import Item, rss

BorderItems = [
    Item("g1", "Tehran protests over fuel prices", "Iranian cities only.", hours=1),
    Item("g2", "Iran and Azerbaijan hold drills near the Aras border", "Troops moved.", hours=4),
    Item("g3", "Baku Grand Prix: results", "Formula 1 in Azerbaijan.", hours=3),
    Item("g4", "Aliyev meets Iranian envoy at Astara crossing", "Trucks wait.", hours=2),
]
Bot = tuple[BorderWatchBot, FakeDiscord]


def db_rows(bot: BorderWatchBot, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Read the bot's database with a separate connection: what is really committed."""
    conn = sqlite3.connect(bot.rt.store.path)
    try:
        return list(conn.execute(sql, params).fetchall())
    finally:
        conn.close()


def fields(record: Any) -> dict[str, str]:
    return {f["name"]: f["value"] for e in record.embeds for f in e.get("fields", [])}


@pytest.fixture
def border_feed(feed_server: FeedServer) -> str:
    feed_server.route("/border.xml", body=rss(BorderItems, title="Caucasus Wire"))
    return feed_server.url("/border.xml")


async def test_feeds_add_previews_newest_items_with_matches_then_baselines(
    running_bot: Bot, border_feed: str, feed_server: FeedServer
) -> None:
    bot, fake = running_bot
    record = await fake.invoke(
        "feeds add", options={"url": border_feed, "name": "Wire", "interval": 30}
    )
    assert record.response_type == 5  # deferred: a fetch and a poll can take a while
    assert record.ephemeral
    [embed] = record.embeds
    assert embed["title"] == "Feed added"
    assert "**Wire**" in embed["description"]
    assert "4 items in the feed" in embed["description"]
    assert "4 existing items were recorded as already seen" in embed["description"]
    # The newest three, newest first, each with whether it matches the guild's topic.
    names = [f["name"] for f in embed["fields"]]
    assert names == [
        "Iran and Azerbaijan hold drills near the Aras border",
        "Baku Grand Prix: results",
        "Aliyev meets Iranian envoy at Astara crossing",
    ]
    values = [f["value"] for f in embed["fields"]]
    assert f"✅ matches **{TOPIC}**" in values[0]
    assert "matches none of this server's topics" in values[1]
    assert f"✅ matches **{TOPIC}**" in values[2]

    guild_a = fake.guild_a.id
    [(feed_id, name, by)] = db_rows(
        bot, "SELECT feed_id, name, added_by FROM guild_feeds WHERE guild_id = ?", guild_a
    )
    assert (name, by) == ("Wire", fake.user("alice").id)
    [(url, interval, baselined)] = db_rows(
        bot, "SELECT url, interval_minutes, baselined FROM feeds WHERE id = ?", feed_id
    )
    assert (url, interval, baselined) == (border_feed, 30, 1)
    # The backlog is stored as baseline (never alerted), and nothing was queued.
    assert db_rows(bot, "SELECT COUNT(*), SUM(baseline) FROM items") == [(4, 4)]
    assert db_rows(bot, "SELECT COUNT(*) FROM outbox") == [(0,)]
    assert f"feed:{feed_id}" in {job.id for job in bot.rt.scheduler.jobs()}


async def test_feeds_add_refuses_what_is_not_a_feed(
    running_bot: Bot, feed_server: FeedServer
) -> None:
    bot, fake = running_bot
    feed_server.route(
        "/page", body=b"<!doctype html><html><body>hello</body></html>", content_type="text/html"
    )
    record = await fake.invoke("feeds add", options={"url": feed_server.url("/page")})
    assert record.ephemeral
    assert record.content.startswith("That is not a feed BorderWatch can read:")
    assert "HTML" in record.content or "html" in record.content
    assert record.content.endswith("Nothing was added.")
    assert db_rows(bot, "SELECT COUNT(*) FROM feeds") == [(0,)]
    assert db_rows(bot, "SELECT COUNT(*) FROM guild_feeds") == [(0,)]


async def test_feeds_add_reports_an_unreachable_feed(
    running_bot: Bot, feed_server: FeedServer
) -> None:
    bot, fake = running_bot
    record = await fake.invoke("feeds add", options={"url": feed_server.url("/missing.xml")})
    assert record.content.startswith("Could not fetch that feed:")
    assert "404" in record.content
    assert db_rows(bot, "SELECT COUNT(*) FROM feeds") == [(0,)]


@pytest.mark.parametrize(
    "bot_config", [{"fetch": {"allow_private_networks": False}}], indirect=True
)
async def test_feeds_add_refuses_loopback_before_any_request(
    running_bot: Bot, border_feed: str, feed_server: FeedServer
) -> None:
    bot, fake = running_bot
    record = await fake.invoke("feeds add", options={"url": border_feed})
    assert record.ephemeral
    assert record.content.startswith("That URL is refused:")
    assert "127.0.0.1 is a loopback address" in record.content
    assert feed_server.requests == []  # refused before any request
    assert db_rows(bot, "SELECT COUNT(*) FROM feeds") == [(0,)]


async def test_feeds_add_refuses_a_redirect_to_cloud_metadata(
    running_bot: Bot, feed_server: FeedServer
) -> None:
    bot, fake = running_bot
    # Loopback is allowed here (the feed server lives there); the metadata address never is.
    feed_server.redirect("/innocent.xml", "http://169.254.169.254/latest/meta-data/")
    record = await fake.invoke("feeds add", options={"url": feed_server.url("/innocent.xml")})
    assert record.content.startswith("Could not fetch that feed:")
    assert "169.254.169.254" in record.content
    assert "metadata" in record.content
    assert [r.path for r in feed_server.requests] == ["/innocent.xml"]
    assert db_rows(bot, "SELECT COUNT(*) FROM feeds") == [(0,)]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.org/feed.xml", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("http://[::1]/feed", "loopback"),
        ("http://2130706433/feed", "loopback"),
    ],
)
@pytest.mark.parametrize(
    "bot_config", [{"fetch": {"allow_private_networks": False}}], indirect=True
)
async def test_feeds_add_refuses_hostile_urls(running_bot: Bot, url: str, reason: str) -> None:
    bot, fake = running_bot
    record = await fake.invoke("feeds add", options={"url": url})
    assert record.content.startswith("That URL is refused:")
    assert reason in record.content
    assert db_rows(bot, "SELECT COUNT(*) FROM feeds") == [(0,)]


async def test_a_member_without_manage_server_is_refused(
    running_bot: Bot, border_feed: str, feed_server: FeedServer
) -> None:
    bot, fake = running_bot
    assert fake.command("feeds").default_member_permissions == str(MANAGE_GUILD)
    bob = fake.user("bob")  # a plain member of guild A
    for command, options in [
        ("feeds add", {"url": border_feed}),
        ("feeds list", {}),
        ("feeds status", {}),
        ("feeds remove", {"feed": "1"}),
    ]:
        record = await fake.invoke(command, user_id=bob, options=options)
        assert record.ephemeral
        assert record.content == (
            f"You need the **Manage Server** permission to use /{command}. Ask a server admin."
        )
    assert feed_server.requests == []
    assert db_rows(bot, "SELECT COUNT(*) FROM guild_feeds") == [(0,)]
    # Autocomplete does not list this server's feeds to him either.
    await fake.invoke("feeds add", options={"url": border_feed})
    assert await fake.autocomplete("feeds remove", "feed", user_id=bob, options={"feed": ""}) == []


async def test_another_guild_cannot_see_or_remove_a_guilds_feed(
    running_bot: Bot, border_feed: str
) -> None:
    bot, fake = running_bot
    b = fake.guild_b
    await fake.invoke("feeds add", options={"url": border_feed, "name": "Alpha's wire"})
    [(feed_id,)] = db_rows(bot, "SELECT feed_id FROM guild_feeds")

    listed = await fake.invoke("feeds list", guild_id=b)
    assert "Alpha's wire" not in listed.text()
    assert border_feed not in listed.text()
    assert "No feeds yet" in listed.text()
    assert await fake.autocomplete("feeds remove", "feed", guild_id=b, options={"feed": ""}) == []

    removed = await fake.invoke("feeds remove", guild_id=b, options={"feed": str(feed_id)})
    assert removed.content == "That is not one of this server's feeds. See `/feeds list`."
    assert db_rows(bot, "SELECT guild_id FROM guild_feeds") == [(fake.guild_a.id,)]

    # Guild A sees its own feed in autocomplete, by the name it gave.
    offered = await fake.autocomplete("feeds remove", "feed", options={"feed": "wire"})
    assert offered == [{"name": f"Alpha's wire · {border_feed}", "value": str(feed_id)}]


async def test_a_feed_added_by_two_guilds_is_stored_and_polled_once(
    running_bot: Bot, border_feed: str, feed_server: FeedServer
) -> None:
    bot, fake = running_bot
    await fake.invoke("feeds add", options={"url": border_feed, "name": "Alpha's wire"})
    second = await fake.invoke("feeds add", guild_id=fake.guild_b, options={"url": border_feed})
    assert "Another server already follows this feed" in second.embeds[0]["description"]
    assert "Alpha's wire" not in second.text()  # B sees the feed's own title, not A's name
    assert db_rows(bot, "SELECT COUNT(*) FROM feeds") == [(1,)]
    assert sorted(g for (g,) in db_rows(bot, "SELECT guild_id FROM guild_feeds")) == sorted(
        [fake.guild_a.id, fake.guild_b.id]
    )
    # One check fetch per /feeds add plus one baseline poll: no second baseline for B.
    assert len(feed_server.requests_to("/border.xml")) == 3
    listed = await fake.invoke("feeds list", guild_id=fake.guild_b)
    assert "Caucasus Wire" in listed.text()


async def test_feeds_remove_unfollows_and_stops_polling(running_bot: Bot, border_feed: str) -> None:
    bot, fake = running_bot
    await fake.invoke("feeds add", options={"url": border_feed, "name": "Wire"})
    [(feed_id,)] = db_rows(bot, "SELECT feed_id FROM guild_feeds")
    record = await fake.invoke("feeds remove", options={"feed": str(feed_id)})
    assert record.content.startswith("Removed **Wire**.")
    assert db_rows(bot, "SELECT COUNT(*) FROM guild_feeds") == [(0,)]
    assert db_rows(bot, "SELECT COUNT(*) FROM feeds") == [(0,)]  # nobody else follows it
    assert f"feed:{feed_id}" not in {job.id for job in bot.rt.scheduler.jobs()}


@pytest.fixture
def two_config_feeds(bot_config: dict[str, Any], feed_server: FeedServer) -> dict[str, Any]:
    feed_server.route("/ok.xml", body=rss(BorderItems[:2], title="Working Feed"))
    bot_config["feeds"] = [
        {"url": feed_server.url("/ok.xml"), "name": "Working"},
        {"url": feed_server.url("/gone.xml"), "name": "Broken"},
    ]
    return bot_config


@pytest.mark.usefixtures("two_config_feeds")
async def test_feeds_list_and_status_show_config_feeds_and_their_health(
    running_bot: Bot, feed_server: FeedServer
) -> None:
    _bot, fake = running_bot
    again = await fake.invoke("feeds add", options={"url": feed_server.url("/ok.xml")})
    assert again.content == (
        "This server already follows that feed as **Working** (it comes from the config file). "
        "See `/feeds list`."
    )
    listed = await fake.invoke("feeds list")
    text = listed.text()
    assert "**Working** · config file" in text
    assert "**Broken** · config file" in text
    removed = await fake.invoke("feeds remove", options={"feed": "Working"})
    assert "comes from the config file" in removed.content

    status = await fake.invoke("feeds status")
    [embed] = status.embeds
    lines = embed["description"].splitlines()
    assert lines[0] == "2 feeds, 1 failing."
    broken = next(i for i, line in enumerate(lines) if "**Broken**" in line)
    working = next(i for i, line in enumerate(lines) if "**Working**" in line)
    assert broken < working  # failing feeds first
    assert lines[broken].startswith("⚠️")
    assert "1 failure in a row: HTTP 404" in lines[broken + 1]
    assert lines[working].startswith("✅")
    assert "2 items seen" in lines[working]
    assert "next <t:" in lines[working]


@pytest.mark.parametrize("bot_config", [{"discord": {"max_feeds_per_guild": 1}}], indirect=True)
async def test_the_per_guild_feed_limit_is_friendly(
    running_bot: Bot, border_feed: str, feed_server: FeedServer
) -> None:
    _bot, fake = running_bot
    feed_server.route("/second.xml", body=rss(BorderItems[:1]))
    await fake.invoke("feeds add", options={"url": border_feed})
    record = await fake.invoke("feeds add", options={"url": feed_server.url("/second.xml")})
    assert record.content == (
        "This server follows 1 feeds, the limit. Remove one with `/feeds remove` first."
    )
    assert not feed_server.requests_to("/second.xml")
    # Guild B has its own allowance.
    other = await fake.invoke(
        "feeds add", guild_id=fake.guild_b, options={"url": feed_server.url("/second.xml")}
    )
    assert other.embeds[0]["title"] == "Feed added"


@pytest.mark.parametrize(
    "bot_config", [{"discord": {"command_cooldown_seconds": 60}}], indirect=True
)
async def test_feeds_add_has_a_per_user_cooldown(
    running_bot: Bot, border_feed: str, feed_server: FeedServer
) -> None:
    _bot, fake = running_bot
    await fake.invoke("feeds add", options={"url": border_feed})
    again = await fake.invoke("feeds add", options={"url": feed_server.url("/other.xml")})
    assert again.ephemeral
    assert again.content.startswith("Slow down: you can use /feeds add again in ")
    assert not feed_server.requests_to("/other.xml")
    # Another admin is not held back by alice's cooldown.
    carol = await fake.invoke(
        "feeds add", guild_id=fake.guild_b, options={"url": feed_server.url("/other.xml")}
    )
    assert carol.content.startswith("Could not fetch that feed")


async def test_feeds_add_refuses_an_interval_outside_the_schedule_limits(
    running_bot: Bot, border_feed: str
) -> None:
    bot, fake = running_bot
    record = await fake.invoke("feeds add", options={"url": border_feed, "interval": 1})
    assert record.content == "The interval must be between 2 and 720 minutes."
    assert db_rows(bot, "SELECT COUNT(*) FROM feeds") == [(0,)]
