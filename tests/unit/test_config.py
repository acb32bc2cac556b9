"""Config errors name the key, the value and the fix; the token never comes from the file."""

from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_example_config_is_valid() -> None:
    s = load_settings(ROOT / "config.example.toml", environ={})
    assert len(s.feeds) >= 20
    assert "iran-azerbaijan-border" in s.topics
    assert s.token is None


def test_token_comes_from_the_environment_and_is_redacted() -> None:
    s = load_settings(ROOT / "config.example.toml", environ={"DISCORD_TOKEN": "secret-token-123"})
    assert s.token == "secret-token-123"
    assert "secret-token-123" not in repr(s)
    assert s.redacted()["token"] == "***"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[fetch]\ntotal_timeout_s = -3\n", ["fetch.total_timeout_s", "-3", "greater than 0"]),
        ("[fetch]\ntotal_timeout_s = 'soon'\n", ["fetch.total_timeout_s", "'soon'", "number"]),
        (
            "[fetch]\ntotal_timout_s = 3\n",
            ["fetch.total_timout_s", "Did you mean 'total_timeout_s'"],
        ),
        ("[bot]\nlog_level = 'LOUD'\n", ["bot.log_level", "'LOUD'", "DEBUG"]),
        ("[[feeds]]\nname = 'x'\n", ["feeds[0].url", "required key is missing"]),
        ("[[feeds]]\nurl = 'ftp://x.test/feed'\n", ["feeds[0].url", "http://"]),
        ("[schedul]\n", ["Did you mean 'schedule'"]),
        ("token = 'abc'\n", ["DISCORD_TOKEN"]),
        ("[bot\n", ["not valid TOML"]),
        (
            "[[subscriptions]]\ntopic = 'nope'\nwebhook_url = 'https://discord.com/api/webhooks/1/x'\n",
            ["subscriptions[0].topic", "'nope'"],
        ),
    ],
)
def test_bad_values_name_key_value_and_fix(tmp_path: Path, text: str, expected: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text), environ={})
    message = str(info.value)
    assert str(tmp_path / "config.toml") in message
    for part in expected:
        assert part in message, message


def test_missing_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config\.example\.toml"):
        load_settings(tmp_path / "nope.toml", environ={})
