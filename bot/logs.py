"""Logging set-up: one line per event, text or JSON, with secrets scrubbed from every record."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

# Discord webhook URLs carry their secret as the last path segment.
_WEBHOOK = re.compile(r"(/api(?:/v\d+)?/webhooks/\d+/)[A-Za-z0-9_\-\.]+")
# Interaction tokens and bot tokens are long opaque strings: scrub what we know explicitly.


class SecretScrubber(logging.Filter):
    """Replaces known secrets (the bot token) and webhook tokens in messages and tracebacks."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 8]

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return _WEBHOOK.sub(r"\1***", text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg = self.scrub(message)
        record.args = None
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    _EXTRA = ("feed_id", "guild_id", "subscription_id", "outbox_id", "interaction_id", "error_id")

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in self._EXTRA:
            if hasattr(record, key):
                data[key] = getattr(record, key)
        if record.exc_text:
            data["exception"] = record.exc_text
        return json.dumps(data, ensure_ascii=False)


def setup_logging(level: str, fmt: str, secrets: Iterable[str] = ()) -> SecretScrubber:
    """Logs go to stderr; alerts in console mode go to stdout, so the two never mix."""
    handler = logging.StreamHandler(sys.stderr)
    scrubber = SecretScrubber(secrets)
    handler.addFilter(scrubber)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Chatty libraries: keep their warnings, drop their per-request info lines.
    for noisy in ("apscheduler", "discord.gateway", "discord.http", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    return scrubber
