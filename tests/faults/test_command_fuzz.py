"""Every slash-command option fuzzed with hostile input (issue 6), on the real bot and the fake.

The commands and their options are found by walking the bot's command tree, so a new command
or option is fuzzed without editing this file. Each string, integer and number option gets
hypothesis-drawn values: strings as long as Discord lets through (the option's max_length, else
6,000), control characters, bidi overrides (U+202E), zero-width and BOM characters, markdown,
mentions (@everyone, <@123>, <@&1>), FTS5 syntax (" NEAR( * OR -), SQL fragments, digit
look-alikes ("²", "٣", 10**25), loopback and odd-scheme URLs, plus values close to valid ones
(an existing list, topic, subscription id or feed) so that the accepting paths run too. Integers
and numbers stay inside the declared min/max: Discord enforces those (and string lengths) before
an interaction reaches a bot, so values outside them cannot arrive. Channel and role options
are drawn from the fake world; the invoker is an admin (the guild owner) or a plain member.

For every example:
- the bot answers (the fake records the reply) and nothing fails: no "something went wrong"
  apology with an error id, no ERROR log from the bot or discord.py, no answer the fake refused;
- the reply pings nobody (``StoredMessage.pings``);
- a refusal (the error handler logs "refused" for errors a user can fix) leaves the database
  exactly as it was: a logical dump of every table, taken with a separate connection before and
  after, is identical. Read-only commands and autocomplete leave it identical whatever they say;
- autocomplete (for options that have it) answers with at most 25 valid choices.
Each command must also have answered some of its examples without a refusal: the fuzz reaches
what the command does, not only its input checks.

One bot serves the whole module (starting one per example would take most of the time budget).
Hypothesis runs in a worker thread and hands each example to the bot's event loop with
``run_coroutine_threadsafe``, so the gateway, heartbeats and delivery keep running between
examples and hypothesis keeps its normal failure handling and shrinking. This is not a
hypothesis-decorated pytest test, so ``HealthCheck.function_scoped_fixture`` does not apply: the
shared bot and database are deliberate, and isolation is checked rather than assumed, by the
before/after comparison of the database for each refused example.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from discord import AppCommandOptionType, app_commands
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.discord_app.bot import EXTENSIONS, BorderWatchBot
from tests.discord.conftest import TOPIC, base_config, borderwatch, make_settings, wait_polled
from tests.fakediscord import FakeDiscord, InteractionRecord, point_discord_at
from tests.feedserver import FeedServer
from tests.integration.rss import Item, rss

pytestmark = pytest.mark.asyncio(loop_scope="module")

EXAMPLES = 25
DISCORD_STRING_LIMIT = 6000  # an option without max_length can still carry at most this
DISCORD_INT_LIMIT = 2**53  # integer options are doubles on Discord's side
APOLOGY = "something went wrong on our side"
READ_ONLY = {
    "feeds list",
    "feeds status",
    "keywords list",
    "topic show",
    "topic test",
    "alerts list",
    "search",
    "latest",
    "why",
    "status",
}
FUZZED_TYPES = {
    AppCommandOptionType.string,
    AppCommandOptionType.integer,
    AppCommandOptionType.number,
}


# -- the commands, from the bot's own tree ------------------------------------------------------


@dataclass(frozen=True)
class OptionSpec:
    name: str  # as Discord shows it (after app_commands.rename)
    type: AppCommandOptionType
    required: bool
    min_value: float | None
    max_value: float | None
    min_length: int | None
    max_length: int | None
    autocomplete: bool


@dataclass(frozen=True)
class CommandSpec:
    name: str  # qualified: "feeds add"
    options: tuple[OptionSpec, ...]

    @property
    def fuzzed(self) -> tuple[OptionSpec, ...]:
        return tuple(o for o in self.options if o.type in FUZZED_TYPES)


def command_specs(tree: app_commands.CommandTree[Any]) -> list[CommandSpec]:
    """Every leaf command with its options as they are synced to Discord (``to_dict``)."""
    out = []
    for top in tree.get_commands():
        leaves = top.walk_commands() if isinstance(top, app_commands.Group) else [top]
        for command in leaves:
            if not isinstance(command, app_commands.Command):
                continue
            options = tuple(
                OptionSpec(
                    name=o["name"],
                    type=AppCommandOptionType(o["type"]),
                    required=bool(o.get("required")),
                    min_value=o.get("min_value"),
                    max_value=o.get("max_value"),
                    min_length=o.get("min_length"),
                    max_length=o.get("max_length"),
                    autocomplete=bool(o.get("autocomplete")),
                )
                for o in command.to_dict(tree).get("options", [])
            )
            out.append(CommandSpec(command.qualified_name, options))
    return sorted(out, key=lambda c: c.name)


def _tree_offline() -> list[CommandSpec]:
    """The command tree of a bot that is built but never started (for test parametrisation)."""

    async def build() -> list[CommandSpec]:
        bot = BorderWatchBot(make_settings(base_config(Path("/nonexistent"))))
        for ext in EXTENSIONS:
            await bot.load_extension(ext)
        return command_specs(bot.tree)

    return asyncio.run(build())


COMMANDS = _tree_offline()
FUZZED_COMMANDS = [c for c in COMMANDS if c.fuzzed]


# -- hostile values ------------------------------------------------------------------------------

HOSTILE = [
    "@everyone",
    "@here",
    "<@123>",
    "<@!123>",
    "<@&1>",
    "<#1>",
    "\u202e",  # right-to-left override
    "\u2066",  # left-to-right isolate
    "\u200b",  # zero-width space
    "\ufeff",
    "\x00",
    "\x1b[31m",
    "\r\n",
    "\t",
    "'; DROP TABLE feeds; --",
    "' OR '1'='1",
    '" OR 1=1 --',
    "%",
    "_",
    '"',
    "NEAR(",
    "NEAR(a b, 1)",
    "*",
    " OR ",
    "-",
    "AND",
    "NOT",
    "(",
    ")",
    "^",
    "title:",
    "```",
    "`",
    "**",
    "__",
    "||",
    "~~",
    "> ",
    "# ",
    "[x](https://evil.test)",
    "\\",
    "%s",
    "{0}",
    "${x}",
    "@iran",
    "@",
    "#",
    "#1",
    "1",
    "0",
    "-1",
    "²",  # str.isdigit() is true, int() refuses it
    "٣",  # Arabic-Indic three
    "１",  # fullwidth one
    "99999999999999999999999",
    "Naxçıvan",
    "İ",
    "ﬁ",
    "👍🏽",
    "http://127.0.0.1:1/",
    "https://localhost/",
    "http://[::1]/",
    "http://0x7f000001/",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "https://discord.com/api/webhooks/1/x",
]
# Everything but lone surrogates, which UTF-8 (and so Discord's JSON) cannot carry.
ANY_CHAR = st.characters(exclude_categories=["Cs"])
CONTROL = st.characters(min_codepoint=0, max_codepoint=0x1F) | st.sampled_from(
    ["\x7f", "\x85", "\u2028", "\u2029", "\u202e", "\u202d", "\u200f", "\u061c"]
)


def fit(text: str, spec: OptionSpec) -> str:
    """What Discord lets through for this option: at least min_length (1 for a string option
    Discord delivers), at most max_length characters."""
    low = max(spec.min_length or 1, 1)
    high = spec.max_length or DISCORD_STRING_LIMIT
    text = text[:high]
    return text if len(text) >= low else (text + "x" * low)[:high]


def hostile_text(spec: OptionSpec, near_valid: list[str]) -> st.SearchStrategy[str]:
    high = spec.max_length or DISCORD_STRING_LIMIT
    pieces = st.one_of(
        st.sampled_from(HOSTILE),
        st.sampled_from(near_valid) if near_valid else st.nothing(),
        st.text(ANY_CHAR, min_size=1, max_size=8),
        st.text(CONTROL, min_size=1, max_size=4),
    )
    mixed = st.lists(pieces, min_size=1, max_size=8).map("".join)
    # As long as allowed, or just under: filler made of hostile pieces, cut at the limit.
    long = st.tuples(st.lists(pieces, min_size=1, max_size=4), st.integers(0, 3)).map(
        lambda t: ("".join(t[0]) * (high // max(len("".join(t[0])), 1) + 1))[: high - t[1]]
    )
    options = [mixed, long, st.text(CONTROL, min_size=1, max_size=20)]
    if near_valid:  # first: a third of the draws reach the accepting paths too
        options = [st.sampled_from(near_valid), mixed, long]
    return st.one_of(*options).map(lambda text: fit(text, spec))


def number(spec: OptionSpec) -> st.SearchStrategy[float] | st.SearchStrategy[int]:
    low = spec.min_value if spec.min_value is not None else -DISCORD_INT_LIMIT
    high = spec.max_value if spec.max_value is not None else DISCORD_INT_LIMIT
    if spec.type is AppCommandOptionType.integer:
        return st.integers(int(low), int(high))
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


# -- one bot for the module ----------------------------------------------------------------------

WIRE = [
    Item("old-1", "Naxçıvan border crossing reopens for trucks", "Iranian drivers wait.", 0),
    Item("old-2", "Baku Grand Prix results", "Formula 1 in Azerbaijan.", 1),
]
NEW = Item("new-1", "Iran and Azerbaijan hold drills on the Aras border", "Troops moved.", 5)
# Feeds that /feeds add accepts; their own text is hostile too, and shows up in the preview.
GOOD_FEEDS = 4
HOSTILE_FEED = rss(
    [
        Item(
            "h-1", "@everyone Iran <@123> drills \u202e on the Aras border **x**", "<@&1> ``` ||", 2
        )
    ],
    title="@here <@&1> Wire \u202e``` [x](https://evil.test)",
)
ERRORS_LOGGER = "bot.discord_app.cogs.errors"


@dataclass
class FuzzEnv:
    bot: BorderWatchBot
    fake: FakeDiscord
    loop: asyncio.AbstractEventLoop
    near_valid: dict[str, list[str]]
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (command, outcome)

    def dump(self) -> str:
        """Every table's rows (and the schema), read through a connection of our own."""
        conn = sqlite3.connect(self.bot.rt.store.path)
        try:
            return "\n".join(conn.iterdump())
        finally:
            conn.close()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FuzzEnv]:
    server = FeedServer()
    await server.start()
    try:
        server.route("/wire.xml", rss(WIRE, title="Caucasus Wire"))
        for n in range(GOOD_FEEDS):
            server.route(f"/ok/{n}.xml", HOSTILE_FEED)
        config = base_config(tmp_path_factory.mktemp("fuzz"))
        config["feeds"] = [{"url": server.url("/wire.xml"), "name": "Wire"}]
        config["schedule"]["default_interval_minutes"] = 600  # no poll during the run
        async with FakeDiscord() as fake, point_discord_at(fake):
            async with borderwatch(fake, make_settings(config, fake)) as bot:
                await wait_polled(bot, fake)
                alerts = fake.guild_a.channel("alerts")
                sub = await bot.rt.store.add_subscription(
                    guild_id=fake.guild_a.id,
                    kind="channel",
                    destination=str(alerts.id),
                    topic=TOPIC,
                    created_by=fake.user("alice").id,
                    now=bot.rt.clock(),
                )
                # One alert through the real pipeline: /latest and /why have something to show.
                server.route("/wire.xml", rss([*WIRE, NEW], title="Caucasus Wire"))
                [feed] = await bot.rt.store.feeds()
                await bot.rt.pipeline.poll(feed)
                await fake.wait_for(lambda: fake.messages_in(alerts.id), 10, "the alert")
                conn = sqlite3.connect(bot.rt.store.path)
                try:
                    [(item_id,)] = conn.execute("SELECT id FROM items WHERE key = 'new-1'")
                finally:
                    conn.close()
                hook = fake.create_webhook(fake.guild_a.channel("general").id)
                near_valid = {
                    "subscription": [str(sub.id), f"#{sub.id}", f"#{sub.id} alerts", " 2 ", "#0"],
                    # the config feed, and ids /feeds add may create
                    "feed": [str(feed.id), "Wire", "2", "3", "#2", server.url("/wire.xml")],
                    "list": ["iran", "@iran", "border", "AZERBAIJAN", "new-list"],
                    "term": ["Aras", "drill*", "Tehran", "Zəngəzur", '"Aras river"', "-"],
                    "topic": [TOPIC, TOPIC.upper(), "new-topic", f" {TOPIC} "],
                    "query": ["Aras", "@iran AND @border", '"Aras river"', "drill*", "a OR b"],
                    "link_or_id": [
                        str(item_id),
                        f"#{item_id}",
                        "https://news.test/new-1?utm_source=rss",
                        "<https://news.test/new-1>",
                    ],
                    "url": [server.url(f"/ok/{n}.xml") for n in range(GOOD_FEEDS)]
                    + [server.url("/missing.xml"), server.url("/wire.xml")],
                    "webhook_url": [hook.url, hook.url + "?thread_id=1", hook.url.upper()],
                    "name": ["Wire", "Feed", "@everyone"],
                    "text": ["Iranian drills near the Aras border with Azerbaijan"],
                    "title": ["Aras", "Iran and Azerbaijan"],
                }
                yield FuzzEnv(bot, fake, asyncio.get_running_loop(), near_valid)
            assert fake.unknown_routes == []
    finally:
        await server.close()


