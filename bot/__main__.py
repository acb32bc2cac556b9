"""Command line: `borderwatch run|once|check-config|match|explain|feeds|backup`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from bot import __version__
from bot.config import ConfigError, Settings, load_settings
from bot.logs import setup_logging
from bot.store.db import StoreError

log = logging.getLogger("borderwatch")

EXIT_CONFIG = 2
EXIT_RUNTIME = 1


def default_config_path() -> str:
    return "config.toml" if Path("config.toml").exists() else "config.example.toml"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="borderwatch",
        description="Self-hosted Discord news alerts for the Iran–Azerbaijan border region.",
    )
    parser.add_argument("--version", action="version", version=f"borderwatch {__version__}")
    parser.add_argument(
        "--config",
        default=None,
        help="TOML config file (default: ./config.toml, else ./config.example.toml)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser(
        "run",
        help="poll forever; post to Discord with DISCORD_TOKEN set, else print alerts here",
    )
    sub.add_parser("once", help="poll every feed once, print alerts, exit")
    sub.add_parser("check-config", help="validate the config and print the effective settings")
    m = sub.add_parser("match", help="match JSON lines (id, title, summary_html) against a topic")
    m.add_argument("--topic", required=True)
    m.add_argument("--input", required=True, help="a .jsonl file, or - for stdin")
    e = sub.add_parser("explain", help="show which clauses of a topic hold for a text")
    e.add_argument("--topic", required=True)
    e.add_argument("--text", required=True, help="the body text")
    e.add_argument("--title", default="", help="the title (title: clauses look here)")
    sub.add_parser("feeds", help="a table of feed health from the database")
    b = sub.add_parser("backup", help="write a consistent copy of the database")
    b.add_argument("path")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config_path = args.config or default_config_path()
    try:
        settings = load_settings(config_path)
    except ConfigError as exc:
        print(f"borderwatch: configuration error\n{exc}", file=sys.stderr)
        return EXIT_CONFIG
    setup_logging(settings.bot.log_level, settings.bot.log_format, secrets=[settings.token or ""])
    try:
        if args.command == "check-config":
            return check_config(settings, sys.stdout)
        if args.command == "match":
            return run_match(settings, args.topic, args.input, sys.stdout)
        if args.command == "explain":
            return run_explain(settings, args.topic, args.title, args.text, sys.stdout)
        if args.command == "once":
            return asyncio.run(run_once(settings, sys.stdout))
        if args.command == "run":
            return asyncio.run(run_forever(settings, sys.stdout))
        if args.command == "feeds":
            return asyncio.run(show_feeds(settings, sys.stdout))
        if args.command == "backup":
            return backup(settings, args.path)
    except ConfigError as exc:
        print(f"borderwatch: configuration error\n{exc}", file=sys.stderr)
        return EXIT_CONFIG
    except StoreError as exc:
        print(f"borderwatch: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    except KeyboardInterrupt:
        return 130
    raise AssertionError(args.command)


def check_config(settings: Settings, out: TextIO) -> int:
    from bot.core.engine import Engine

    Engine(settings.topic_defs())  # compiles every topic: a query error is a config error
    print(f"{settings.source}: OK", file=out)
    print(json.dumps(settings.redacted(), indent=2, ensure_ascii=False), file=out)
    mode = "discord" if settings.token else "console (no DISCORD_TOKEN set)"
    print(f"mode: {mode}", file=out)
    return 0


def _topic_or_exit(settings: Settings, topic: str) -> None:
    if topic not in settings.topics:
        known = ", ".join(sorted(settings.topics)) or "none"
        raise ConfigError(
            f"{settings.source}: no topic {topic!r}; topics in this file: {known}. "
            "Pass one of them with --topic."
        )


def run_match(settings: Settings, topic: str, path: str, out: TextIO) -> int:
    from bot.core.batch import match_jsonl_line
    from bot.core.engine import Engine
    from bot.core.normalize import html_to_text

    _topic_or_exit(settings, topic)
    engine = Engine([t for t in settings.topic_defs() if t.id == topic])
    stream = sys.stdin if path == "-" else open(path, encoding="utf-8")  # noqa: SIM115
    bad = 0
    with stream:
        for lineno, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                if not isinstance(obj, dict):
                    raise ValueError("not a JSON object")
                result = match_jsonl_line(engine, topic, obj, html_to_text)
            except (ValueError, KeyError, TypeError) as exc:
                bad += 1
                log.error("%s line %d skipped: %s", path, lineno, exc)
                continue
            print(json.dumps(result, ensure_ascii=False), file=out)
    return 0 if bad == 0 else EXIT_RUNTIME


def run_explain(settings: Settings, topic: str, title: str, text: str, out: TextIO) -> int:
    from bot.core.explain import explain, render_explanation
    from bot.core.types import Document

    _topic_or_exit(settings, topic)
    topic_def = next(t for t in settings.topic_defs() if t.id == topic)
    print(render_explanation(explain(topic_def, Document(title=title, body=text))), file=out)
    return 0


def _install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)


async def run_once(settings: Settings, out: TextIO) -> int:
    from bot.discord_app.bot import apply_endpoint_overrides
    from bot.runtime import Runtime

    apply_endpoint_overrides(settings)  # webhook subscriptions post without a token too
    runtime = await Runtime.create(settings, out=out)
    try:
        reports = await runtime.poll_all_once()
        sent = await runtime.worker.run_once(runtime.clock())
    finally:
        await runtime.stop()
    errors = [r for r in reports if r.outcome == "error"]
    new = sum(r.new_items for r in reports)
    log.info(
        "polled %d feeds: %d new items, %d alerts printed, %d feeds failed",
        len(reports),
        new,
        sent,
        len(errors),
    )
    return 0


async def run_forever(settings: Settings, out: TextIO) -> int:
    if settings.token:
        from bot.discord_app.bot import run_bot

        return await run_bot(settings)
    from bot.discord_app.bot import apply_endpoint_overrides
    from bot.runtime import Runtime

    log.info("no DISCORD_TOKEN set: console mode, alerts are printed here")
    apply_endpoint_overrides(settings)  # webhook subscriptions post without a token too
    runtime = await Runtime.create(settings, out=out)
    stop = asyncio.Event()
    _install_stop_signals(stop)
    await runtime.start()
    try:
        await stop.wait()
    finally:
        log.info("stopping")
        await runtime.stop()
    return 0


async def show_feeds(settings: Settings, out: TextIO) -> int:
    from bot.feeds_table import render_feed_table
    from bot.runtime import utcnow
    from bot.store.repo import Store

    store = await Store.open(settings.bot.database)
    try:
        feeds = await store.feeds()
    finally:
        await store.close()
    print(render_feed_table(feeds, utcnow()), file=out)
    return 0


def backup(settings: Settings, target: str) -> int:
    """SQLite's online backup API: a consistent copy even while the bot is writing."""
    src_path = settings.bot.database
    if not Path(src_path).exists():
        print(f"borderwatch: no database at {src_path} (bot.database)", file=sys.stderr)
        return EXIT_RUNTIME
    try:
        src = sqlite3.connect(f"file:{src_path}?mode=ro", uri=True)
        dst = sqlite3.connect(target)
        with dst:
            src.backup(dst)
        dst.close()
        src.close()
    except sqlite3.Error as exc:
        print(f"borderwatch: backup to {target} failed: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    print(f"backed up {src_path} to {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
