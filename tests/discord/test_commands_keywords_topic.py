"""/keywords and /topic end to end: per-guild copies, checked before saving, recompiled engine."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest

from bot.core.types import Document
from bot.discord_app.bot import BorderWatchBot
from tests.discord.conftest import LISTS, QUERY, TOPIC
from tests.fakediscord import FakeDiscord

Bot = tuple[BorderWatchBot, FakeDiscord]


def db_rows(bot: BorderWatchBot, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(bot.rt.store.path)
    try:
        return list(conn.execute(sql, params).fetchall())
    finally:
        conn.close()


def matched_topics(bot: BorderWatchBot, title: str) -> set[str]:
    return {m.topic for m in bot.rt.pipeline.engine.match(Document(title=title, body=""))}


# -- /keywords ------------------------------------------------------------------------------------


async def test_keywords_add_copies_the_list_for_this_guild_only(running_bot: Bot) -> None:
    bot, fake = running_bot
    a, b = fake.guild_a.id, fake.guild_b.id
    text = "Iranian and Azerbaijani officials meet in Julfa"
    assert matched_topics(bot, text) == set()

    record = await fake.invoke("keywords add", options={"list": "border", "term": "Julfa"})
    assert record.ephemeral
    assert record.content.startswith("Added `Julfa` to **@border** (now 6 terms).")

    [(terms, by)] = db_rows(
        bot,
        "SELECT terms, updated_by FROM guild_lists WHERE guild_id = ? AND name = ?",
        a,
        "border",
    )
    assert json.loads(terms) == [*LISTS["border"], "Julfa"]
    assert by == fake.user("alice").id
    assert db_rows(bot, "SELECT COUNT(*) FROM guild_lists WHERE guild_id = ?", b) == [(0,)]
    # Guild A's own copy of the topic now matches; the config topic (guild B's) does not.
    assert matched_topics(bot, text) == {f"g{a}/{TOPIC}"}
    catalog = bot.rt.catalog
    assert catalog is not None
    assert "Julfa" not in catalog.lists_for(b)["border"]

    listed = await fake.invoke("keywords list", guild_id=b, options={"list": "border"})
    assert "Julfa" not in listed.text()
    assert "from the config file (unchanged here)" in listed.text()
    mine = await fake.invoke("keywords list", options={"list": "border"})
    assert "Julfa" in mine.text()
    assert "this server's copy" in mine.text()


@pytest.mark.parametrize(
    ("term", "message"),
    [
        ("ARAS", "**@border** already has `Aras`, which matches the same words."),
        ("  aras ", "**@border** already has `Aras`, which matches the same words."),
        ("*", "`*` cannot be a keyword: "),
        ("a*", "`a*` cannot be a keyword: prefix 'a*' is too short"),
    ],
)
async def test_keywords_add_refuses_duplicates_and_bad_terms(
    running_bot: Bot, term: str, message: str
) -> None:
    bot, fake = running_bot
    record = await fake.invoke("keywords add", options={"list": "border", "term": term})
    assert record.content.startswith(message)
    assert db_rows(bot, "SELECT COUNT(*) FROM guild_lists") == [(0,)]


@pytest.mark.parametrize("bot_config", [{"discord": {"max_terms_per_list": 5}}], indirect=True)
async def test_keywords_add_stops_at_the_per_list_limit(running_bot: Bot) -> None:
    bot, fake = running_bot
    record = await fake.invoke("keywords add", options={"list": "border", "term": "Julfa"})
    assert record.content.startswith("**@border** has 5 terms, the limit is 5.")
    assert db_rows(bot, "SELECT COUNT(*) FROM guild_lists") == [(0,)]


async def test_keywords_remove_refuses_to_empty_a_list_a_topic_uses(running_bot: Bot) -> None:
    bot, fake = running_bot
    a = fake.guild_a.id
    for term in LISTS["iran"][:-1]:
        done = await fake.invoke("keywords remove", options={"list": "iran", "term": term})
        assert done.content.startswith(f"Removed `{term}` from **@iran**")
    last = LISTS["iran"][-1]
    refused = await fake.invoke("keywords remove", options={"list": "iran", "term": last})
    assert refused.content == (
        f"That change would break topic `{TOPIC}`: list @iran is empty. Nothing was saved."
    )
    [(terms,)] = db_rows(bot, "SELECT terms FROM guild_lists WHERE guild_id = ?", a)
    assert json.loads(terms) == [last]
    unknown = await fake.invoke("keywords remove", options={"list": "iran", "term": "Persia"})
    assert unknown.content.startswith("**@iran** has no term `Persia`.")


async def test_keywords_autocomplete_offers_this_guilds_lists_and_terms(running_bot: Bot) -> None:
    _bot, fake = running_bot
    await fake.invoke("keywords add", options={"list": "border", "term": "Julfa"})
    lists = await fake.autocomplete("keywords add", "list", options={"list": "bor"})
    assert lists == [{"name": "@border (6 terms)", "value": "border"}]
    terms = await fake.autocomplete(
        "keywords remove", "term", options={"list": "border", "term": "ju"}
    )
    assert terms == [{"name": "Julfa", "value": "Julfa"}]
    # Guild B never added Julfa.
    other = await fake.autocomplete(
        "keywords remove", "term", guild_id=fake.guild_b, options={"list": "border", "term": "ju"}
    )
    assert other == []


async def test_keywords_list_overview(running_bot: Bot) -> None:
    _bot, fake = running_bot
    await fake.invoke("keywords add", options={"list": "places", "term": "Julfa"})
    record = await fake.invoke("keywords list")
    lines = record.embeds[0]["description"].splitlines()
    assert lines == [
        "**@azerbaijan** · 6 terms",
        "**@border** · 5 terms",
        "**@iran** · 4 terms",
        "**@places** · 1 terms · edited on this server",
    ]


async def test_a_member_cannot_edit_keywords(running_bot: Bot) -> None:
    bot, fake = running_bot
    record = await fake.invoke(
        "keywords add", user_id=fake.user("bob"), options={"list": "border", "term": "Julfa"}
    )
    assert record.content.startswith("You need the **Manage Server** permission")
    assert db_rows(bot, "SELECT COUNT(*) FROM guild_lists") == [(0,)]


# -- /topic ---------------------------------------------------------------------------------------


async def test_topic_show(running_bot: Bot) -> None:
    _bot, fake = running_bot
    record = await fake.invoke("topic show")
    [embed] = record.embeds
    assert embed["title"] == f"Topic {TOPIC}"
    assert embed["description"] == (f"from the config file (unchanged here)\n```\n{QUERY}\n```")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            "@iran AND (aras OR araz",
            "That query has an error at column 24: expected ')'\n"
            "```\n@iran AND (aras OR araz\n                       ^\n```Nothing was saved.",
        ),
        (
            "@iran AND @nowhere",
            "That query has an error at column 11: unknown list @nowhere (known lists: "
            "azerbaijan, border, iran)\n"
            "```\n@iran AND @nowhere\n          ^\n```Nothing was saved.",
        ),
        (
            "NOT aras",
            "That query has an error at column 1: the query would match items containing none "
            "of its words; add a word it requires\n```\nNOT aras\n^\n```Nothing was saved.",
        ),
    ],
)
async def test_topic_set_with_a_broken_query_changes_nothing(
    running_bot: Bot, query: str, expected: str
) -> None:
    bot, fake = running_bot
    before = bot.rt.pipeline.engine
    record = await fake.invoke("topic set", options={"query": query})
    assert record.ephemeral
    assert record.content == expected
    assert db_rows(bot, "SELECT COUNT(*) FROM guild_topics") == [(0,)]
    assert bot.rt.pipeline.engine is before  # not even recompiled
    shown = await fake.invoke("topic show")
    assert QUERY in shown.embeds[0]["description"]


async def test_topic_set_saves_for_this_guild_and_recompiles(running_bot: Bot) -> None:
    bot, fake = running_bot
    a = fake.guild_a.id
    query = '@iran AND (Astara OR "Rasht Astara railway")'
    record = await fake.invoke("topic set", options={"query": query})
    assert record.content.startswith(f"Updated topic **{TOPIC}** for this server:")
    assert db_rows(bot, "SELECT guild_id, name, query FROM guild_topics") == [(a, TOPIC, query)]
    assert matched_topics(bot, "Tehran funds the Rasht Astara railway") == {f"g{a}/{TOPIC}"}
    # Guild B keeps the config topic.
    other = await fake.invoke("topic show", guild_id=fake.guild_b)
    assert QUERY in other.embeds[0]["description"]
    mine = await fake.invoke("topic show")
    assert "this server's version" in mine.embeds[0]["description"]
    assert query in mine.embeds[0]["description"]


async def test_topic_set_with_a_new_name_creates_a_topic(running_bot: Bot) -> None:
    _bot, fake = running_bot
    record = await fake.invoke("topic set", options={"query": "Astara", "topic": "astara-watch"})
    assert record.content.startswith("Created topic **astara-watch**")
    # Now there are two topics: commands without `topic` ask which one.
    ambiguous = await fake.invoke("topic show")
    assert ambiguous.content == (
        "This server has several topics; choose one with the `topic` option: "
        f"`astara-watch`, `{TOPIC}`"
    )
    offered = await fake.autocomplete("topic show", "topic", options={"topic": ""})
    assert [c["value"] for c in offered] == ["astara-watch", TOPIC]
    assert [
        c["value"]
        for c in await fake.autocomplete(
            "topic show", "topic", guild_id=fake.guild_b, options={"topic": ""}
        )
    ] == [TOPIC]


@pytest.mark.parametrize("bot_config", [{"discord": {"max_query_chars": 20}}], indirect=True)
async def test_topic_set_refuses_an_overlong_query(running_bot: Bot) -> None:
    bot, fake = running_bot
    record = await fake.invoke("topic set", options={"query": "aras OR araz OR araxes OR julfa"})
    assert record.content.startswith("That query has 31 characters; the limit is 20.")
    assert db_rows(bot, "SELECT COUNT(*) FROM guild_topics") == [(0,)]


async def test_topic_test_shows_match_score_and_clauses(running_bot: Bot) -> None:
    _bot, fake = running_bot
    hit = await fake.invoke(
        "topic test",
        options={
            "text": "Azerbaijani troops watched the Aras.",
            "title": "Iran holds drills",
        },
    )
    [embed] = hit.embeds
    assert embed["title"].startswith(f"Topic {TOPIC}: match, score ")
    # Terms in order of appearance (title first); the star is markdown-escaped.
    assert embed["description"] == "Matched: iran, drill\\*, azerbaijani, aras"
    assert embed["fields"][0]["name"] == "Clauses"
    assert embed["fields"][0]["value"].startswith("```")

    miss = await fake.invoke("topic test", options={"text": "Baku Grand Prix results"})
    assert miss.embeds[0]["title"] == f"Topic {TOPIC}: no match"
    assert miss.embeds[0]["description"] == "This text would not be posted for this topic."
