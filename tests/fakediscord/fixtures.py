"""pytest fixtures for the fake Discord.

Enable in a test module with ``pytest_plugins = ["tests.fakediscord.fixtures"]`` or
``from tests.fakediscord.fixtures import fake_discord  # noqa: F401``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .server import FakeDiscord, point_discord_at


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    """A started FakeDiscord with discord.py pointed at it (Route.BASE / DEFAULT_GATEWAY).

    At teardown the test fails if the client called a route the fake does not know; a test that
    provokes one on purpose should assert on ``fake.unknown_routes`` and then clear it.
    """
    fake = FakeDiscord()
    await fake.start()
    try:
        with point_discord_at(fake):
            yield fake
    finally:
        await fake.stop()
    if fake.unknown_routes:
        pytest.fail(
            "the client called route(s) the fake Discord does not implement:\n  "
            + "\n  ".join(fake.unknown_routes)
            + "\nAdd them to tests/fakediscord/rest.py (see tests/README.md) or stop calling them.",
            pytrace=False,
        )
