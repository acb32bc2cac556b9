"""Every registered command: descriptions, unique names, permissions; the shared error handler."""

from __future__ import annotations

import logging
import re
from collections import Counter

import pytest
from discord import app_commands

from bot.discord_app.bot import EXTENSIONS, BorderWatchBot
from bot.store.lookup import LookupStore
from tests.fakediscord import MANAGE_GUILD, FakeDiscord

Bot = tuple[BorderWatchBot, FakeDiscord]

ADMIN_GROUPS = {"feeds", "keywords", "topic", "alerts"}
EVERYONE = {"search", "latest", "why", "status"}
MISSING = "…"  # discord.py's placeholder for a command or option without a description
FINITE_SETS = {"feed", "list", "term", "topic", "subscription"}
NEW_VALUES = {("keywords add", "term")}  # a new term: nothing to choose from


def all_commands(bot: BorderWatchBot) -> list[app_commands.Command | app_commands.Group]:  # type: ignore[type-arg]
    out: list[app_commands.Command | app_commands.Group] = []  # type: ignore[type-arg]
    for command in bot.tree.get_commands():
        out.append(command)  # type: ignore[arg-type]
        if isinstance(command, app_commands.Group):
            out.extend(command.walk_commands())
    return out


async def test_every_command_has_descriptions_and_a_unique_name(running_bot: Bot) -> None:
    bot, fake = running_bot
    commands = all_commands(bot)
    problems = []
    for command in commands:
        if not command.description or command.description == MISSING:
            problems.append(f"/{command.qualified_name}: no description")
        if isinstance(command, app_commands.Command):
            for param in command.parameters:
                if not param.description or param.description == MISSING:
                    problems.append(
                        f"/{command.qualified_name} {param.display_name}: no description"
                    )
                key = (command.qualified_name, param.display_name)
                if (
                    param.display_name in FINITE_SETS
                    and key not in NEW_VALUES
                    and not (param.autocomplete)
                ):
                    problems.append(
                        f"/{command.qualified_name} {param.display_name}: no autocomplete"
                    )
    assert problems == []
    names = Counter(c.qualified_name for c in commands)
    assert [n for n, k in names.items() if k > 1] == []
    top = Counter(c.name for c in bot.tree.get_commands())
    assert [n for n, k in top.items() if k > 1] == []
    assert set(top) == ADMIN_GROUPS | EVERYONE
    # What Discord received (the synced payload) agrees.
    synced = {c.name: c for c in fake.global_commands()}
    assert set(synced) == ADMIN_GROUPS | EVERYONE
    assert all(c.description for c in synced.values())


async def test_admin_groups_need_manage_server_and_a_guild(running_bot: Bot) -> None:
    bot, fake = running_bot
    for name in ADMIN_GROUPS:
        stored = fake.command(name)
        assert stored.default_member_permissions == str(MANAGE_GUILD), name
        assert stored.data.get("contexts") == [0], name  # guild only
    for name in EVERYONE:
        stored = fake.command(name)
        assert stored.default_member_permissions is None, name
        assert stored.data.get("contexts") == [0], name
    assert set(bot.extensions) == set(EXTENSIONS)


async def test_subcommands_are_the_documented_ones(running_bot: Bot) -> None:
    bot, _fake = running_bot
    got = sorted(c.qualified_name for c in all_commands(bot) if isinstance(c, app_commands.Command))
    assert got == sorted(
        [
            "alerts list",
            "alerts pause",
            "alerts resume",
            "alerts subscribe",
            "alerts unsubscribe",
            "feeds add",
            "feeds list",
            "feeds remove",
            "feeds status",
            "keywords add",
            "keywords list",
            "keywords remove",
            "latest",
            "search",
            "status",
            "topic set",
            "topic show",
            "topic test",
            "why",
        ]
    )


async def test_an_unexpected_error_is_logged_with_context_and_an_error_id(
    running_bot: Bot, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _bot, fake = running_bot

    async def broken(self: LookupStore, guild_id: int, day_start: object) -> None:
        raise RuntimeError("database fell over")

    monkeypatch.setattr(LookupStore, "guild_status", broken)
    with caplog.at_level(logging.ERROR, logger="bot.discord_app.cogs.errors"):
        record = await fake.invoke("status", user_id=fake.user("bob"))
    assert record.ephemeral
    match = re.fullmatch(
        r"Sorry, something went wrong on our side \(error id `([0-9a-f]{8})`\)\. Nothing you did "
        r"caused it; a server admin can find the details in the bot's log under that id\.",
        record.content,
    )
    assert match is not None, record.content
    [logged] = [r for r in caplog.records if match.group(1) in r.getMessage()]
    message = logged.getMessage()
    assert "/status" in message
    assert f"guild {fake.guild_a.id}" in message
    assert f"user {fake.user('bob').id}" in message
    assert logged.exc_info is not None
    assert "database fell over" in str(logged.exc_info[1])
    assert "database fell over" not in record.content  # internals stay in the log
    # The bot keeps working.
    monkeypatch.undo()
    assert (await fake.invoke("status")).embeds[0]["title"] == "BorderWatch status"


async def test_webhook_tokens_are_redacted_from_error_logs(
    running_bot: Bot, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    bot, fake = running_bot
    hook = fake.create_webhook(fake.guild_a.channel("alerts").id)

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("store exploded")

    monkeypatch.setattr(bot.rt.store, "add_subscription", broken)
    with caplog.at_level(logging.ERROR, logger="bot.discord_app.cogs.errors"):
        record = await fake.invoke(
            "alerts subscribe",
            options={"channel": fake.guild_a.channel("alerts"), "webhook_url": hook.url},
        )
    assert record.content.startswith("Sorry, something went wrong on our side")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "webhook_url" in text
    assert hook.token not in text
