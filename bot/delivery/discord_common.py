"""For the webhook and channel sinks: discord.py objects from a render, results from errors."""

from __future__ import annotations

from collections.abc import Collection, Mapping

import discord

from bot.core.render import RenderedMessage
from bot.delivery.base import DeliveryResult

# Discord JSON error codes with a meaning of their own
# (https://discord.com/developers/docs/topics/opcodes-and-status-codes#json).
UNKNOWN_MESSAGE = 10008


def to_embed(rendered: RenderedMessage) -> discord.Embed:
    return discord.Embed.from_dict(rendered.embed)


def to_allowed_mentions(rendered: RenderedMessage) -> discord.AllowedMentions:
    """Exactly what the renderer allows. Every attribute is explicit, so merging with the
    client's default allowed_mentions (Messageable.send does) cannot widen it."""
    roles = [discord.Object(id=int(r)) for r in rendered.allowed_mentions.get("roles", [])]
    parse = set(rendered.allowed_mentions.get("parse", []))
    return discord.AllowedMentions(
        everyone="everyone" in parse,
        users="users" in parse,
        roles=roles if roles else "roles" in parse,
        replied_user=False,
    )


def retry_after_of(exc: discord.HTTPException) -> float | None:
    """Seconds to wait after a 429: a ``retry_after`` the raiser attached (the JSON body's value),
    else the Retry-After header."""
    value = getattr(exc, "retry_after", None)
    if isinstance(value, int | float) and value >= 0:
        return float(value)
    headers: Mapping[str, str] | None = getattr(exc.response, "headers", None)
    raw = None if headers is None else headers.get("Retry-After")
    if raw is None:
        return None
    try:
        return max(float(raw), 0.0)
    except ValueError:
        return None


def describe_http_error(exc: discord.HTTPException) -> str:
    text = exc.text.replace("\n", "; ") if exc.text else ""
    head = f"HTTP {exc.status}" + (f" (code {exc.code})" if exc.code else "")
    return f"{head}: {text}" if text else head


def classify_http_error(
    exc: discord.HTTPException,
    *,
    gone_statuses: Collection[int] = (403, 404),
) -> DeliveryResult:
    """Map a failed Discord request to what the worker should do with the row."""
    error = describe_http_error(exc)
    status = exc.status
    if status == 429:
        return DeliveryResult.retry(error, retry_after_of(exc))
    if status >= 500:
        return DeliveryResult.retry(error)
    if status in gone_statuses:
        return DeliveryResult.gone(error)
    return DeliveryResult.failed(error)
