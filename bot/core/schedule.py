"""When to poll a feed next. Pure: the outcome of the last poll in, a time out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class PollPolicy:
    interval_s: float  # the feed's own interval, or the configured default
    min_interval_s: float
    max_interval_s: float
    backoff_base_s: float
    backoff_max_s: float
    jitter_s: float


@dataclass(frozen=True, slots=True)
class PollOutcome:
    ok: bool
    consecutive_failures: int = 0  # including this poll, when it failed
    retry_after_s: float | None = None  # server's Retry-After (429/503)
    max_age_s: float | None = None  # Cache-Control max-age
    ttl_minutes: int | None = None  # RSS <ttl>


def next_poll_delay(policy: PollPolicy, outcome: PollOutcome, jitter_fraction: float) -> float:
    """Seconds until the next poll.

    Success: the feed's interval, stretched (never shrunk) by what the server asked for through
    Cache-Control max-age or RSS <ttl>, clamped to [min, max]. Failure: exponential backoff from
    `backoff_base_s`, doubling per consecutive failure up to `backoff_max_s`, and never sooner than
    Retry-After. `jitter_fraction` in [0, 1) spreads feeds that share a host.
    """
    if outcome.ok:
        delay = policy.interval_s
        hints = [h for h in (outcome.max_age_s, _ttl_s(outcome.ttl_minutes)) if h]
        if hints:
            delay = max(delay, *hints)
        delay = min(max(delay, policy.min_interval_s), policy.max_interval_s)
    else:
        exponent = max(outcome.consecutive_failures - 1, 0)
        delay = min(policy.backoff_base_s * (2 ** min(exponent, 32)), policy.backoff_max_s)
    if outcome.retry_after_s is not None:
        # The server said when; honour it even past our own cap (bounded to one day).
        delay = max(delay, min(outcome.retry_after_s, 86400.0))
    return delay + policy.jitter_s * max(0.0, min(jitter_fraction, 1.0))


def next_poll_at(
    now: datetime, policy: PollPolicy, outcome: PollOutcome, jitter_fraction: float
) -> datetime:
    return now + timedelta(seconds=next_poll_delay(policy, outcome, jitter_fraction))


def _ttl_s(ttl_minutes: int | None) -> float | None:
    return float(ttl_minutes) * 60 if ttl_minutes and ttl_minutes > 0 else None
