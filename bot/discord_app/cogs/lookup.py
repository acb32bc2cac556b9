"""/search, /latest, /why, /status: lookups for every member, over this server's data only."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.engine import Engine
from bot.core.explain import explain, render_explanation
from bot.core.types import Document, TopicMatch
from bot.discord_app import replies
from bot.discord_app.cogs._common import (
    UserError,
    bot_of,
    catalog_of,
    choices,
    defer,
    find_feed,
    guild_id_of,
    reply,
    runtime_of,
    topic_autocomplete,
    user_cooldown,
)
from bot.store.lookup import LookupStore, WhyReport, fts_query

if TYPE_CHECKING:
    from bot.discord_app.bot import BorderWatchBot

SEARCH_RESULTS = 50  # ten pages of five
MAX_EXPLAINED_TOPICS = 3


def _message_urls(guild: discord.Guild | None, report: WhyReport) -> dict[str, str]:
    """Jump URLs of the sent alerts of an item (a forum post's thread id is its message id)."""
    if guild is None:
        return {}
    subs = {s.id: s for s in report.subscriptions}
    urls: dict[str, str] = {}
    for d in report.deliveries:
        sub = subs.get(d.subscription_id)
        if d.message_id is None or sub is None or sub.kind != "channel":
            continue
        channel_id: int | str = sub.destination
        if isinstance(guild.get_channel(int(sub.destination)), discord.ForumChannel):
            channel_id = d.message_id
        urls[d.message_id] = replies.message_url(guild.id, channel_id, d.message_id)
    return urls


class Lookup(commands.Cog):
    def __init__(self, bot: BorderWatchBot) -> None:
        self.bot = bot

    async def feed_autocomplete(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        if interaction.guild_id is None:
            return []
        feeds = await LookupStore(runtime_of(interaction).store).guild_feeds(interaction.guild_id)
        return choices(((f.name, str(f.id)) for f in feeds), current)

    @app_commands.command(name="search", description="Search stored news items (full text)")
    @app_commands.describe(
        query='Words that must all appear; "a phrase", prefix*, a OR b',
        days="Only items from the last N days",
        feed="Only items of this feed",
    )
    @app_commands.autocomplete(feed=feed_autocomplete)
    @app_commands.checks.dynamic_cooldown(user_cooldown)
    @app_commands.guild_only()
    async def search(
        self,
        interaction: discord.Interaction[Any],
        query: app_commands.Range[str, 1, 200],
        days: app_commands.Range[int, 1, 3650] | None = None,
        feed: str | None = None,
    ) -> None:
        rt = runtime_of(interaction)
        guild_id = guild_id_of(interaction)
        if fts_query(query) is None:
            raise UserError("Type at least one word (letters or digits) to search for.")
        lookup = LookupStore(rt.store)
        feed_id: int | None = None
        feed_name: str | None = None
        if feed is not None:
            found = find_feed(await lookup.guild_feeds(guild_id), feed)
            if found is None:
                raise UserError("That is not one of this server's feeds. See `/feeds list`.")
            feed_id, feed_name = found.id, found.name
        await defer(interaction)
        since = rt.clock() - timedelta(days=days) if days else None
        page = await lookup.search(
            guild_id, query, since=since, feed_id=feed_id, limit=SEARCH_RESULTS
        )
        await reply(interaction, pages=replies.search_pages(query, page, days, feed_name))

    @app_commands.command(name="latest", description="The most recent alerts of this server")
    @app_commands.describe(count="How many (1-10, default 5)", topic="Only alerts of this topic")
    @app_commands.autocomplete(topic=topic_autocomplete)
    @app_commands.guild_only()
    async def latest(
        self,
        interaction: discord.Interaction[Any],
        count: app_commands.Range[int, 1, 10] = 5,
        topic: str | None = None,
    ) -> None:
        rt = runtime_of(interaction)
        guild_id = guild_id_of(interaction)
        alerts = await LookupStore(rt.store).latest_alerts(guild_id, topic=topic, limit=count)
        await reply(interaction, embed=replies.latest(alerts, topic))

    @app_commands.command(
        name="why", description="Why an item was posted or not: matched clauses, delivery state"
    )
    @app_commands.describe(link_or_id="The item's link, or its id from /search or /latest")
    @app_commands.guild_only()
    async def why(
        self, interaction: discord.Interaction[Any], link_or_id: app_commands.Range[str, 1, 2000]
    ) -> None:
        rt = runtime_of(interaction)
        guild_id = guild_id_of(interaction)
        catalog = catalog_of(interaction)
        lookup = LookupStore(rt.store)
        item = await lookup.find_item(guild_id, link_or_id)
        if item is None:
            raise UserError(
                "No stored item of this server's feeds has that link or id. Find ids with "
                "`/search`; items older than the retention period are gone."
            )
        await defer(interaction)
        report = await lookup.why(guild_id, item)
        names = list(dict.fromkeys(s.topic for s in report.subscriptions))
        names = names or catalog.topic_names(guild_id)
        doc = Document(title=item.title, body=item.summary)
        explained: list[tuple[str, TopicMatch | None, str]] = []
        matched_now: dict[str, bool] = {}
        for name in names[:MAX_EXPLAINED_TOPICS]:
            definition = catalog.definition(guild_id, name)
            if definition is None:  # the subscription names a topic that no longer exists
                continue
            found = Engine.single(definition).match(doc)
            matched_now[name] = bool(found)
            text = render_explanation(explain(definition, doc))
            explained.append((name, found[0] if found else None, text))
        verdicts = replies.why_verdicts(
            guild_id, report, _message_urls(interaction.guild, report), matched_now
        )
        await reply(interaction, embed=replies.why(report, verdicts, explained))

    @app_commands.command(
        name="status", description="Feeds polled, items and alerts today, deliveries, uptime"
    )
    @app_commands.guild_only()
    async def status(self, interaction: discord.Interaction[Any]) -> None:
        bot = bot_of(interaction)
        rt = runtime_of(interaction)
        now = rt.clock()
        day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        counts = await LookupStore(rt.store).guild_status(guild_id_of(interaction), day_start)
        latency = bot.latency * 1000 if math.isfinite(bot.latency) else None
        embed = replies.status(
            counts, now=now, started_at=bot.started_at, version=bot.version, latency_ms=latency
        )
        await reply(interaction, embed=embed)


async def setup(bot: BorderWatchBot) -> None:
    await bot.add_cog(Lookup(bot))
