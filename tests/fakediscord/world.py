"""The fake Discord's world: users, guilds, roles, channels, members, and permission maths.

Everything here is plain data that the REST and gateway halves of the fake turn into Discord
JSON. Ids are real-looking snowflakes (17-20 digits) so that code which validates ids, and
``discord.Webhook.from_url``'s regex, accept them.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

DISCORD_EPOCH_MS = 1_420_070_400_000

# Permission bits (https://discord.com/developers/docs/topics/permissions).
CREATE_INSTANT_INVITE = 1 << 0
KICK_MEMBERS = 1 << 1
BAN_MEMBERS = 1 << 2
ADMINISTRATOR = 1 << 3
MANAGE_CHANNELS = 1 << 4
MANAGE_GUILD = 1 << 5
ADD_REACTIONS = 1 << 6
VIEW_AUDIT_LOG = 1 << 7
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
MENTION_EVERYONE = 1 << 17
USE_EXTERNAL_EMOJIS = 1 << 18
CHANGE_NICKNAME = 1 << 26
MANAGE_ROLES = 1 << 28
MANAGE_WEBHOOKS = 1 << 29
USE_APPLICATION_COMMANDS = 1 << 31
MANAGE_THREADS = 1 << 34
CREATE_PUBLIC_THREADS = 1 << 35
CREATE_PRIVATE_THREADS = 1 << 36
SEND_MESSAGES_IN_THREADS = 1 << 38
ALL_PERMISSIONS = (1 << 51) - 1

#: What a freshly created server gives @everyone (the relevant part of it).
EVERYONE_PERMISSIONS = (
    CREATE_INSTANT_INVITE
    | ADD_REACTIONS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_EXTERNAL_EMOJIS
    | CHANGE_NICKNAME
    | USE_APPLICATION_COMMANDS
    | CREATE_PUBLIC_THREADS
    | SEND_MESSAGES_IN_THREADS
)
#: The bot's managed role: what an invite link with the usual scopes grants.
BOT_ROLE_PERMISSIONS = (
    VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | MANAGE_WEBHOOKS
    | SEND_MESSAGES_IN_THREADS
    | CREATE_PUBLIC_THREADS
)

# Channel types.
GUILD_TEXT = 0
DM = 1
GUILD_CATEGORY = 4
GUILD_ANNOUNCEMENT = 5
PUBLIC_THREAD = 11
PRIVATE_THREAD = 12
GUILD_FORUM = 15
THREAD_TYPES = frozenset({10, PUBLIC_THREAD, PRIVATE_THREAD})


class SnowflakeFactory:
    """Monotonic snowflakes: a time part and an increment, like Discord's."""

    def __init__(self, start_ms: int | None = None) -> None:
        self._fixed_ms = start_ms
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self._last = 0

    def next(self) -> int:
        with self._lock:
            n = next(self._counter)
            # A fixed start advances one millisecond per id, so that ids differ in their time part
            # (that is what Discord's shard formula (guild_id >> 22) % shards looks at).
            ms = self._fixed_ms + n if self._fixed_ms is not None else int(time.time() * 1000)
            value = ((ms - DISCORD_EPOCH_MS) << 22) | (n & 0x3FFFFF)
            if value <= self._last:
                value = self._last + 1
            self._last = value
            return value


@dataclass
class FakeUser:
    id: int
    username: str
    global_name: str | None = None
    bot: bool = False

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"


@dataclass
class FakeRole:
    id: int
    name: str
    permissions: int
    position: int = 0
    color: int = 0
    mentionable: bool = False
    managed: bool = False
    bot_id: int | None = None

    @property
    def mention(self) -> str:
        return f"<@&{self.id}>"


@dataclass
class Overwrite:
    """A channel permission overwrite; ``type`` 0 = role, 1 = member."""

    id: int
    type: int
    allow: int = 0
    deny: int = 0


@dataclass
class FakeChannel:
    id: int
    name: str
    type: int
    guild_id: int | None
    parent_id: int | None = None
    position: int = 0
    topic: str | None = None
    overwrites: list[Overwrite] = field(default_factory=list)
    owner_id: int | None = None  # threads
    recipient_id: int | None = None  # DMs

    @property
    def is_thread(self) -> bool:
        return self.type in THREAD_TYPES

    @property
    def mention(self) -> str:
        return f"<#{self.id}>"


@dataclass
class FakeMember:
    user: FakeUser
    role_ids: list[int]
    nick: str | None = None
    joined_at: str = "2024-01-01T00:00:00.000000+00:00"
    flags: int = 0

    @property
    def id(self) -> int:
        return self.user.id


