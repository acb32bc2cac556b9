"""/feeds add, remove, list, status: the feeds a server follows (admins only)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.core.engine import Engine
from bot.core.topics import TopicCatalog
from bot.core.types import Document, Entry
from bot.discord_app import replies
from bot.discord_app.cogs._common import (
    AdminGroupCog,
    UserError,
    catalog_of,
    choices,
    defer,
    find_feed,
    guild_id_of,
    guild_topic_ids,
    is_admin,
    reply,
    runtime_of,
    user_cooldown,
)
from bot.feeds.netguard import UnsafeURLError, check_url
from bot.feeds.parse import FeedParseError
from bot.store.lookup import LookupStore

if TYPE_CHECKING:
    from bot.discord_app.bot import BorderWatchBot

PREVIEW_ITEMS = 3
_UNDATED = datetime.min.replace(tzinfo=UTC)


def preview_items(
    engine: Engine, catalog: TopicCatalog, guild_id: int, entries: Sequence[Entry]
) -> tuple[replies.PreviewItem, ...]:
    """The newest entries, each with the guild's topics it matches (name, score)."""
    newest = sorted(entries, key=lambda e: e.published or e.updated or _UNDATED, reverse=True)
    newest = newest[:PREVIEW_ITEMS]
    ids = guild_topic_ids(catalog, guild_id)
    out = []
    for e in newest:
        found = engine.match(Document(title=e.title, body=e.summary))
        matches = tuple((ids[m.topic], m.score) for m in found if m.topic in ids)
        out.append(replies.PreviewItem(e.title, e.link, e.published or e.updated, matches))
    return tuple(out)


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class Feeds(
    AdminGroupCog,
    group_name="feeds",
    group_description="Manage the news feeds this server follows (Manage Server)",
):
    def __init__(self, bot: BorderWatchBot) -> None:
        self.bot = bot

    async def own_feed_autocomplete(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        if not is_admin(interaction):
            return []
        feeds = await LookupStore(runtime_of(interaction).store).guild_feeds(
            guild_id_of(interaction)
        )
        return choices(((f"{f.name} · {f.url}", str(f.id)) for f in feeds if f.followed), current)

    @app_commands.command(
        name="add",
        description="Follow a feed (RSS/Atom/RDF): check it, preview its newest items, poll it",
    )
    @app_commands.describe(
        url="The feed's address, starting with http:// or https://",
        name="A name to show for it (default: the feed's own title)",
        interval="Minutes between polls (default: the server's setting)",
    )
    @app_commands.checks.dynamic_cooldown(user_cooldown)
    async def add(
        self,
        interaction: discord.Interaction[Any],
        url: app_commands.Range[str, 1, 2000],
        name: app_commands.Range[str, 1, 100] | None = None,
        interval: app_commands.Range[int, 1, 10080] | None = None,
    ) -> None:
        rt = runtime_of(interaction)
        guild_id = guild_id_of(interaction)
        url = url.strip()
        try:  # before any request: scheme, host, literal and numeric IPs, localhost
            check_url(url, rt.settings.fetch.allow_private_networks)
        except UnsafeURLError as exc:
            raise UserError(f"That URL is refused: {exc}. Nothing was added.") from None
        schedule = rt.settings.schedule
        if interval is not None and not (
            schedule.min_interval_minutes <= interval <= schedule.max_interval_minutes
        ):
            raise UserError(
                f"The interval must be between {schedule.min_interval_minutes:g} and "
                f"{schedule.max_interval_minutes:g} minutes."
            )
        lookup = LookupStore(rt.store)
        existing = next((f for f in await lookup.guild_feeds(guild_id) if f.url == url), None)
        if existing is not None:
            origin = " (it comes from the config file)" if existing.from_config else ""
            raise UserError(
                f"This server already follows that feed as **{replies.inline(existing.name)}**"
                f"{origin}. See `/feeds list`."
            )
        limit = rt.settings.discord.max_feeds_per_guild
        if await lookup.followed_count(guild_id) >= limit:
            raise UserError(
                f"This server follows {limit} feeds, the limit. Remove one with `/feeds remove` "
                "first."
            )

        await defer(interaction)  # a fetch and a baseline poll can take several seconds
        result = await rt.fetcher.fetch(url)
        if result.status != "ok" or result.body is None:
            raise UserError(
                f"Could not fetch that feed: {result.error or 'no answer'}. Nothing was added."
            )
        now = rt.clock()
        try:
            parsed = await rt.pipeline.parser.parse(
                result.body, dict(result.headers), now, result.url
            )
        except FeedParseError as exc:
            raise UserError(
                f"That is not a feed BorderWatch can read: {exc}. Nothing was added."
            ) from None

        feed, _added = await rt.store.add_guild_feed(
            guild_id,
            url,
            name=name,
            interval_minutes=interval,
            added_by=interaction.user.id,
            now=now,
        )
        already_known = feed.baselined
        baselined = 0
        warning = f"readable but malformed: {parsed.bozo_reason}" if parsed.bozo else None
        if not feed.baselined:
            # The first poll records the backlog as already seen: nothing old is posted.
            report = await rt.pipeline.poll(feed)
            baselined = report.new_items
            if report.outcome == "error":
                warning = f"the first poll failed ({report.error}); it is retried on schedule"
        await rt.scheduler.sync_feeds()
        preview = replies.FeedPreview(
            feed_id=feed.id,
            url=url,
            title=parsed.title or url,
            name=name,
            newest=preview_items(
                rt.pipeline.engine, catalog_of(interaction), guild_id, parsed.entries
            ),
            entries=len(parsed.entries),
            baselined=baselined,
            already_known=already_known,
            interval_minutes=feed.interval_minutes or schedule.default_interval_minutes,
            warning=warning,
        )
        await reply(interaction, embed=replies.feed_added(preview))

    @app_commands.command(name="remove", description="Stop following one of this server's feeds")
    @app_commands.describe(feed="The feed to remove (feeds from the config file stay)")
    @app_commands.autocomplete(feed=own_feed_autocomplete)
    async def remove(self, interaction: discord.Interaction[Any], feed: str) -> None:
        rt = runtime_of(interaction)
        guild_id = guild_id_of(interaction)
        feeds = await LookupStore(rt.store).guild_feeds(guild_id)
        found = find_feed(feeds, feed)
        if found is None or not found.followed:
            if found is not None and found.from_config:
                raise UserError(
                    f"**{replies.inline(found.name)}** comes from the config file and applies to "
                    "every server; only the bot's operator can remove it."
                )
            raise UserError("That is not one of this server's feeds. See `/feeds list`.")
        if not await rt.store.remove_guild_feed(guild_id, found.id):
            raise UserError("That is not one of this server's feeds. See `/feeds list`.")
        await rt.scheduler.sync_feeds()
        await reply(
            interaction,
            f"Removed **{replies.inline(found.name)}**. Its items stay searchable until the "
            "retention period ends.",
        )

    @app_commands.command(name="list", description="The feeds this server follows")
    async def list_(self, interaction: discord.Interaction[Any]) -> None:
        rt = runtime_of(interaction)
        feeds = await LookupStore(rt.store).guild_feeds(guild_id_of(interaction))
        pages = replies.feeds_list(feeds, rt.settings.schedule.default_interval_minutes)
        await reply(interaction, pages=pages)

    @app_commands.command(
        name="status",
        description="Per feed: last poll, last success, next poll, errors, items seen",
    )
    async def status(self, interaction: discord.Interaction[Any]) -> None:
        rt = runtime_of(interaction)
        feeds = await LookupStore(rt.store).guild_feeds(guild_id_of(interaction))
        await reply(interaction, pages=replies.feeds_status(feeds, rt.clock()))


async def setup(bot: BorderWatchBot) -> None:
    await bot.add_cog(Feeds(bot))
