"""One error handler for every slash command (the command tree's `on_error`).

Errors a user can cause (a bad value, a missing permission, a cooldown, a refused URL) become a
short ephemeral message that says what to do. Anything else is a bug of ours: it is logged with
the interaction's context (guild, channel, user, command, options; secrets redacted) under a short
error id, and the user sees an apology quoting that id so an admin can find the log line.
"""

from __future__ import annotations

import logging
import math
import secrets
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.config import redact_webhook
from bot.core.render import CONTENT_LIMIT, truncate
from bot.discord_app.cogs._common import UserError

if TYPE_CHECKING:
    from bot.discord_app.bot import BorderWatchBot

log = logging.getLogger(__name__)

_PERMISSION_NAMES = {
    "manage_guild": "Manage Server",
    "send_messages": "Send Messages",
    "embed_links": "Embed Links",
    "view_channel": "View Channel",
}
_SECRET_OPTIONS = frozenset({"webhook_url"})


def _command_name(interaction: discord.Interaction[Any]) -> str:
    command = interaction.command
    return f"/{command.qualified_name}" if command is not None else "this command"


def _permission_list(names: list[str]) -> str:
    shown = [_PERMISSION_NAMES.get(n, n.replace("_", " ").title()) for n in names]
    return ", ".join(f"**{s}**" for s in shown)


def options_for_log(interaction: discord.Interaction[Any]) -> dict[str, Any]:
    """The options the user gave, as plain values; webhook URLs lose their secret token."""
    out: dict[str, Any] = {}
    for name, value in vars(interaction.namespace).items():
        if name in _SECRET_OPTIONS and isinstance(value, str):
            out[name] = redact_webhook(value)
        elif isinstance(value, str | int | float | bool) or value is None:
            out[name] = value
        else:
            out[name] = f"{type(value).__name__}({getattr(value, 'id', '?')})"
    return out


def user_message(interaction: discord.Interaction[Any], error: Exception) -> str | None:
    """The message for an error the user can act on, or None for a bug of ours."""
    name = _command_name(interaction)
    if isinstance(error, UserError):
        return error.message
    if isinstance(error, app_commands.NoPrivateMessage):
        return f"{name} works in a server, not in direct messages."
    if isinstance(error, app_commands.MissingPermissions):
        return (
            f"You need the {_permission_list(error.missing_permissions)} permission to use "
            f"{name}. Ask a server admin."
        )
    if isinstance(error, app_commands.BotMissingPermissions):
        return (
            f"BorderWatch lacks {_permission_list(error.missing_permissions)} here. Ask a "
            "server admin to grant it."
        )
    if isinstance(error, app_commands.CommandOnCooldown):
        wait = max(math.ceil(error.retry_after), 1)
        return f"Slow down: you can use {name} again in {wait} s."
    if isinstance(error, app_commands.TransformerError):
        if error.type is discord.AppCommandOptionType.channel:
            return (
                "BorderWatch cannot see that channel, or it is not a text channel, thread or "
                "forum. Give the bot the **View Channel** permission there and try again."
            )
        if error.type is discord.AppCommandOptionType.role:
            return "BorderWatch cannot find that role; try again in a moment."
        return f"That value is not valid for {name}: {error}"
    if isinstance(error, app_commands.CheckFailure):
        return f"You cannot use {name} here."
    return None


class ErrorHandler(commands.Cog):
    def __init__(self, bot: BorderWatchBot) -> None:
        self.bot = bot
        self._previous: Any = None

    async def cog_load(self) -> None:
        self._previous = self.bot.tree.on_error
        self.bot.tree.on_error = self.on_app_command_error  # type: ignore[method-assign]

    async def cog_unload(self) -> None:
        if self._previous is not None:
            self.bot.tree.on_error = self._previous  # type: ignore[method-assign]

    async def on_app_command_error(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        original: Exception = error
        if isinstance(error, app_commands.CommandInvokeError):
            original = error.original
        text = user_message(interaction, original)
        if text is None:
            error_id = secrets.token_hex(4)
            log.error(
                "error %s in %s (guild %s, channel %s, user %s, options %s)",
                error_id,
                _command_name(interaction),
                interaction.guild_id,
                interaction.channel_id,
                interaction.user.id,
                options_for_log(interaction),
                exc_info=original,
            )
            text = (
                f"Sorry, something went wrong on our side (error id `{error_id}`). "
                "Nothing you did caused it; a server admin can find the details in the bot's "
                "log under that id."
            )
        else:
            log.info(
                "%s refused for user %s in guild %s: %s",
                _command_name(interaction),
                interaction.user.id,
                interaction.guild_id,
                type(original).__name__,
            )
        # A message may quote what the user typed (a 2,000-character URL): Discord refuses
        # content over its limit, and the user would then get no answer at all.
        text = truncate(text, CONTENT_LIMIT)
        try:
            if interaction.response.is_done():
                await interaction.followup.send(text, ephemeral=True)
            else:
                await interaction.response.send_message(text, ephemeral=True)
        except discord.HTTPException as exc:
            # Past the 15-minute token or the interaction vanished: nothing left to answer.
            log.warning(
                "could not tell the user about an error in %s: %s", _command_name(interaction), exc
            )


async def setup(bot: BorderWatchBot) -> None:
    await bot.add_cog(ErrorHandler(bot))
