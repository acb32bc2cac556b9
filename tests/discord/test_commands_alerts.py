"""/alerts subscribe, unsubscribe, list, pause, resume end to end, guild isolation included."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from bot.discord_app.bot import BorderWatchBot
from tests.discord.conftest import TOPIC
from tests.fakediscord import EMBED_LINKS, SEND_MESSAGES, FakeDiscord, Overwrite

Bot = tuple[BorderWatchBot, FakeDiscord]


def db_rows(bot: BorderWatchBot, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(bot.rt.store.path)
    try:
        return list(conn.execute(sql, params).fetchall())
    finally:
        conn.close()


def subscriptions(bot: BorderWatchBot) -> list[tuple[Any, ...]]:
    return db_rows(
        bot,
        "SELECT guild_id, kind, destination, topic, min_score, role_id, paused, created_by"
        " FROM subscriptions ORDER BY id",
    )


async def subscribe(fake: FakeDiscord, channel: str = "alerts", **options: Any) -> Any:
    guild = options.pop("guild", fake.guild_a)
    return await fake.invoke(
        "alerts subscribe",
        guild_id=guild,
        options={"channel": guild.channel(channel), **options},
    )


async def test_subscribe_a_text_channel_with_role_and_min_score(running_bot: Bot) -> None:
    bot, fake = running_bot
    a = fake.guild_a
    alerts, watchers = a.channel("alerts"), a.role("Border Watchers")
    record = await subscribe(fake, min_score=40, role=watchers)
    assert record.ephemeral
    [(sub_id,)] = db_rows(bot, "SELECT id FROM subscriptions")
    assert record.content == (
        f"Subscribed: <#{alerts.id}> gets alerts for topic **{TOPIC}** with a score of at least "
        f"40, pinging <@&{watchers.id}> (subscription `#{sub_id}`)."
    )
    assert record.original is not None
    assert not record.original.pings  # the confirmation itself pings nobody
    assert subscriptions(bot) == [
        (a.id, "channel", str(alerts.id), TOPIC, 40.0, watchers.id, 0, fake.user("alice").id)
    ]
    again = await subscribe(fake, min_score=10)
    assert again.content.startswith(f"Updated the subscription: <#{alerts.id}>")
    assert len(subscriptions(bot)) == 1
    assert subscriptions(bot)[0][4:6] == (10.0, None)


@pytest.mark.parametrize("channel", ["alerts-thread", "reports"])
async def test_subscribe_a_thread_or_a_forum(running_bot: Bot, channel: str) -> None:
    bot, fake = running_bot
    record = await subscribe(fake, channel)
    target = fake.guild_a.channel(channel)
    assert record.content.startswith(f"Subscribed: <#{target.id}> gets alerts")
    assert subscriptions(bot)[0][1:3] == ("channel", str(target.id))


@pytest.mark.parametrize(
    ("channel", "missing"),
    [
        ("read-only", "**Send Messages**"),
        ("staff-only", "**View Channel**"),
    ],
)
async def test_subscribe_names_the_missing_permission(
    running_bot: Bot, channel: str, missing: str
) -> None:
    bot, fake = running_bot
    record = await subscribe(fake, channel)
    target = fake.guild_a.channel(channel)
    assert record.ephemeral
    assert record.content.startswith(
        f"BorderWatch cannot post in <#{target.id}>: it lacks {missing} there."
    )
    assert record.content.endswith("Nothing was changed.")
    assert subscriptions(bot) == []


async def test_subscribe_checks_threads_and_forums_by_their_own_permissions(
    running_bot: Bot,
) -> None:
    bot, fake = running_bot
    a = fake.guild_a
    bot_role = a.role("BorderWatch")
    # Sending in threads and creating forum posts are separate permissions in Discord.
    await fake.set_channel_overwrites(
        a.channel("alerts").id,
        [Overwrite(bot_role.id, 0, deny=1 << 38)],  # SEND_MESSAGES_IN_THREADS
    )
    await fake.set_channel_overwrites(
        a.channel("reports").id, [Overwrite(bot_role.id, 0, deny=SEND_MESSAGES)]
    )
    await fake.wait_for(
        lambda: (
            not bot.get_channel(a.channel("reports").id)
            .permissions_for(  # type: ignore[union-attr]
                bot.get_guild(a.id).me  # type: ignore[union-attr]
            )
            .send_messages
        )
    )
    thread = await subscribe(fake, "alerts-thread")
    assert "it lacks **Send Messages in Threads** there" in thread.content
    forum = await subscribe(fake, "reports")
    assert "it lacks **Create Posts** there" in forum.content
    assert subscriptions(bot) == []


async def test_subscribe_through_a_webhook_keeps_its_token_out_of_replies(
    running_bot: Bot,
) -> None:
    bot, fake = running_bot
    hook = fake.create_webhook(fake.guild_a.channel("alerts").id)
    record = await subscribe(fake, "read-only", webhook_url=hook.url)  # no bot access needed
    assert record.content.startswith(f"Subscribed: webhook {hook.id} gets alerts")
    assert hook.token not in record.content
    assert subscriptions(bot)[0][1:3] == ("webhook", hook.url)
    listed = await fake.invoke("alerts list")
    assert f"webhook {hook.id}" in listed.text()
    assert hook.token not in listed.text()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://example.org/api/webhooks/1/abc", "example.org is not Discord"),
        ("http://discord.com/api/webhooks/1/abc", "starts with https://"),
        ("https://discord.com/api/channels/123", "expected https://discord.com/api/webhooks/"),
    ],
)
async def test_subscribe_refuses_a_bad_webhook_url(running_bot: Bot, url: str, reason: str) -> None:
    bot, fake = running_bot
    record = await subscribe(fake, webhook_url=url)
    assert record.content.startswith("That webhook URL cannot be used: ")
    assert reason in record.content
    assert subscriptions(bot) == []


async def test_subscribe_refuses_an_unknown_topic_and_the_everyone_role(running_bot: Bot) -> None:
    bot, fake = running_bot
    unknown = await subscribe(fake, topic="oil-prices")
    assert unknown.content == f"There is no topic `oil-prices` here. Topics: `{TOPIC}`"
    everyone = await subscribe(fake, role=fake.guild_a.everyone)
    assert everyone.content == "Pick a role to mention, not @everyone."
    assert subscriptions(bot) == []


async def test_guild_b_cannot_see_or_change_guild_as_subscription(running_bot: Bot) -> None:
    bot, fake = running_bot
    b = fake.guild_b
    await subscribe(fake)
    [(sub_id,)] = db_rows(bot, "SELECT id FROM subscriptions")

    listed = await fake.invoke("alerts list", guild_id=b)
    assert "No subscriptions" in listed.text()
    assert (
        await fake.autocomplete(
            "alerts unsubscribe", "subscription", guild_id=b, options={"subscription": ""}
        )
        == []
    )
    for command in ("alerts unsubscribe", "alerts pause", "alerts resume"):
        record = await fake.invoke(command, guild_id=b, options={"subscription": str(sub_id)})
        assert record.content == (
            f"This server has no subscription `{sub_id}`. See `/alerts list`."
        )
    assert db_rows(bot, "SELECT guild_id, paused FROM subscriptions") == [(fake.guild_a.id, 0)]

    offered = await fake.autocomplete(
        "alerts unsubscribe", "subscription", options={"subscription": ""}
    )
    assert offered == [{"name": f"#{sub_id} #alerts · {TOPIC}", "value": str(sub_id)}]


async def test_pause_resume_and_unsubscribe(running_bot: Bot) -> None:
    bot, fake = running_bot
    await subscribe(fake)
    [(sub_id,)] = db_rows(bot, "SELECT id FROM subscriptions")
    option = {"subscription": str(sub_id)}

    paused = await fake.invoke("alerts pause", options=option)
    assert paused.content.startswith(f"Paused subscription `#{sub_id}`.")
    assert db_rows(bot, "SELECT paused, paused_reason FROM subscriptions") == [
        (1, "paused by alice with /alerts pause")
    ]
    assert "paused: paused by alice" in (await fake.invoke("alerts list")).text()
    twice = await fake.invoke("alerts pause", options=option)
    assert twice.content == f"Subscription `#{sub_id}` is already paused."

    resumed = await fake.invoke("alerts resume", options=option)
    assert resumed.content == f"Resumed subscription `#{sub_id}`: new alerts are posted again."
    assert db_rows(bot, "SELECT paused, paused_reason FROM subscriptions") == [(0, None)]

    gone = await fake.invoke("alerts unsubscribe", options=option)
    assert gone.content.startswith(f"Deleted subscription `#{sub_id}`")
    assert subscriptions(bot) == []


async def test_resume_checks_the_bot_can_post_again(running_bot: Bot) -> None:
    bot, fake = running_bot
    a = fake.guild_a
    await subscribe(fake)
    [(sub_id,)] = db_rows(bot, "SELECT id FROM subscriptions")
    await fake.invoke("alerts pause", options={"subscription": str(sub_id)})
    bot_role = a.role("BorderWatch")
    await fake.set_channel_overwrites(
        a.channel("alerts").id, [Overwrite(bot_role.id, 0, deny=SEND_MESSAGES)]
    )
    await fake.wait_for(
        lambda: (
            not bot.get_channel(a.channel("alerts").id)
            .permissions_for(  # type: ignore[union-attr]
                bot.get_guild(a.id).me  # type: ignore[union-attr]
            )
            .send_messages
        )
    )
    record = await fake.invoke("alerts resume", options={"subscription": str(sub_id)})
    assert "it lacks **Send Messages** there" in record.content
    assert db_rows(bot, "SELECT paused FROM subscriptions") == [(1,)]


async def test_a_member_cannot_subscribe(running_bot: Bot) -> None:
    bot, fake = running_bot
    record = await fake.invoke(
        "alerts subscribe",
        user_id=fake.user("bob"),
        options={"channel": fake.guild_a.channel("alerts")},
    )
    assert record.content == (
        "You need the **Manage Server** permission to use /alerts subscribe. Ask a server admin."
    )
    assert subscriptions(bot) == []


async def test_subscribe_needs_embed_links(running_bot: Bot) -> None:
    bot, fake = running_bot
    a = fake.guild_a
    await fake.set_channel_overwrites(
        a.channel("alerts").id, [Overwrite(a.role("BorderWatch").id, 0, deny=EMBED_LINKS)]
    )
    await fake.wait_for(
        lambda: (
            not bot.get_channel(a.channel("alerts").id)
            .permissions_for(  # type: ignore[union-attr]
                bot.get_guild(a.id).me  # type: ignore[union-attr]
            )
            .embed_links
        )
    )
    record = await subscribe(fake)
    assert "it lacks **Embed Links** there. Grant it to the bot" in record.content
    assert subscriptions(bot) == []


async def test_a_channel_of_another_guild_is_refused(running_bot: Bot) -> None:
    bot, fake = running_bot
    # Discord never offers it, but a forged interaction could name guild B's channel.
    record = await fake.invoke(
        "alerts subscribe", options={"channel": fake.guild_b.channel("alerts")}
    )
    assert record.content in (
        "That channel is not in this server.",
        # discord.py may already refuse to resolve a channel outside the interaction's guild.
        "BorderWatch cannot see that channel, or it is not a text channel, thread or forum. "
        "Give the bot the **View Channel** permission there and try again.",
    )
    assert subscriptions(bot) == []
