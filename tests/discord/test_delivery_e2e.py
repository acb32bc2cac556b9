"""Alerts end to end: loopback feed server -> BorderWatchBot -> loopback fake Discord."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.discord_app.bot import BorderWatchBot
from bot.store.rows import SubscriptionRow
from tests.discord.conftest import TOPIC
from tests.fakediscord import FakeDiscord
from tests.feedserver import FeedServer
from tests.integration.rss import Item, rss

ROOT = Path(__file__).resolve().parents[2]

OLD = Item("old-1", "Iran and Azerbaijan discuss the Aras border", "An older story.", 0)
HIT = Item(
    "hit-1",
    "Iran holds drills near the Azerbaijan border",
    "Iranian forces began drills on the Aras river border with Azerbaijan on Tuesday. "
    "Officials in Baku asked Tehran for an explanation.",
    5,
)
MISS = Item("miss-1", "Baku marathon draws record crowd", "Runners crossed the city.", 6)


@pytest.fixture
def bot_config(bot_config: dict[str, Any], feed_server: FeedServer) -> dict[str, Any]:
    feed_server.route("/news.xml", rss([OLD], title="Caucasus Wire"))
    bot_config["feeds"] = [{"url": feed_server.url("/news.xml"), "name": "Caucasus Wire"}]
    return bot_config


async def subscribe_channel(bot: BorderWatchBot, guild_id: int, channel_id: int) -> SubscriptionRow:
    return await bot.rt.store.add_subscription(
        guild_id=guild_id,
        kind="channel",
        destination=str(channel_id),
        topic=TOPIC,
        created_by=None,
        now=bot.rt.clock(),
    )


async def publish(bot: BorderWatchBot, feed_server: FeedServer, items: list[Item]) -> None:
    """The feed gains items; poll it now (as the scheduler would)."""
    feed_server.route("/news.xml", rss(items, title="Caucasus Wire"))
    [feed] = await bot.rt.store.feeds()
    await bot.rt.pipeline.poll(feed)


async def test_bot_connects_and_syncs_its_commands(
    running_bot: tuple[BorderWatchBot, FakeDiscord],
) -> None:
    _bot, fake = running_bot
    names = {c.name for c in fake.global_commands()}
    assert {"feeds", "keywords", "topic", "alerts", "search", "latest", "why", "status"} <= names
    assert fake.identifies, "the bot identified on the gateway"
    assert fake.identifies[0]["intents"] & (1 << 1) == 0, "no privileged GUILD_MEMBERS intent"


async def test_matching_item_becomes_exactly_one_message_with_the_expected_embed(
    running_bot: tuple[BorderWatchBot, FakeDiscord], feed_server: FeedServer
) -> None:
    bot, fake = running_bot
    alerts = fake.guild_a.channel("alerts")
    await subscribe_channel(bot, fake.guild_a.id, alerts.id)
    await publish(bot, feed_server, [OLD, HIT, MISS])

    await fake.wait_for(lambda: len(fake.messages_in(alerts.id)) >= 1, 10, "one alert")
    await asyncio.sleep(0.3)  # nothing else may follow
    [message] = fake.messages_in(alerts.id)
    [embed] = message.embeds
    assert embed["title"] == HIT.title
    assert embed["url"] == "https://news.test/hit-1"  # tracking parameters removed
    # the query-biased summary: the matching sentence, its matched terms in bold
    assert "**Aras**" in embed["description"]
    assert "forces began **drills** on the **Aras** river" in embed["description"]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert any("Caucasus Wire" in v for v in fields.values())
    assert any("<t:" in v for v in fields.values())
    assert not message.pings
    # the outbox row is marked sent with Discord's message id
    [row] = await bot.rt.store.outbox_rows("sent")
    assert row["message_id"] == str(message.id)


async def test_non_matching_item_posts_nothing(
    running_bot: tuple[BorderWatchBot, FakeDiscord], feed_server: FeedServer
) -> None:
    bot, fake = running_bot
    alerts = fake.guild_a.channel("alerts")
    await subscribe_channel(bot, fake.guild_a.id, alerts.id)
    await publish(bot, feed_server, [OLD, MISS])
    await asyncio.sleep(0.5)
    assert fake.messages_in(alerts.id) == []
    assert await bot.rt.store.outbox_rows() == []


async def test_webhook_subscription_posts_through_the_webhook_route(
    running_bot: tuple[BorderWatchBot, FakeDiscord], feed_server: FeedServer
) -> None:
    bot, fake = running_bot
    hook = fake.create_webhook(fake.guild_b.channel("alerts").id, name="bw")
    await bot.rt.store.add_subscription(
        guild_id=fake.guild_b.id,
        kind="webhook",
        destination=hook.url,
        topic=TOPIC,
        now=bot.rt.clock(),
    )
    await publish(bot, feed_server, [OLD, HIT])
    await fake.wait_for(lambda: len(fake.webhook_messages(hook.id)) == 1, 10, "webhook alert")
    assert fake.requests_to("POST", f"/webhooks/{hook.id}/*")
    assert fake.requests_to("POST", "/channels/*/messages") == []


async def test_two_500s_then_success_posts_one_message(
    running_bot: tuple[BorderWatchBot, FakeDiscord], feed_server: FeedServer
) -> None:
    bot, fake = running_bot
    alerts = fake.guild_a.channel("alerts")
    await subscribe_channel(bot, fake.guild_a.id, alerts.id)
    failing = fake.fail_next("POST", f"/channels/{alerts.id}/messages", 500, times=2)
    await publish(bot, feed_server, [OLD, HIT])
    await fake.wait_for(lambda: len(fake.messages_in(alerts.id)) == 1, 20, "alert after 500s")
    await asyncio.sleep(0.3)
    assert failing.hits == 2
    assert len(fake.messages_in(alerts.id)) == 1


async def test_429_posts_one_message_after_the_wait(
    running_bot: tuple[BorderWatchBot, FakeDiscord], feed_server: FeedServer
) -> None:
    bot, fake = running_bot
    alerts = fake.guild_a.channel("alerts")
    await subscribe_channel(bot, fake.guild_a.id, alerts.id)
    limited = fake.fail_next("POST", f"/channels/{alerts.id}/messages", 429, retry_after=0.5)
    await publish(bot, feed_server, [OLD, HIT])
    await fake.wait_for(lambda: len(fake.messages_in(alerts.id)) == 1, 10, "alert after 429")
    assert limited.hits == 1
    posts = fake.requests_to("POST", f"/channels/{alerts.id}/messages")
    assert posts[-1].time - posts[0].time >= 0.45, "the retry waited for retry_after"
    assert len(fake.messages_in(alerts.id)) == 1


async def test_403_pauses_the_subscription_and_tells_the_guild(
    running_bot: tuple[BorderWatchBot, FakeDiscord], feed_server: FeedServer
) -> None:
    bot, fake = running_bot
    read_only = fake.guild_a.channel("read-only")  # the bot may not post there
    sub = await subscribe_channel(bot, fake.guild_a.id, read_only.id)
    await publish(bot, feed_server, [OLD, HIT])
    general = fake.guild_a.system_channel
    await fake.wait_for(lambda: len(fake.messages_in(general.id)) == 1, 10, "pause notice")
    notice = fake.messages_in(general.id)[0].content
    assert "paused" in notice
    assert "/alerts resume" in notice
    [row] = [s for s in await bot.rt.store.subscriptions(fake.guild_a.id) if s.id == sub.id]
    assert row.paused
    assert row.paused_reason
    assert fake.messages_in(read_only.id) == []
    assert len(await bot.rt.store.outbox_rows("pending")) == 1  # kept, not lost


async def test_feed_text_cannot_ping_or_break_the_embed(
    running_bot: tuple[BorderWatchBot, FakeDiscord], feed_server: FeedServer
) -> None:
    bot, fake = running_bot
    alerts = fake.guild_a.channel("alerts")
    await subscribe_channel(bot, fake.guild_a.id, alerts.id)
    hostile = Item(
        "hostile-1",
        "@everyone Iran Azerbaijan border **drills** <@123> [click](https://evil.test)",
        "@here Iranian drills on the Aras border with Azerbaijan <@&456> ``` ||spoiler|| "
        "[login](https://evil.test/x) <#789>",
        7,
    )
    await publish(bot, feed_server, [OLD, hostile])
    await fake.wait_for(lambda: len(fake.messages_in(alerts.id)) == 1, 10, "hostile alert")
    [message] = fake.messages_in(alerts.id)
    assert not message.pings, message.pings
    assert message.allowed_mentions == {
        "parse": [],
        "roles": [],
    } or not message.allowed_mentions.get("parse")
    text = message.text()
    assert "@everyone" not in text.replace("@\u200beveryone", "")
    assert "](https://evil.test" not in text.replace("\\]", "")


async def test_oversized_item_is_trimmed_within_every_limit(
    running_bot: tuple[BorderWatchBot, FakeDiscord], feed_server: FeedServer
) -> None:
    bot, fake = running_bot
    alerts = fake.guild_a.channel("alerts")
    await subscribe_channel(bot, fake.guild_a.id, alerts.id)
    words = " ".join(["Iranian drills near the Aras border with Azerbaijan continue."] * 900)
    huge = Item("huge-1", "Iran Azerbaijan border drills " + "very long title " * 60, words, 8)
    await publish(bot, feed_server, [OLD, huge])
    await fake.wait_for(lambda: len(fake.messages_in(alerts.id)) == 1, 10, "oversized alert")
    [message] = fake.messages_in(alerts.id)
    [embed] = message.embeds
    assert len(embed["title"]) <= 256
    assert len(embed.get("description", "")) <= 4096
    total = (
        len(embed["title"])
        + len(embed.get("description", ""))
        + sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", []))
        + len(embed.get("footer", {}).get("text", ""))
    )
    assert total <= 6000
    assert fake.requests_to("POST", f"/channels/{alerts.id}/messages")[0].status == 200


# -- a real process killed between storing and delivering ------------------------------------


def _write_config(tmp_path: Path, feed_url: str, channel_id: int, guild_id: int) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[bot]
database = "{tmp_path / "bw.db"}"
log_level = "INFO"
[fetch]
allow_private_networks = true
[schedule]
default_interval_minutes = 0.02
min_interval_minutes = 0.01
jitter_seconds = 0
[lists]
iran = ["Iran", "Iranian", "Tehran"]
azerbaijan = ["Azerbaijan", "Baku"]
border = ["border", "Aras", "drill*"]
[topics.{TOPIC}]
query = "@iran AND @azerbaijan AND @border"
[[feeds]]
url = "{feed_url}"
name = "Caucasus Wire"
[[subscriptions]]
topic = "{TOPIC}"
channel_id = {channel_id}
guild_id = {guild_id}
""",
        encoding="utf-8",
    )
    return path


