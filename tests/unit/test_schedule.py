"""Next-poll times: interval, cache hints, backoff, Retry-After, jitter."""

from datetime import UTC, datetime, timedelta

import pytest

from bot.core.schedule import PollOutcome, PollPolicy, next_poll_at, next_poll_delay

POLICY = PollPolicy(
    interval_s=900,
    min_interval_s=120,
    max_interval_s=43200,
    backoff_base_s=300,
    backoff_max_s=43200,
    jitter_s=30,
)


@pytest.mark.parametrize(
    ("outcome", "expected_s"),
    [
        (PollOutcome(ok=True), 900),
        # max-age shorter than our interval: we never poll more often than configured
        (PollOutcome(ok=True, max_age_s=60), 900),
        # max-age longer: the server asked us to wait
        (PollOutcome(ok=True, max_age_s=3600), 3600),
        # RSS <ttl> in minutes
        (PollOutcome(ok=True, ttl_minutes=60), 3600),
        (PollOutcome(ok=True, ttl_minutes=60, max_age_s=7200), 7200),
        # hints are capped by max_interval
        (PollOutcome(ok=True, ttl_minutes=100000), 43200),
        # failures double from the base and stop at the cap
        (PollOutcome(ok=False, consecutive_failures=1), 300),
        (PollOutcome(ok=False, consecutive_failures=2), 600),
        (PollOutcome(ok=False, consecutive_failures=4), 2400),
        (PollOutcome(ok=False, consecutive_failures=50), 43200),
        # Retry-After wins when it is longer than the backoff
        (PollOutcome(ok=False, consecutive_failures=1, retry_after_s=1800), 1800),
        (PollOutcome(ok=False, consecutive_failures=3, retry_after_s=10), 1200),
    ],
)
def test_delay_without_jitter(outcome: PollOutcome, expected_s: float) -> None:
    assert next_poll_delay(POLICY, outcome, jitter_fraction=0.0) == expected_s


def test_min_interval_applies_to_a_short_feed_interval() -> None:
    policy = PollPolicy(10, 120, 43200, 300, 43200, 0)
    assert next_poll_delay(policy, PollOutcome(ok=True), 0.0) == 120


def test_jitter_adds_at_most_jitter_seconds() -> None:
    base = next_poll_delay(POLICY, PollOutcome(ok=True), 0.0)
    assert next_poll_delay(POLICY, PollOutcome(ok=True), 0.5) == base + 15
    assert next_poll_delay(POLICY, PollOutcome(ok=True), 0.999) < base + 30


def test_next_poll_at_is_relative_to_now() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert next_poll_at(now, POLICY, PollOutcome(ok=True), 0.0) == now + timedelta(minutes=15)
