"""A one-minute soak of the real bot (bench/soak.py, scaled down for CI): nothing lost or doubled.

The bot runs as `python -m bot run` against the fake Discord (10 guilds, one subscription each)
and a loopback feed server in its own process (200 feeds, items arriving all the time, 5% of feed
answers failing or hanging), while Discord answers some message posts with 500, 503 or 429.
Expected alerts come from the feed server's ledger alone; delivered ones from the messages the
fake Discord created. `pytest -s` shows the soak's report.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bench.soak import SoakParams, run_soak

CI_SOAK = SoakParams(
    duration_s=60,
    feeds=200,
    guilds=10,
    hosts=20,
    items_per_minute=60,
    on_topic=0.3,
    interval_s=6,  # a short poll interval keeps the drain short
    discord_fault_every_s=2.0,
    fetch_timeout_s=5,  # a hung feed answer costs timeout + backoff of the drain
    drain_s=30,  # a bound: the drain ends when everything is in (typically 10-17 s)
    settle_s=3,
    progress_every_s=15,
)


@pytest.mark.slow
def test_one_minute_soak_loses_nothing_and_posts_nothing_twice(tmp_path: Path) -> None:
    result = asyncio.run(run_soak(CI_SOAK, workdir=tmp_path / "soak", out=print))
    report = "\n".join(result.lines())
    print(report)

    c = result.comparison
    # The run did real work: alerts were due, faults happened on both sides.
    assert c.expected >= 50, report
    assert result.ledger.stats.get("fault 500", 0) + result.ledger.stats.get("fault timeout", 0)
    assert sum(result.discord_faults.values()) > 0, report
    # Every on-topic item published after the baseline reached every subscribed channel, once.
    assert c.missing == [], report
    assert c.unexpected == [], report
    assert c.delivered == c.expected, report
    assert result.duplicates == 0, report
    # The bot kept every item and shut down cleanly on SIGTERM.
    assert result.db["items"] == result.ledger.total_items, report
    assert result.bot_exit == 0, report
    assert result.ok, report
