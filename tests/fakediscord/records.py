"""What the fake remembers: requests, messages, interactions, commands, webhooks, failures."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]


@dataclass
class RecordedRequest:
    """One HTTP request to the fake REST API (path is relative to /api/v10)."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    headers: dict[str, str]
    status: int = 0  # filled in when the response is decided
    files: list[str] = field(default_factory=list)  # uploaded file names (multipart)
    scripted: bool = False  # answered by fail_next
    deduplicated: bool = False  # enforce_nonce hit: the earlier message was returned
    time: float = 0.0

    def __str__(self) -> str:
        q = "&".join(f"{k}={v}" for k, v in self.query.items())
        return f"{self.method} {self.path}{'?' + q if q else ''} -> {self.status}"


@dataclass
class Pings:
    """Who a message would notify, from its content and allowed_mentions (embeds never ping)."""

    everyone: bool = False  # @everyone or @here
    users: set[int] = field(default_factory=set)
    roles: set[int] = field(default_factory=set)

    def __bool__(self) -> bool:
        return self.everyone or bool(self.users) or bool(self.roles)


@dataclass
class StoredMessage:
    """A message as the fake stores it. ``data`` is the JSON Discord returns for it."""

    data: JSON
    channel_id: int
    source: str  # "bot" | "webhook" | "interaction" | "followup"
    request: JSON  # the JSON body that created it
    pings: Pings
    nonce: str | None = None
    webhook_id: int | None = None
    interaction_id: int | None = None
    ephemeral: bool = False
    deleted: bool = False
    edits: list[JSON] = field(default_factory=list)  # PATCH bodies, in order
    files: list[str] = field(default_factory=list)

    @property
    def id(self) -> int:
        return int(self.data["id"])

    @property
    def content(self) -> str:
        return str(self.data.get("content") or "")

    @property
    def embeds(self) -> list[JSON]:
        return list(self.data.get("embeds") or [])

    @property
    def components(self) -> list[JSON]:
        return list(self.data.get("components") or [])

    @property
    def flags(self) -> int:
        return int(self.data.get("flags") or 0)

    @property
    def allowed_mentions(self) -> JSON | None:
        value = self.request.get("allowed_mentions")
        return value if isinstance(value, dict) else None

    def text(self) -> str:
        """Content plus every embed's visible text, for loose "the user sees X" assertions."""
        parts = [self.content]
        for e in self.embeds:
            parts += [e.get("title") or "", e.get("description") or ""]
            for f in e.get("fields") or []:
                parts += [f.get("name") or "", f.get("value") or ""]
            parts += [
                (e.get("footer") or {}).get("text") or "",
                (e.get("author") or {}).get("name") or "",
            ]
        return "\n".join(p for p in parts if p)

    def custom_ids(self) -> list[str]:
        """custom_id of every component (buttons, selects), depth first."""
        out: list[str] = []

        def walk(items: list[JSON]) -> None:
            for c in items:
                if "custom_id" in c:
                    out.append(str(c["custom_id"]))
                walk(c.get("components") or [])
                if isinstance(c.get("accessory"), dict):
                    walk([c["accessory"]])

        walk(self.components)
        return out


@dataclass
class InteractionRecord:
    """One dispatched interaction and everything the bot answered to it."""

    id: int
    token: str
    payload: JSON  # the INTERACTION_CREATE "d"
    dispatched_at: float | None = None
    callbacks: list[JSON] = field(default_factory=list)  # bodies POSTed to /callback
    original: StoredMessage | None = None
    followups: list[StoredMessage] = field(default_factory=list)
    original_edits: int = 0  # PATCH @original count (also counts a follow-up that edited the defer)
    component_message_id: int | None = None  # the message a component/modal interaction came from
    expired: bool = False  # the bot answered after the deadline and got 10062 Unknown interaction
    errors: list[str] = field(default_factory=list)  # rejected callbacks/follow-ups/edits, why

    @property
    def type(self) -> int:
        return int(self.payload["type"])

    @property
    def response_type(self) -> int | None:
        """Type of the first callback.

        4 message, 5 deferred, 6 deferred update, 7 update, 8 autocomplete choices, 9 modal.
        """
        return int(self.callbacks[0]["type"]) if self.callbacks else None

    @property
    def acknowledged(self) -> bool:
        return bool(self.callbacks)

    @property
    def deferred(self) -> bool:
        return self.response_type in (5, 6)

    @property
    def ephemeral(self) -> bool:
        return self.original is not None and self.original.ephemeral

    @property
    def content(self) -> str:
        return self.original.content if self.original is not None else ""

    @property
    def embeds(self) -> list[JSON]:
        return self.original.embeds if self.original is not None else []

    @property
    def messages(self) -> list[StoredMessage]:
        """The original response (if any) then the follow-ups."""
        return ([self.original] if self.original is not None else []) + self.followups

    def text(self) -> str:
        """Everything the user sees: original + follow-ups, content and embed text."""
        return "\n".join(m.text() for m in self.messages)

    @property
    def choices(self) -> list[JSON]:
        """Autocomplete choices ({"name", "value"}) of a type 8 callback."""
        for cb in self.callbacks:
            if cb.get("type") == 8:
                return list((cb.get("data") or {}).get("choices") or [])
        return []

    @property
    def modal(self) -> JSON | None:
        for cb in self.callbacks:
            if cb.get("type") == 9:
                return dict(cb.get("data") or {})
        return None

    @property
    def finished(self) -> bool:
        """Acknowledged, and a deferred answer has been filled in (edit, follow-up or delete)."""
        if not self.callbacks:
            return False
        if self.response_type == 5:
            return (
                self.original_edits > 0
                or bool(self.followups)
                or (self.original is not None and self.original.deleted)
            )
        if self.response_type == 6:
            return self.original_edits > 0 or bool(self.followups)
        return True


@dataclass
class StoredCommand:
    data: JSON  # what GET returns

    @property
    def id(self) -> int:
        return int(self.data["id"])

    @property
    def name(self) -> str:
        return str(self.data["name"])

    @property
    def description(self) -> str:
        return str(self.data.get("description") or "")

    @property
    def options(self) -> list[JSON]:
        return list(self.data.get("options") or [])

    @property
    def default_member_permissions(self) -> str | None:
        value = self.data.get("default_member_permissions")
        return None if value is None else str(value)


@dataclass
class FakeWebhook:
    id: int
    token: str
    channel_id: int
    guild_id: int | None
    name: str
    api_base: str
    deleted: bool = False

    @property
    def url(self) -> str:
        """The form users paste; ``discord.Webhook.from_url`` accepts it (sends to Route.BASE)."""
        return f"https://discord.com/api/webhooks/{self.id}/{self.token}"

    @property
    def local_url(self) -> str:
        """The same webhook on the fake, for code that POSTs with plain aiohttp."""
        return f"{self.api_base}/webhooks/{self.id}/{self.token}"


@dataclass
class ScriptedFailure:
    method: str
    pattern: str | re.Pattern[str]
    status: int
    remaining: int | None  # None: until cleared
    retry_after: float | None
    body: JSON | None
    code: int | None
    message: str | None
    is_global: bool
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method != "*" and self.method.upper() != method.upper():
            return False
        if isinstance(self.pattern, re.Pattern):
            return self.pattern.fullmatch(path) is not None
        return fnmatch.fnmatchcase(path, self.pattern)
