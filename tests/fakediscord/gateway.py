"""The fake gateway: HELLO, IDENTIFY -> READY + GUILD_CREATE, heartbeats, RESUME, dispatch.

discord.py 2.7 connects to ``DEFAULT_GATEWAY?v=10&encoding=json&compress=zlib-stream`` and sends
``"compress": true`` in IDENTIFY, but ``DiscordWebSocket.received_message`` only decompresses
*binary* frames; text frames are parsed as JSON as they are. So the fake answers with plain JSON
text frames by default. ``FakeDiscord(gateway_compression=True)`` makes it honour the
``compress=zlib-stream`` query instead (one zlib stream per connection, each message ending in a
Z_SYNC_FLUSH), which exercises discord.py's decompression path.
"""

from __future__ import annotations

import asyncio
import json
import uuid
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from . import payloads
from .world import FakeGuild

if TYPE_CHECKING:
    from .server import FakeDiscord

JSON = dict[str, Any]

# Opcodes.
DISPATCH, HEARTBEAT, IDENTIFY, PRESENCE_UPDATE, VOICE_STATE_UPDATE = 0, 1, 2, 3, 4
RESUME, RECONNECT, REQUEST_GUILD_MEMBERS, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 6, 7, 8, 9, 10, 11
REQUEST_SOUNDBOARD_SOUNDS = 31

# Intents.
GUILD_MEMBERS = 1 << 1
GUILD_PRESENCES = 1 << 8
GUILD_MESSAGES = 1 << 9
DIRECT_MESSAGES = 1 << 12
MESSAGE_CONTENT = 1 << 15
PRIVILEGED_INTENTS = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT


@dataclass
class GatewayConnection:
    ws: web.WebSocketResponse
    path: str
    query: dict[str, str]
    compressor: Any = None  # zlib compressobj when zlib-stream is honoured
    session: GatewaySession | None = None

    async def send(self, frame: JSON) -> None:
        text = json.dumps(frame, separators=(",", ":"))
        if self.ws.closed:
            return
        try:
            if self.compressor is not None:
                data = self.compressor.compress(text.encode()) + self.compressor.flush(
                    zlib.Z_SYNC_FLUSH
                )
                await self.ws.send_bytes(data)
            else:
                await self.ws.send_str(text)
        except (ConnectionError, RuntimeError):
            pass  # the client went away; a resume will replay what it missed


@dataclass
class GatewaySession:
    session_id: str
    shard: tuple[int, int] | None
    intents: int
    identify: JSON
    seq: int = 0
    history: list[JSON] = field(default_factory=list)
    conn: GatewayConnection | None = None
    resumable: bool = True

    @property
    def shard_id(self) -> int:
        return self.shard[0] if self.shard else 0

    async def dispatch(self, event: str, data: JSON) -> int:
        self.seq += 1
        frame = {"op": DISPATCH, "t": event, "s": self.seq, "d": data}
        self.history.append(frame)
        if self.conn is not None:
            await self.conn.send(frame)
        return self.seq


