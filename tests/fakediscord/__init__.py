"""A loopback fake Discord (REST + gateway) for testing the unmodified discord.py 2.7 client.

See tests/README.md. Main entry points: ``FakeDiscord``, ``point_discord_at`` and the
``fake_discord`` pytest fixture in ``tests.fakediscord.fixtures``.
"""

from .records import (
    FakeWebhook,
    InteractionRecord,
    Pings,
    RecordedRequest,
    ScriptedFailure,
    StoredCommand,
    StoredMessage,
)
from .server import FakeDiscord, point_discord_at
from .world import (
    ADMINISTRATOR,
    EMBED_LINKS,
    MANAGE_GUILD,
    MANAGE_WEBHOOKS,
    MENTION_EVERYONE,
    SEND_MESSAGES,
    VIEW_CHANNEL,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeRole,
    FakeUser,
    Overwrite,
    World,
    default_world,
)

__all__ = [
    "ADMINISTRATOR",
    "EMBED_LINKS",
    "MANAGE_GUILD",
    "MANAGE_WEBHOOKS",
    "MENTION_EVERYONE",
    "SEND_MESSAGES",
    "VIEW_CHANNEL",
    "FakeChannel",
    "FakeDiscord",
    "FakeGuild",
    "FakeMember",
    "FakeRole",
    "FakeUser",
    "FakeWebhook",
    "InteractionRecord",
    "Overwrite",
    "Pings",
    "RecordedRequest",
    "ScriptedFailure",
    "StoredCommand",
    "StoredMessage",
    "World",
    "default_world",
    "point_discord_at",
]
