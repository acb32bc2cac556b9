"""Interactive message parts: a pager over precomputed embed pages (search results, long lists)."""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Sequence
from typing import Any

import discord

log = logging.getLogger(__name__)

PAGER_TIMEOUT_S = 600.0


class PagedView(discord.ui.View):
    """◀ / ▶ buttons that swap the message's embed between pages.

    Only the member who ran the command can turn pages (others get a short ephemeral note). The
    pages are built up front, so a click edits the message at once, well within 3 seconds.
    When the view times out its buttons are removed.
    """

    def __init__(
        self,
        pages: Sequence[dict[str, Any]],
        *,
        owner_id: int,
        timeout: float | None = PAGER_TIMEOUT_S,
    ) -> None:
        super().__init__(timeout=timeout)
        if not pages:
            raise ValueError("a pager needs at least one page")
        self.pages = list(pages)
        self.owner_id = owner_id
        self.index = 0
        self.message: discord.Message | discord.WebhookMessage | None = None
        self._sync_buttons()

    def _sync_buttons(self) -> None:
        self.previous.disabled = self.index == 0
        self.next.disabled = self.index >= len(self.pages) - 1
        self.position.label = f"{self.index + 1}/{len(self.pages)}"

    def current(self) -> discord.Embed:
        return discord.Embed.from_dict(self.pages[self.index])

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        await interaction.response.send_message(
            "Only the person who ran the command can turn these pages; run it yourself to "
            "get your own copy.",
            ephemeral=True,
        )
        return False

    async def _show(self, interaction: discord.Interaction[Any], index: int) -> None:
        self.index = max(0, min(index, len(self.pages) - 1))
        self._sync_buttons()
        await interaction.response.edit_message(embed=self.current(), view=self)

    @discord.ui.button(label="◀", style=discord.ButtonStyle.secondary)
    async def previous(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[PagedView]
    ) -> None:
        await self._show(interaction, self.index - 1)

    @discord.ui.button(label="1/1", style=discord.ButtonStyle.secondary, disabled=True)
    async def position(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[PagedView]
    ) -> None:  # pragma: no cover - disabled: a label only
        await interaction.response.defer()

    @discord.ui.button(label="▶", style=discord.ButtonStyle.secondary)
    async def next(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[PagedView]
    ) -> None:
        await self._show(interaction, self.index + 1)

    async def on_timeout(self) -> None:
        if self.message is None:
            return
        # The ephemeral message may be gone or its token expired: then there is nothing to tidy.
        with contextlib.suppress(discord.HTTPException):
            await self.message.edit(view=None)

    async def on_error(
        self,
        interaction: discord.Interaction[Any],
        error: Exception,
        item: discord.ui.Item[Any],
    ) -> None:
        error_id = secrets.token_hex(4)
        log.error(
            "error %s in pager button %s (guild %s, user %s)",
            error_id,
            getattr(item, "custom_id", item),
            interaction.guild_id,
            interaction.user.id,
            exc_info=error,
        )
        text = f"Sorry, that did not work (error id `{error_id}`)."
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True)
