"""What every cog shares: the user-error type, the admin check, replies, cooldowns, autocomplete.

Not an extension (no `setup`): the cogs import it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.rules import QuerySyntaxError, compile_topic
from bot.core.topics import TopicCatalog
from bot.discord_app import replies
from bot.discord_app.views import PagedView
from bot.store.lookup import GuildFeed

if TYPE_CHECKING:
    from bot.discord_app.bot import BorderWatchBot
    from bot.runtime import Runtime

MAX_CHOICES = 25  # Discord shows at most 25 autocomplete choices
CHOICE_NAME_LIMIT = 100


class UserError(app_commands.AppCommandError):
    """Something the user can fix. The error handler shows `message` ephemerally, as is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def bot_of(interaction: discord.Interaction[Any]) -> BorderWatchBot:
    return interaction.client  # type: ignore[no-any-return]


def runtime_of(interaction: discord.Interaction[Any]) -> Runtime:
    return bot_of(interaction).rt


def guild_id_of(interaction: discord.Interaction[Any]) -> int:
    if interaction.guild_id is None:
        raise app_commands.NoPrivateMessage()
    return interaction.guild_id


def catalog_of(interaction: discord.Interaction[Any]) -> TopicCatalog:
    catalog = runtime_of(interaction).catalog
    assert catalog is not None, "topics are loaded when the runtime starts"
    return catalog


def is_admin(interaction: discord.Interaction[Any]) -> bool:
    """Manage Server in this guild, as Discord computed it for this interaction."""
    return interaction.guild_id is not None and interaction.permissions.manage_guild


class AdminGroupCog(commands.GroupCog):
    """A command group for server admins.

    Subclasses also carry ``@app_commands.guild_only()`` and
    ``@app_commands.default_permissions(manage_guild=True)``: the second only hides the commands
    from members in the Discord client (and a server can override it), so this check runs on
    every invocation as well.
    """

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        if interaction.guild_id is None:
            raise app_commands.NoPrivateMessage()
        if not interaction.permissions.manage_guild:
            raise app_commands.MissingPermissions(["manage_guild"])
        return True


# --------------------------------------------------------------------------------------------
# Replies: every answer is ephemeral (configuration and lookups do not clutter the channel).


async def defer(interaction: discord.Interaction[Any]) -> None:
    if not interaction.response.is_done():
        await interaction.response.defer(ephemeral=True, thinking=True)


async def reply(
    interaction: discord.Interaction[Any],
    content: str | None = None,
    *,
    embed: replies.Embed | None = None,
    pages: Sequence[replies.Embed] = (),
) -> None:
    """Answer (or follow up after a defer) ephemerally; several pages get a pager."""
    embeds = list(pages) if pages else ([embed] if embed is not None else [])
    first = discord.Embed.from_dict(embeds[0]) if embeds else discord.utils.MISSING
    view: discord.ui.View | None = None
    if len(embeds) > 1:
        view = PagedView(embeds, owner_id=interaction.user.id)
    kwargs: dict[str, Any] = {"content": content, "embed": first}
    if view is not None:
        kwargs["view"] = view
    if interaction.response.is_done():
        message = await interaction.followup.send(ephemeral=True, wait=True, **kwargs)
        if view is not None:
            view.message = message  # type: ignore[attr-defined]
    else:
        await interaction.response.send_message(ephemeral=True, **kwargs)
        if view is not None:
            view.message = await interaction.original_response()  # type: ignore[attr-defined]


# --------------------------------------------------------------------------------------------
# Cooldowns and limits


def user_cooldown(interaction: discord.Interaction[Any]) -> app_commands.Cooldown | None:
    """One use per user per `discord.command_cooldown_seconds` (0 turns it off)."""
    per = bot_of(interaction).settings.discord.command_cooldown_seconds
    return app_commands.Cooldown(1, per) if per > 0 else None


# --------------------------------------------------------------------------------------------
# Autocomplete


def choices(options: Iterable[tuple[str, str]], current: str) -> list[app_commands.Choice[str]]:
    """(label, value) pairs whose label contains what the user typed, at most 25."""
    needle = current.casefold().strip()
    out: list[app_commands.Choice[str]] = []
    for label, value in options:
        if needle and needle not in label.casefold():
            continue
        out.append(app_commands.Choice(name=label[:CHOICE_NAME_LIMIT] or value, value=value))
        if len(out) == MAX_CHOICES:
            break
    return out