@contextmanager
def captured_logs() -> Iterator[list[logging.LogRecord]]:
    """Log records of the bot and discord.py while the block runs; the error handler's INFO
    "refused" lines included (they say a user error was answered)."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.name.startswith(("bot", "discord")):
                records.append(record)

    handler = Keep(logging.DEBUG)
    root, errors = logging.getLogger(), logging.getLogger(ERRORS_LOGGER)
    level = errors.level
    errors.setLevel(logging.INFO)
    root.addHandler(handler)
    try:
        yield records
    finally:
        root.removeHandler(handler)
        errors.setLevel(level)


# -- the checks --------------------------------------------------------------------------------


def draw_option(data: st.DataObject, spec: OptionSpec, env: FuzzEnv) -> object:
    world = env.fake.guild_a
    if spec.type in FUZZED_TYPES:
        value: st.SearchStrategy[Any]
        if spec.type is AppCommandOptionType.string:
            value = hostile_text(spec, env.near_valid.get(spec.name, []))
        else:
            value = number(spec)
        if not spec.required:
            value = st.none() | value
        return data.draw(value, label=spec.name)
    if spec.type is AppCommandOptionType.channel:
        names = ["alerts", "alerts-thread", "reports", "read-only", "staff-only", "general"]
        pick = st.sampled_from(names)
        name = data.draw(pick if spec.required else st.none() | pick, label=spec.name)
        return None if name is None else world.channel(name)
    if spec.type is AppCommandOptionType.role:
        roles = [world.role("Border Watchers"), world.role("Moderators"), world.everyone]
        return data.draw(st.none() | st.sampled_from(roles), label=spec.name)
    if spec.type is AppCommandOptionType.boolean:
        return data.draw(st.booleans() if spec.required else st.none() | st.booleans())
    if spec.type in (AppCommandOptionType.user, AppCommandOptionType.mentionable):
        return data.draw(st.sampled_from([env.fake.user("bob"), env.fake.user("carol")]))
    raise AssertionError(f"/{spec.name}: option type {spec.type} has no strategy here; add one")


def shorten(value: object, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} chars)"


def check_reply(record: InteractionRecord, logs: list[logging.LogRecord], what: str) -> None:
    failures = [r for r in logs if r.levelno >= logging.ERROR]
    assert not failures, f"{what}: {[shorten(r.getMessage()) for r in failures]}"
    assert not record.errors, f"{what}: the fake refused the answer: {record.errors}"
    assert APOLOGY not in record.text(), f"{what}: {record.text()[:300]}"
    for message in record.messages:
        assert not message.pings, f"{what}: the reply pings {message.pings}"


async def run_command(
    env: FuzzEnv, command: CommandSpec, options: dict[str, object], user: str
) -> None:
    what = f"/{command.name} {shorten(options)} by {user}"
    before = env.dump()
    with captured_logs() as logs:
        record = await env.fake.invoke(
            command.name, options=options, user_id=env.fake.user(user), timeout=8
        )
    check_reply(record, logs, what)
    assert record.text().strip(), f"{what}: an empty answer"
    refused = any(r.name == ERRORS_LOGGER and "refused" in r.getMessage() for r in logs)
    env.outcomes[command.name, "refused" if refused else "answered"] += 1
    if refused or command.name in READ_ONLY:
        assert env.dump() == before, (
            f"{what}: {'refused' if refused else 'read-only'} but the database changed"
        )


async def run_autocomplete(
    env: FuzzEnv, command: CommandSpec, spec: OptionSpec, current: str
) -> None:
    what = f"/{command.name} autocomplete {spec.name}={shorten(current)}"
    before = env.dump()
    with captured_logs() as logs:
        record = await env.fake.invoke(
            env.fake.make_interaction(
                command.name, focused=spec.name, options={spec.name: current}
            ),
            timeout=8,
        )
    check_reply(record, logs, what)
    assert record.response_type == 8, what
    assert len(record.choices) <= 25, what
    for choice in record.choices:
        assert 1 <= len(choice["name"]) <= 100, (what, choice)
        assert len(str(choice["value"])) <= 100, (what, choice)
    assert env.dump() == before, f"{what}: autocomplete changed the database"


def fuzz(env: FuzzEnv, command: CommandSpec) -> None:
    """Runs in a worker thread: hypothesis draws, the bot's loop runs each example."""
    completable = [o for o in command.fuzzed if o.autocomplete]

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,  # the same examples on every run: CI is deterministic
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=st.data())
    def example(data: st.DataObject) -> None:
        options = {spec.name: draw_option(data, spec, env) for spec in command.options}
        options = {k: v for k, v in options.items() if v is not None}
        # Mostly the owner (an admin), sometimes a plain member.
        user = data.draw(st.sampled_from(["alice", "alice", "alice", "bob"]), label="invoker")
        step = asyncio.run_coroutine_threadsafe(run_command(env, command, options, user), env.loop)
        step.result(timeout=60)
        if completable:
            spec = data.draw(st.sampled_from(completable), label="focused")
            current = data.draw(
                hostile_text(spec, env.near_valid.get(spec.name, [])), label="current"
            )
            step = asyncio.run_coroutine_threadsafe(
                run_autocomplete(env, command, spec, current), env.loop
            )
            step.result(timeout=60)

    example()


