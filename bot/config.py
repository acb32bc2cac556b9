"""TOML configuration -> validated, frozen settings.

Loaded once in `__main__` and passed down. A bad value becomes a `ConfigError` whose message names
the file, the key, the value and what to do; `__main__` prints it and exits non-zero, without a
traceback.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.core.types import TopicDef

DEFAULT_USER_AGENT = "BorderWatch/0.1 (self-hosted news-alert bot; +https://github.com/borderwatch)"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BotSettings(_Section):
    database: str = "data/borderwatch.db"  # SQLite file; its folder is created
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    summary_chars: Annotated[int, Field(ge=80, le=3500)] = 350
    # On the first poll of a newly added feed, alert on this many of its newest items (0 = none:
    # the feed's backlog is recorded as a baseline so a new feed never floods a channel).
    baseline_newest: Annotated[int, Field(ge=0, le=50)] = 0
    # Items older than this are pruned; their identity keys stay as tombstones. 0 keeps forever.
    retention_days: Annotated[int, Field(ge=0)] = 90


class FetchSettings(_Section):
    user_agent: str = DEFAULT_USER_AGENT
    connect_timeout_s: Annotated[float, Field(gt=0, le=120)] = 10.0
    total_timeout_s: Annotated[float, Field(gt=0, le=600)] = 30.0
    max_body_bytes: Annotated[int, Field(ge=1024)] = 10 * 1024 * 1024
    max_redirects: Annotated[int, Field(ge=0, le=10)] = 5
    concurrency: Annotated[int, Field(ge=1, le=500)] = 20
    per_host_concurrency: Annotated[int, Field(ge=1, le=50)] = 2
    # Off by default: feed URLs pointing at loopback/private networks are refused (SSRF guard).
    # Cloud metadata (169.254.169.254) stays refused even when this is on.
    allow_private_networks: bool = False
    # Processes that parse feeds (feedparser is pure Python: processes use every core, and a
    # hostile feed that exhausts memory kills a worker, not the bot). 0: a thread in the bot.
    parse_workers: Annotated[int, Field(ge=0, le=32)] = 2


class ScheduleSettings(_Section):
    default_interval_minutes: Annotated[float, Field(gt=0, le=1440)] = 15
    min_interval_minutes: Annotated[float, Field(gt=0, le=1440)] = 2
    max_interval_minutes: Annotated[float, Field(gt=0, le=10080)] = 720
    jitter_seconds: Annotated[float, Field(ge=0, le=3600)] = 30
    backoff_base_minutes: Annotated[float, Field(gt=0, le=1440)] = 5
    backoff_max_minutes: Annotated[float, Field(gt=0, le=10080)] = 720

    @model_validator(mode="after")
    def _ordered(self) -> ScheduleSettings:
        if self.min_interval_minutes > self.max_interval_minutes:
            raise ValueError(
                f"min_interval_minutes ({self.min_interval_minutes}) is larger than "
                f"max_interval_minutes ({self.max_interval_minutes}); make min <= max"
            )
        return self


class FeedSettings(_Section):
    url: str
    name: str | None = None
    interval_minutes: Annotated[float, Field(gt=0, le=1440)] | None = None
    lang: str | None = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        v = v.strip()
        if not (v.startswith("http://") or v.startswith("https://")):
            raise ValueError(f"feed url {v!r} must start with http:// or https://")
        return v


class TopicSettings(_Section):
    query: str
    description: str = ""
    min_score: Annotated[float, Field(ge=0)] = 0


class SubscriptionSettings(_Section):
    """A static subscription: for webhook-only deployments without slash commands."""

    topic: str = "iran-azerbaijan-border"
    webhook_url: str | None = None
    channel_id: int | None = None
    guild_id: int | None = None
    min_score: Annotated[float, Field(ge=0)] = 0
    role_id: int | None = None

    @model_validator(mode="after")
    def _one_destination(self) -> SubscriptionSettings:
        if (self.webhook_url is None) == (self.channel_id is None):
            raise ValueError("set exactly one of webhook_url or channel_id")
        return self


class DiscordSettings(_Section):
    # Guilds to sync slash commands to at once (global sync can take a while to propagate).
    sync_guild_ids: list[int] = Field(default_factory=list)
    command_cooldown_seconds: Annotated[float, Field(ge=0)] = 10
    max_feeds_per_guild: Annotated[int, Field(ge=1)] = 50
    max_terms_per_list: Annotated[int, Field(ge=1)] = 200
    max_query_chars: Annotated[int, Field(ge=20)] = 2000


class HealthSettings(_Section):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8787
    # A poll is overdue when its feed's next poll time passed this long ago.
    overdue_minutes: Annotated[float, Field(gt=0)] = 30


class Settings(_Section):
    bot: BotSettings = Field(default_factory=BotSettings)
    fetch: FetchSettings = Field(default_factory=FetchSettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    discord: DiscordSettings = Field(default_factory=DiscordSettings)
    health: HealthSettings = Field(default_factory=HealthSettings)
    feeds: list[FeedSettings] = Field(default_factory=list)
    lists: dict[str, list[str]] = Field(default_factory=dict)
    topics: dict[str, TopicSettings] = Field(default_factory=dict)
    subscriptions: list[SubscriptionSettings] = Field(default_factory=list)

    # Not from the file: where it came from, and the environment's secrets/overrides.
    source: str = "<defaults>"
    token: str | None = Field(default=None, repr=False)
    api_base: str | None = None
    gateway_url: str | None = None

    @model_validator(mode="after")
    def _cross_checks(self) -> Settings:
        seen: set[str] = set()
        for i, feed in enumerate(self.feeds):
            if feed.url in seen:
                raise ValueError(f"feeds[{i}].url {feed.url!r} is listed twice; remove one")
            seen.add(feed.url)
        for i, sub in enumerate(self.subscriptions):
            if sub.topic not in self.topics:
                raise ValueError(
                    f"subscriptions[{i}].topic {sub.topic!r} is not a topic of this file; "
                    f"known topics: {', '.join(sorted(self.topics)) or 'none'}"
                )
        return self

    def topic_defs(self) -> list[TopicDef]:
        """The configured topics, each with every named list (queries name the ones they use)."""
        lists = tuple((name, tuple(terms)) for name, terms in sorted(self.lists.items()))
        return [TopicDef(id=name, query=t.query, lists=lists) for name, t in self.topics.items()]

    def redacted(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        data["token"] = "***" if self.token else None
        for sub in data["subscriptions"]:
            if sub.get("webhook_url"):
                sub["webhook_url"] = redact_webhook(sub["webhook_url"])
        return data


class ConfigError(Exception):
    """A configuration problem a user can fix; the message says where and how."""


def redact_webhook(url: str) -> str:
    """Webhook URLs carry a secret token as their last path segment."""
    head, _, _token = url.rstrip("/").rpartition("/")
    return f"{head}/***" if head else "***"


def load_settings(path: str | Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Read, parse and validate a TOML config file; secrets and overrides come from `environ`."""
    env = os.environ if environ is None else environ
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{p}: file not found. Copy config.example.toml to {p.name} or pass --config PATH."
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}. Fix the syntax at that line.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read the file: {exc}") from None
    return settings_from_mapping(raw, source=str(p), environ=env)


