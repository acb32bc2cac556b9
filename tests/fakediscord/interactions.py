"""Build realistic INTERACTION_CREATE payloads from the commands the bot actually synced."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import payloads
from .records import StoredCommand, StoredMessage
from .world import (
    ADD_REACTIONS,
    ATTACH_FILES,
    EMBED_LINKS,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    USE_EXTERNAL_EMOJIS,
    VIEW_CHANNEL,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeRole,
    FakeUser,
)

if TYPE_CHECKING:
    from .server import FakeDiscord

JSON = dict[str, Any]

OPTION_TYPE_NAMES = {
    1: "SUB_COMMAND",
    2: "SUB_COMMAND_GROUP",
    3: "STRING",
    4: "INTEGER",
    5: "BOOLEAN",
    6: "USER",
    7: "CHANNEL",
    8: "ROLE",
    9: "MENTIONABLE",
    10: "NUMBER",
    11: "ATTACHMENT",
}
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024  # what Discord sends for a guild without boosts
DM_APP_PERMISSIONS = (
    VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | ADD_REACTIONS
    | USE_EXTERNAL_EMOJIS
)


def _id_of(value: object) -> int:
    if isinstance(value, FakeUser | FakeMember | FakeChannel | FakeRole | FakeGuild):
        return value.id
    if isinstance(value, StoredMessage):
        return value.id
    return int(str(value))


def _find_command(fake: FakeDiscord, name: str, guild_id: int | None) -> StoredCommand:
    for scope in ([guild_id] if guild_id is not None else []) + [None]:
        for cmd in fake.commands.get(scope, {}).values():
            if cmd.name == name and int(cmd.data.get("type", 1)) == 1:
                return cmd
    synced = {
        ("global" if scope is None else f"guild {scope}"): sorted(c.name for c in cmds.values())
        for scope, cmds in fake.commands.items()
    }
    raise LookupError(
        f"slash command /{name} is not synced (globally or in guild {guild_id}); "
        f"synced so far: {synced}. "
        "Sync the command tree before invoking."
    )


def _build_option(
    fake: FakeDiscord,
    guild: FakeGuild | None,
    channel: FakeChannel,
    spec: JSON,
    value: object,
    focused: bool,
    resolved: JSON,
) -> JSON:
    otype = int(spec["type"])
    opt: JSON = {"name": spec["name"], "type": otype}
    if focused:
        opt["value"] = str(value)
        opt["focused"] = True
        return opt
    if otype == 3:
        opt["value"] = str(value)
    elif otype == 4:
        opt["value"] = int(value)  # type: ignore[call-overload]
    elif otype == 5:
        opt["value"] = bool(value)
    elif otype == 10:
        opt["value"] = float(value) if not isinstance(value, int) else value  # type: ignore[arg-type]
    elif otype in (6, 7, 8, 9):
        target = _id_of(value)
        opt["value"] = str(target)
        _resolve(fake, guild, channel, otype, target, resolved, spec["name"])
    elif otype == 11:
        att = dict(value) if isinstance(value, Mapping) else {"filename": str(value)}
        att_id = fake.ids.next()
        att.setdefault("filename", "file.txt")
        att.setdefault("size", 0)
        att.update(id=str(att_id), url=f"{fake.api_base}/attachments/{att_id}/{att['filename']}")
        att.setdefault("proxy_url", att["url"])
        resolved.setdefault("attachments", {})[str(att_id)] = att
        opt["value"] = str(att_id)
    else:
        raise ValueError(f"option {spec['name']!r} has unsupported type {otype}")
    return opt


def _resolve(
    fake: FakeDiscord,
    guild: FakeGuild | None,
    channel: FakeChannel,
    otype: int,
    target: int,
    resolved: JSON,
    option_name: str,
) -> None:
    world = fake.world
    if otype in (6, 9) and target in world.users:
        user = world.users[target]
        resolved.setdefault("users", {})[str(target)] = payloads.user_json(user)
        if guild is not None and target in guild.members:
            perms = guild.permissions_in(channel.id, target)
            resolved.setdefault("members", {})[str(target)] = payloads.member_json(
                guild.members[target], with_user=False, permissions=perms
            )
        return
    if otype in (8, 9) and guild is not None and target in guild.roles:
        resolved.setdefault("roles", {})[str(target)] = payloads.role_json(guild.roles[target])
        return
    if otype == 7:
        found = world.find_channel(target)
        if found is not None:
            g, ch = found
            data = payloads.channel_json(ch, world)
            if g is not None:
                data["permissions"] = str(g.permissions_in(ch.id, _invoker_id(resolved)))
            partial: JSON = {
                k: data[k]
                for k in (
                    "id",
                    "name",
                    "type",
                    "permissions",
                    "parent_id",
                    "guild_id",
                    "thread_metadata",
                    "owner_id",
                    "member_count",
                    "message_count",
                    "topic",
                    "position",
                    "nsfw",
                    "flags",
                )
                if k in data
            }
            resolved.setdefault("channels", {})[str(target)] = partial
            return
    raise ValueError(
        f"option {option_name!r}: id {target} is not a known "
        f"{OPTION_TYPE_NAMES.get(otype, str(otype)).lower()} in the fake world"
    )


def _invoker_id(resolved: JSON) -> int:
    return int(resolved.get("__invoker__", 0))


def build_command_interaction(
    fake: FakeDiscord,
    command: str,
    *,
    guild: FakeGuild | None,
    channel: FakeChannel,
    user: FakeUser,
    options: Mapping[str, object] | Sequence[JSON] | None,
    focused: str | None,
    permissions: int | str | None,
    roles: Sequence[int] | None,
    locale: str,
) -> JSON:
    parts = command.strip().lstrip("/").split()
    if not parts:
        raise ValueError("empty command name")
    cmd = _find_command(fake, parts[0], guild.id if guild else None)
    schema = cmd.options
    chain: list[JSON] = []
    for sub in parts[1:]:
        spec = next((o for o in schema if o["name"] == sub and o.get("type") in (1, 2)), None)
        if spec is None:
            subs = [o["name"] for o in schema if o.get("type") in (1, 2)]
            raise LookupError(
                f"/{' '.join(parts)}: /{cmd.name} has no subcommand {sub!r}; has {subs}"
            )
        chain.append(spec)
        schema = list(spec.get("options") or [])
    if any(o.get("type") in (1, 2) for o in schema):
        subs = [o["name"] for o in schema if o.get("type") in (1, 2)]
        raise LookupError(f"/{' '.join(parts)} needs a subcommand: one of {subs}")

    resolved: JSON = {"__invoker__": user.id}
    built: list[JSON]
    if options is None:
        options = {}
    if isinstance(options, Mapping):
        options = {k: v for k, v in options.items() if v is not None}  # None: option not given
        by_name = {o["name"]: o for o in schema}
        built = []
        for name, value in options.items():
            spec = by_name.get(name)
            if spec is None:
                raise LookupError(
                    f"/{' '.join(parts)} has no option {name!r}; has {sorted(by_name)}"
                )
            built.append(
                _build_option(fake, guild, channel, spec, value, name == focused, resolved)
            )
        if focused is not None and focused not in options:
            if focused not in by_name:
                raise LookupError(
                    f"/{' '.join(parts)} has no option {focused!r} to focus; has {sorted(by_name)}"
                )
            built.append(_build_option(fake, guild, channel, by_name[focused], "", True, resolved))
        if focused is None:
            missing = [o["name"] for o in schema if o.get("required") and o["name"] not in options]
            if missing:
                raise ValueError(f"/{' '.join(parts)}: required option(s) missing: {missing}")
    else:
        built = [dict(o) for o in options]
    for spec in reversed(chain):
        built = [{"name": spec["name"], "type": spec["type"], "options": built}]
    resolved.pop("__invoker__")

    data: JSON = {"id": str(cmd.id), "name": cmd.name, "type": 1, "options": built}
    if cmd.data.get("guild_id") is not None:
        data["guild_id"] = str(cmd.data["guild_id"])
    if resolved:
        data["resolved"] = resolved
    itype = 4 if focused is not None else 2
    return _envelope(
        fake,
        itype,
        data,
        guild=guild,
        channel=channel,
        user=user,
        permissions=permissions,
        roles=roles,
        locale=locale,
    )


def build_component_interaction(
    fake: FakeDiscord,
    message: StoredMessage,
    custom_id: str,
    *,
    user: FakeUser,
    values: Sequence[str] | None,
    permissions: int | str | None,
    locale: str,
) -> JSON:
    component = _find_component(message.components, custom_id)
    if component is None:
        raise LookupError(
            f"message {message.id} has no component {custom_id!r}; has {message.custom_ids()}"
        )
    found = fake.world.find_channel(message.channel_id)
    if found is None:
        raise LookupError(f"message {message.id} is in unknown channel {message.channel_id}")
    guild, channel = found
    data: JSON = {"custom_id": custom_id, "component_type": int(component["type"])}
    if values is not None or component["type"] in (3, 5, 6, 7, 8):
        data["values"] = list(values or [])
    payload = _envelope(
        fake,
        3,
        data,
        guild=guild,
        channel=channel,
        user=user,
        permissions=permissions,
        roles=None,
        locale=locale,
    )
    msg = dict(message.data)
    msg["channel_id"] = str(message.channel_id)
    payload["message"] = msg
    return payload


def build_modal_submit(
    fake: FakeDiscord,
    modal: JSON,
    values: Mapping[str, str | Sequence[str]],
    *,
    guild: FakeGuild | None,
    channel: FakeChannel,
    user: FakeUser,
    permissions: int | str | None,
    locale: str,
    message: StoredMessage | None = None,
) -> JSON:
    def submit(component: JSON) -> JSON | None:
        ctype = int(component.get("type", 0))
        if ctype == 1:
            children = [c for c in (submit(x) for x in component.get("components") or []) if c]
            return {"type": 1, "id": component.get("id", 0), "components": children}
        if ctype == 18:
            inner = submit(component.get("component") or {})
            return {"type": 18, "id": component.get("id", 0), "component": inner} if inner else None
        cid = component.get("custom_id")
        if cid is None:
            return None
        out: JSON = {"type": ctype, "id": component.get("id", 0), "custom_id": cid}
        given = values.get(cid)
        if ctype == 4:
            out["value"] = str(given) if given is not None else ""
        else:
            out["values"] = [given] if isinstance(given, str) else list(given or [])
        return out

    top = [c for c in (submit(c) for c in modal.get("components") or []) if c]
    unknown = set(values) - _all_custom_ids(modal.get("components") or [])
    if unknown:
        raise LookupError(f"modal {modal.get('custom_id')!r} has no inputs {sorted(unknown)}")
    data = {"custom_id": modal["custom_id"], "components": top}
    payload = _envelope(
        fake,
        5,
        data,
        guild=guild,
        channel=channel,
        user=user,
        permissions=permissions,
        roles=None,
        locale=locale,
    )
    if message is not None:
        payload["message"] = dict(message.data)
    return payload


def _all_custom_ids(components: list[JSON]) -> set[str]:
    out: set[str] = set()
    for c in components:
        if "custom_id" in c:
            out.add(str(c["custom_id"]))
        out |= _all_custom_ids(list(c.get("components") or []))
        if isinstance(c.get("component"), dict):
            out |= _all_custom_ids([c["component"]])
    return out


def _find_component(components: list[JSON], custom_id: str) -> JSON | None:
    for c in components:
        if c.get("custom_id") == custom_id:
            return c
        inner = _find_component(list(c.get("components") or []), custom_id)
        if inner is not None:
            return inner
        if isinstance(c.get("accessory"), dict) and c["accessory"].get("custom_id") == custom_id:
            return dict(c["accessory"])
    return None


def _envelope(
    fake: FakeDiscord,
    itype: int,
    data: JSON,
    *,
    guild: FakeGuild | None,
    channel: FakeChannel,
    user: FakeUser,
    permissions: int | str | None,
    roles: Sequence[int] | None,
    locale: str,
) -> JSON:
    world = fake.world
    payload: JSON = {
        "id": str(fake.ids.next()),
        "application_id": str(world.application_id),
        "type": itype,
        "data": data,
        "token": "fake-itoken-" + secrets.token_urlsafe(96),
        "version": 1,
        "locale": locale,
        "entitlements": [],
        "entitlement_sku_ids": [],
        "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
    }
    channel_data = payloads.channel_json(channel, world)
    if guild is not None:
        member = guild.members.get(user.id)
        if member is None:
            raise LookupError(f"user {user.username} is not a member of guild {guild.name!r}")
        if roles is not None:
            member = FakeMember(
                member.user, [int(r) for r in roles], member.nick, member.joined_at, member.flags
            )
        if permissions is None:
            perms = (
                guild.permissions_in(channel.id, user.id)
                if roles is None
                else _perms_with_roles(guild, member, channel)
            )
        else:
            perms = int(permissions)
        bot_perms = guild.permissions_in(channel.id, world.bot.id)
        channel_data["permissions"] = str(perms)
        payload.update(
            guild_id=str(guild.id),
            guild={"id": str(guild.id), "locale": guild.preferred_locale, "features": []},
            guild_locale=guild.preferred_locale,
            channel_id=str(channel.id),
            channel=channel_data,
            member=payloads.member_json(member, permissions=perms),
            app_permissions=str(bot_perms),
            authorizing_integration_owners={"0": str(guild.id)},
            context=0,
        )
    else:
        payload.update(
            channel_id=str(channel.id),
            channel=channel_data,
            user=payloads.user_json(user),
            app_permissions=str(DM_APP_PERMISSIONS),
            authorizing_integration_owners={"0": "0"},
            context=1,
        )
    return payload


def _perms_with_roles(guild: FakeGuild, member: FakeMember, channel: FakeChannel) -> int:
    real = guild.members[member.id]
    guild.members[member.id] = member
    try:
        return guild.permissions_in(channel.id, member.id)
    finally:
        guild.members[member.id] = real
