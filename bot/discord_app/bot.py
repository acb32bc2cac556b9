"""The Discord bot: a `commands.Bot` whose `setup_hook` starts the runtime and `close` stops it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence

import discord
import yarl
from discord.ext import commands

from bot import __version__
from bot.config import Settings
from bot.delivery.base import PausedInfo, describe_destination
from bot.delivery.channel import ChannelSink
from bot.runtime import Runtime

log = logging.getLogger(__name__)

EXTENSIONS: tuple[str, ...] = (
    "bot.discord_app.cogs.errors",
    "bot.discord_app.cogs.feeds",
    "bot.discord_app.cogs.keywords",
    "bot.discord_app.cogs.topic",
    "bot.discord_app.cogs.alerts",
    "bot.discord_app.cogs.lookup",
)


def apply_endpoint_overrides(settings: Settings) -> None:
    """DISCORD_API_BASE / DISCORD_GATEWAY_URL: REST proxies and the loopback test harness.

    Set once at start-up, before any client exists (discord.py reads both at request time).
    """
    if settings.api_base:
        discord.http.Route.BASE = settings.api_base.rstrip("/")
    if settings.gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.gateway_url)


def bot_intents() -> discord.Intents:
    """Minimal: guilds only (channels, roles, threads). No privileged intents."""
    intents = discord.Intents.none()
    intents.guilds = True
    return intents


class BorderWatchBot(commands.Bot):
    def __init__(
        self,
        settings: Settings,
        *,
        extensions: Sequence[str] = EXTENSIONS,
        guild_ready_timeout: float = 2.0,
    ) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=bot_intents(),
            help_command=None,
            # Nothing the bot says mentions anyone unless a message opts in explicitly.
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=guild_ready_timeout,
            # A long 429 on a channel send raises instead of sleeping inside discord.py, so the
            # outbox worker turns it into a retry and other channels keep flowing.
            max_ratelimit_timeout=30.0,
        )
        self.settings = settings
        self._extensions = tuple(extensions)
        self.runtime: Runtime | None = None
        self.started_at = discord.utils.utcnow()
        self.version = __version__

    @property
    def rt(self) -> Runtime:
        """The runtime; exists from setup_hook until close."""
        assert self.runtime is not None, "runtime used before setup_hook"
        return self.runtime

    async def setup_hook(self) -> None:
        self.runtime = await Runtime.create(
            self.settings,
            sinks={"channel": ChannelSink(self)},
            notifier=self.notify_paused,
            console=False,
        )
        self.runtime.gateway_connected = self._gateway_connected
        for ext in self._extensions:
            await self.load_extension(ext)
        await self.runtime.start()
        await self.sync_commands()

    async def sync_commands(self) -> None:
        synced = await self.tree.sync()
        log.info("synced %d global slash commands", len(synced))
        for guild_id in self.settings.discord.sync_guild_ids:
            guild = discord.Object(id=guild_id)
            self.tree.copy_global_to(guild=guild)
            done = await self.tree.sync(guild=guild)
            log.info("synced %d slash commands to guild %d", len(done), guild_id)

    def _gateway_connected(self) -> bool:
        return self.is_ready() and not self.is_closed() and self.ws is not None

    async def close(self) -> None:
        """Reverse of setup_hook: commands go, polls stop and finish, then the gateway closes."""
        for ext in reversed(self._extensions):
            with contextlib.suppress(commands.ExtensionNotLoaded):
                await self.unload_extension(ext)
        if self.runtime is not None:
            await self.runtime.stop()
            self.runtime = None
        await super().close()

    async def on_ready(self) -> None:
        user = self.user
        log.info(
            "connected to Discord as %s (id %s) in %d guilds",
            user,
            user.id if user else "?",
            len(self.guilds),
        )

    async def on_guild_join(self, guild: discord.Guild) -> None:
        log.info("joined guild %s (%d); now in %d guilds", guild.name, guild.id, len(self.guilds))

    async def notify_paused(self, info: PausedInfo, reason: str) -> None:
        """Tell the guild a subscription stopped: its system channel, else the creator by DM."""
        where = describe_destination(info.destination_kind, info.destination)
        text = (
            f"BorderWatch paused the subscription to {where} (topic `{info.topic}`): {reason}. "
            "Fix the permission or destination, then run `/alerts resume`."
        )
        log.warning("subscription %d paused: %s (%s)", info.subscription_id, reason, where)
        guild = self.get_guild(info.guild_id) if info.guild_id else None
        channel = guild.system_channel if guild else None
        if channel is not None and channel.permissions_for(guild.me).send_messages:  # type: ignore[union-attr]
            try:
                await channel.send(text, allowed_mentions=discord.AllowedMentions.none())
                return
            except discord.HTTPException as exc:
                log.warning("could not post to the system channel of %s: %s", info.guild_id, exc)
        if info.created_by:
            try:
                user = self.get_user(info.created_by) or await self.fetch_user(info.created_by)
                await user.send(text, allowed_mentions=discord.AllowedMentions.none())
            except discord.HTTPException as exc:
                log.warning("could not DM user %s about the pause: %s", info.created_by, exc)


async def run_bot(settings: Settings) -> int:
    """Run until Ctrl-C or SIGTERM; both close the bot cleanly."""
    apply_endpoint_overrides(settings)
    assert settings.token
    bot = BorderWatchBot(settings)
    loop = asyncio.get_running_loop()
    closing: list[asyncio.Task[None]] = []

    def stop() -> None:
        if not closing:
            log.info("stopping")
            closing.append(loop.create_task(bot.close()))

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop)
    async with bot:
        try:
            await bot.start(settings.token)
        except discord.LoginFailure:
            log.error(
                "Discord rejected the token (DISCORD_TOKEN): check it in the Developer Portal"
            )
            return 1
        except discord.PrivilegedIntentsRequired:
            log.error("Discord refused the requested intents")
            return 1
    return 0