@dataclass
class FakeGuild:
    id: int
    name: str
    owner_id: int
    roles: dict[int, FakeRole] = field(default_factory=dict)
    channels: dict[int, FakeChannel] = field(default_factory=dict)
    members: dict[int, FakeMember] = field(default_factory=dict)
    system_channel_id: int | None = None
    preferred_locale: str = "en-US"

    # -- lookups by name, with errors that list what exists ------------------------------
    def channel(self, name: str) -> FakeChannel:
        for ch in self.channels.values():
            if ch.name == name:
                return ch
        raise KeyError(
            f"guild {self.name!r} has no channel {name!r}; "
            f"has {self._names(self.channels.values())}"
        )

    def role(self, name: str) -> FakeRole:
        for role in self.roles.values():
            if role.name == name:
                return role
        raise KeyError(
            f"guild {self.name!r} has no role {name!r}; has {self._names(self.roles.values())}"
        )

    def member(self, username: str) -> FakeMember:
        for m in self.members.values():
            if m.user.username == username:
                return m
        names = sorted(m.user.username for m in self.members.values())
        raise KeyError(f"guild {self.name!r} has no member {username!r}; has {names}")

    @staticmethod
    def _names(items: Iterable[FakeChannel | FakeRole]) -> list[str]:
        return sorted(i.name for i in items)

    @property
    def everyone(self) -> FakeRole:
        return self.roles[self.id]

    @property
    def system_channel(self) -> FakeChannel | None:
        return self.channels.get(self.system_channel_id) if self.system_channel_id else None

    # -- permissions (https://discord.com/developers/docs/topics/permissions) -------------
    def base_permissions(self, user_id: int) -> int:
        if user_id == self.owner_id:
            return ALL_PERMISSIONS
        member = self.members.get(user_id)
        perms = self.everyone.permissions
        if member is not None:
            for rid in member.role_ids:
                role = self.roles.get(rid)
                if role is not None:
                    perms |= role.permissions
        if perms & ADMINISTRATOR:
            return ALL_PERMISSIONS
        return perms

    def permissions_in(self, channel_id: int, user_id: int) -> int:
        base = self.base_permissions(user_id)
        if base & ADMINISTRATOR or user_id == self.owner_id:
            return ALL_PERMISSIONS
        channel = self.channels[channel_id]
        if channel.is_thread and channel.parent_id is not None:
            channel = self.channels[channel.parent_id]
        perms = base
        overwrites = {(o.type, o.id): o for o in channel.overwrites}
        everyone = overwrites.get((0, self.id))
        if everyone is not None:
            perms = (perms & ~everyone.deny) | everyone.allow
        member = self.members.get(user_id)
        role_ids = member.role_ids if member is not None else []
        allow = deny = 0
        for rid in role_ids:
            o = overwrites.get((0, rid))
            if o is not None:
                allow |= o.allow
                deny |= o.deny
        perms = (perms & ~deny) | allow
        own = overwrites.get((1, user_id))
        if own is not None:
            perms = (perms & ~own.deny) | own.allow
        if not perms & VIEW_CHANNEL:
            return 0
        return perms


