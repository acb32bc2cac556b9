"""Every key of every section, given a value of the wrong type, is refused with a message that
names the file, the key and the value; unknown keys get a did-you-mean; required keys are named."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from bot.config import (
    BotSettings,
    ConfigError,
    DiscordSettings,
    FetchSettings,
    HealthSettings,
    ScheduleSettings,
    settings_from_mapping,
)

SECTIONS: dict[str, type[BaseModel]] = {
    "bot": BotSettings,
    "fetch": FetchSettings,
    "schedule": ScheduleSettings,
    "discord": DiscordSettings,
    "health": HealthSettings,
}


def wrong_value(annotation: Any) -> Any:
    """A TOML value no reading of `annotation` accepts."""
    text = repr(annotation)
    if "list" in text:
        return "not-a-list"
    if "bool" in text:
        return [1]
    if "int" in text or "float" in text:
        return "lots"
    if "Literal" in text:
        return 42
    if "str" in text:
        return {"a": 1}
    raise AssertionError(f"no wrong value for {text}")


CASES = [
    (section, name, wrong_value(field.annotation))
    for section, model in SECTIONS.items()
    for name, field in model.model_fields.items()
]


@pytest.mark.parametrize(("section", "key", "value"), CASES, ids=[f"{s}.{k}" for s, k, _ in CASES])
def test_each_wrong_type_names_key_and_value(section: str, key: str, value: Any) -> None:
    with pytest.raises(ConfigError) as info:
        settings_from_mapping({section: {key: value}}, source="cfg.toml", environ={})
    message = str(info.value)
    assert message.startswith("cfg.toml: ")
    assert f"{section}.{key} = {value!r}" in message


@pytest.mark.parametrize(
    ("raw", "where", "suggestion"),
    [
        ({"bot": {"databse": "x"}}, "bot.databse", "database"),
        (
            {"fetch": {"per_host_concurency": 2}},
            "fetch.per_host_concurency",
            "per_host_concurrency",
        ),
        ({"schedule": {"jitter": 3}}, "schedule.jitter", "jitter_seconds"),
        ({"feeds": [{"url": "https://a.test/", "nmae": "A"}]}, "feeds.0.nmae", "name"),
        ({"topics": {"t": {"qurey": "a"}}}, "topics.t.qurey", "query"),
        ({"helth": {}}, "helth", "health"),
    ],
)
def test_unknown_keys_get_a_did_you_mean(raw: dict[str, Any], where: str, suggestion: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings_from_mapping(raw, source="cfg.toml", environ={})
    message = str(info.value)
    assert f"Did you mean {suggestion!r}?" in message, message
    assert where.split(".")[-1] in message


@pytest.mark.parametrize(
    ("raw", "missing"),
    [
        ({"feeds": [{"name": "no url"}]}, "feeds[0].url"),
        ({"topics": {"t": {"description": "no query"}}}, "topics.t.query"),
    ],
)
def test_missing_required_keys_are_named(raw: dict[str, Any], missing: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings_from_mapping(raw, source="cfg.toml", environ={})
    assert f"{missing}: required key is missing" in str(info.value)


def test_every_section_model_is_covered() -> None:
    from bot.config import Settings

    nested = {
        name
        for name, field in Settings.model_fields.items()
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
    }
    assert nested == set(SECTIONS)
    assert typing.get_origin(Settings.model_fields["feeds"].annotation) is list


def test_the_example_config_round_trips(tmp_path: Path) -> None:
    from bot.config import load_settings

    root = Path(__file__).resolve().parents[2]
    settings = load_settings(root / "config.example.toml", environ={})
    again = settings_from_mapping(
        {
            k: v
            for k, v in settings.model_dump().items()
            if k not in {"source", "token", "api_base", "gateway_url"}
        },
        source="dump",
        environ={},
    )
    assert again.feeds == settings.feeds
    assert again.topics == settings.topics