def _db_rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    if not db.exists():
        return []
    try:
        conn = sqlite3.connect(db, timeout=5)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return []


async def _wait(predicate: Any, timeout: float, what: str) -> None:  # noqa: ASYNC109
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.05)


async def _spawn(config: Path, fake: FakeDiscord, tmp_path: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, **fake.env(), "PYTHONUNBUFFERED": "1"}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "--config",
        str(config),
        "run",
        cwd=str(tmp_path),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "bot.log", "ab"),  # noqa: ASYNC230
    )


@pytest.mark.slow
async def test_sigkill_after_storing_before_delivery_then_restart_delivers_each_alert_once(
    fake_discord: FakeDiscord, feed_server: FeedServer, tmp_path: Path
) -> None:
    fake = fake_discord
    alerts = fake.guild_a.channel("alerts")
    route = feed_server.route("/news.xml", rss([OLD], title="Caucasus Wire"))
    config = _write_config(tmp_path, feed_server.url("/news.xml"), alerts.id, fake.guild_a.id)
    db = tmp_path / "bw.db"

    # Discord refuses every post, so alerts pile up in the outbox.
    fake.fail_next("POST", f"/channels/{alerts.id}/messages", 503, times=None)
    proc = await _spawn(config, fake, tmp_path)
    try:
        await _wait(
            lambda: bool(_db_rows(db, "SELECT 1 FROM feeds WHERE baselined = 1")),
            30,
            "baseline poll",
        )
        hits = [
            Item(
                f"hit-{n}",
                f"Iran drills near the Azerbaijan border, part {n}",
                "Iranian troops on the Aras border.",
                10 + n,
            )
            for n in range(3)
        ]
        route.body = rss([OLD, *hits], title="Caucasus Wire")
        await _wait(lambda: len(_db_rows(db, "SELECT 1 FROM outbox")) == 3, 30, "outbox rows")
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    assert fake.messages_in(alerts.id) == []

    fake.clear_failures()
    proc = await _spawn(config, fake, tmp_path)
    try:
        await fake.wait_for(lambda: len(fake.messages_in(alerts.id)) >= 3, 30, "3 alerts")
        await asyncio.sleep(1.0)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            raise
    titles = sorted(m.embeds[0]["title"] for m in fake.messages_in(alerts.id))
    assert titles == sorted(h.title for h in hits)
    assert proc.returncode == 0
    assert _db_rows(db, "SELECT COUNT(*) FROM outbox WHERE status = 'sent'") == [(3,)]
