"""The operator's view: health endpoint, backup, feed table, check-config, exit codes."""

from __future__ import annotations

import socket
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from bot.__main__ import main
from bot.feeds_table import render_feed_table
from bot.health import HealthInputs, HealthServer, health_problems
from bot.store.rows import FeedRow

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def feed(fid: int, next_in_min: float, errors: int = 0, error: str | None = None) -> FeedRow:
    return FeedRow(
        id=fid,
        url=f"https://f{fid}.test/rss",
        name=f"Feed {fid}",
        title=None,
        interval_minutes=None,
        from_config=True,
        etag=None,
        last_modified=None,
        body_hash=None,
        baselined=True,
        last_poll_at=NOW - timedelta(minutes=5),
        last_success_at=None if errors else NOW - timedelta(minutes=5),
        next_poll_at=NOW + timedelta(minutes=next_in_min),
        error_count=errors,
        last_error=error,
        items_seen=7,
    )


@pytest.mark.parametrize(
    ("scheduler", "gateway", "feeds", "expected"),
    [
        (True, True, (feed(1, 5),), []),
        (True, None, (feed(1, -10),), []),  # 10 min late is within 30 min
        (False, True, (), ["scheduler is not running"]),
        (True, False, (), ["Discord gateway is not connected"]),
        (
            True,
            True,
            (feed(1, -45), feed(2, 5)),
            ["1 feed polls overdue (worst: https://f1.test/rss, 45 min late)"],
        ),
    ],
)
def test_health_problems(
    scheduler: bool, gateway: bool | None, feeds: tuple[FeedRow, ...], expected: list[str]
) -> None:
    inputs = HealthInputs(scheduler, gateway, feeds, NOW, timedelta(minutes=30))
    assert health_problems(inputs) == expected


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_health_endpoint_answers_200_then_503_with_the_reason() -> None:
    state = {"running": True}

    async def inputs() -> HealthInputs:
        return HealthInputs(state["running"], None, (feed(1, 5),), NOW, timedelta(minutes=30))

    port = free_port()
    server = HealthServer("127.0.0.1", port, inputs)
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/health") as resp:
                assert resp.status == 200
                assert (await resp.json())["status"] == "ok"
            state["running"] = False
            async with http.get(f"http://127.0.0.1:{port}/health") as resp:
                assert resp.status == 503
                assert (await resp.json())["problems"] == ["scheduler is not running"]
    finally:
        await server.stop()


def test_feed_table_shows_failing_feeds_with_their_error() -> None:
    table = render_feed_table([feed(1, 5), feed(2, 3, errors=3, error="HTTP 500")], NOW)
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["id", "state", "last"]
    assert "FAILING x3" in lines[2]
    assert "HTTP 500" in lines[2]
    assert lines[-1] == "2 feeds, 1 failing"


def write_config(tmp_path: Path) -> Path:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[bot]\ndatabase = "{tmp_path / "db" / "bw.db"}"\n', encoding="utf-8")
    return cfg


def test_backup_writes_a_consistent_copy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config(tmp_path)
    assert main(["--config", str(cfg), "feeds"]) == 0  # creates and migrates the database
    conn = sqlite3.connect(tmp_path / "db" / "bw.db")
    conn.execute("INSERT INTO feeds (url, added_at) VALUES ('https://x.test/rss', 0)")
    conn.commit()
    conn.close()
    target = tmp_path / "backup.db"
    assert main(["--config", str(cfg), "backup", str(target)]) == 0
    copy = sqlite3.connect(target)
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert copy.execute("SELECT url FROM feeds").fetchall() == [("https://x.test/rss",)]


def test_backup_without_a_database_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config(tmp_path)
    assert main(["--config", str(cfg), "backup", str(tmp_path / "b.db")]) == 1
    assert "no database" in capsys.readouterr().err


def test_bad_config_exits_2_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text("[fetch]\nconcurrency = 0\n", encoding="utf-8")
    assert main(["--config", str(cfg), "once"]) == 2
    err = capsys.readouterr().err
    assert "fetch.concurrency = 0" in err
    assert "Traceback" not in err


def test_check_config_prints_effective_settings_with_the_token_redacted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "super-secret-token-value")
    cfg = write_config(tmp_path)
    assert main(["--config", str(cfg), "check-config"]) == 0
    out = capsys.readouterr().out
    assert "super-secret-token-value" not in out
    assert '"token": "***"' in out
    assert "mode: discord" in out
