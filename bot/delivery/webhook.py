"""Webhook sink: posts an alert through a Discord webhook URL, without the bot in the channel.

Uses discord.py's partial ``Webhook`` (payload building, ``?wait=true``, threads) but not its retry
loop. What discord.py 2.7 does by itself (discord/webhook/async_.py, AsyncWebhookAdapter.request):
up to 5 attempts per send; on a 429 whose response carries a ``Via`` header (Discord's do) it
sleeps the whole ``retry_after`` and tries again, so a long rate limit would hold the send for
minutes; on a 429 without ``Via`` it raises at once; on a 5xx it sleeps 1, 3, 5, 7, 9 s between
attempts (25 s) before raising; when ``X-RateLimit-Remaining`` is 0 it sleeps the reset time
after a success. A worker must not be blocked like that, and retrying in two layers would hide
the declared policy, so this sink swaps in an adapter that makes exactly one request (through the
adapter context variable discord.py reads on every call) and reports 429s as ``retry`` results
with their ``retry_after_s``. Webhook buckets it learns from ``X-RateLimit-*`` headers are
honoured locally: a short wait is slept, a long one becomes a ``retry`` result.

Webhook executions take no ``nonce``, so unlike channel sends they cannot be de-duplicated by
Discord: a crash between the POST and marking the row sent can post the alert twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import aiohttp
import discord
from discord.webhook.async_ import AsyncWebhookAdapter, async_context

from bot.core.render import RenderedMessage, safe_plain, truncate
from bot.core.types import OutboxItem
from bot.delivery.base import DeliveryResult, describe_destination
from bot.delivery.discord_common import classify_http_error, to_allowed_mentions, to_embed

log = logging.getLogger(__name__)

_HOSTS = frozenset(
    f"{prefix}{domain}"
    for prefix in ("", "ptb.", "canary.")
    for domain in ("discord.com", "discordapp.com")
)
# /api/webhooks/<id>/<token>, optionally /api/v10/webhooks/...; same id and token shapes as
# discord.Webhook.from_url accepts.
_PATH = re.compile(r"^/api(?:/v\d+)?/webhooks/(?P<id>\d{17,20})/(?P<token>[A-Za-z0-9.\-_]{60,})/?$")
FORUM_NEEDS_THREAD = 220001  # "Webhooks posted to forum channels must have a thread_name or ..."
THREAD_NAME_LIMIT = 100


def parse_webhook_url(url: str) -> tuple[int, str]:
    """(webhook id, token) of a Discord webhook URL; ValueError saying what is wrong otherwise."""
    try:
        parts = urlsplit(url.strip())
    except ValueError as exc:
        raise ValueError(f"not a URL: {exc}") from None
    if parts.scheme != "https":
        raise ValueError("a Discord webhook URL starts with https://")
    host = (parts.hostname or "").lower()
    if host not in _HOSTS:
        raise ValueError(
            f"{host or 'the URL'} is not Discord: expected https://discord.com/api/webhooks/..."
        )
    match = _PATH.match(parts.path)
    if match is None:
        raise ValueError(
            "expected https://discord.com/api/webhooks/<id>/<token> "
            "(copy it from Channel settings > Integrations > Webhooks)"
        )
    return int(match["id"]), match["token"]


def webhook_thread_id(url: str) -> int | None:
    """The ``?thread_id=`` of a webhook URL that posts into a thread, if any."""
    values = parse_qs(urlsplit(url.strip()).query).get("thread_id", [])
    return int(values[0]) if values and values[0].isdigit() else None


class WebhookRateLimited(discord.HTTPException):
    """A 429 from a webhook, with the wait Discord asked for."""

    def __init__(self, response: aiohttp.ClientResponse, data: dict[str, Any] | str | None):
        super().__init__(response, data)
        self.retry_after: float | None = _retry_after(response, data)


def _retry_after(
    response: aiohttp.ClientResponse, data: dict[str, Any] | str | None
) -> float | None:
    """A 429's wait: the body's precise ``retry_after``, else the Retry-After header."""
    raw = data.get("retry_after") if isinstance(data, dict) else None
    if not isinstance(raw, int | float):
        raw = _seconds(response.headers.get("Retry-After"))
    return None if raw is None else max(float(raw), 0.0)


def _seconds(header: str | None) -> float | None:
    if not header:
        return None
    try:
        return float(header)
    except ValueError:
        return None


async def _json_or_text(response: aiohttp.ClientResponse) -> dict[str, Any] | str:
    """The body as JSON when it says so and parses (an empty or broken JSON body from a proxy
    must not turn a 502 into a decoding error), else as text."""
    text = await response.text(encoding="utf-8", errors="replace")
    if response.headers.get("Content-Type", "").startswith("application/json"):
        try:
            data = json.loads(text)
        except ValueError:
            return text
        if isinstance(data, dict):
            return data
    return text


class _OneAttemptAdapter(AsyncWebhookAdapter):
    """One HTTP request per call; errors become discord.py exceptions, nothing is slept."""

    def __init__(
        self,
        on_response: Callable[[int, aiohttp.ClientResponse, dict[str, Any] | str], None],
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # unannotated in discord.py
        self._on_response = on_response

    async def request(
        self,
        route: discord.http.Route,
        session: aiohttp.ClientSession,
        *,
        payload: dict[str, Any] | None = None,
        multipart: list[dict[str, Any]] | None = None,
        proxy: str | None = None,
        proxy_auth: aiohttp.BasicAuth | None = None,
        files: Sequence[discord.File] | None = None,
        reason: str | None = None,
        auth_token: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        headers: dict[str, str] = {}
        body: str | aiohttp.FormData | None = None
        if payload is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps(payload, separators=(",", ":"), ensure_ascii=True)
        if multipart:
            form = aiohttp.FormData(quote_fields=False)
            for part in multipart:
                form.add_field(**part)
            body = form
        if auth_token is not None:
            headers["Authorization"] = f"Bot {auth_token}"
        if reason is not None:
            headers["X-Audit-Log-Reason"] = quote(reason, safe="/ ")
        async with session.request(
            route.method,
            route.url,
            data=body,
            headers=headers,
            params=params,
            proxy=proxy,
            proxy_auth=proxy_auth,
        ) as response:
            data = await _json_or_text(response)
            self._on_response(int(route.webhook_id or 0), response, data)
            status = response.status
            if 200 <= status < 300:
                return data
            if status == 429:
                raise WebhookRateLimited(response, data)
            if status == 403:
                raise discord.Forbidden(response, data)
            if status == 404:
                raise discord.NotFound(response, data)
            if status >= 500:
                raise discord.DiscordServerError(response, data)
            raise discord.HTTPException(response, data)


class WebhookSink:
    """Sends through ``item.destination``, a webhook URL. The session is the caller's to close.

    ``max_inline_wait_s``: a known rate-limit wait up to this long is slept here; a longer one is
    handed back as a ``retry`` so the worker's other destinations are not held up.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        timeout_s: float = 30.0,
        max_inline_wait_s: float = 2.0,
        username: str | None = None,
        avatar_url: str | None = None,
    ) -> None:
        self._session = session
        self._timeout_s = timeout_s
        self._max_inline_wait_s = max_inline_wait_s
        self._username = username
        self._avatar_url = avatar_url
        self._ready_at: dict[int, float] = {}  # webhook id -> loop time its bucket refills
        self._adapter = _OneAttemptAdapter(self._note_rate_limit)

    def _note_rate_limit(
        self, webhook_id: int, response: aiohttp.ClientResponse, data: dict[str, Any] | str
    ) -> None:
        now = asyncio.get_running_loop().time()
        headers = response.headers
        wait: float | None = None
        if response.status == 429:
            wait = _retry_after(response, data)
        elif headers.get("X-RateLimit-Remaining") == "0":
            wait = _seconds(headers.get("X-RateLimit-Reset-After"))
        if wait is not None and wait > 0:
            self._ready_at[webhook_id] = now + wait

    async def send(self, item: OutboxItem, rendered: RenderedMessage) -> DeliveryResult:
        where = describe_destination("webhook", item.destination)
        try:
            webhook_id, token = parse_webhook_url(item.destination)
            thread_id = webhook_thread_id(item.destination)
        except ValueError as exc:
            return DeliveryResult.gone(f"invalid webhook URL: {exc}")

        loop = asyncio.get_running_loop()
        wait = self._ready_at.get(webhook_id, 0.0) - loop.time()
        if wait > self._max_inline_wait_s:
            return DeliveryResult.retry(f"{where} is rate limited", retry_after_s=wait)
        if wait > 0:
            await asyncio.sleep(wait)

        webhook = discord.Webhook.partial(webhook_id, token, session=self._session)
        kwargs: dict[str, Any] = {
            "embed": to_embed(rendered),
            "allowed_mentions": to_allowed_mentions(rendered),
            "wait": True,
        }
        if rendered.content:
            kwargs["content"] = rendered.content
        if self._username:
            kwargs["username"] = self._username
        if self._avatar_url:
            kwargs["avatar_url"] = self._avatar_url
        if thread_id is not None:
            kwargs["thread"] = discord.Object(id=thread_id)

        token_var = async_context.set(self._adapter)
        try:
            async with asyncio.timeout(self._timeout_s):
                try:
                    message = await webhook.send(**kwargs)
                except discord.HTTPException as exc:
                    if exc.status != 400 or exc.code != FORUM_NEEDS_THREAD or "thread" in kwargs:
                        raise
                    # A webhook of a forum channel: each alert opens a post named after it.
                    kwargs["thread_name"] = truncate(
                        safe_plain(item.alert.title) or "News alert", THREAD_NAME_LIMIT
                    )
                    message = await webhook.send(**kwargs)
        except discord.HTTPException as exc:
            result = classify_http_error(exc, gone_statuses=(401, 403, 404))
            log.warning("Webhook delivery of outbox row %d to %s: %s", item.id, where, result)
            return result
        except TimeoutError:
            return DeliveryResult.retry(f"{where} did not answer within {self._timeout_s:g} s")
        except (aiohttp.ClientError, OSError) as exc:
            return DeliveryResult.retry(f"network error posting to {where}: {exc!r}")
        except (ValueError, TypeError) as exc:  # discord.py refused to build the request
            return DeliveryResult.failed(f"invalid message for {where}: {exc}")
        finally:
            async_context.reset(token_var)
        return DeliveryResult.sent(None if message is None else str(message.id))


__all__ = [
    "WebhookRateLimited",
    "WebhookSink",
    "parse_webhook_url",
    "webhook_thread_id",
]
