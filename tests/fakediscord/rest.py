"""The fake REST API under /api/v10.

Every response carries ``Content-Type: application/json`` exactly (discord.py's ``json_or_text``
compares the header with ``==``; aiohttp's ``json_response`` would append ``; charset=utf-8`` and
discord.py would then hand the body around as a string), ``Via: 1.1 google`` (discord.py treats a
429 without ``Via`` as a Cloudflare ban and raises instead of retrying), and X-RateLimit-* headers
describing a bucket that never runs dry, so discord.py never sleeps pre-emptively.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import payloads
from .records import (
    FakeWebhook,
    InteractionRecord,
    Pings,
    RecordedRequest,
    ScriptedFailure,
    StoredCommand,
    StoredMessage,
)
from .validate import (
    ApiError,
    has_message_body,
    validate_choices,
    validate_commands,
    validate_message,
)
from .world import (
    CREATE_PUBLIC_THREADS,
    DM,
    EMBED_LINKS,
    GUILD_ANNOUNCEMENT,
    GUILD_FORUM,
    GUILD_TEXT,
    MANAGE_MESSAGES,
    MANAGE_WEBHOOKS,
    PRIVATE_THREAD,
    PUBLIC_THREAD,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    SEND_MESSAGES_IN_THREADS,
    THREAD_TYPES,
    VIEW_CHANNEL,
    FakeChannel,
    FakeGuild,
)

if TYPE_CHECKING:
    from .server import FakeDiscord

JSON = dict[str, Any]
API_PREFIX = "/api/v10"
EPHEMERAL = 1 << 6
LOADING = 1 << 7

ERROR_MESSAGES = {
    0: "General error",
    10003: "Unknown Channel",
    10004: "Unknown Guild",
    10007: "Unknown Member",
    10008: "Unknown Message",
    10013: "Unknown User",
    10015: "Unknown Webhook",
    10062: "Unknown interaction",
    10063: "Unknown application command",
    40060: "Interaction has already been acknowledged.",
    50001: "Missing Access",
    50006: "Cannot send an empty message",
    50007: "Cannot send messages to this user",
    50008: "Cannot send messages in a non-text channel",
    50013: "Missing Permissions",
    50027: "Invalid Webhook Token",
    50033: "Invalid Recipient(s)",
    50035: "Invalid Form Body",
    220001: "Webhooks posted to forum channels must have a thread_name or thread_id",
    220003: "Webhooks can only create threads in forum channels",
}

MENTION_USER_RE = re.compile(r"<@!?(\d{1,20})>")
MENTION_ROLE_RE = re.compile(r"<@&(\d{1,20})>")
MENTION_EVERYONE_RE = re.compile(r"@(everyone|here)\b")

Handler = Callable[..., Awaitable[tuple[int, Any]]]


@dataclass
class _Route:
    method: str
    template: str
    regex: re.Pattern[str]
    handler: Handler
    auth: bool
    bucket: str


def default_error(
    status: int, path: str, code: int | None = None, message: str | None = None
) -> JSON:
    if code is None:
        if status == 403:
            code = 50013
        elif status == 404:
            if path.startswith("/interactions/"):
                code = 10062
            elif path.startswith("/webhooks/"):
                code = 10008 if "/messages/" in path else 10015
            elif re.match(r"^/channels/\d+/messages/\d+", path):
                code = 10008
            elif path.startswith("/channels/"):
                code = 10003
            elif path.startswith("/guilds/"):
                code = 10004
            else:
                code = 0
        elif status == 400:
            code = 50035
        else:
            code = 0
    if message is None:
        message = ERROR_MESSAGES.get(code) if code else None
        message = message or f"{status}: {web.Response(status=status).reason}"
    return {"message": message, "code": code}


def compute_pings(content: str, allowed_mentions: JSON | None) -> Pings:
    """Who Discord would notify, given every permission (so a test catches what *could* ping)."""
    if allowed_mentions is None:
        parse = {"users", "roles", "everyone"}
        users_ok: set[int] = set()
        roles_ok: set[int] = set()
    else:
        parse = set(allowed_mentions.get("parse") or [])
        users_ok = {int(x) for x in allowed_mentions.get("users") or []}
        roles_ok = {int(x) for x in allowed_mentions.get("roles") or []}
    users = {
        int(m) for m in MENTION_USER_RE.findall(content) if "users" in parse or int(m) in users_ok
    }
    roles = {
        int(m) for m in MENTION_ROLE_RE.findall(content) if "roles" in parse or int(m) in roles_ok
    }
    everyone = "everyone" in parse and MENTION_EVERYONE_RE.search(content) is not None
    return Pings(everyone=everyone, users=users, roles=roles)


def _normalize_embeds(embeds: list[JSON] | None) -> list[JSON]:
    out = []
    for e in embeds or []:
        e = json.loads(json.dumps(e))
        e.setdefault("type", "rich")
        for f in e.get("fields") or []:
            f.setdefault("inline", False)
        out.append(e)
    return out


class Rest:
    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.routes: list[_Route] = []
        r = self._add
        r("GET", "/gateway", self.get_gateway, auth=False)
        r("GET", "/gateway/bot", self.get_gateway_bot)
        r("GET", "/users/@me", self.get_me)
        r("POST", "/users/@me/channels", self.open_dm)
        r("GET", "/users/@me/guilds", self.get_my_guilds)
        r("GET", "/users/{user_id}", self.get_user)
        r("GET", "/oauth2/applications/@me", self.get_application)
        r("GET", "/applications/@me", self.get_application)
        for scope in ("/applications/{app_id}", "/applications/{app_id}/guilds/{guild_id}"):
            r("GET", scope + "/commands", self.list_commands)
            r("PUT", scope + "/commands", self.put_commands)
            r("POST", scope + "/commands", self.post_command)
            r("GET", scope + "/commands/{command_id}", self.get_command)
            r("PATCH", scope + "/commands/{command_id}", self.patch_command)
            r("DELETE", scope + "/commands/{command_id}", self.delete_command)
        r("GET", "/guilds/{guild_id}", self.get_guild)
        r("GET", "/guilds/{guild_id}/channels", self.get_guild_channels)
        r("GET", "/guilds/{guild_id}/roles", self.get_guild_roles)
        r("GET", "/guilds/{guild_id}/members/{user_id}", self.get_member)
        r("GET", "/channels/{channel_id}", self.get_channel)
        r("GET", "/channels/{channel_id}/messages", self.get_history)
        r("POST", "/channels/{channel_id}/messages", self.post_message)
        r("GET", "/channels/{channel_id}/messages/{message_id}", self.get_message)
        r("PATCH", "/channels/{channel_id}/messages/{message_id}", self.patch_message)
        r("DELETE", "/channels/{channel_id}/messages/{message_id}", self.delete_message)
        r("POST", "/channels/{channel_id}/typing", self.typing)
        r("POST", "/channels/{channel_id}/threads", self.create_thread)
        r("GET", "/channels/{channel_id}/webhooks", self.list_webhooks)
        r("POST", "/channels/{channel_id}/webhooks", self.create_webhook)
        r("GET", "/webhooks/{webhook_id}", self.get_webhook)
        r("GET", "/webhooks/{webhook_id}/{token}", self.get_webhook_with_token, auth=False)
        r("DELETE", "/webhooks/{webhook_id}/{token}", self.delete_webhook_with_token, auth=False)
        r("POST", "/webhooks/{webhook_id}/{token}", self.execute_webhook, auth=False)
        for method in ("GET", "PATCH", "DELETE"):
            r(
                method,
                "/webhooks/{webhook_id}/{token}/messages/{message_id}",
                self.webhook_message,
                auth=False,
            )
        r(
            "POST",
            "/interactions/{interaction_id}/{token}/callback",
            self.interaction_callback,
            auth=False,
        )

    def _add(self, method: str, template: str, handler: Handler, *, auth: bool = True) -> None:
        pattern = re.sub(r"\{(\w+)\}", lambda m: f"(?P<{m.group(1)}>[^/]+)", template)
        # Literal segments such as "@me" must not be captured by "{user_id}".
        bucket = hashlib.md5(f"{method} {template}".encode()).hexdigest()[:16]
        self.routes.append(
            _Route(method, template, re.compile(f"^{pattern}$"), handler, auth, bucket)
        )

    def match(self, method: str, path: str) -> tuple[_Route, dict[str, str]] | None:
        for route in self.routes:
            if route.method == method:
                m = route.regex.match(path)
                if m:
                    return route, m.groupdict()
        return None

    # -- the entry point ----------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        fake = self.fake
        path = request.path[len(API_PREFIX) :] or "/"
        body, files = await _read_body(request)
        rec = RecordedRequest(
            method=request.method,
            path=path,
            query=dict(request.query),
            json=body,
            headers=dict(request.headers),
            files=files,
            time=time.monotonic(),
        )
        fake.requests.append(rec)
        matched = self.match(request.method, path)
        bucket = matched[0].bucket if matched else "unknown"
        try:
            if fake.latency:
                await asyncio.sleep(fake.latency)
            failure = fake._take_failure(request.method, path)
            if failure is not None:
                rec.scripted = True
                return self._finish(rec, *self._scripted(failure, path), bucket=bucket)
            if matched is None:
                fake.unknown_routes.append(f"{request.method} {path}")
                return self._finish(
                    rec, 404, {"message": "404: Not Found", "code": 0}, bucket=bucket
                )
            route, params = matched
            if route.auth and not self._auth_ok(request):
                return self._finish(
                    rec, 401, {"message": "401: Unauthorized", "code": 0}, bucket=bucket
                )
            status, out = await route.handler(rec, **params)
            return self._finish(rec, status, out, bucket=bucket)
        except _RateLimited as e:
            return self._finish(rec, 429, e.body(), bucket=bucket, headers=e.headers())
        except ApiError as e:
            return self._finish(rec, e.status, e.body(), bucket=bucket)

    def _auth_ok(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bot ") or not header[4:]:
            return False
        return self.fake.token is None or header[4:] == self.fake.token

    def _finish(
        self,
        rec: RecordedRequest,
        status: int,
        body: Any,
        *,
        bucket: str,
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        rec.status = status
        out_headers = {"Via": "1.1 google"}
        if self.fake.ratelimit_headers and status != 429:
            limit = 50
            out_headers.update(
                {
                    "X-RateLimit-Limit": str(limit),
                    "X-RateLimit-Remaining": str(limit - 1),
                    "X-RateLimit-Reset": f"{time.time() + 1:.3f}",
                    "X-RateLimit-Reset-After": "1.000",
                    "X-RateLimit-Bucket": bucket,
                }
            )
        out_headers.update(headers or {})
        self.fake._notify()
        if body is None:
            return web.Response(status=204 if status == 200 else status, headers=out_headers)
        out_headers["Content-Type"] = "application/json"
        return web.Response(status=status, body=json.dumps(body).encode(), headers=out_headers)

    def _scripted(self, f: ScriptedFailure, path: str) -> tuple[int, Any]:
        if f.status == 429:
            retry_after = 1.0 if f.retry_after is None else f.retry_after
            body = f.body or {
                "message": "You are being rate limited.",
                "retry_after": retry_after,
                "global": f.is_global,
            }
            if f.is_global and f.body is None:
                body["code"] = 0
            raise _RateLimited(body, retry_after, f.is_global)
        if f.body is not None:
            return f.status, f.body
        return f.status, default_error(f.status, path, f.code, f.message)

    # -- lookups ------------------------------------------------------------------------------
    def _channel(self, channel_id: str) -> tuple[FakeGuild | None, FakeChannel]:
        found = self.fake.world.find_channel(_int(channel_id))
        if found is None:
            raise ApiError(404, 10003, "Unknown Channel")
        return found

    def _guild(self, guild_id: str) -> FakeGuild:
        g = self.fake.world.guilds.get(_int(guild_id))
        if g is None or self.fake.world.bot.id not in g.members:
            raise ApiError(404, 10004, "Unknown Guild")
        return g

    def _require(self, guild: FakeGuild | None, channel: FakeChannel, needed: int) -> int:
        """The bot's permissions in the channel; 403 50001/50013 if ``needed`` bits are missing."""
        if guild is None:
            return -1
        perms = guild.permissions_in(channel.id, self.fake.world.bot.id)
        if not perms & VIEW_CHANNEL:
            raise ApiError(403, 50001, "Missing Access")
        if needed & ~perms:
            raise ApiError(403, 50013, "Missing Permissions")
        return perms

    # -- misc / identity ----------------------------------------------------------------------
    async def get_gateway(self, rec: RecordedRequest) -> tuple[int, Any]:
        return 200, {"url": self.fake.gateway_url}

    async def get_gateway_bot(self, rec: RecordedRequest) -> tuple[int, Any]:
        return 200, {
            "url": self.fake.gateway_url,
            "shards": self.fake.recommended_shards,
            "session_start_limit": {
                "total": 1000,
                "remaining": 999,
                "reset_after": 14_400_000,
                "max_concurrency": 1,
            },
        }

    async def get_me(self, rec: RecordedRequest) -> tuple[int, Any]:
        return 200, payloads.client_user_json(self.fake.world.bot)

    async def get_my_guilds(self, rec: RecordedRequest) -> tuple[int, Any]:
        bot = self.fake.world.bot.id
        return 200, [
            {
                "id": str(g.id),
                "name": g.name,
                "icon": None,
                "banner": None,
                "owner": g.owner_id == bot,
                "permissions": str(g.base_permissions(bot)),
                "features": [],
            }
            for g in self.fake.world.guilds.values()
            if bot in g.members
        ]

    async def get_user(self, rec: RecordedRequest, user_id: str) -> tuple[int, Any]:
        user = self.fake.world.users.get(_int(user_id))
        if user is None:
            raise ApiError(404, 10013, "Unknown User")
        return 200, payloads.user_json(user)

    async def get_application(self, rec: RecordedRequest) -> tuple[int, Any]:
        return 200, payloads.application_json(self.fake.world, flags=self.fake.application_flags)

    async def open_dm(self, rec: RecordedRequest) -> tuple[int, Any]:
        recipient = _int((rec.json or {}).get("recipient_id"))
        if recipient not in self.fake.world.users:
            raise ApiError(400, 50033, "Invalid Recipient(s)")
        return 200, payloads.channel_json(self.fake.dm_channel(recipient), self.fake.world)

    # -- application commands -----------------------------------------------------------------
    def _scope(self, app_id: str, guild_id: str | None) -> int | None:
        if _int(app_id) != self.fake.world.application_id:
            raise ApiError(403, 50001, "Missing Access")
        if guild_id is None:
            return None
        g = self.fake.world.guilds.get(_int(guild_id))
        if g is None or self.fake.world.bot.id not in g.members:
            raise ApiError(403, 50001, "Missing Access")
        return g.id

    def _command_json(self, scope: int | None, body: JSON, existing: StoredCommand | None) -> JSON:
        ctype = int(body.get("type", 1))
        data: JSON = {
            "id": str(existing.id if existing else self.fake.ids.next()),
            "application_id": str(self.fake.world.application_id),
            "version": str(self.fake.ids.next()),
            "default_member_permissions": body.get("default_member_permissions"),
            "type": ctype,
            "name": body["name"],
            "name_localizations": body.get("name_localizations"),
            "description": body.get("description", "") if ctype == 1 else "",
            "description_localizations": body.get("description_localizations"),
            "dm_permission": body.get("dm_permission", True),
            "contexts": body.get("contexts"),
            "integration_types": body.get("integration_types") or [0],
            "nsfw": bool(body.get("nsfw", False)),
        }
        if body.get("options"):
            data["options"] = json.loads(json.dumps(body["options"]))
        if scope is not None:
            data["guild_id"] = str(scope)
        return data

    async def list_commands(
        self, rec: RecordedRequest, app_id: str, guild_id: str | None = None
    ) -> tuple[int, Any]:
        scope = self._scope(app_id, guild_id)
        return 200, [c.data for c in self.fake.commands.get(scope, {}).values()]

    async def put_commands(
        self, rec: RecordedRequest, app_id: str, guild_id: str | None = None
    ) -> tuple[int, Any]:
        scope = self._scope(app_id, guild_id)
        validate_commands(rec.json)
        old = self.fake.commands.get(scope, {})
        new: dict[tuple[str, int], StoredCommand] = {}
        for body in rec.json:
            key = (str(body["name"]), int(body.get("type", 1)))
            new[key] = StoredCommand(self._command_json(scope, body, old.get(key)))
        self.fake.commands[scope] = new
        self.fake.command_syncs.append((scope, sorted(k[0] for k in new)))
        return 200, [c.data for c in new.values()]

    async def post_command(
        self, rec: RecordedRequest, app_id: str, guild_id: str | None = None
    ) -> tuple[int, Any]:
        scope = self._scope(app_id, guild_id)
        body = rec.json or {}
        validate_commands([body])
        cmds = self.fake.commands.setdefault(scope, {})
        key = (str(body["name"]), int(body.get("type", 1)))
        existed = key in cmds
        cmds[key] = StoredCommand(self._command_json(scope, body, cmds.get(key)))
        return (200 if existed else 201), cmds[key].data

    def _command(self, scope: int | None, command_id: str) -> tuple[tuple[str, int], StoredCommand]:
        for key, cmd in self.fake.commands.get(scope, {}).items():
            if cmd.id == _int(command_id):
                return key, cmd
        raise ApiError(404, 10063, "Unknown application command")

    async def get_command(
        self, rec: RecordedRequest, app_id: str, command_id: str, guild_id: str | None = None
    ) -> tuple[int, Any]:
        return 200, self._command(self._scope(app_id, guild_id), command_id)[1].data

    async def patch_command(
        self, rec: RecordedRequest, app_id: str, command_id: str, guild_id: str | None = None
    ) -> tuple[int, Any]:
        scope = self._scope(app_id, guild_id)
        key, cmd = self._command(scope, command_id)
        merged = {**cmd.data, **(rec.json or {})}
        validate_commands([merged])
        del self.fake.commands[scope][key]
        new_key = (str(merged["name"]), int(merged.get("type", 1)))
        self.fake.commands[scope][new_key] = StoredCommand(self._command_json(scope, merged, cmd))
        return 200, self.fake.commands[scope][new_key].data

    async def delete_command(
        self, rec: RecordedRequest, app_id: str, command_id: str, guild_id: str | None = None
    ) -> tuple[int, Any]:
        scope = self._scope(app_id, guild_id)
        key, _ = self._command(scope, command_id)
        del self.fake.commands[scope][key]
        return 204, None

    # -- guilds -------------------------------------------------------------------------------
    async def get_guild(self, rec: RecordedRequest, guild_id: str) -> tuple[int, Any]:
        data = payloads.guild_json(self._guild(guild_id))
        for key in (
            "members",
            "channels",
            "threads",
            "presences",
            "voice_states",
            "joined_at",
            "large",
            "unavailable",
            "member_count",
            "lazy",
            "stage_instances",
            "guild_scheduled_events",
            "embedded_activities",
            "activity_instances",
            "version",
        ):
            data.pop(key, None)
        return 200, data

    async def get_guild_channels(self, rec: RecordedRequest, guild_id: str) -> tuple[int, Any]:
        g = self._guild(guild_id)
        return 200, [
            payloads.channel_json(c) for c in g.channels.values() if c.type not in THREAD_TYPES
        ]

    async def get_guild_roles(self, rec: RecordedRequest, guild_id: str) -> tuple[int, Any]:
        return 200, [payloads.role_json(r) for r in self._guild(guild_id).roles.values()]

    async def get_member(
        self, rec: RecordedRequest, guild_id: str, user_id: str
    ) -> tuple[int, Any]:
        g = self._guild(guild_id)
        member = g.members.get(_int(user_id))
        if member is None:
            raise ApiError(404, 10007, "Unknown Member")
        return 200, payloads.member_json(member)

    # -- channels and messages ----------------------------------------------------------------
    async def get_channel(self, rec: RecordedRequest, channel_id: str) -> tuple[int, Any]:
        guild, ch = self._channel(channel_id)
        self._require(guild, ch, VIEW_CHANNEL)
        return 200, payloads.channel_json(ch, self.fake.world)

    async def typing(self, rec: RecordedRequest, channel_id: str) -> tuple[int, Any]:
        guild, ch = self._channel(channel_id)
        self._require(guild, ch, SEND_MESSAGES_IN_THREADS if ch.is_thread else SEND_MESSAGES)
        return 204, None

    async def get_history(self, rec: RecordedRequest, channel_id: str) -> tuple[int, Any]:
        guild, ch = self._channel(channel_id)
        self._require(guild, ch, READ_MESSAGE_HISTORY)
        msgs = self.fake.messages_in(ch.id)
        limit = max(1, min(100, int(rec.query.get("limit", 50))))
        if "before" in rec.query:
            msgs = [m for m in msgs if m.id < int(rec.query["before"])]
        if "after" in rec.query:
            msgs = [m for m in msgs if m.id > int(rec.query["after"])][:limit]
        return 200, [m.data for m in reversed(msgs)][:limit]

    def _postable(self, guild: FakeGuild | None, ch: FakeChannel) -> int:
        """Check the bot may post in ``ch``; returns its permissions (-1 in DMs)."""
        if ch.type == DM:
            if ch.recipient_id in self.fake.closed_dms:
                raise ApiError(403, 50007, "Cannot send messages to this user")
            return -1
        if ch.type not in (GUILD_TEXT, GUILD_ANNOUNCEMENT, PUBLIC_THREAD, PRIVATE_THREAD, 10):
            self._require(guild, ch, 0)
            raise ApiError(400, 50008, "Cannot send messages in a non-text channel")
        return self._require(guild, ch, SEND_MESSAGES_IN_THREADS if ch.is_thread else SEND_MESSAGES)

    async def post_message(self, rec: RecordedRequest, channel_id: str) -> tuple[int, Any]:
        guild, ch = self._channel(channel_id)
        perms = self._postable(guild, ch)
        body = dict(rec.json or {})
        validate_message(body, has_files=bool(rec.files))
        if perms != -1 and not perms & EMBED_LINKS and body.get("embeds"):
            # Discord drops embeds the bot may not show; an embed-only message then is empty.
            body["embeds"] = []
            if not has_message_body(body, has_files=bool(rec.files)):
                raise ApiError(400, 50006, "Cannot send an empty message")
        nonce = body.get("nonce")
        bot = self.fake.world.bot
        if nonce is not None and body.get("enforce_nonce"):
            existing = self.fake._nonce_hit(ch.id, bot.id, str(nonce))
            if existing is not None:
                rec.deduplicated = True
                return 200, existing.data
        msg = await self.fake._create_message(
            channel=ch,
            guild=guild,
            body=body,
            author=payloads.user_json(bot),
            source="bot",
            files=rec.files,
        )
        if nonce is not None:
            self.fake._remember_nonce(ch.id, bot.id, str(nonce), msg)
        return 200, msg.data

    def _message(self, ch: FakeChannel, message_id: str) -> StoredMessage:
        msg = self.fake.messages.get(_int(message_id))
        if msg is None or msg.deleted or msg.channel_id != ch.id or msg.ephemeral:
            raise ApiError(404, 10008, "Unknown Message")
        return msg

    async def get_message(
        self, rec: RecordedRequest, channel_id: str, message_id: str
    ) -> tuple[int, Any]:
        guild, ch = self._channel(channel_id)
        self._require(guild, ch, READ_MESSAGE_HISTORY)
        return 200, self._message(ch, message_id).data

    async def patch_message(
        self, rec: RecordedRequest, channel_id: str, message_id: str
    ) -> tuple[int, Any]:
        guild, ch = self._channel(channel_id)
        self._require(guild, ch, 0)
        msg = self._message(ch, message_id)
        if int(msg.data["author"]["id"]) != self.fake.world.bot.id:
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        body = dict(rec.json or {})
        validate_message(body, require_content=False)
        self.fake._edit_message(msg, body, rec.files)
        return 200, msg.data

    async def delete_message(
        self, rec: RecordedRequest, channel_id: str, message_id: str
    ) -> tuple[int, Any]:
        guild, ch = self._channel(channel_id)
        msg = self._message(ch, message_id)
        if int(msg.data["author"]["id"]) != self.fake.world.bot.id:
            self._require(guild, ch, MANAGE_MESSAGES)
        else:
            self._require(guild, ch, 0)
        msg.deleted = True
        return 204, None

    async def create_thread(self, rec: RecordedRequest, channel_id: str) -> tuple[int, Any]:
        guild, parent = self._channel(channel_id)
        if guild is None:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        body = dict(rec.json or {})
        name = str(body.get("name") or "")
        if not 1 <= len(name) <= 100:
            raise ApiError(
                400,
                50035,
                "Invalid Form Body",
                {
                    "name": {
                        "_errors": [
                            {
                                "code": "BASE_TYPE_BAD_LENGTH",
                                "message": "Must be between 1 and 100 in length.",
                            }
                        ]
                    }
                },
            )
        if parent.type == GUILD_FORUM:
            self._require(guild, parent, SEND_MESSAGES)
            message = dict(body.get("message") or {})
            validate_message(message, has_files=bool(rec.files))
            thread, msg = await self.fake._create_forum_post(
                guild,
                parent,
                name,
                message,
                author=payloads.user_json(self.fake.world.bot),
                owner_id=self.fake.world.bot.id,
                source="bot",
                files=rec.files,
            )
            data = payloads.channel_json(thread)
            data["message"] = msg.data
            return 201, data
        if parent.type not in (GUILD_TEXT, GUILD_ANNOUNCEMENT):
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        self._require(guild, parent, CREATE_PUBLIC_THREADS)
        thread = FakeChannel(
            self.fake.ids.next(),
            name,
            int(body.get("type", PRIVATE_THREAD)),
            guild.id,
            parent.id,
            owner_id=self.fake.world.bot.id,
        )
        guild.channels[thread.id] = thread
        await self.fake._echo(
            "THREAD_CREATE", {**payloads.channel_json(thread), "newly_created": True}, guild
        )
        return 201, payloads.channel_json(thread)

    # -- webhooks -----------------------------------------------------------------------------
    def _webhook_json(self, wh: FakeWebhook, *, with_token: bool = True) -> JSON:
        data: JSON = {
            "id": str(wh.id),
            "type": 1,
            "guild_id": str(wh.guild_id) if wh.guild_id else None,
            "channel_id": str(wh.channel_id),
            "name": wh.name,
            "avatar": None,
            "application_id": None,
        }
        if with_token:
            data.update(token=wh.token, url=wh.url)
        return data

    async def list_webhooks(self, rec: RecordedRequest, channel_id: str) -> tuple[int, Any]:
        guild, ch = self._channel(channel_id)
        self._require(guild, ch, MANAGE_WEBHOOKS)
        hooks = [w for w in self.fake.webhooks.values() if w.channel_id == ch.id and not w.deleted]
        return 200, [self._webhook_json(w) for w in hooks]

    async def create_webhook(self, rec: RecordedRequest, channel_id: str) -> tuple[int, Any]:
        guild, ch = self._channel(channel_id)
        self._require(guild, ch, MANAGE_WEBHOOKS)
        name = str((rec.json or {}).get("name") or "")
        if not 1 <= len(name) <= 80 or "discord" in name.lower() or "clyde" in name.lower():
            raise ApiError(
                400,
                50035,
                "Invalid Form Body",
                {
                    "name": {
                        "_errors": [
                            {"code": "BASE_TYPE_BAD_LENGTH", "message": "Invalid webhook name"}
                        ]
                    }
                },
            )
        return 200, self._webhook_json(self.fake.create_webhook(ch.id, name=name))

    def _webhook(self, webhook_id: str, token: str | None) -> FakeWebhook:
        wh = self.fake.webhooks.get(_int(webhook_id))
        if wh is None or wh.deleted or self.fake.world.find_channel(wh.channel_id) is None:
            raise ApiError(404, 10015, "Unknown Webhook")
        if token is not None and token != wh.token:
            raise ApiError(401, 50027, "Invalid Webhook Token")
        return wh

    async def get_webhook(self, rec: RecordedRequest, webhook_id: str) -> tuple[int, Any]:
        return 200, self._webhook_json(self._webhook(webhook_id, None))

    async def get_webhook_with_token(
        self, rec: RecordedRequest, webhook_id: str, token: str
    ) -> tuple[int, Any]:
        return 200, self._webhook_json(self._webhook(webhook_id, token), with_token=False)

    async def delete_webhook_with_token(
        self, rec: RecordedRequest, webhook_id: str, token: str
    ) -> tuple[int, Any]:
        self._webhook(webhook_id, token).deleted = True
        return 204, None

    def _interaction_by_token(self, webhook_id: str, token: str) -> InteractionRecord | None:
        if _int(webhook_id) != self.fake.world.application_id:
            return None
        return self.fake._interactions_by_token.get(token)

    async def execute_webhook(
        self, rec: RecordedRequest, webhook_id: str, token: str
    ) -> tuple[int, Any]:
        irec = self._interaction_by_token(webhook_id, token)
        if irec is not None:
            try:
                return await self._followup(rec, irec)
            except ApiError as e:
                irec.errors.append(f"follow-up: {e.status} {e.code} {e.message}")
                raise
        wh = self._webhook(webhook_id, token)
        found = self.fake.world.find_channel(wh.channel_id)
        assert found is not None
        guild, channel = found
        body = dict(rec.json or {})
        validate_message(body, has_files=bool(rec.files))
        username = body.get("username")
        if username is not None and (
            not 1 <= len(str(username)) <= 80
            or "discord" in str(username).lower()
            or "clyde" in str(username).lower()
        ):
            raise ApiError(
                400,
                50035,
                "Invalid Form Body",
                {
                    "username": {
                        "_errors": [
                            {
                                "code": "USERNAME_INVALID_CONTAINS",
                                "message": 'Username cannot contain "discord"',
                            }
                        ]
                    }
                },
            )
        author: JSON = {
            "id": str(wh.id),
            "username": str(username or wh.name),
            "discriminator": "0000",
            "global_name": None,
            "avatar": None,
            "bot": True,
        }
        wait = rec.query.get("wait", "").lower() in ("1", "true")
        thread_id = rec.query.get("thread_id")
        thread_name = body.get("thread_name")
        if thread_id:
            assert guild is not None
            thread = guild.channels.get(_int(thread_id))
            if thread is None or thread.parent_id != channel.id:
                raise ApiError(400, 10003, "Unknown Channel")
            channel = thread
        elif channel.type == GUILD_FORUM:
            if not thread_name:
                raise ApiError(400, 220001, ERROR_MESSAGES[220001])
            assert guild is not None
            _, msg = await self.fake._create_forum_post(
                guild,
                channel,
                str(thread_name),
                body,
                author=author,
                owner_id=wh.id,
                source="webhook",
                webhook_id=wh.id,
                files=rec.files,
            )
            return (200, msg.data) if wait else (204, None)
        elif thread_name:
            raise ApiError(400, 220003, ERROR_MESSAGES[220003])
        msg = await self.fake._create_message(
            channel=channel,
            guild=guild,
            body=body,
            author=author,
            source="webhook",
            webhook_id=wh.id,
            files=rec.files,
        )
        return (200, msg.data) if wait else (204, None)

    async def webhook_message(
        self, rec: RecordedRequest, webhook_id: str, token: str, message_id: str
    ) -> tuple[int, Any]:
        irec = self._interaction_by_token(webhook_id, token)
        msg: StoredMessage | None
        if irec is not None:
            if message_id == "@original":
                msg = irec.original
            else:
                msg = next((m for m in irec.messages if m.id == _int(message_id)), None)
        else:
            wh = self._webhook(webhook_id, token)
            msg = self.fake.messages.get(_int(message_id)) if message_id != "@original" else None
            if msg is not None and msg.webhook_id != wh.id:
                msg = None
        if msg is None or msg.deleted:
            if irec is not None:
                irec.errors.append(f"{rec.method} message {message_id}: 404 10008 Unknown Message")
            raise ApiError(404, 10008, "Unknown Message")
        if rec.method == "GET":
            return 200, msg.data
        if rec.method == "DELETE":
            msg.deleted = True
            return 204, None
        body = dict(rec.json or {})
        try:
            validate_message(body, require_content=False)
        except ApiError as e:
            if irec is not None:
                irec.errors.append(f"edit message {message_id}: {e.status} {e.code} {e.message}")
            raise
        self.fake._edit_message(msg, body, rec.files)
        if irec is not None and (
            message_id == "@original" or (irec.original is not None and msg is irec.original)
        ):
            irec.original_edits += 1
        return 200, msg.data

    # -- interactions -------------------------------------------------------------------------
    async def interaction_callback(
        self, rec: RecordedRequest, interaction_id: str, token: str
    ) -> tuple[int, Any]:
        irec = self.fake.interactions.get(_int(interaction_id))
        if irec is None or irec.token != token:
            raise ApiError(404, 10062, "Unknown interaction")
        try:
            return await self._interaction_callback(rec, irec)
        except ApiError as e:
            irec.errors.append(
                f"callback {(rec.json or {}).get('type')}: {e.status} {e.code} {e.message}"
            )
            raise

    async def _interaction_callback(
        self, rec: RecordedRequest, irec: InteractionRecord
    ) -> tuple[int, Any]:
        fake = self.fake
        if (
            fake.interaction_deadline is not None
            and irec.dispatched_at is not None
            and time.monotonic() - irec.dispatched_at > fake.interaction_deadline
        ):
            irec.expired = True
            raise ApiError(404, 10062, "Unknown interaction")
        if irec.callbacks:
            raise ApiError(400, 40060, "Interaction has already been acknowledged.")
        body = dict(rec.json or {})
        ctype = int(body.get("type", 0))
        data = dict(body.get("data") or {})
        allowed = {1: {1}, 2: {4, 5, 9}, 3: {4, 5, 6, 7, 9}, 4: {8}, 5: {4, 5, 6, 7}}
        if ctype not in allowed.get(irec.type, set()):
            raise ApiError(
                400,
                50035,
                "Invalid Form Body",
                {
                    "type": {
                        "_errors": [
                            {
                                "code": "INTERACTION_CALLBACK_TYPE_INVALID",
                                "message": f"Callback type {ctype} is not valid for "
                                f"interaction type {irec.type}",
                            }
                        ]
                    }
                },
            )
        if ctype == 4:
            validate_message(data, has_files=bool(rec.files))
        elif ctype == 7:
            validate_message(data, require_content=False)
        elif ctype == 8:
            validate_choices(data)
        elif ctype == 9 and not (
            data.get("custom_id") and data.get("title") and data.get("components")
        ):
            raise ApiError(
                400,
                50035,
                "Invalid Form Body",
                {
                    "data": {
                        "_errors": [
                            {
                                "code": "BASE_TYPE_REQUIRED",
                                "message": "custom_id, title and components are required",
                            }
                        ]
                    }
                },
            )
        irec.callbacks.append(body)
        interaction: JSON = {
            "id": str(irec.id),
            "type": irec.type,
            "response_message_loading": False,
            "response_message_ephemeral": False,
        }
        resource: JSON = {"type": ctype}
        if ctype in (4, 5):
            flags = int(data.get("flags") or 0)
            ephemeral = bool(flags & EPHEMERAL)
            if ctype == 5:
                data = {"flags": flags | LOADING}
            msg = await fake._create_interaction_message(
                irec, data, files=rec.files, ephemeral=ephemeral, original=True
            )
            irec.original = msg
            interaction.update(
                response_message_id=str(msg.id),
                response_message_loading=ctype == 5,
                response_message_ephemeral=ephemeral,
            )
            resource["message"] = msg.data
        elif ctype in (6, 7):
            target = fake.messages.get(irec.component_message_id or 0)
            if target is not None:
                if ctype == 7:
                    fake._edit_message(target, data, rec.files)
                    irec.original_edits += 1
                irec.original = target
                interaction.update(response_message_id=str(target.id))
                resource["message"] = target.data
        fake._notify()
        return 200, {"interaction": interaction, "resource": resource}

    async def _followup(self, rec: RecordedRequest, irec: InteractionRecord) -> tuple[int, Any]:
        if not irec.callbacks:
            raise ApiError(404, 10015, "Unknown Webhook")
        body = dict(rec.json or {})
        validate_message(body, has_files=bool(rec.files))
        wait = rec.query.get("wait", "").lower() in ("1", "true")
        original = irec.original
        if irec.response_type == 5 and original is not None and original.flags & LOADING:
            # Documented: the first follow-up after a deferred response edits the loading message,
            # keeping the ephemeral state chosen in the defer.
            body.pop("flags", None)
            self.fake._edit_message(original, body, rec.files)
            irec.original_edits += 1
            return (200, original.data) if wait else (204, None)
        ephemeral = bool(int(body.get("flags") or 0) & EPHEMERAL)
        msg = await self.fake._create_interaction_message(
            irec, body, files=rec.files, ephemeral=ephemeral, original=False
        )
        irec.followups.append(msg)
        return (200, msg.data) if wait else (204, None)


