"""An HTTP health endpoint for Docker's HEALTHCHECK and orchestrators (off by default).

GET /health -> 200 "ok" when the scheduler runs, the gateway is connected (Discord mode) and no
feed's poll is overdue; 503 with the reasons otherwise. JSON body either way.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiohttp import web

from bot.store.rows import FeedRow

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HealthInputs:
    scheduler_running: bool
    gateway_connected: bool | None  # None in console mode
    feeds: tuple[FeedRow, ...]
    now: datetime
    overdue_after: timedelta


def health_problems(h: HealthInputs) -> list[str]:
    """Pure: the reasons the bot is unhealthy, empty when healthy."""
    problems = []
    if not h.scheduler_running:
        problems.append("scheduler is not running")
    if h.gateway_connected is False:
        problems.append("Discord gateway is not connected")
    overdue = [
        f
        for f in h.feeds
        if f.next_poll_at is not None and h.now - f.next_poll_at > h.overdue_after
    ]
    if overdue:
        worst = min(overdue, key=lambda f: f.next_poll_at or h.now)
        late = int((h.now - (worst.next_poll_at or h.now)).total_seconds() // 60)
        problems.append(f"{len(overdue)} feed polls overdue (worst: {worst.url}, {late} min late)")
    return problems


class HealthServer:
    def __init__(self, host: str, port: int, inputs: Callable[[], Awaitable[HealthInputs]]) -> None:
        self.host = host
        self.port = port
        self._inputs = inputs
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/health", self._health)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        log.info("health endpoint on http://%s:%d/health", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _health(self, request: web.Request) -> web.Response:
        try:
            problems = health_problems(await self._inputs())
        except Exception as exc:  # the check itself failing is a health problem
            log.exception("health check failed")
            problems = [f"health check failed: {type(exc).__name__}"]
        status = 503 if problems else 200
        return web.json_response(
            {"status": "unhealthy" if problems else "ok", "problems": problems}, status=status
        )
