"""What every sink returns and what the worker needs to know about one: no discord import here.

A sink sends one rendered alert to one destination and turns every outcome into a
``DeliveryResult``; it never raises for an HTTP or network failure and never retries by itself.
Retrying is the worker's job, with one declared policy (bot.delivery.worker.RetryPolicy).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from bot.core.render import RenderedMessage
from bot.core.types import DestinationKind, OutboxItem

DeliveryKind = Literal["sent", "retry", "gone", "failed"]


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """The outcome of one send.

    - ``sent``: delivered; ``message_id`` is the Discord message id (None for the console).
    - ``retry``: worth trying again later (5xx, network error, timeout, 429). ``retry_after_s``
      is set when the other side said how long to wait (429).
    - ``gone``: the destination will not work until a human acts (403/404: missing access,
      deleted channel or webhook). The subscription must be paused and the guild told.
    - ``failed``: this message can never be sent as it is (400 invalid form body, ...). Never
      retried, and it does not hold back the rows behind it.
    """

    kind: DeliveryKind
    message_id: str | None = None
    retry_after_s: float | None = None
    error: str | None = None

    @classmethod
    def sent(cls, message_id: str | None) -> DeliveryResult:
        return cls("sent", message_id=message_id)

    @classmethod
    def retry(cls, error: str, retry_after_s: float | None = None) -> DeliveryResult:
        return cls("retry", retry_after_s=retry_after_s, error=error)

    @classmethod
    def gone(cls, error: str) -> DeliveryResult:
        return cls("gone", error=error)

    @classmethod
    def failed(cls, error: str) -> DeliveryResult:
        return cls("failed", error=error)


class Sink(Protocol):
    """Sends one rendered alert. Must not raise for delivery failures: return a result instead."""

    async def send(self, item: OutboxItem, rendered: RenderedMessage) -> DeliveryResult: ...


@dataclass(frozen=True, slots=True)
class PausedInfo:
    """Who to tell when a subscription was paused because its destination is gone.

    Returned by OutboxStore.pause_subscription. ``destination`` may be a webhook URL, which holds
    a secret token: show ``describe_destination(...)`` to people and logs, never the raw value.
    """

    subscription_id: int
    guild_id: int | None  # None for static subscriptions from the config file
    destination_kind: DestinationKind
    destination: str
    topic: str
    created_by: int | None  # user id of the admin who created it, when known


def describe_destination(kind: DestinationKind, destination: str) -> str:
    """A destination as it may be shown in a log line or a Discord message (no webhook token)."""
    if kind == "channel":
        return f"<#{destination}>" if destination.isdigit() else f"channel {destination!r}"
    if kind == "webhook":
        # https://discord.com/api/webhooks/<id>/<token>: keep the id, drop the token.
        parts = destination.split("/webhooks/", 1)
        webhook_id = parts[1].split("/", 1)[0] if len(parts) == 2 else ""
        return f"webhook {webhook_id}" if webhook_id.isdigit() else "webhook (malformed URL)"
    return "console"