async def topic_autocomplete(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    """This guild's topic names (the config's plus its own)."""
    if interaction.guild_id is None:
        return []
    names = catalog_of(interaction).topic_names(interaction.guild_id)
    return choices(((n, n) for n in names), current)


def parse_id(text: str) -> int | None:
    """A database id typed or autocompleted, or None: ASCII digits only (int() refuses "²",
    which str.isdigit() accepts), at most 18 of them (SQLite's integers have 19; int() of
    thousands of digits raises)."""
    if text.isascii() and text.isdigit() and len(text) <= 18:
        return int(text)
    return None


def find_feed(feeds: Sequence[GuildFeed], value: str) -> GuildFeed | None:
    """A feed by the id autocomplete put in, or by its exact name or URL (typed by hand)."""
    value = value.strip()
    feed_id = parse_id(value)
    for f in feeds:
        if feed_id is not None and f.id == feed_id:
            return f
    for f in feeds:
        if value.casefold() in (f.name.casefold(), f.url.casefold()):
            return f
    return None


# --------------------------------------------------------------------------------------------
# Topics of a guild


def guild_topic_ids(catalog: TopicCatalog, guild_id: int) -> dict[str, str]:
    """Engine topic id -> topic name, for the topics this guild sees."""
    return {catalog.topic_id(guild_id, n): n for n in catalog.topic_names(guild_id)}


def resolve_topic(catalog: TopicCatalog, guild_id: int, name: str | None) -> str:
    """The guild topic a command is about: the one named, or the only one there is."""
    names = catalog.topic_names(guild_id)
    if name is None:
        if len(names) == 1:
            return names[0]
        if not names:
            raise UserError("No topic is defined. Create one with `/topic set`.")
        raise UserError(
            "This server has several topics; choose one with the `topic` option: "
            + ", ".join(f"`{n}`" for n in names)
        )
    wanted = name.strip()
    for n in names:
        if n.casefold() == wanted.casefold():
            return n
    raise UserError(
        f"There is no topic {replies.code_span(wanted, 60)} here. Topics: "
        + (", ".join(f"`{n}`" for n in names) or "none")
    )


def check_guild_topics(
    catalog: TopicCatalog,
    guild_id: int,
    *,
    lists: Mapping[str, tuple[str, ...]] | None = None,
    topics: Mapping[str, str] | None = None,
) -> None:
    """Raise UserError unless every topic of the guild compiles with the proposed change.

    `lists` / `topics` replace the guild's own lists / topics (the whole mapping). Called before
    anything is saved, so a change that would break a topic (an unknown @list, an emptied list)
    is refused and the running engine never sees it.
    """
    proposed = TopicCatalog(
        base_lists=catalog.base_lists,
        base_topics=catalog.base_topics,
        guild_lists={**catalog.guild_lists, guild_id: dict(lists)}
        if lists is not None
        else (catalog.guild_lists),
        guild_topics={**catalog.guild_topics, guild_id: dict(topics)}
        if topics is not None
        else (catalog.guild_topics),
    )
    for name in proposed.topic_names(guild_id):
        definition = proposed.definition(guild_id, name)
        if definition is None:  # pragma: no cover - topic_names only lists defined topics
            continue
        try:
            compile_topic(definition)
        except QuerySyntaxError as exc:
            raise UserError(
                f"That change would break topic `{name}`: {exc.message}. Nothing was saved."
            ) from None


# --------------------------------------------------------------------------------------------
# Channel permissions for a subscription

_LABELS = {
    "view_channel": "View Channel",
    "send_messages": "Send Messages",
    "send_messages_in_threads": "Send Messages in Threads",
    "embed_links": "Embed Links",
    "read_message_history": "Read Message History",
    "create_posts": "Create Posts",
}


def missing_post_permissions(
    perms: discord.Permissions, channel: discord.abc.GuildChannel | discord.Thread
) -> list[str]:
    """The permissions the bot lacks to post alerts in `channel`, as Discord names them.

    Only the first missing step is named (View, then the sending permission, then Embed Links):
    Discord's permission maths removes what depends on a missing step (without Send Messages,
    Embed Links counts as denied too), so listing those would send admins after the wrong one.
    """
    if isinstance(channel, discord.Thread):
        send = ("send_messages_in_threads", perms.send_messages_in_threads)
    elif isinstance(channel, discord.ForumChannel):
        # A forum post is a new thread: "Create Posts" is the send_messages bit in a forum.
        send = ("create_posts", perms.send_messages)
    else:
        send = ("send_messages", perms.send_messages)
    for name, ok in (
        ("view_channel", perms.view_channel),
        send,
        ("embed_links", perms.embed_links),
    ):
        if not ok:
            return [_LABELS[name]]
    return []
