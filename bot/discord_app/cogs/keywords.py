"""/keywords add, remove, list: the named keyword lists the guild's topics use (admins only).

A guild starts from the config's lists. Its first edit of a list copies that list into the guild's
own (GuildTopicStore), so the change never reaches another guild; every edit is checked against
the guild's topics before it is saved (an emptied list a topic still uses is refused).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.core.rules import QuerySyntaxError, parse_entry
from bot.discord_app import replies
from bot.discord_app.cogs._common import (
    AdminGroupCog,
    UserError,
    catalog_of,
    check_guild_topics,
    choices,
    defer,
    guild_id_of,
    is_admin,
    reply,
    runtime_of,
)
from bot.store.repo import GuildTopicStore

if TYPE_CHECKING:
    from bot.core.topics import TopicCatalog
    from bot.discord_app.bot import BorderWatchBot

# The query language's list names: @name, a letter or digit first, then letters, digits, - or _.
_LIST_NAME = re.compile(r"[^\W][\w-]{0,39}")
MAX_TERM_CHARS = 100


def _list_name(raw: str, catalog: TopicCatalog, guild_id: int) -> str:
    """An existing list's name as stored (matched ignoring case and a leading @), or a new one."""
    wanted = raw.strip().lstrip("@")
    for name in catalog.lists_for(guild_id):
        if name.casefold() == wanted.casefold():
            return name
    if not _LIST_NAME.fullmatch(wanted):
        raise UserError(
            "A list name is one word of letters, digits, - or _ (at most 40), like `iran` or "
            "`border-terms`."
        )
    return wanted.lower()


def _same_entry(a: str, b: str) -> bool:
    """Two entries mean the same (they fold alike: Naxçıvan = naxcivan)."""
    try:
        return parse_entry(a) == parse_entry(b)
    except QuerySyntaxError:
        return a.strip().casefold() == b.strip().casefold()


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class Keywords(
    AdminGroupCog,
    group_name="keywords",
    group_description="Edit the keyword lists this server's topics use (Manage Server)",
):
    def __init__(self, bot: BorderWatchBot) -> None:
        self.bot = bot

    async def list_autocomplete(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        if not is_admin(interaction):
            return []
        lists = catalog_of(interaction).lists_for(guild_id_of(interaction))
        return choices(((f"@{n} ({len(t)} terms)", n) for n, t in sorted(lists.items())), current)

    async def term_autocomplete(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        if not is_admin(interaction):
            return []
        chosen = str(getattr(interaction.namespace, "list", "") or "").lstrip("@")
        lists = catalog_of(interaction).lists_for(guild_id_of(interaction))
        terms = next((t for n, t in lists.items() if n.casefold() == chosen.casefold()), ())
        return choices(((t, t) for t in terms), current)

    async def _save(
        self,
        interaction: discord.Interaction[Any],
        name: str,
        terms: list[str],
    ) -> None:
        rt = runtime_of(interaction)
        guild_id = guild_id_of(interaction)
        catalog = catalog_of(interaction)
        own = dict(catalog.guild_lists.get(guild_id, {}))
        own[name] = tuple(terms)
        check_guild_topics(catalog, guild_id, lists=own)
        await defer(interaction)
        await GuildTopicStore(rt.store).save_list(
            guild_id, name, terms, interaction.user.id, rt.clock()
        )
        await rt.reload_topics()

    @app_commands.command(name="add", description="Add a word, phrase or prefix* to a keyword list")
    @app_commands.describe(
        list_name="The keyword list (a new name creates a list)",
        term="A word (Aras), a phrase (Rasht-Astara railway) or a prefix (Нахчыван*)",
    )
    @app_commands.autocomplete(list_name=list_autocomplete)
    @app_commands.rename(list_name="list")
    async def add(
        self,
        interaction: discord.Interaction[Any],
        list_name: app_commands.Range[str, 1, 41],
        term: app_commands.Range[str, 1, MAX_TERM_CHARS],
    ) -> None:
        rt = runtime_of(interaction)
        guild_id = guild_id_of(interaction)
        catalog = catalog_of(interaction)
        name = _list_name(list_name, catalog, guild_id)
        term = " ".join(term.split())
        try:
            parse_entry(term)
        except QuerySyntaxError as exc:
            raise UserError(
                f"{replies.code_span(term)} cannot be a keyword: {exc.message}. Nothing was saved."
            ) from None
        current = [*catalog.lists_for(guild_id).get(name, ())]
        same = next((t for t in current if _same_entry(t, term)), None)
        if same is not None:
            raise UserError(
                f"**@{replies.inline(name)}** already has {replies.code_span(same)}, which "
                "matches the same words."
            )
        limit = rt.settings.discord.max_terms_per_list
        if len(current) >= limit:
            raise UserError(
                f"**@{replies.inline(name)}** has {len(current)} terms, the limit is {limit}. "
                "Remove one first, or use a prefix* to cover several forms."
            )
        current.append(term)
        await self._save(interaction, name, current)
        await reply(interaction, replies.keyword_changed("added", name, term, len(current)))

    @app_commands.command(name="remove", description="Remove a term from a keyword list")
    @app_commands.describe(list_name="The keyword list", term="The term to remove")
    @app_commands.autocomplete(list_name=list_autocomplete, term=term_autocomplete)
    @app_commands.rename(list_name="list")
    async def remove(
        self,
        interaction: discord.Interaction[Any],
        list_name: app_commands.Range[str, 1, 41],
        term: app_commands.Range[str, 1, MAX_TERM_CHARS],
    ) -> None:
        guild_id = guild_id_of(interaction)
        catalog = catalog_of(interaction)
        name = _list_name(list_name, catalog, guild_id)
        lists = catalog.lists_for(guild_id)
        if name not in lists:
            raise UserError(f"There is no list **@{replies.inline(name)}**. See `/keywords list`.")
        current = [*lists[name]]
        found = next((t for t in current if t == term), None) or next(
            (t for t in current if _same_entry(t, term)), None
        )
        if found is None:
            raise UserError(
                f"**@{replies.inline(name)}** has no term {replies.code_span(term)}. See "
                f"`/keywords list {name}`."
            )
        current.remove(found)
        await self._save(interaction, name, current)
        await reply(interaction, replies.keyword_changed("removed", name, found, len(current)))

    @app_commands.command(name="list", description="Show the keyword lists, or the terms of one")
    @app_commands.describe(list_name="A list to show in full (default: an overview of all lists)")
    @app_commands.autocomplete(list_name=list_autocomplete)
    @app_commands.rename(list_name="list")
    async def list_(
        self,
        interaction: discord.Interaction[Any],
        list_name: app_commands.Range[str, 1, 41] | None = None,
    ) -> None:
        guild_id = guild_id_of(interaction)
        catalog = catalog_of(interaction)
        lists = catalog.lists_for(guild_id)
        own = catalog.guild_lists.get(guild_id, {})
        if list_name is None:
            await reply(interaction, pages=replies.keywords_overview(lists, own))
            return
        name = _list_name(list_name, catalog, guild_id)
        if name not in lists:
            raise UserError(f"There is no list **@{replies.inline(name)}**. See `/keywords list`.")
        await reply(interaction, pages=replies.keywords_list(name, lists[name], name in own))


async def setup(bot: BorderWatchBot) -> None:
    await bot.add_cog(Keywords(bot))