class _RateLimited(ApiError):
    def __init__(self, body: JSON, retry_after: float, is_global: bool) -> None:
        super().__init__(429, int(body.get("code", 0) or 0), str(body.get("message", "")))
        self.payload = body
        self.retry_after = retry_after
        self.is_global = is_global

    def body(self) -> JSON:
        return self.payload

    def headers(self) -> dict[str, str]:
        h = {
            "Retry-After": str(max(1, math.ceil(self.retry_after))),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{time.time() + self.retry_after:.3f}",
            "X-RateLimit-Reset-After": f"{self.retry_after:.3f}",
            "X-RateLimit-Scope": "global" if self.is_global else "user",
        }
        if self.is_global:
            h["X-RateLimit-Global"] = "true"
        return h


def _int(value: object) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        raise ApiError(
            400,
            50035,
            "Invalid Form Body",
            {
                "_errors": [
                    {"code": "NUMBER_TYPE_COERCE", "message": f'Value "{value}" is not snowflake.'}
                ]
            },
        ) from None


async def _read_body(request: web.Request) -> tuple[Any, list[str]]:
    files: list[str] = []
    if request.content_type.startswith("multipart/"):
        body: Any = None
        reader = await request.multipart()
        async for part in reader:
            name = getattr(part, "name", None)
            if name == "payload_json":
                body = json.loads(await part.text())  # type: ignore[union-attr]
            else:
                await part.read()  # type: ignore[union-attr]
                files.append(getattr(part, "filename", None) or str(name))
        return body, files
    raw = await request.read()
    if not raw:
        return None, files
    try:
        return json.loads(raw), files
    except ValueError:
        return raw.decode("utf-8", "replace"), files