async def test_the_fuzzed_commands_are_the_bots_commands(env: FuzzEnv) -> None:
    """The list the tests below were generated from is the running bot's command tree, and
    every option type in it has a strategy (a new command is fuzzed without editing this file)."""
    assert command_specs(env.bot.tree) == COMMANDS
    assert len(FUZZED_COMMANDS) >= 15
    known = FUZZED_TYPES | {
        AppCommandOptionType.channel,
        AppCommandOptionType.role,
        AppCommandOptionType.boolean,
        AppCommandOptionType.user,
        AppCommandOptionType.mentionable,
    }
    assert {o.type for c in COMMANDS for o in c.options} <= known


@pytest.mark.parametrize("command", FUZZED_COMMANDS, ids=lambda c: c.name.replace(" ", "-"))
async def test_hostile_options_get_a_safe_answer_and_refusals_change_nothing(
    env: FuzzEnv, command: CommandSpec
) -> None:
    await asyncio.to_thread(fuzz, env, command)
    answered = env.outcomes[command.name, "answered"]
    refused = env.outcomes[command.name, "refused"]
    print(f"/{command.name}: {answered} answered, {refused} refused")
    # The fuzz reached what the command does, not only its refusals.
    assert answered > 0


# Values a random draw may miss but an id lookup must survive: digits str.isdigit() accepts and
# int() refuses, digits of other scripts, numbers past SQLite's 64-bit integers, and more digits
# than int() converts (4,300; cut to the option's max_length).
NUMERIC_TRAPS = [
    "²",
    "#²",
    "٣",
    "１",
    "99999999999999999999999",
    "#99999999999999999999999",
    "-1",
    "1" * 5000,
]


@pytest.mark.parametrize(
    "command",
    [c for c in FUZZED_COMMANDS if any(o.type is AppCommandOptionType.string for o in c.options)],
    ids=lambda c: c.name.replace(" ", "-"),
)
async def test_numeric_traps_in_every_string_option(env: FuzzEnv, command: CommandSpec) -> None:
    strings = [o for o in command.options if o.type is AppCommandOptionType.string]
    for spec in strings:
        for trap in NUMERIC_TRAPS:
            options: dict[str, object] = {spec.name: fit(trap, spec)}
            for other in command.options:
                if other.required and other.name not in options:
                    if other.type is AppCommandOptionType.channel:
                        options[other.name] = env.fake.guild_a.channel("alerts")
                    else:
                        options[other.name] = env.near_valid[other.name][0]
            await run_command(env, command, options, "alice")