def settings_from_mapping(
    raw: Mapping[str, Any], *, source: str, environ: Mapping[str, str]
) -> Settings:
    for forbidden in ("source", "token", "api_base", "gateway_url"):
        if forbidden in raw:
            hint = (
                " Put the bot token in the DISCORD_TOKEN environment variable."
                if (forbidden == "token")
                else ""
            )
            raise ConfigError(f"{source}: key {forbidden!r} is not allowed in the file.{hint}")
    data = dict(raw)
    data["source"] = source
    data["token"] = (environ.get("DISCORD_TOKEN") or "").strip() or None
    data["api_base"] = environ.get("DISCORD_API_BASE") or None
    data["gateway_url"] = environ.get("DISCORD_GATEWAY_URL") or None
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source, raw)) from None


def _describe(exc: ValidationError, source: str, raw: Mapping[str, Any]) -> str:
    lines = [f"{source}: {exc.error_count()} problem(s) in the configuration:"]
    for err in exc.errors():
        loc = _dotted(err["loc"])
        kind = err["type"]
        if kind == "extra_forbidden":
            parent_loc = err["loc"][:-1]
            key = str(err["loc"][-1])
            known = _known_keys(parent_loc)
            guess = difflib.get_close_matches(key, known, n=1)
            hint = f" Did you mean {guess[0]!r}?" if guess else ""
            where = _dotted(parent_loc) or "the top level"
            lines.append(
                f"  - unknown key {loc!r}.{hint} Known keys in {where}: {', '.join(known)}."
            )
            continue
        if kind == "missing":
            lines.append(f"  - {loc}: required key is missing; add it.")
            continue
        value = _lookup(raw, err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"  - {loc} = {value!r}: {msg}.")
    return "\n".join(lines)


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _lookup(raw: Mapping[str, Any], loc: tuple[int | str, ...]) -> Any:
    cur: Any = raw
    for part in loc:
        try:
            cur = cur[part]
        except (KeyError, IndexError, TypeError):
            return "<missing>"
    return cur


_SECTION_MODELS: dict[str, type[BaseModel]] = {
    "bot": BotSettings,
    "fetch": FetchSettings,
    "schedule": ScheduleSettings,
    "discord": DiscordSettings,
    "health": HealthSettings,
    "feeds": FeedSettings,
    "topics": TopicSettings,
    "subscriptions": SubscriptionSettings,
}


def _known_keys(parent: tuple[int | str, ...]) -> list[str]:
    names = [p for p in parent if isinstance(p, str)]
    if not names:
        model: type[BaseModel] = Settings
        hidden = {"source", "token", "api_base", "gateway_url"}
        return [k for k in model.model_fields if k not in hidden]
    model = _SECTION_MODELS.get(names[0], Settings)
    return list(model.model_fields)
