"""Fixtures shared by the process and storage fault tests: real bot processes and a webhook."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.faults.botproc import Bot, WebhookServer


@pytest.fixture
async def webhook() -> AsyncIterator[WebhookServer]:
    """A loopback endpoint that records webhook POSTs."""
    server = WebhookServer()
    await server.start()
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture
async def bots() -> AsyncIterator[list[Bot]]:
    """Bot processes a test starts; all are stopped afterwards."""
    made: list[Bot] = []
    yield made
    for bot in made:
        await bot.stop_all()
