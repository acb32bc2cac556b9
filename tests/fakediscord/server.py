"""FakeDiscord: a loopback Discord (REST + gateway) that the unmodified discord.py 2.7 runs against.

See tests/README.md for the guided tour. In short::

    async with FakeDiscord() as fake, point_discord_at(fake):
        intents = discord.Intents.default()
        bot = commands.Bot(command_prefix="!", intents=intents, guild_ready_timeout=0.05)
        async with fake.run_bot(bot):
            await bot.tree.sync()
            record = await fake.invoke("ping")
            assert record.content == "pong"
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web

from . import payloads
from .gateway import DIRECT_MESSAGES, GUILD_MESSAGES, MESSAGE_CONTENT, Gateway
from .interactions import build_command_interaction, build_component_interaction, build_modal_submit
from .records import (
    FakeWebhook,
    InteractionRecord,
    RecordedRequest,
    ScriptedFailure,
    StoredCommand,
    StoredMessage,
)
from .rest import API_PREFIX, EPHEMERAL, LOADING, Rest, _normalize_embeds, compute_pings
from .world import (
    DM,
    PUBLIC_THREAD,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeUser,
    Overwrite,
    SnowflakeFactory,
    World,
    default_world,
)

if TYPE_CHECKING:
    import discord

JSON = dict[str, Any]
T = TypeVar("T")
GUILDS_INTENT = 1 << 0


class FakeDiscord:
    """One fake Discord: world state, REST, gateway, recording and scripting.

    Settings (all keyword arguments, also plain attributes you may change later):
      token: require this exact bot token (REST ``Authorization: Bot …`` and IDENTIFY); None = any.
      gateway_compression: honour ``compress=zlib-stream`` (binary frames); default plain text.
      heartbeat_interval_ms: sent in HELLO.
      ack_heartbeats: answer heartbeats with op 11 (turn off to simulate a zombie connection).
      allowed_privileged_intents: bitfield of privileged intents the app is approved for;
        IDENTIFY asking for others is closed with 4014 like Discord does. Default: none.
      application_flags: sent in READY and the application info.
      interaction_deadline: seconds from dispatch within which the first callback must arrive
        (Discord: 3); later callbacks get 404 10062 Unknown interaction. None disables.
      nonce_window: seconds during which ``enforce_nonce`` de-duplicates (Discord: "a few minutes").
      ratelimit_headers: send X-RateLimit-* headers of a never-exhausted bucket on every answer.
      echo_messages: dispatch MESSAGE_CREATE/THREAD_CREATE for what the bot creates, like Discord.
      recommended_shards: ``shards`` in GET /gateway/bot.
      latency: seconds every REST answer is delayed by (benchmarks / timeout tests).
    """

    def __init__(
        self,
        *,
        world: World | None = None,
        token: str | None = None,
        host: str = "127.0.0.1",
        gateway_compression: bool = False,
        heartbeat_interval_ms: int = 41_250,
        ack_heartbeats: bool = True,
        allowed_privileged_intents: int = 0,
        application_flags: int = 1 << 23,
        interaction_deadline: float | None = 3.0,
        nonce_window: float = 300.0,
        ratelimit_headers: bool = True,
        echo_messages: bool = True,
        recommended_shards: int = 1,
        latency: float = 0.0,
    ) -> None:
        self.world = world or default_world()
        self.ids = SnowflakeFactory()  # time-based ids for messages, interactions, webhooks
        self.token = token
        self.host = host
        self.gateway_compression = gateway_compression
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.ack_heartbeats = ack_heartbeats
        self.allowed_privileged_intents = allowed_privileged_intents
        self.application_flags = application_flags
        self.interaction_deadline = interaction_deadline
        self.nonce_window = nonce_window
        self.ratelimit_headers = ratelimit_headers
        self.echo_messages = echo_messages
        self.recommended_shards = recommended_shards
        self.latency = latency

        self.requests: list[RecordedRequest] = []
        self.unknown_routes: list[str] = []
        self.failures: list[ScriptedFailure] = []
        self.messages: dict[int, StoredMessage] = {}
        self.commands: dict[int | None, dict[tuple[str, int], StoredCommand]] = {}
        self.command_syncs: list[tuple[int | None, list[str]]] = []
        self.interactions: dict[int, InteractionRecord] = {}
        self.webhooks: dict[int, FakeWebhook] = {}
        self.closed_dms: set[int] = set()
        self._interactions_by_token: dict[str, InteractionRecord] = {}
        self._channel_messages: dict[int, list[StoredMessage]] = {}
        self._nonces: dict[tuple[int, int, str], tuple[StoredMessage, float]] = {}
        self._changed = asyncio.Event()
        self.poll_interval = 0.02

        self.gateway = Gateway(self)
        self.rest = Rest(self)
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> FakeDiscord:
        app = web.Application()
        app.router.add_get("/gateway", self.gateway.handle)
        app.router.add_get("/gateway-resume", self.gateway.handle)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self.rest.handle)
        app.router.add_route("*", "/{tail:.*}", self._outside_api)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def stop(self) -> None:
        await self.gateway.shutdown()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _outside_api(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(
            RecordedRequest(
                request.method, request.path, dict(request.query), None, dict(request.headers), 404
            )
        )
        self.unknown_routes.append(f"{request.method} {request.path} (outside {API_PREFIX})")
        self._notify()
        return web.Response(
            status=404,
            body=b'{"message": "404: Not Found", "code": 0}',
            headers={"Content-Type": "application/json"},
        )

    # -- addresses ----------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_base(self) -> str:
        """Value for ``discord.http.Route.BASE`` / ``DISCORD_API_BASE``."""
        return f"{self.base_url}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        """Value for ``DiscordWebSocket.DEFAULT_GATEWAY`` / ``DISCORD_GATEWAY_URL``."""
        return f"ws://{self.host}:{self.port}/gateway"

    @property
    def resume_gateway_url(self) -> str:
        return f"ws://{self.host}:{self.port}/gateway-resume"

    def env(self, token: str = "fake-token") -> dict[str, str]:
        """Environment for a bot run as a subprocess against this fake."""
        return {
            "DISCORD_TOKEN": token,
            "DISCORD_API_BASE": self.api_base,
            "DISCORD_GATEWAY_URL": self.gateway_url,
        }

    # -- the world ----------------------------------------------------------------------------
    @property
    def guilds(self) -> list[FakeGuild]:
        return list(self.world.guilds.values())

    @property
    def guild_a(self) -> FakeGuild:
        return self.guilds[0]

    @property
    def guild_b(self) -> FakeGuild:
        return self.guilds[1]

    @property
    def bot_user(self) -> FakeUser:
        return self.world.bot

    @property
    def application_id(self) -> int:
        return self.world.application_id

    def user(self, username: str) -> FakeUser:
        return self.world.user(username)

    def dm_channel(self, user_id: int) -> FakeChannel:
        ch = self.world.dm_channels.get(user_id)
        if ch is None:
            ch = FakeChannel(self.ids.next(), "", DM, None, recipient_id=user_id)
            self.world.dm_channels[user_id] = ch
        return ch

    def create_webhook(self, channel_id: int, *, name: str = "BorderWatch alerts") -> FakeWebhook:
        """A webhook on a channel, as an admin would make one; give ``.url`` to Webhook.from_url."""
        found = self.world.find_channel(int(channel_id))
        if found is None:
            raise LookupError(f"no channel {channel_id}")
        guild, _ = found
        wh = FakeWebhook(
            id=self.ids.next(),
            token=secrets.token_urlsafe(51),  # 68 chars: Webhook.from_url wants 60+
            channel_id=int(channel_id),
            guild_id=guild.id if guild else None,
            name=name,
            api_base=self.api_base,
        )
        self.webhooks[wh.id] = wh
        return wh

    async def delete_webhook(self, webhook_id: int) -> None:
        self.webhooks[int(webhook_id)].deleted = True

    def _guild_channel(self, channel_id: int) -> tuple[FakeGuild, FakeChannel]:
        found = self.world.find_channel(int(channel_id))
        if found is None or found[0] is None:
            raise LookupError(f"no guild channel {channel_id}")
        return found[0], found[1]

    async def create_channel(
        self,
        guild_id: int,
        name: str,
        *,
        type: int = 0,
        parent_id: int | None = None,
        overwrites: Sequence[Overwrite] = (),
    ) -> FakeChannel:
        """Add a channel (0 text, 15 forum, 11 thread with ``parent_id``, ...) and tell the bot."""
        ch = self.world.add_channel(
            int(guild_id), name, type=type, parent_id=parent_id, overwrites=overwrites
        )
        guild = self.world.guilds[int(guild_id)]
        event = "THREAD_CREATE" if ch.is_thread else "CHANNEL_CREATE"
        await self._echo(event, payloads.channel_json(ch), guild, intent=GUILDS_INTENT)
        return ch

    async def delete_channel(self, channel_id: int) -> None:
        """Delete a channel (and its threads; its webhooks die with it) and tell the bot."""
        guild, ch = self._guild_channel(channel_id)
        for child in [c for c in guild.channels.values() if c.parent_id == ch.id and c.is_thread]:
            del guild.channels[child.id]
        del guild.channels[ch.id]
        await self._echo(
            "THREAD_DELETE" if ch.is_thread else "CHANNEL_DELETE",
            payloads.channel_json(ch),
            guild,
            intent=GUILDS_INTENT,
        )

    async def set_channel_overwrites(
        self, channel_id: int, overwrites: Sequence[Overwrite]
    ) -> None:
        """Replace a channel's permission overwrites and send CHANNEL_UPDATE."""
        guild, ch = self._guild_channel(channel_id)
        ch.overwrites = list(overwrites)
        await self._echo("CHANNEL_UPDATE", payloads.channel_json(ch), guild, intent=GUILDS_INTENT)

    async def set_role_permissions(self, guild_id: int, role_id: int, permissions: int) -> None:
        """Change a role's permissions and send GUILD_ROLE_UPDATE."""
        guild = self.world.guilds[int(guild_id)]
        role = guild.roles[int(role_id)]
        role.permissions = permissions
        await self._echo(
            "GUILD_ROLE_UPDATE",
            {"guild_id": str(guild.id), "role": payloads.role_json(role)},
            guild,
            intent=GUILDS_INTENT,
        )

    async def join_guild(
        self,
        name: str,
        *,
        owner: FakeUser | str | None = None,
        members: Sequence[FakeUser | str] = (),
    ) -> FakeGuild:
        """The bot is added to a new guild (same layout as the default ones): GUILD_CREATE."""

        def user(u: FakeUser | str) -> FakeUser:
            if isinstance(u, FakeUser):
                return u
            try:
                return self.world.user(u)
            except KeyError:
                return self.world.add_user(u)

        guild = self.world.add_guild(
            name,
            owner=user(owner or f"owner-of-{name.lower().replace(' ', '-')}"),
            members=[user(m) for m in members],
        )
        session = self.gateway.session_for({"guild_id": guild.id})
        if session is not None:
            await self.gateway._dispatch_on(
                session, "GUILD_CREATE", self.gateway.guild_create_payload(guild, session.intents)
            )
        return guild

    async def leave_guild(self, guild_id: int) -> None:
        """The bot is removed from a guild (kicked, or the guild deleted): GUILD_DELETE."""
        guild = self.world.guilds[int(guild_id)]
        session = self.gateway.session_for({"guild_id": guild.id})
        guild.members.pop(self.world.bot.id, None)
        if session is not None:
            await self.gateway._dispatch_on(session, "GUILD_DELETE", {"id": str(guild.id)})

    def close_dms(self, user_id: int) -> None:
        """The user does not accept DMs from the bot: sending gets 403 50007."""
        self.closed_dms.add(int(user_id))

    # -- recording and scripting --------------------------------------------------------------
    def requests_to(self, method: str, pattern: str | re.Pattern[str]) -> list[RecordedRequest]:
        """Recorded requests whose method and path (relative to /api/v10) match; ``*`` wildcards."""
        probe = ScriptedFailure(method, pattern, 0, None, None, None, None, None, False)
        return [r for r in self.requests if probe.matches(r.method, r.path)]

    def fail_next(
        self,
        method: str,
        path_pattern: str | re.Pattern[str],
        status: int,
        times: int | None = 1,
        retry_after: float | None = None,
        body: JSON | None = None,
        *,
        code: int | None = None,
        message: str | None = None,
        is_global: bool = False,
    ) -> ScriptedFailure:
        """Answer the next ``times`` matching requests with ``status`` (None: until cleared).

        ``path_pattern`` is relative to /api/v10, e.g. ``f"/channels/{ch}/messages"`` or
        ``"/webhooks/*"`` (fnmatch, ``*`` also crosses ``/``) or a compiled regex (fullmatch).
        429s carry ``retry_after`` (default 1.0 s) in the body plus Retry-After, X-RateLimit-* and
        Via headers, so discord.py sleeps and retries. Other statuses get Discord's error body:
        403 -> 50013 Missing Permissions (``code=50001`` for Missing Access), 404 -> 10003
        Unknown Channel / 10015 Unknown Webhook / 10008 Unknown Message / 10062 Unknown
        interaction depending on the path. ``body`` replaces the whole JSON body.
        """
        if isinstance(path_pattern, str) and path_pattern.startswith(API_PREFIX):
            path_pattern = path_pattern[len(API_PREFIX) :]
        failure = ScriptedFailure(
            method, path_pattern, status, times, retry_after, body, code, message, is_global
        )
        self.failures.append(failure)
        return failure

    def clear_failures(self) -> None:
        self.failures.clear()

    def _take_failure(self, method: str, path: str) -> ScriptedFailure | None:
        for f in self.failures:
            if (f.remaining is None or f.remaining > 0) and f.matches(method, path):
                f.hits += 1
                if f.remaining is not None:
                    f.remaining -= 1
                return f
        return None

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for(
        self,
        predicate: Callable[[], T],
        timeout: float = 5.0,  # noqa: ASYNC109 - a test helper names its own deadline
        what: str | None = None,
    ) -> T:
        """Wait until ``predicate()`` is truthy (checked on every request/frame and every 20 ms)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                recent = "\n  ".join(str(r) for r in self.requests[-10:]) or "(none)"
                raise TimeoutError(
                    f"fake Discord: timed out after {timeout}s waiting for {what or 'condition'}; "
                    f"last requests:\n  {recent}"
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, self.poll_interval))

    # -- gateway ------------------------------------------------------------------------------
    async def dispatch(self, event: str, data: JSON, *, shard_id: int | None = None) -> int:
        """Send a DISPATCH to the connected client; returns its sequence number."""
        if event == "INTERACTION_CREATE":
            self._register_interaction(data)
        return await self.gateway.dispatch(event, data, shard_id)

    async def wait_until_connected(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109 - a test helper names its own deadline
        """Until a client has identified and received READY + GUILD_CREATEs."""
        await self.wait_for(lambda: self.gateway.ready_count > 0, timeout, "a client to IDENTIFY")

    async def disconnect_gateway(
        self,
        code: int = 4000,
        *,
        resumable: bool = True,
        wait: bool = True,
        timeout: float = 5.0,  # noqa: ASYNC109 - a test helper names its own deadline
    ) -> str | None:
        """Close the client's websocket(s) with ``code``; by default wait until it is back.

        Returns "RESUMED" or "READY" (a fresh IDENTIFY, e.g. after ``resumable=False`` made the
        RESUME fail with INVALID_SESSION). Close codes discord.py does not reconnect after
        (4004, 4010-4014) stop the client: pass ``wait=False`` for those.
        """
        ready0, resumed0 = self.gateway.ready_count, self.gateway.resumed_count
        if await self.gateway.close_connections(code, resumable=resumable) == 0:
            raise RuntimeError("no gateway connection to drop")
        if not wait:
            return None
        await self.wait_for(
            lambda: self.gateway.ready_count > ready0 or self.gateway.resumed_count > resumed0,
            timeout,
            "the client to RESUME or re-IDENTIFY",
        )
        return "RESUMED" if self.gateway.resumed_count > resumed0 else "READY"

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT (Discord asking the client to reconnect and resume)."""
        await self.gateway.send_op(7, None)

    @property
    def identifies(self) -> list[JSON]:
        return self.gateway.identifies

    @property
    def resumes(self) -> list[JSON]:
        return self.gateway.resumes

    # -- messages -----------------------------------------------------------------------------
    def messages_in(
        self, channel_id: int, *, source: str | None = None, include_deleted: bool = False
    ) -> list[StoredMessage]:
        """Messages visible in a channel or thread, oldest first (no ephemeral ones).

        ``source`` filters: "bot" (channel.send / REST), "webhook", "interaction" (original
        responses) or "followup".
        """
        return [
            m
            for m in self._channel_messages.get(int(channel_id), [])
            if (include_deleted or not m.deleted) and (source is None or m.source == source)
        ]

    def webhook_messages(self, webhook_id: int) -> list[StoredMessage]:
        return [
            m
            for m in self.messages.values()
            if m.webhook_id == int(webhook_id) and m.source == "webhook" and not m.deleted
        ]

    def dms_to(self, user_id: int) -> list[StoredMessage]:
        ch = self.world.dm_channels.get(int(user_id))
        return self.messages_in(ch.id) if ch is not None else []

    def message(self, message_id: int) -> StoredMessage:
        return self.messages[int(message_id)]

    async def _create_message(
        self,
        *,
        channel: FakeChannel,
        guild: FakeGuild | None,
        body: JSON,
        author: JSON,
        source: str,
        webhook_id: int | None = None,
        interaction_id: int | None = None,
        files: Sequence[str] = (),
        msg_type: int = 0,
        ephemeral: bool = False,
        mid: int | None = None,
        extra: JSON | None = None,
    ) -> StoredMessage:
        mid = mid or self.ids.next()
        content = str(body.get("content") or "")
        pings = compute_pings(content, body.get("allowed_mentions"))
        data: JSON = {
            "id": str(mid),
            "type": msg_type,
            "content": content,
            "channel_id": str(channel.id),
            "author": author,
            "attachments": [self._attachment(f) for f in files],
            "embeds": _normalize_embeds(body.get("embeds")),
            "mentions": [
                payloads.user_json(self.world.users[u])
                for u in sorted(pings.users)
                if u in self.world.users
            ],
            "mention_roles": [str(r) for r in sorted(pings.roles)],
            "mention_everyone": pings.everyone,
            "pinned": False,
            "tts": bool(body.get("tts")),
            "timestamp": payloads.iso_now(),
            "edited_timestamp": None,
            "flags": int(body.get("flags") or 0),
            "components": list(body.get("components") or []),
        }
        if body.get("nonce") is not None:
            data["nonce"] = body["nonce"]
        if webhook_id is not None:
            data["webhook_id"] = str(webhook_id)
        if isinstance(body.get("message_reference"), dict):
            data["message_reference"] = {
                "type": 0,
                "channel_id": str(channel.id),
                **body["message_reference"],
            }
        if channel.is_thread:
            data["position"] = len(self._channel_messages.get(channel.id, []))
        if body.get("poll"):
            data["poll"] = body["poll"]
        if extra:
            data.update(extra)
        msg = StoredMessage(
            data=data,
            channel_id=channel.id,
            source=source,
            request=body,
            pings=pings,
            nonce=None if body.get("nonce") is None else str(body["nonce"]),
            webhook_id=webhook_id,
            interaction_id=interaction_id,
            ephemeral=ephemeral,
            files=list(files),
        )
        self.messages[mid] = msg
        if not ephemeral:
            self._channel_messages.setdefault(channel.id, []).append(msg)
            await self._echo_message(msg, guild)
        self._notify()
        return msg

    def _attachment(self, filename: str) -> JSON:
        aid = self.ids.next()
        url = f"{self.base_url}/attachments/{aid}/{filename}"
        return {
            "id": str(aid),
            "filename": filename,
            "size": 0,
            "url": url,
            "proxy_url": url,
            "content_type": "application/octet-stream",
        }

    def _edit_message(self, msg: StoredMessage, body: JSON, files: Sequence[str] = ()) -> None:
        data = msg.data
        was_loading = bool(int(data.get("flags") or 0) & LOADING)
        if "content" in body:
            data["content"] = body["content"] or ""
        if "embeds" in body:
            data["embeds"] = _normalize_embeds(body["embeds"])
        if "components" in body:
            data["components"] = list(body["components"] or [])
        flags = int(data.get("flags") or 0)
        if "flags" in body:
            flags = (int(body["flags"] or 0) & ~EPHEMERAL) | (flags & EPHEMERAL)
        data["flags"] = flags & ~LOADING
        if "attachments" in body or files:
            kept = {str(a.get("id")) for a in body.get("attachments") or [] if isinstance(a, dict)}
            data["attachments"] = [a for a in data.get("attachments") or [] if a["id"] in kept]
            data["attachments"] += [self._attachment(f) for f in files]
        if "allowed_mentions" in body:
            msg.request = {**msg.request, "allowed_mentions": body["allowed_mentions"]}
        if "content" in body:
            msg.pings = compute_pings(str(data["content"]), msg.allowed_mentions)
        if not was_loading:
            data["edited_timestamp"] = payloads.iso_now()
        msg.edits.append(body)
        self._notify()

    def _nonce_hit(self, channel_id: int, author_id: int, nonce: str) -> StoredMessage | None:
        entry = self._nonces.get((channel_id, author_id, nonce))
        if entry is None:
            return None
        msg, at = entry
        if time.monotonic() - at > self.nonce_window or msg.deleted:
            return None
        return msg

    def _remember_nonce(
        self, channel_id: int, author_id: int, nonce: str, msg: StoredMessage
    ) -> None:
        self._nonces[(channel_id, author_id, nonce)] = (msg, time.monotonic())

    async def _create_forum_post(
        self,
        guild: FakeGuild,
        forum: FakeChannel,
        name: str,
        body: JSON,
        *,
        author: JSON,
        owner_id: int,
        source: str,
        webhook_id: int | None = None,
        files: Sequence[str] = (),
    ) -> tuple[FakeChannel, StoredMessage]:
        thread = FakeChannel(
            self.ids.next(), name, PUBLIC_THREAD, guild.id, forum.id, owner_id=owner_id
        )
        guild.channels[thread.id] = thread
        await self._echo(
            "THREAD_CREATE",
            {**payloads.channel_json(thread), "newly_created": True},
            guild,
            intent=GUILDS_INTENT,
        )
        # The starter message of a forum post has the thread's id.
        msg = await self._create_message(
            channel=thread,
            guild=guild,
            body=body,
            author=author,
            source=source,
            webhook_id=webhook_id,
            files=files,
            mid=thread.id,
        )
        return thread, msg

    def forum_posts(self, forum_id: int) -> list[tuple[FakeChannel, list[StoredMessage]]]:
        """Threads of a forum channel with their messages, oldest first."""
        out = []
        for g in self.world.guilds.values():
            for ch in g.channels.values():
                if ch.parent_id == int(forum_id) and ch.is_thread:
                    out.append((ch, self.messages_in(ch.id)))
        return sorted(out, key=lambda pair: pair[0].id)

    async def _echo(
        self, event: str, data: JSON, guild: FakeGuild | None, *, intent: int = GUILDS_INTENT
    ) -> None:
        if not self.echo_messages:
            return
        session = self.gateway.session_for({"guild_id": guild.id} if guild else {})
        if session is None or not session.intents & intent:
            return
        await self.gateway._dispatch_on(session, event, data)

    async def _echo_message(self, msg: StoredMessage, guild: FakeGuild | None) -> None:
        if not self.echo_messages:
            return
        session = self.gateway.session_for({"guild_id": guild.id} if guild else {})
        if session is None or not session.intents & (GUILD_MESSAGES if guild else DIRECT_MESSAGES):
            return
        data = dict(msg.data)
        author_id = int(data["author"]["id"])
        if guild is not None:
            data["guild_id"] = str(guild.id)
            member = guild.members.get(author_id)
            if member is not None and msg.webhook_id is None:
                data["member"] = payloads.member_json(member, with_user=False)
        if author_id != self.world.bot.id and not session.intents & MESSAGE_CONTENT:
            data.update(content="", embeds=[], attachments=[], components=[])
        await self.gateway._dispatch_on(session, "MESSAGE_CREATE", data)

    # -- application commands -----------------------------------------------------------------
    def global_commands(self) -> list[StoredCommand]:
        return list(self.commands.get(None, {}).values())

    def guild_commands(self, guild_id: int) -> list[StoredCommand]:
        return list(self.commands.get(int(guild_id), {}).values())

    def command(self, name: str, guild_id: int | None = None) -> StoredCommand:
        for cmd in self.commands.get(None if guild_id is None else int(guild_id), {}).values():
            if cmd.name == name:
                return cmd
        raise LookupError(
            f"no synced command {name!r} in {'global' if guild_id is None else guild_id}"
        )

    # -- interactions -------------------------------------------------------------------------
    def _resolve_place(
        self,
        guild_id: int | FakeGuild | None,
        channel_id: int | FakeChannel | None,
        user_id: int | FakeUser | FakeMember | None,
        dm: bool,
    ) -> tuple[FakeGuild | None, FakeChannel, FakeUser]:
        if dm:
            user = self._user(user_id) if user_id is not None else self.user("bob")
            return None, self.dm_channel(user.id), user
        guild = self.guild_a if guild_id is None else self.world.guilds[_id(guild_id)]
        if channel_id is None:
            channel = guild.system_channel or next(iter(guild.channels.values()))
        else:
            channel = guild.channels.get(_id(channel_id))  # type: ignore[assignment]
            if channel is None:
                raise LookupError(f"channel {channel_id} is not in guild {guild.name!r}")
        user = self.world.users[guild.owner_id] if user_id is None else self._user(user_id)
        return guild, channel, user

    def _user(self, user: int | FakeUser | FakeMember) -> FakeUser:
        if isinstance(user, FakeUser):
            return user
        if isinstance(user, FakeMember):
            return user.user
        return self.world.users[int(user)]

    def make_interaction(
        self,
        command: str,
        *,
        guild_id: int | FakeGuild | None = None,
        channel_id: int | FakeChannel | None = None,
        user_id: int | FakeUser | FakeMember | None = None,
        options: Mapping[str, object] | Sequence[JSON] | None = None,
        focused: str | None = None,
        permissions: int | str | None = None,
        roles: Sequence[int] | None = None,
        locale: str = "en-US",
        subcommand_group: str | None = None,
        subcommand: str | None = None,
        type: int | None = None,
        dm: bool = False,
    ) -> JSON:
        """A full INTERACTION_CREATE ``d`` for a synced slash command (type 2; 4 with ``focused``).

        ``command`` may include subcommands: "feeds add" (or pass subcommand_group/subcommand).
        ``options`` maps option names to values; their types come from the synced command, and
        users/channels/roles (ids or Fake* objects) are put in ``data.resolved``. A list of raw
        option dicts is used as is. Defaults: guild A, its system channel (#general), the guild
        owner; ``permissions`` defaults to the member's computed permissions in the channel.
        """
        if type not in (None, 2, 4):
            raise ValueError(
                f"type must be 2 (application command) or 4 (autocomplete), not {type}"
            )
        if type == 4 and focused is None:
            raise ValueError("an autocomplete interaction (type 4) needs focused=<option name>")
        if type == 2 and focused is not None:
            raise ValueError("focused= makes an autocomplete interaction; type=2 contradicts it")
        guild, channel, user = self._resolve_place(guild_id, channel_id, user_id, dm)
        full = " ".join(p for p in (command, subcommand_group, subcommand) if p)
        return build_command_interaction(
            self,
            full,
            guild=guild,
            channel=channel,
            user=user,
            options=options,
            focused=focused,
            permissions=permissions,
            roles=roles,
            locale=locale,
        )

    def _register_interaction(self, payload: JSON) -> InteractionRecord:
        iid = int(payload["id"])
        rec = self.interactions.get(iid)
        if rec is None:
            rec = InteractionRecord(id=iid, token=str(payload["token"]), payload=payload)
            self.interactions[iid] = rec
            self._interactions_by_token[rec.token] = rec
        if isinstance(payload.get("message"), dict):
            rec.component_message_id = int(payload["message"]["id"])
        rec.dispatched_at = time.monotonic()
        return rec

    async def _dispatch_interaction(self, payload: JSON) -> InteractionRecord:
        rec = self._register_interaction(payload)
        await self.gateway.dispatch("INTERACTION_CREATE", payload)
        return rec

    async def invoke(
        self,
        command: str | JSON,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - a test helper names its own deadline
        followups: int = 0,
        **kwargs: Any,
    ) -> InteractionRecord:
        """Dispatch a slash command and wait for the bot's answer.

        Returns when the callback arrived and, if it was a defer (type 5/6), the deferred answer
        was filled in (PATCH @original, a follow-up, or a delete); plus ``followups`` follow-up
        messages. ``command`` is a name for make_interaction(**kwargs) or a prebuilt payload.
        """
        payload = command if isinstance(command, dict) else self.make_interaction(command, **kwargs)
        rec = await self._dispatch_interaction(payload)
        data = payload.get("data") or {}
        name = data.get("name") or data.get("custom_id")

        def done() -> bool:
            if rec.expired:
                raise AssertionError(
                    f"the bot answered interaction {name!r} after the {self.interaction_deadline}s "
                    f"deadline (Discord: 404 10062 Unknown interaction); defer first. {rec.errors}"
                )
            return rec.finished and len(rec.followups) >= followups

        try:
            await self.wait_for(done, timeout, f"the bot to answer interaction {name!r}")
        except TimeoutError as exc:
            raise TimeoutError(
                f"{exc}\ncallbacks: {rec.callbacks}\nrejected answers: {rec.errors or 'none'}"
            ) from None
        return rec

    async def autocomplete(
        self,
        command: str,
        focused: str,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - a test helper names its own deadline
        **kwargs: Any,
    ) -> list[JSON]:
        """Dispatch an autocomplete interaction (type 4) and return the choices the bot offered."""
        rec = await self.invoke(
            self.make_interaction(command, focused=focused, **kwargs), timeout=timeout
        )
        if rec.response_type != 8:
            raise AssertionError(
                f"autocomplete answered with callback type {rec.response_type}, not 8"
            )
        return rec.choices

    async def click(
        self,
        message: StoredMessage | int,
        custom_id: str,
        *,
        user_id: int | FakeUser | FakeMember | None = None,
        values: Sequence[str] | None = None,
        permissions: int | str | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - a test helper names its own deadline
    ) -> InteractionRecord:
        """Press a button (or pick select ``values``) on a stored message; waits for the answer."""
        msg = message if isinstance(message, StoredMessage) else self.messages[int(message)]
        found = self.world.find_channel(msg.channel_id)
        guild = found[0] if found else None
        if user_id is None:
            user = self.world.users[guild.owner_id] if guild else self.user("bob")
        else:
            user = self._user(user_id)
        payload = build_component_interaction(
            self, msg, custom_id, user=user, values=values, permissions=permissions, locale="en-US"
        )
        return await self.invoke(payload, timeout=timeout)

    async def submit_modal(
        self,
        shown: InteractionRecord,
        values: Mapping[str, str | Sequence[str]],
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - a test helper names its own deadline
    ) -> InteractionRecord:
        """Fill in and submit the modal the bot showed in answer to ``shown``."""
        modal = shown.modal
        if modal is None:
            raise AssertionError(f"interaction {shown.id} was not answered with a modal")
        p = shown.payload
        guild = self.world.guilds.get(int(p["guild_id"])) if p.get("guild_id") else None
        found = self.world.find_channel(int(p["channel_id"]))
        if found is None:
            raise LookupError(f"channel {p['channel_id']} vanished")
        invoker = (p.get("member") or {}).get("user") or p.get("user") or {}
        user = self._user(int(invoker["id"]))
        msg = self.messages.get(shown.component_message_id or 0)
        payload = build_modal_submit(
            self,
            modal,
            values,
            guild=guild,
            channel=found[1],
            user=user,
            permissions=(p.get("member") or {}).get("permissions"),
            locale=p["locale"],
            message=msg,
        )
        return await self.invoke(payload, timeout=timeout)

    async def _create_interaction_message(
        self,
        irec: InteractionRecord,
        body: JSON,
        *,
        files: Sequence[str],
        ephemeral: bool,
        original: bool,
    ) -> StoredMessage:
        p = irec.payload
        found = self.world.find_channel(int(p["channel_id"]))
        if found is None:
            raise LookupError(f"interaction channel {p['channel_id']} is unknown to the fake")
        guild, channel = found
        invoker = (p.get("member") or {}).get("user") or p.get("user")
        meta: JSON = {
            "id": str(irec.id),
            "type": irec.type,
            "user": invoker,
            "authorizing_integration_owners": p.get("authorizing_integration_owners", {}),
        }
        if original and irec.type == 2:
            meta["name"] = (p.get("data") or {}).get("name")
        if not original and irec.original is not None:
            meta["original_response_message_id"] = str(irec.original.id)
        app = str(self.world.application_id)
        return await self._create_message(
            channel=channel,
            guild=guild,
            body=body,
            author=payloads.user_json(self.world.bot),
            source="interaction" if original else "followup",
            interaction_id=irec.id,
            files=files,
            msg_type=20 if irec.type == 2 and original else 0,
            ephemeral=ephemeral,
            extra={"application_id": app, "webhook_id": app, "interaction_metadata": meta},
        )

    # -- running a discord.py client ----------------------------------------------------------
    @contextlib.asynccontextmanager
    async def run_bot(
        self,
        client: discord.Client,
        token: str = "fake-token",
        *,
        timeout: float = 10.0,  # noqa: ASYNC109 - a test helper names its own deadline
    ) -> AsyncIterator[discord.Client]:
        """Start ``client`` against this fake, wait for on_ready, and close it afterwards.

        Point discord.py at the fake first (``point_discord_at`` or the ``fake_discord`` fixture).
        Pass ``guild_ready_timeout=0.05`` (or so) to the client: discord.py waits that long after
        the last GUILD_CREATE before on_ready (default 2 s).
        """
        task = asyncio.create_task(client.start(token), name="fake-discord-client")
        try:
            await self.wait_for(
                lambda: task.done() or client.is_ready(), timeout, "the client's on_ready"
            )
            if task.done():
                task.result()
                raise RuntimeError("client.start() returned before the client was ready")
            yield client
        finally:
            await client.close()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 5.0)


def _id(value: int | FakeGuild | FakeChannel) -> int:
    return value.id if isinstance(value, FakeGuild | FakeChannel) else int(value)


class point_discord_at:  # lower case: it is used like a function, with point_discord_at(fake)
    """Point discord.py's REST base and gateway URL at ``fake``; restore them afterwards.

    Works with ``with`` and ``async with``. discord.py reads ``discord.http.Route.BASE`` (a str)
    whenever a Route is built and ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`` (a
    ``yarl.URL``) for every IDENTIFY connection; resumes use READY's ``resume_gateway_url``,
    which points back at the fake.
    """

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self._saved: tuple[str, Any] | None = None

    def __enter__(self) -> FakeDiscord:
        import discord.gateway
        import discord.http
        import yarl

        self._saved = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
        discord.http.Route.BASE = self.fake.api_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.fake.gateway_url)
        return self.fake

    def __exit__(self, *exc: object) -> None:
        import discord.gateway
        import discord.http

        assert self._saved is not None
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = self._saved
        self._saved = None

    async def __aenter__(self) -> FakeDiscord:
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__()