@dataclass
class World:
    """Everything the fake knows about: the application, its bot user, users and guilds."""

    ids: SnowflakeFactory
    application_id: int
    bot: FakeUser
    owner: FakeUser  # owner of the application
    users: dict[int, FakeUser] = field(default_factory=dict)
    guilds: dict[int, FakeGuild] = field(default_factory=dict)
    dm_channels: dict[int, FakeChannel] = field(default_factory=dict)  # by recipient user id

    def user(self, username: str) -> FakeUser:
        for u in self.users.values():
            if u.username == username:
                return u
        raise KeyError(
            f"no user {username!r}; have {sorted(u.username for u in self.users.values())}"
        )

    def add_user(
        self, username: str, *, global_name: str | None = None, bot: bool = False
    ) -> FakeUser:
        u = FakeUser(self.ids.next(), username, global_name or username.title(), bot)
        self.users[u.id] = u
        return u

    def add_channel(
        self,
        guild_id: int,
        name: str,
        *,
        type: int = GUILD_TEXT,
        parent_id: int | None = None,
        overwrites: Iterable[Overwrite] = (),
    ) -> FakeChannel:
        """A new channel (or thread, with ``parent_id``) in a guild."""
        guild = self.guilds[guild_id]
        position = sum(1 for c in guild.channels.values() if c.parent_id == parent_id)
        ch = FakeChannel(
            self.ids.next(),
            name,
            type,
            guild_id,
            parent_id,
            position,
            overwrites=list(overwrites),
            owner_id=guild.owner_id if type in THREAD_TYPES else None,
        )
        guild.channels[ch.id] = ch
        return ch

    def find_channel(self, channel_id: int) -> tuple[FakeGuild | None, FakeChannel] | None:
        for g in self.guilds.values():
            ch = g.channels.get(channel_id)
            if ch is not None:
                return g, ch
        for ch in self.dm_channels.values():
            if ch.id == channel_id:
                return None, ch
        return None

    def add_guild(
        self,
        name: str,
        *,
        owner: FakeUser,
        admins: Iterable[FakeUser] = (),
        members: Iterable[FakeUser] = (),
    ) -> FakeGuild:
        """A guild laid out like a small real server; see tests/README.md for the layout."""
        gid = self.ids.next()
        g = FakeGuild(id=gid, name=name, owner_id=owner.id)
        everyone = FakeRole(gid, "@everyone", EVERYONE_PERMISSIONS, position=0)
        watchers = FakeRole(
            self.ids.next(), "Border Watchers", 0, position=1, mentionable=True, color=0x2E86C1
        )
        mods = FakeRole(
            self.ids.next(),
            "Moderators",
            MANAGE_GUILD | MANAGE_MESSAGES,
            position=2,
            color=0xC0392B,
        )
        bot_role = FakeRole(
            self.ids.next(),
            self.bot.username,
            BOT_ROLE_PERMISSIONS,
            position=3,
            managed=True,
            bot_id=self.bot.id,
        )
        for r in (everyone, watchers, mods, bot_role):
            g.roles[r.id] = r

        def add(ch: FakeChannel) -> FakeChannel:
            g.channels[ch.id] = ch
            return ch

        category = add(
            FakeChannel(self.ids.next(), "Text Channels", GUILD_CATEGORY, gid, position=0)
        )
        general = add(
            FakeChannel(self.ids.next(), "general", GUILD_TEXT, gid, category.id, 0, "Chat")
        )
        alerts = add(
            FakeChannel(self.ids.next(), "alerts", GUILD_TEXT, gid, category.id, 1, "Border alerts")
        )
        add(
            FakeChannel(
                self.ids.next(),
                "alerts-thread",
                PUBLIC_THREAD,
                gid,
                alerts.id,
                0,
                owner_id=owner.id,
            )
        )
        add(
            FakeChannel(
                self.ids.next(), "reports", GUILD_FORUM, gid, category.id, 2, "Reports forum"
            )
        )
        add(
            FakeChannel(
                self.ids.next(),
                "staff-only",
                GUILD_TEXT,
                gid,
                category.id,
                3,
                overwrites=[
                    Overwrite(gid, 0, deny=VIEW_CHANNEL),
                    Overwrite(mods.id, 0, allow=VIEW_CHANNEL),
                ],
            )
        )
        add(
            FakeChannel(
                self.ids.next(),
                "read-only",
                GUILD_TEXT,
                gid,
                category.id,
                4,
                overwrites=[
                    Overwrite(gid, 0, deny=SEND_MESSAGES),
                    Overwrite(mods.id, 0, allow=SEND_MESSAGES),
                ],
            )
        )
        g.system_channel_id = general.id

        g.members[owner.id] = FakeMember(owner, [mods.id])
        for u in admins:
            g.members[u.id] = FakeMember(u, [mods.id])
        for u in members:
            g.members[u.id] = FakeMember(u, [])
        g.members[self.bot.id] = FakeMember(self.bot, [bot_role.id], flags=0)
        self.guilds[gid] = g
        return g


def default_world(ids: SnowflakeFactory | None = None) -> World:
    """Two guilds, Alpha (owner alice) and Bravo (owner carol); bob is a plain member of both."""
    ids = ids or SnowflakeFactory(start_ms=1_704_067_200_000)  # fixed time: stable ids per run
    app_id = ids.next()
    bot = FakeUser(app_id, "BorderWatch", "BorderWatch", bot=True)  # bot user id == application id
    world = World(ids=ids, application_id=app_id, bot=bot, owner=FakeUser(0, ""))
    world.users[bot.id] = bot
    alice = world.add_user("alice")
    bob = world.add_user("bob")
    carol = world.add_user("carol")
    world.owner = alice
    world.add_guild("Alpha Border Desk", owner=alice, members=[bob])
    world.add_guild("Bravo Newsroom", owner=carol, members=[bob])
    return world
