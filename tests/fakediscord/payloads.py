"""Discord JSON objects built from the fake's world, shaped like the real API v10 payloads."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .world import (
    DM,
    GUILD_FORUM,
    THREAD_TYPES,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeRole,
    FakeUser,
    World,
)

JSON = dict[str, Any]


def iso_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def user_json(u: FakeUser) -> JSON:
    data: JSON = {
        "id": str(u.id),
        "username": u.username,
        "discriminator": "0",
        "global_name": u.global_name,
        "avatar": None,
        "public_flags": 0,
        "flags": 0,
        "banner": None,
        "accent_color": None,
        "avatar_decoration_data": None,
        "primary_guild": None,
        "collectibles": None,
    }
    if u.bot:
        data["bot"] = True
    return data


def client_user_json(u: FakeUser) -> JSON:
    data = user_json(u)
    data.update(verified=True, mfa_enabled=False, email=None, locale="en-US", bot=True)
    return data


def role_json(r: FakeRole) -> JSON:
    data: JSON = {
        "id": str(r.id),
        "name": r.name,
        "color": r.color,
        "colors": {"primary_color": r.color, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "position": r.position,
        "permissions": str(r.permissions),
        "managed": r.managed,
        "mentionable": r.mentionable,
        "flags": 0,
    }
    if r.bot_id is not None:
        data["tags"] = {"bot_id": str(r.bot_id)}
    return data


def member_json(m: FakeMember, *, with_user: bool = True, permissions: int | None = None) -> JSON:
    data: JSON = {
        "roles": [str(r) for r in m.role_ids],
        "nick": m.nick,
        "avatar": None,
        "banner": None,
        "joined_at": m.joined_at,
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "pending": False,
        "flags": m.flags,
        "communication_disabled_until": None,
        "avatar_decoration_data": None,
    }
    if with_user:
        data["user"] = user_json(m.user)
    if permissions is not None:
        data["permissions"] = str(permissions)
    return data


def channel_json(ch: FakeChannel, world: World | None = None) -> JSON:
    if ch.type == DM:
        recipients = []
        if world is not None and ch.recipient_id in world.users:
            recipients = [user_json(world.users[ch.recipient_id])]
        return {
            "id": str(ch.id),
            "type": DM,
            "last_message_id": None,
            "flags": 0,
            "recipients": recipients,
        }
    data: JSON = {
        "id": str(ch.id),
        "type": ch.type,
        "guild_id": str(ch.guild_id),
        "name": ch.name,
        "position": ch.position,
        "parent_id": str(ch.parent_id) if ch.parent_id else None,
        "flags": 0,
        "rate_limit_per_user": 0,
        "nsfw": False,
        "last_message_id": None,
    }
    if ch.type in THREAD_TYPES:
        data.update(
            owner_id=str(ch.owner_id or 0),
            message_count=0,
            member_count=1,
            total_message_sent=0,
            thread_metadata={
                "archived": False,
                "auto_archive_duration": 1440,
                "archive_timestamp": "2024-01-01T00:00:00.000000+00:00",
                "locked": False,
                "create_timestamp": "2024-01-01T00:00:00.000000+00:00",
            },
        )
        return data
    data["topic"] = ch.topic
    data["permission_overwrites"] = [
        {"id": str(o.id), "type": o.type, "allow": str(o.allow), "deny": str(o.deny)}
        for o in ch.overwrites
    ]
    if ch.type == GUILD_FORUM:
        data.update(
            available_tags=[],
            default_reaction_emoji=None,
            default_sort_order=None,
            default_forum_layout=0,
            default_thread_rate_limit_per_user=0,
            default_auto_archive_duration=1440,
        )
    return data


def guild_json(g: FakeGuild, *, members: list[FakeMember] | None = None) -> JSON:
    """A full GUILD_CREATE payload. ``members`` defaults to every member."""
    threads = [c for c in g.channels.values() if c.type in THREAD_TYPES]
    channels = [c for c in g.channels.values() if c.type not in THREAD_TYPES]
    member_list = list(g.members.values()) if members is None else members
    return {
        "id": str(g.id),
        "name": g.name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": str(g.owner_id),
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 1,
        "default_message_notifications": 1,
        "explicit_content_filter": 2,
        "mfa_level": 0,
        "nsfw_level": 0,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "premium_progress_bar_enabled": False,
        "preferred_locale": g.preferred_locale,
        "features": [],
        "system_channel_id": str(g.system_channel_id) if g.system_channel_id else None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "safety_alerts_channel_id": None,
        "vanity_url_code": None,
        "max_members": 25000000,
        "max_video_channel_users": 25,
        "max_stage_video_channel_users": 50,
        "widget_enabled": False,
        "widget_channel_id": None,
        "application_id": None,
        "incidents_data": None,
        "roles": [role_json(r) for r in g.roles.values()],
        "emojis": [],
        "stickers": [],
        "soundboard_sounds": [],
        # GUILD_CREATE-only fields
        "joined_at": "2024-01-01T00:00:00.000000+00:00",
        "large": False,
        "unavailable": False,
        "lazy": True,
        "member_count": len(g.members),
        "voice_states": [],
        "members": [member_json(m) for m in member_list],
        "channels": [channel_json(c) for c in channels],
        "threads": [channel_json(c) for c in threads],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "embedded_activities": [],
        "activity_instances": [],
        "version": 1,
    }


def ready_json(
    world: World,
    *,
    session_id: str,
    resume_gateway_url: str,
    guilds: list[FakeGuild],
    shard: tuple[int, int] | None,
    application_flags: int,
) -> JSON:
    data: JSON = {
        "v": 10,
        "user_settings": {},
        "user": client_user_json(world.bot),
        "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
        "session_id": session_id,
        "session_type": "normal",
        "resume_gateway_url": resume_gateway_url,
        "relationships": [],
        "private_channels": [],
        "presences": [],
        "guild_join_requests": [],
        "geo_ordered_rtc_regions": ["loopback"],
        "application": {"id": str(world.application_id), "flags": application_flags},
        "auth": {},
        "_trace": ['["fake-gateway",{"micros":0}]'],
    }
    if shard is not None:
        data["shard"] = list(shard)
    return data


def application_json(world: World, *, flags: int) -> JSON:
    return {
        "id": str(world.application_id),
        "name": world.bot.username,
        "icon": None,
        "description": "Loopback fake application",
        "summary": "",
        "type": None,
        "hook": True,
        "bot_public": True,
        "bot_require_code_grant": False,
        "verify_key": "0" * 64,
        "owner": user_json(world.owner),
        "team": None,
        "flags": flags,
        "rpc_origins": [],
        "redirect_uris": [],
        "interactions_endpoint_url": None,
        "role_connections_verification_url": None,
        "tags": [],
        "install_params": None,
        "integration_types_config": {"0": {}},
        "approximate_guild_count": len(world.guilds),
        "bot": user_json(world.bot),
    }
