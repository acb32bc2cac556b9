"""/topic show, set, test: view, replace and try the guild's topic query (admins only)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.core.engine import Engine
from bot.core.explain import explain, render_explanation
from bot.core.rules import QuerySyntaxError, parse
from bot.core.types import Document
from bot.discord_app import replies
from bot.discord_app.cogs._common import (
    AdminGroupCog,
    UserError,
    catalog_of,
    check_guild_topics,
    defer,
    guild_id_of,
    reply,
    resolve_topic,
    runtime_of,
    topic_autocomplete,
)
from bot.store.repo import GuildTopicStore

if TYPE_CHECKING:
    from bot.discord_app.bot import BorderWatchBot

_TOPIC_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class Topic(
    AdminGroupCog,
    group_name="topic",
    group_description="View, change and try this server's topic query (Manage Server)",
):
    def __init__(self, bot: BorderWatchBot) -> None:
        self.bot = bot

    @app_commands.command(name="show", description="Show a topic's query and where it comes from")
    @app_commands.describe(topic="The topic (default: this server's only topic)")
    @app_commands.autocomplete(topic=topic_autocomplete)
    async def show(self, interaction: discord.Interaction[Any], topic: str | None = None) -> None:
        guild_id = guild_id_of(interaction)
        catalog = catalog_of(interaction)
        name = resolve_topic(catalog, guild_id, topic)
        query = catalog.query_for(guild_id, name) or ""
        customised = name in catalog.guild_topics.get(guild_id, {})
        await reply(interaction, embed=replies.topic_show(name, query, customised))

    @app_commands.command(
        name="set", description="Replace a topic's query (checked first; a new name creates one)"
    )
    @app_commands.describe(
        query='The query, e.g. @iran AND @azerbaijan AND (border OR "Aras river")',
        topic="The topic to change (default: this server's only topic)",
    )
    @app_commands.autocomplete(topic=topic_autocomplete)
    async def set_(
        self,
        interaction: discord.Interaction[Any],
        query: app_commands.Range[str, 1, 4000],
        topic: app_commands.Range[str, 1, 40] | None = None,
    ) -> None:
        rt = runtime_of(interaction)
        guild_id = guild_id_of(interaction)
        catalog = catalog_of(interaction)
        limit = rt.settings.discord.max_query_chars
        if len(query) > limit:
            raise UserError(
                f"That query has {len(query)} characters; the limit is {limit}. Move long "
                "alternatives into a keyword list (`/keywords add`) and refer to it as @list."
            )
        known = catalog.topic_names(guild_id)
        created = False
        if topic is not None and topic.strip().casefold() not in {n.casefold() for n in known}:
            name = topic.strip().lower()
            if not _TOPIC_NAME.fullmatch(name):
                raise UserError(
                    "A topic name is lower-case letters, digits and - (at most 40), like "
                    "`iran-azerbaijan-border`."
                )
            created = True
        else:
            name = resolve_topic(catalog, guild_id, topic)
        try:
            parse(query, catalog.lists_for(guild_id))
        except QuerySyntaxError as exc:
            raise UserError(replies.query_error(query, exc.message, exc.column)) from None
        own = dict(catalog.guild_topics.get(guild_id, {}))
        own[name] = query
        check_guild_topics(catalog, guild_id, topics=own)
        await defer(interaction)
        await GuildTopicStore(rt.store).save_topic(
            guild_id, name, query, interaction.user.id, rt.clock()
        )
        await rt.reload_topics()
        await reply(interaction, replies.topic_saved(name, query, created))

    @app_commands.command(name="test", description="Try a topic on a text: match, score, clauses")
    @app_commands.describe(
        text="The text to test, as an item's body",
        topic="The topic (default: this server's only topic)",
        title="An item title to test together with the text",
    )
    @app_commands.autocomplete(topic=topic_autocomplete)
    async def test(
        self,
        interaction: discord.Interaction[Any],
        text: app_commands.Range[str, 1, 4000],
        topic: str | None = None,
        title: app_commands.Range[str, 1, 300] | None = None,
    ) -> None:
        rt = runtime_of(interaction)
        guild_id = guild_id_of(interaction)
        catalog = catalog_of(interaction)
        name = resolve_topic(catalog, guild_id, topic)
        definition = catalog.definition(guild_id, name)
        assert definition is not None  # resolve_topic returns defined topics only
        doc = Document(title=title or "", body=text)
        found = Engine.single(definition).match(doc)
        mins = [s.min_score for s in await rt.store.subscriptions(guild_id) if s.topic == name]
        explanation = render_explanation(explain(definition, doc))
        embed = replies.topic_test(name, found[0] if found else None, explanation, mins)
        await reply(interaction, embed=embed)


async def setup(bot: BorderWatchBot) -> None:
    await bot.add_cog(Topic(bot))
