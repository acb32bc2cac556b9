"""/alerts subscribe, unsubscribe, list, pause, resume: where this server's alerts go (admins).

Only this guild's subscriptions are listed, offered or changed, whatever id a user types. Before
a channel subscription is stored (or resumed) the bot checks it can post there and names the
missing permission; webhook destinations need no bot access to the channel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.delivery.webhook import parse_webhook_url
from bot.discord_app import replies
from bot.discord_app.cogs._common import (
    AdminGroupCog,
    UserError,
    catalog_of,
    choices,
    guild_id_of,
    is_admin,
    missing_post_permissions,
    parse_id,
    reply,
    resolve_topic,
    runtime_of,
    topic_autocomplete,
)
from bot.store.rows import SubscriptionRow

if TYPE_CHECKING:
    from bot.discord_app.bot import BorderWatchBot

AlertChannel = discord.TextChannel | discord.Thread | discord.ForumChannel


def _postable(
    interaction: discord.Interaction[Any], channel: discord.abc.GuildChannel | discord.Thread
) -> discord.Permissions:
    """The bot's permissions in `channel`; UserError naming what is missing to post alerts."""
    guild = interaction.guild
    me = guild.me if guild is not None else None
    if me is None:
        raise UserError("BorderWatch is still starting up in this server; try again in a minute.")
    perms = channel.permissions_for(me)
    missing = missing_post_permissions(perms, channel)
    if missing:
        raise UserError(replies.missing_permissions_text(channel.mention, missing))
    return perms


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class Alerts(
    AdminGroupCog,
    group_name="alerts",
    group_description="Choose where this server's alerts are posted (Manage Server)",
):
    def __init__(self, bot: BorderWatchBot) -> None:
        self.bot = bot

    async def _subscriptions(self, interaction: discord.Interaction[Any]) -> list[SubscriptionRow]:
        return await runtime_of(interaction).store.subscriptions(guild_id_of(interaction))

    async def _find(self, interaction: discord.Interaction[Any], value: str) -> SubscriptionRow:
        """One of this guild's subscriptions by the id autocomplete filled in (or #id typed)."""
        sub_id = parse_id(value.strip().lstrip("#").split(" ", 1)[0])
        if sub_id is not None:
            for sub in await self._subscriptions(interaction):
                if sub.id == sub_id:
                    return sub
        raise UserError(
            f"This server has no subscription {replies.code_span(value, 40)}. See `/alerts list`."
        )

    async def subscription_autocomplete(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        if not is_admin(interaction):
            return []
        guild = interaction.guild
        options = []
        for sub in await self._subscriptions(interaction):
            channel = None
            if guild is not None and sub.kind == "channel" and sub.destination.isdigit():
                channel = guild.get_channel_or_thread(int(sub.destination))
            label = replies.subscription_choice(sub, channel.name if channel else None)
            options.append((label, str(sub.id)))
        return choices(options, current)

    @app_commands.command(
        name="subscribe", description="Post alerts of a topic in a channel, thread or forum"
    )
    @app_commands.describe(
        channel="Where alerts go (text channel, thread or forum)",
        topic="The topic to follow (default: this server's only topic)",
        min_score="Only alerts scoring at least this (0-100; default 0 = every match)",
        role="A role to mention with each alert",
        webhook_url="Post through this Discord webhook instead of as the bot",
    )
    @app_commands.autocomplete(topic=topic_autocomplete)
    async def subscribe(
        self,
        interaction: discord.Interaction[Any],
        channel: AlertChannel,
        topic: str | None = None,
        min_score: app_commands.Range[float, 0, 100] | None = None,
        role: discord.Role | None = None,
        webhook_url: app_commands.Range[str, 1, 500] | None = None,
    ) -> None:
        rt = runtime_of(interaction)
        guild_id = guild_id_of(interaction)
        if channel.guild.id != guild_id:
            # Discord only offers this server's channels; a forged id must not route alerts
            # into another server.
            raise UserError("That channel is not in this server.")
        name = resolve_topic(catalog_of(interaction), guild_id, topic)
        warnings: list[str] = []
        if role is not None and role.is_default():
            raise UserError("Pick a role to mention, not @everyone.")
        if webhook_url is not None:
            try:
                parse_webhook_url(webhook_url)
            except ValueError as exc:
                raise UserError(f"That webhook URL cannot be used: {exc}.") from None
            kind: str = "webhook"
            destination = webhook_url.strip()
        else:
            perms = _postable(interaction, channel)
            kind, destination = "channel", str(channel.id)
            if role is not None and not role.mentionable and not perms.mention_everyone:
                warnings.append(
                    f"{role.mention} is not mentionable and the bot lacks **Mention @everyone, "
                    "@here and All Roles** there: alerts will show the role without pinging it."
                )
        existing = {
            (s.kind, s.destination, s.topic) for s in await self._subscriptions(interaction)
        }
        sub = await rt.store.add_subscription(
            guild_id=guild_id,
            kind=kind,  # type: ignore[arg-type]
            destination=destination,
            topic=name,
            min_score=min_score or 0,
            role_id=role.id if role is not None else None,
            created_by=interaction.user.id,
            now=rt.clock(),
        )
        updated = (kind, destination, name) in existing
        await reply(interaction, replies.subscribed(sub, updated, warnings))

    @app_commands.command(
        name="unsubscribe", description="Delete one of this server's subscriptions"
    )
    @app_commands.describe(subscription="The subscription to delete")
    @app_commands.autocomplete(subscription=subscription_autocomplete)
    async def unsubscribe(self, interaction: discord.Interaction[Any], subscription: str) -> None:
        rt = runtime_of(interaction)
        sub = await self._find(interaction, subscription)
        if sub.from_config:
            raise UserError(
                "That subscription is declared in the config file and would come back on "
                "restart; pause it with `/alerts pause` instead."
            )
        if not await rt.store.remove_subscription(sub.id, guild_id_of(interaction)):
            raise UserError("That subscription is already gone. See `/alerts list`.")
        await reply(
            interaction,
            f"Deleted subscription `#{sub.id}` ({replies.subscription_line(sub).split(chr(10))[0]}"
            "). Alerts already queued for it are dropped.",
        )

    @app_commands.command(name="list", description="This server's subscriptions")
    async def list_(self, interaction: discord.Interaction[Any]) -> None:
        subs = await self._subscriptions(interaction)
        await reply(interaction, pages=replies.subscriptions_list(subs))

    @app_commands.command(name="pause", description="Stop posting for a subscription until resumed")
    @app_commands.describe(subscription="The subscription to pause")
    @app_commands.autocomplete(subscription=subscription_autocomplete)
    async def pause(self, interaction: discord.Interaction[Any], subscription: str) -> None:
        rt = runtime_of(interaction)
        sub = await self._find(interaction, subscription)
        if sub.paused:
            raise UserError(f"Subscription `#{sub.id}` is already paused.")
        reason = f"paused by {interaction.user.name} with /alerts pause"
        await rt.store.set_subscription_paused(
            sub.id, True, reason, guild_id=guild_id_of(interaction)
        )
        await reply(
            interaction,
            f"Paused subscription `#{sub.id}`. Matching items are not queued for it until "
            "`/alerts resume`.",
        )

    @app_commands.command(
        name="resume", description="Start posting again for a paused subscription"
    )
    @app_commands.describe(subscription="The subscription to resume")
    @app_commands.autocomplete(subscription=subscription_autocomplete)
    async def resume(self, interaction: discord.Interaction[Any], subscription: str) -> None:
        rt = runtime_of(interaction)
        sub = await self._find(interaction, subscription)
        if not sub.paused:
            raise UserError(f"Subscription `#{sub.id}` is not paused.")
        if sub.kind == "channel" and sub.destination.isdigit() and interaction.guild is not None:
            # It may have been paused because the bot lost access: check before resuming.
            target = interaction.guild.get_channel_or_thread(int(sub.destination))
            if target is None:
                raise UserError(
                    f"BorderWatch cannot see <#{sub.destination}> any more (deleted, or no "
                    "**View Channel**). Fix that, or subscribe another channel."
                )
            _postable(interaction, target)
        await rt.store.set_subscription_paused(
            sub.id, False, None, guild_id=guild_id_of(interaction)
        )
        await reply(interaction, f"Resumed subscription `#{sub.id}`: new alerts are posted again.")


async def setup(bot: BorderWatchBot) -> None:
    await bot.add_cog(Alerts(bot))
