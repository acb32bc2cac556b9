"""The real BorderWatchBot running against the loopback fake Discord (and the loopback feed server).

Fixtures
--------
``bot_config`` (dict): the configuration mapping the bot is built from (``settings_from_mapping``):
    a database in ``tmp_path``, ``fetch.allow_private_networks = true`` (the feed server is on
    127.0.0.1), no cooldown, no poll jitter, and a small Iran–Azerbaijan border topic (lists
    ``iran``, ``azerbaijan``, ``border``; topic ``iran-azerbaijan-border``). No feeds. Override it
    in a test module to change anything, extending this one::

        @pytest.fixture
        def bot_config(bot_config, feed_server):
            feed_server.route("/news.xml", body=rss(...))
            bot_config["feeds"] = [{"url": feed_server.url("/news.xml"), "name": "News"}]
            return bot_config

    or for one test: ``@pytest.mark.parametrize("bot_config", [...], indirect=True)`` (the
    parameter is merged into the defaults with ``merge_config``).

``running_bot`` -> ``(bot, fake)``: ``BorderWatchBot`` (bot/discord_app/bot.py) started with that
    config against ``fake_discord``, after ``on_ready`` (its ``setup_hook`` opened the store,
    started the scheduler and delivery worker, loaded every cog and synced the commands), and
    after the first poll of every configured feed. Closed (reverse of setup) afterwards.

Helpers (plain functions, for tests that run the bot themselves)
-----------------------------------------------------------------
``make_settings(config)``, ``merge_config(base, extra)``,
``async with borderwatch(fake, settings) as bot`` (start, wait for on_ready, close),
``await wait_ready(bot, fake)``, ``await wait_polled(bot, fake)``, ``embed_text(record)``.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings, settings_from_mapping
from bot.discord_app.bot import BorderWatchBot
from tests.fakediscord import FakeDiscord, InteractionRecord
from tests.fakediscord.fixtures import fake_discord  # noqa: F401 - re-exported fixture

TOPIC = "iran-azerbaijan-border"
LISTS: dict[str, list[str]] = {
    "iran": ["Iran", "Iranian", "Tehran", "Teheran"],
    "azerbaijan": ["Azerbaijan", "Azerbaijani", "Baku", "Aliyev", "Naxçıvan", "Nakhchivan"],
    "border": ["border", "Aras", "Araz", "drill*", "crossing"],
}
QUERY = "@iran AND @azerbaijan AND @border"


def base_config(tmp_path: Path) -> dict[str, Any]:
    return {
        "bot": {"database": str(tmp_path / "data" / "borderwatch.db")},
        "fetch": {"allow_private_networks": True, "total_timeout_s": 5},
        "schedule": {"jitter_seconds": 0},
        "discord": {"command_cooldown_seconds": 0},
        "lists": copy.deepcopy(LISTS),
        "topics": {TOPIC: {"query": QUERY, "description": "Iran–Azerbaijan border news"}},
    }


def merge_config(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """`extra` over `base`: nested tables merge, other values (lists too) replace."""
    out = copy.deepcopy(dict(base))
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge_config(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def make_settings(config: Mapping[str, Any], fake: FakeDiscord | None = None) -> Settings:
    """Settings as `borderwatch run` would build them, with the fake's endpoints and token."""
    env = fake.env() if fake is not None else {"DISCORD_TOKEN": "fake-token"}
    return settings_from_mapping(config, source="<test>", environ=env)


async def wait_ready(bot: BorderWatchBot, fake: FakeDiscord, timeout: float = 10.0) -> None:  # noqa: ASYNC109
    """Until on_ready fired and the runtime exists (setup_hook finished)."""
    await fake.wait_for(
        lambda: bot.is_ready() and bot.runtime is not None, timeout, "the bot's on_ready"
    )


async def wait_polled(bot: BorderWatchBot, fake: FakeDiscord, timeout: float = 10.0) -> None:  # noqa: ASYNC109
    """Until every feed in the database has been polled at least once (baselined or failed)."""
    store = bot.rt.store

    async def all_polled() -> bool:
        return all(f.last_poll_at is not None for f in await store.feeds())

    deadline = asyncio.get_running_loop().time() + timeout
    while not await all_polled():
        if asyncio.get_running_loop().time() > deadline:
            pending = [f.url for f in await store.feeds() if f.last_poll_at is None]
            raise TimeoutError(f"feeds never polled: {pending}")
        await asyncio.sleep(0.02)


@asynccontextmanager
async def borderwatch(fake: FakeDiscord, settings: Settings) -> AsyncIterator[BorderWatchBot]:
    """Start a BorderWatchBot on the fake (discord.py must already point at it), then close it."""
    bot = BorderWatchBot(settings, guild_ready_timeout=0.05)
    async with fake.run_bot(bot, settings.token or "fake-token"):
        await wait_ready(bot, fake)
        yield bot


def embed_text(record: InteractionRecord) -> str:
    """Everything the user sees in the answer (content, embed titles, descriptions, fields)."""
    return record.text()


@pytest.fixture
def bot_config(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    config = base_config(tmp_path)
    extra = getattr(request, "param", None)
    return merge_config(config, extra) if extra else config


@pytest.fixture
async def running_bot(
    fake_discord: FakeDiscord,  # noqa: F811 - the fixture imported above
    bot_config: dict[str, Any],
) -> AsyncIterator[tuple[BorderWatchBot, FakeDiscord]]:
    settings = make_settings(bot_config, fake_discord)
    async with borderwatch(fake_discord, settings) as bot:
        await wait_polled(bot, fake_discord)
        yield bot, fake_discord
