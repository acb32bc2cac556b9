"""A small loopback stand-in for the Discord REST routes the sinks use.

Enough for sink tests: webhook execution, GET /users/@me, GET /channels/{id}, channel messages
(with Discord's nonce de-duplication) and forum posts. Replies can be scripted per route; every
request is recorded. The full fake Discord (gateway, interactions) lives in tests/fakediscord/.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_ID = "900000000000000001"
GUILD_ID = "800000000000000001"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any


@dataclass
class Reply:
    """A scripted answer. A 2xx without a body answers as the route normally would, plus
    ``headers``. ``delay_s`` holds the answer back (cut short when the server stops)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    # discord.py only parses JSON when Content-Type is exactly application/json (no charset).
    return web.Response(
        status=status,
        body=b"" if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def user_json(user_id: str = BOT_ID, name: str = "BorderWatch") -> dict[str, Any]:
    return {
        "id": user_id,
        "username": name,
        "discriminator": "0",
        "global_name": None,
        "avatar": None,
        "bot": True,
    }


class MiniDiscord:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.script: dict[str, list[Reply]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.messages: list[dict[str, Any]] = []  # every message actually created
        self._nonces: dict[tuple[str, str], dict[str, Any]] = {}
        self._next_id = 700000000000000001
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()
        self.base = ""

    # --- set-up ------------------------------------------------------------------------------

    def reply(self, route: str, *replies: Reply) -> None:
        """Script the next replies of a route, e.g. "POST /webhooks/123" or "GET /channels/5"."""
        self.script.setdefault(route, []).extend(replies)

    def add_channel(self, channel_id: str, kind: int = 0, name: str = "alerts") -> None:
        """kind: 0 text, 4 category, 11 public thread, 15 forum (Discord channel types)."""
        channel: dict[str, Any] = {
            "id": channel_id,
            "type": kind,
            "guild_id": GUILD_ID,
            "name": name,
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
        }
        if kind == 15:
            channel.update(available_tags=[], default_reaction_emoji=None, flags=0)
        if kind == 11:
            channel.update(
                parent_id="300000000000000001",
                owner_id=BOT_ID,
                thread_metadata={
                    "archived": False,
                    "auto_archive_duration": 1440,
                    "archive_timestamp": "2025-03-01T12:00:00+00:00",
                    "locked": False,
                },
                message_count=0,
                member_count=1,
                rate_limit_per_user=0,
            )
        self.channels[channel_id] = channel

    def posted(self, path_prefix: str) -> list[Request]:
        return [r for r in self.requests if r.method == "POST" and r.path.startswith(path_prefix)]

    # --- server ------------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/api/v10/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://127.0.0.1:{port}/api/v10"
        return self.base

    async def stop(self) -> None:
        self._stopping.set()  # release held answers so the shutdown does not wait for them
        if self._runner is not None:
            await self._runner.cleanup()

    def _new_id(self) -> str:
        self._next_id += 1
        return str(self._next_id)

    def _message(self, channel_id: str, payload: dict[str, Any], webhook_id: str | None = None):
        message = {
            "id": self._new_id(),
            "channel_id": channel_id,
            "author": user_json(webhook_id or BOT_ID, "hook" if webhook_id else "BorderWatch"),
            "content": payload.get("content") or "",
            "timestamp": "2025-03-01T12:00:00+00:00",
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": payload.get("embeds", []),
            "pinned": False,
            "type": 0,
            "flags": 0,
            "nonce": payload.get("nonce"),
        }
        if webhook_id:
            message["webhook_id"] = webhook_id
        self.messages.append(message)
        return message

    async def _handle(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        raw = await request.read()
        body = json.loads(raw) if raw else None
        self.requests.append(Request(request.method, path, dict(request.query), body))
        parts = path.strip("/").split("/")

        # Scripted replies match "METHOD /first/second" (e.g. "POST /webhooks/123").
        key = f"{request.method} /{'/'.join(parts[:2])}"
        queued = self.script.get(key)
        if queued:
            reply = queued.pop(0)
            if reply.delay_s:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), reply.delay_s)
            if reply.body is not None or not 200 <= reply.status < 300:
                return json_response(reply.status, reply.body, reply.headers)
            response = self._route(request.method, path, parts, dict(request.query), body)
            response.headers.update(reply.headers)
            return response
        return self._route(request.method, path, parts, dict(request.query), body)

    def _route(
        self, method: str, path: str, parts: list[str], query: dict[str, str], body: Any
    ) -> web.Response:

        if method == "GET" and path == "/users/@me":
            return json_response(200, user_json())
        if parts[0] == "webhooks" and method == "POST":
            thread = query.get("thread_id")
            channel_id = thread or "600000000000000001"
            return json_response(200, self._message(channel_id, body, webhook_id=parts[1]))
        if parts[0] == "channels":
            channel_id = parts[1]
            channel = self.channels.get(channel_id)
            if channel is None:
                return json_response(404, {"message": "Unknown Channel", "code": 10003})
            if method == "GET" and len(parts) == 2:
                return json_response(200, channel)
            if method == "POST" and parts[2:] == ["messages"]:
                nonce = body.get("nonce")
                if body.get("enforce_nonce") and (channel_id, nonce) in self._nonces:
                    return json_response(200, self._nonces[(channel_id, nonce)])
                message = self._message(channel_id, body)
                if nonce is not None:
                    self._nonces[(channel_id, nonce)] = message
                return json_response(200, message)
            if method == "POST" and parts[2:] == ["threads"]:
                thread_id = self._new_id()
                thread = dict(channel, id=thread_id, type=11, parent_id=channel_id)
                thread.update(name=body["name"], owner_id=BOT_ID, message_count=1, member_count=1)
                thread["thread_metadata"] = {
                    "archived": False,
                    "auto_archive_duration": 1440,
                    "archive_timestamp": "2025-03-01T12:00:00+00:00",
                    "locked": False,
                }
                thread["message"] = self._message(thread_id, body["message"])
                return json_response(201, thread)
        return json_response(404, {"message": f"mini_discord: no route {path}", "code": 0})
