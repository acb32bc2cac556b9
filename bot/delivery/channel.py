"""Channel sink: the bot posts an alert in a text channel, a thread, or a new forum post.

Sends go through ``Messageable.send(..., nonce=...)``: discord.py 2.7 always pairs a nonce with
``enforce_nonce: true`` (discord/http.py, handle_message_parameters), so resending a row after a
crash within Discord's nonce window returns the first message instead of posting again.
Forum posts (``ForumChannel.create_thread``) take no nonce and are not de-duplicated.

Retries happen in two places here, and that is deliberate: discord.py's HTTP client handles the
bot's rate-limit buckets itself (it sleeps on 429s, shared with every other bot request) and
retries 500/502/504/524 a few times; with the nonce those resends cannot double-post. Create the
client with ``max_ratelimit_timeout`` (e.g. 30 s) so a long 429 raises ``discord.RateLimited``,
which becomes a ``retry`` result instead of holding the send. ``timeout_s`` bounds one send.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging

import aiohttp
import discord

from bot.core.render import RenderedMessage, safe_plain, truncate
from bot.core.types import OutboxItem
from bot.delivery.base import DeliveryResult, describe_destination
from bot.delivery.discord_common import (
    UNKNOWN_MESSAGE,
    classify_http_error,
    describe_http_error,
    to_allowed_mentions,
    to_embed,
)

log = logging.getLogger(__name__)

NONCE_LIMIT = 25  # Discord rejects longer nonces
THREAD_NAME_LIMIT = 100


def discord_nonce(nonce: str) -> str:
    """``nonce`` if Discord accepts it, else a stable 25-char digest of it."""
    if len(nonce) <= NONCE_LIMIT:
        return nonce
    return hashlib.sha256(nonce.encode("utf-8")).hexdigest()[:NONCE_LIMIT]


class ChannelSink:
    def __init__(self, client: discord.Client, *, timeout_s: float = 60.0) -> None:
        self._client = client
        self._timeout_s = timeout_s

    async def _channel(self, channel_id: int) -> object:
        channel = self._client.get_channel(channel_id)
        if channel is None:  # not cached (e.g. an archived thread): ask the API
            channel = await self._client.fetch_channel(channel_id)
        return channel

    async def send(self, item: OutboxItem, rendered: RenderedMessage) -> DeliveryResult:
        where = describe_destination("channel", item.destination)
        if not item.destination.isdigit():
            return DeliveryResult.gone(f"{where} is not a channel id")
        embed = to_embed(rendered)
        mentions = to_allowed_mentions(rendered)
        content = rendered.content or None
        try:
            async with asyncio.timeout(self._timeout_s):
                channel = await self._channel(int(item.destination))
                if isinstance(channel, discord.ForumChannel):  # forum and media channels
                    name = truncate(safe_plain(item.alert.title) or "News alert", THREAD_NAME_LIMIT)
                    post = await channel.create_thread(
                        name=name, content=content, embed=embed, allowed_mentions=mentions
                    )
                    return DeliveryResult.sent(str(post.message.id))
                if not isinstance(channel, discord.abc.Messageable):
                    kind = type(channel).__name__
                    return DeliveryResult.gone(f"{where} is a {kind}, which cannot hold messages")
                message = await channel.send(
                    content,
                    embed=embed,
                    allowed_mentions=mentions,
                    nonce=discord_nonce(item.nonce),
                )
                return DeliveryResult.sent(str(message.id))
        except discord.RateLimited as exc:
            return DeliveryResult.retry(f"rate limited on {where}", retry_after_s=exc.retry_after)
        except discord.HTTPException as exc:
            if exc.status == 404 and exc.code == UNKNOWN_MESSAGE:
                # Messageable.send documents this 404: a message with this nonce was sent and
                # then deleted shortly before. Someone removed the alert; do not post it again.
                return DeliveryResult.failed(f"{describe_http_error(exc)} (deleted after sending)")
            # 401 means the bot token itself was rejected: not this subscription's fault.
            result = classify_http_error(exc, gone_statuses=(403, 404))
            if exc.status == 401:
                result = DeliveryResult.retry(describe_http_error(exc))
            log.warning("Channel delivery of outbox row %d to %s: %s", item.id, where, result)
            return result
        except discord.InvalidData as exc:  # fetch_channel: a channel type discord.py lacks
            return DeliveryResult.gone(f"{where} is not a channel the bot can post in: {exc}")
        except TimeoutError:
            return DeliveryResult.retry(f"{where} did not answer within {self._timeout_s:g} s")
        except (aiohttp.ClientError, OSError) as exc:
            return DeliveryResult.retry(f"network error posting to {where}: {exc!r}")
        except (ValueError, TypeError) as exc:  # discord.py refused to build the request
            return DeliveryResult.failed(f"invalid message for {where}: {exc}")
