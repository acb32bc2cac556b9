"""Console sink: alerts printed in the terminal (no token configured, or `--console`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TextIO

from bot.core.render import RenderedMessage, format_console_alert
from bot.core.types import OutboxItem
from bot.delivery.base import DeliveryResult


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ConsoleSink:
    def __init__(self, stream: TextIO, *, clock: Callable[[], datetime] = _utc_now) -> None:
        self._stream = stream
        self._clock = clock

    async def send(self, item: OutboxItem, rendered: RenderedMessage) -> DeliveryResult:
        block = format_console_alert(item.alert, self._clock())
        try:
            self._stream.write(block + "\n\n")
            self._stream.flush()
        except (OSError, ValueError) as exc:  # a closed pipe or file: retry, do not lose it
            return DeliveryResult.retry(f"could not write to the console: {exc}")
        return DeliveryResult.sent(None)