class Gateway:
    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.sessions: dict[str, GatewaySession] = {}
        self.current: dict[int, GatewaySession] = {}  # shard id -> newest session
        self.connections: list[GatewayConnection] = []
        self.received: list[JSON] = []  # every frame the client sent
        self.sent_dispatches: list[JSON] = []  # every DISPATCH frame (all sessions)
        self.connect_paths: list[str] = []  # path of every websocket connection, in order
        self.identifies: list[JSON] = []
        self.resumes: list[JSON] = []
        self.ready_count = 0
        self.resumed_count = 0
        self.invalid_sessions = 0

    # -- the websocket handler ---------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        conn = GatewayConnection(ws, request.path, dict(request.query))
        if self.fake.gateway_compression and request.query.get("compress") == "zlib-stream":
            conn.compressor = zlib.compressobj()
        self.connections.append(conn)
        self.connect_paths.append(request.path)
        self.fake._notify()
        try:
            await conn.send(
                {
                    "op": HELLO,
                    "d": {
                        "heartbeat_interval": self.fake.heartbeat_interval_ms,
                        "_trace": ['["fake-gateway"]'],
                    },
                    "s": None,
                    "t": None,
                }
            )
            async for msg in ws:
                if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    frame = json.loads(msg.data)
                    self.received.append(frame)
                    await self._on_frame(conn, frame)
                    self.fake._notify()
                else:
                    break
        finally:
            if conn.session is not None and conn.session.conn is conn:
                conn.session.conn = None
            if conn in self.connections:
                self.connections.remove(conn)
            self.fake._notify()
        return ws

    async def _on_frame(self, conn: GatewayConnection, frame: JSON) -> None:
        op = frame.get("op")
        d = frame.get("d")
        if op == HEARTBEAT:
            if self.fake.ack_heartbeats:
                await conn.send({"op": HEARTBEAT_ACK, "d": None, "s": None, "t": None})
        elif op == IDENTIFY:
            await self._identify(conn, d or {})
        elif op == RESUME:
            await self._resume(conn, d or {})
        elif op == REQUEST_GUILD_MEMBERS:
            await self._request_members(conn, d or {})
        elif op in (PRESENCE_UPDATE, VOICE_STATE_UPDATE, REQUEST_SOUNDBOARD_SOUNDS):
            pass  # recorded in self.received; nothing to answer
        else:
            self.fake.unknown_routes.append(f"GATEWAY op {op}")
            await conn.ws.close(code=4001, message=b"Unknown opcode")

    def _token_ok(self, token: object) -> bool:
        return (
            isinstance(token, str)
            and bool(token)
            and (self.fake.token is None or token == self.fake.token)
        )

    async def _identify(self, conn: GatewayConnection, d: JSON) -> None:
        self.identifies.append(d)
        if conn.session is not None:
            await conn.ws.close(code=4005, message=b"Already authenticated")
            return
        if not self._token_ok(d.get("token")):
            await conn.ws.close(code=4004, message=b"Authentication failed")
            return
        intents = d.get("intents")
        if not isinstance(intents, int):
            await conn.ws.close(code=4013, message=b"Invalid intent(s)")
            return
        if intents & PRIVILEGED_INTENTS & ~self.fake.allowed_privileged_intents:
            await conn.ws.close(code=4014, message=b"Disallowed intent(s)")
            return
        shard: tuple[int, int] | None = None
        if d.get("shard") is not None:
            sid, count = int(d["shard"][0]), int(d["shard"][1])
            if count < 1 or not 0 <= sid < count:
                await conn.ws.close(code=4010, message=b"Invalid shard")
                return
            shard = (sid, count)
        session = GatewaySession(uuid.uuid4().hex, shard, intents, d)
        session.conn = conn
        conn.session = session
        self.sessions[session.session_id] = session
        self.current[session.shard_id] = session
        guilds = self.guilds_for(shard)
        ready = payloads.ready_json(
            self.fake.world,
            session_id=session.session_id,
            resume_gateway_url=self.fake.resume_gateway_url,
            guilds=guilds,
            shard=shard,
            application_flags=self.fake.application_flags,
        )
        await self._dispatch_on(session, "READY", ready)
        for g in guilds:
            await self._dispatch_on(session, "GUILD_CREATE", self.guild_create_payload(g, intents))
        self.ready_count += 1

    def guild_create_payload(self, g: FakeGuild, intents: int) -> JSON:
        # Without the GUILD_MEMBERS intent Discord sends only the bot's own member.
        if intents & GUILD_MEMBERS:
            members = None
        else:
            me = g.members.get(self.fake.world.bot.id)
            members = [me] if me is not None else []
        return payloads.guild_json(g, members=members)

    def guilds_for(self, shard: tuple[int, int] | None) -> list[FakeGuild]:
        guilds = list(self.fake.world.guilds.values())
        if shard is None:
            return guilds
        return [g for g in guilds if (g.id >> 22) % shard[1] == shard[0]]

    async def _resume(self, conn: GatewayConnection, d: JSON) -> None:
        self.resumes.append(d)
        session = self.sessions.get(str(d.get("session_id")))
        if session is None or not session.resumable or not self._token_ok(d.get("token")):
            self.invalid_sessions += 1
            await conn.send({"op": INVALID_SESSION, "d": False, "s": None, "t": None})
            return
        old = session.conn
        session.conn = conn
        conn.session = session
        if old is not None and old is not conn and not old.ws.closed:
            await old.ws.close(code=4000, message=b"Session resumed elsewhere")
        client_seq = d.get("seq") or 0
        for frame in session.history:
            if frame["s"] > client_seq:
                await conn.send(frame)
        await self._dispatch_on(session, "RESUMED", {"_trace": ['["fake-gateway"]']})
        self.resumed_count += 1

    async def _request_members(self, conn: GatewayConnection, d: JSON) -> None:
        if conn.session is None:
            await conn.ws.close(code=4003, message=b"Not authenticated")
            return
        guild = self.fake.world.guilds.get(int(d.get("guild_id", 0)))
        if guild is None:
            return
        members = list(guild.members.values())
        if d.get("user_ids"):
            wanted = {int(x) for x in d["user_ids"]}
            members = [m for m in members if m.id in wanted]
        elif d.get("query"):
            members = [
                m for m in members if m.user.username.lower().startswith(str(d["query"]).lower())
            ]
        if d.get("limit"):
            members = members[: int(d["limit"])]
        chunk: JSON = {
            "guild_id": str(guild.id),
            "members": [payloads.member_json(m) for m in members],
            "chunk_index": 0,
            "chunk_count": 1,
        }
        if d.get("nonce"):
            chunk["nonce"] = d["nonce"]
        await self._dispatch_on(conn.session, "GUILD_MEMBERS_CHUNK", chunk)

    # -- used by FakeDiscord -----------------------------------------------------------------
    async def _dispatch_on(self, session: GatewaySession, event: str, data: JSON) -> int:
        seq = await session.dispatch(event, data)
        self.sent_dispatches.append(
            {"t": event, "s": seq, "d": data, "session_id": session.session_id}
        )
        return seq

    def session_for(self, data: JSON, shard_id: int | None = None) -> GatewaySession | None:
        if not self.current:
            return None
        if shard_id is not None:
            return self.current.get(shard_id)
        if len(self.current) == 1:
            return next(iter(self.current.values()))
        any_session = next(iter(self.current.values()))
        guild_id = data.get("guild_id") or data.get("id")
        if guild_id is None or any_session.shard is None:
            return any_session
        return self.current.get((int(guild_id) >> 22) % any_session.shard[1])

    async def dispatch(self, event: str, data: JSON, shard_id: int | None = None) -> int:
        session = self.session_for(data, shard_id)
        if session is None:
            raise RuntimeError(
                f"cannot dispatch {event}: no client has identified on the fake gateway yet"
            )
        return await self._dispatch_on(session, event, data)

    async def close_connections(self, code: int, *, resumable: bool = True) -> int:
        closed = 0
        for conn in list(self.connections):
            if conn.session is not None and not resumable:
                conn.session.resumable = False
            if not conn.ws.closed:
                await conn.ws.close(code=code, message=b"fake disconnect")
                closed += 1
        return closed

    async def send_op(self, op: int, d: Any) -> None:
        for conn in list(self.connections):
            await conn.send({"op": op, "d": d, "s": None, "t": None})

    async def shutdown(self) -> None:
        await asyncio.gather(
            *(c.ws.close(code=1001, message=b"fake shutting down") for c in list(self.connections)),
            return_exceptions=True,
        )
