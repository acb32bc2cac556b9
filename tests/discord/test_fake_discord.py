"""The fake Discord harness, exercised by a plain discord.py ``commands.Bot``.

These tests pin down what the other Discord tests rely on: the unmodified discord.py 2.7 client
connects, syncs, receives interactions and answers them; the fake records what it was sent,
de-duplicates by nonce, and plays 500/429/403/404 the way discord.py expects; the gateway resumes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.fakediscord import MANAGE_GUILD, FakeDiscord, fixtures, point_discord_at

pytest_plugins = ["pytester"]
fake_discord = fixtures.fake_discord  # the fixture under test (also re-exported by conftests)


class PageView(discord.ui.View):
    @discord.ui.button(label="Next", custom_id="menu:next")
    async def next_page(
        self, interaction: discord.Interaction, button: discord.ui.Button[Any]
    ) -> None:
        await interaction.response.edit_message(content="page 2")


class AskModal(discord.ui.Modal, title="Ask the desk"):
    question: discord.ui.TextInput[Any] = discord.ui.TextInput(label="Question", custom_id="ask:q")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"you asked: {self.question.value}", ephemeral=True)


class QuickBot(commands.Bot):
    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py sleeps 5 s before every re-IDENTIFY (Discord's identify limit); not here."""


def make_bot() -> commands.Bot:
    """A plain bot with a handful of commands covering each kind of answer."""
    bot = QuickBot(command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.05)
    seen: dict[str, Any] = {"messages": []}
    bot.seen = seen  # type: ignore[attr-defined]

    @bot.event
    async def on_message(message: discord.Message) -> None:
        seen["messages"].append(message.content)

    @bot.tree.command(description="Reply with pong")
    async def ping(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("pong")

    @bot.tree.command(description="Post text to a channel with a nonce")
    @app_commands.describe(channel="Where to post", text="What to post", nonce="De-duplication key")
    async def post(
        interaction: discord.Interaction,
        channel: discord.TextChannel,
        text: str,
        nonce: str | None = None,
    ) -> None:
        message = await channel.send(text, nonce=nonce)
        await interaction.response.send_message(f"posted {message.id}", ephemeral=True)

    @bot.tree.command(description="Answer after deferring")
    async def slow(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await asyncio.sleep(0.05)
        await interaction.followup.send("done slowly")

    @bot.tree.command(description="Answer, edit the answer, then add a private note")
    async def report(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("working")
        await interaction.edit_original_response(
            content="done", embed=discord.Embed(title="Report")
        )
        await interaction.followup.send("only you see this", ephemeral=True)

    @bot.tree.command(description="Show a paged menu")
    async def menu(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("page 1", view=PageView())

    @bot.tree.command(description="Ask a question in a modal")
    async def ask(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(AskModal())

    @bot.tree.command(description="Answer too late")
    async def late(interaction: discord.Interaction) -> None:
        await asyncio.sleep(0.3)
        try:
            await interaction.response.send_message("too late")
        except discord.NotFound as exc:
            seen["late"] = exc.code

    feeds = app_commands.Group(
        name="feeds",
        description="Manage feeds",
        default_permissions=discord.Permissions(manage_guild=True),
        guild_only=True,
    )

    @feeds.command(name="add", description="Add a feed")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def feeds_add(
        interaction: discord.Interaction, url: str, name: str | None = None
    ) -> None:
        await interaction.response.send_message(
            f"added {url} as {name or '-'} by {interaction.user.name}"
        )

    @feeds_add.error
    async def feeds_add_error(
        interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        if isinstance(error, app_commands.MissingPermissions):
            await interaction.response.send_message("You need Manage Server.", ephemeral=True)

    @feeds.command(name="remove", description="Remove a feed")
    async def feeds_remove(interaction: discord.Interaction, name: str) -> None:
        await interaction.response.send_message(f"removed {name}")

    @feeds_remove.autocomplete("name")
    async def feeds_remove_name(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        names = ["alpha-news", "alpha-wire", "bravo-daily"]
        return [app_commands.Choice(name=n, value=n) for n in names if n.startswith(current)]

    bot.tree.add_command(feeds)
    return bot


@pytest.fixture
async def bot(fake_discord: FakeDiscord) -> AsyncIterator[commands.Bot]:
    client = make_bot()
    async with fake_discord.run_bot(client):
        await client.tree.sync()
        yield client


# -- connecting ---------------------------------------------------------------------------------
async def test_bot_connects_and_sees_the_configured_guilds(
    fake_discord: FakeDiscord, bot: commands.Bot
) -> None:
    fake = fake_discord
    assert bot.is_ready()
    assert sorted(g.name for g in bot.guilds) == ["Alpha Border Desk", "Bravo Newsroom"]
    guild = bot.get_guild(fake.guild_a.id)
    assert guild is not None
    a = fake.guild_a
    assert isinstance(guild.get_channel(a.channel("alerts").id), discord.TextChannel)
    assert isinstance(guild.get_channel(a.channel("reports").id), discord.ForumChannel)
    assert isinstance(guild.get_thread(a.channel("alerts-thread").id), discord.Thread)
    assert guild.system_channel is not None
    assert guild.system_channel.name == "general"
    me = guild.me
    assert me is not None
    assert me.id == fake.bot_user.id
    assert guild.get_channel(a.channel("alerts").id).permissions_for(me).send_messages  # type: ignore[union-attr]
    assert not guild.get_channel(a.channel("staff-only").id).permissions_for(me).read_messages  # type: ignore[union-attr]
    assert not guild.get_channel(a.channel("read-only").id).permissions_for(me).send_messages  # type: ignore[union-attr]
    assert [f"{r.method} {r.path}" for r in fake.requests[:2]] == [
        "GET /users/@me",
        "GET /oauth2/applications/@me",
    ]
    identify = fake.identifies[0]
    assert identify["token"] == "fake-token"
    assert identify["intents"] == discord.Intents.default().value
    # Without the members intent Discord sends only the bot's own member.
    assert [m.id for m in guild.members] == [fake.bot_user.id]


async def test_privileged_intents_are_refused_like_discord(fake_discord: FakeDiscord) -> None:
    intents = discord.Intents.default()
    intents.members = True
    client = discord.Client(intents=intents)
    with pytest.raises(discord.PrivilegedIntentsRequired):
        async with fake_discord.run_bot(client):
            pass


async def test_zlib_stream_compression_can_be_honoured() -> None:
    base, gateway = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    async with FakeDiscord(gateway_compression=True) as fake, point_discord_at(fake):
        pointed = discord.http.Route.BASE
        assert pointed == fake.api_base
        client = make_bot()
        async with fake.run_bot(client):
            await client.tree.sync()
            record = await fake.invoke("ping")
            assert record.content == "pong"
            conn = fake.gateway.connections[0]
            assert conn.query == {"v": "10", "encoding": "json", "compress": "zlib-stream"}
            assert conn.compressor is not None
    restored = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    assert restored == (base, gateway)


async def test_a_sharded_identify_gets_its_shard_and_only_its_guilds(
    fake_discord: FakeDiscord,
) -> None:
    client = discord.Client(
        intents=discord.Intents.default(), shard_id=0, shard_count=2, guild_ready_timeout=0.05
    )
    async with fake_discord.run_bot(client):
        ready = next(d for d in fake_discord.gateway.sent_dispatches if d["t"] == "READY")
        assert ready["d"]["shard"] == [0, 2]
        expected = sorted(g.id for g in fake_discord.guilds if (g.id >> 22) % 2 == 0)
        assert expected  # the default world puts one guild on each of two shards
        assert sorted(g.id for g in client.guilds) == expected


# -- application commands -------------------------------------------------------------------------
async def test_sync_stores_commands_with_descriptions_and_permissions(
    fake_discord: FakeDiscord, bot: commands.Bot
) -> None:
    fake = fake_discord
    commands_ = {c.name: c for c in fake.global_commands()}
    assert sorted(commands_) == ["ask", "feeds", "late", "menu", "ping", "post", "report", "slow"]
    assert commands_["ping"].description == "Reply with pong"
    assert commands_["feeds"].default_member_permissions == str(MANAGE_GUILD)
    assert [o["name"] for o in commands_["feeds"].options] == ["add", "remove"]
    post_options = {o["name"]: o for o in commands_["post"].options}
    assert post_options["channel"]["type"] == 7
    assert post_options["channel"]["required"]

    guild = discord.Object(fake.guild_a.id)
    bot.tree.copy_global_to(guild=guild)
    await bot.tree.sync(guild=guild)
    guild_ids = {c.name: c.id for c in fake.guild_commands(fake.guild_a.id)}
    assert sorted(guild_ids) == sorted(commands_)
    assert guild_ids["ping"] != commands_["ping"].id
    # A re-sync keeps ids (Discord upserts by name).
    await bot.tree.sync()
    assert {c.name: c.id for c in fake.global_commands()} == {n: c.id for n, c in commands_.items()}


async def test_an_invalid_command_payload_is_rejected_like_discord(
    fake_discord: FakeDiscord, bot: commands.Bot
) -> None:
    bad = [{"name": "Bad Name", "description": "", "type": 1}]
    with pytest.raises(discord.HTTPException) as info:
        await bot.http.bulk_upsert_global_commands(fake_discord.application_id, payload=bad)
    assert info.value.status == 400
    assert info.value.code == 50035
    assert "name" in info.value.text
    assert "description" in info.value.text


async def test_a_dispatched_interaction_runs_the_command(
    fake_discord: FakeDiscord, bot: commands.Bot
) -> None:
    fake = fake_discord
    record = await fake.invoke("ping")
    assert record.response_type == 4
    assert record.content == "pong"
    callback = fake.requests_to("POST", f"/interactions/{record.id}/*/callback")
    assert len(callback) == 1
    assert callback[0].query == {"with_response": "1"}
    assert (callback[0].json["type"], callback[0].json["data"]["content"]) == (4, "pong")
    general = fake.guild_a.channel("general")
    assert [m.content for m in fake.messages_in(general.id, source="interaction")] == ["pong"]

    in_dm = await fake.invoke("ping", dm=True, user_id=fake.user("bob"))
    assert "guild_id" not in in_dm.payload
    assert in_dm.payload["user"]["username"] == "bob"
    assert [m.content for m in fake.dms_to(fake.user("bob").id)] == ["pong"]


async def test_channel_option_is_resolved_and_nonce_deduplicates(
    fake_discord: FakeDiscord, bot: commands.Bot
) -> None:
    fake = fake_discord
    alerts = fake.guild_a.channel("alerts")
    options = {"channel": alerts, "text": "Drill near the Aras", "nonce": "outbox-17"}
    first = await fake.invoke("post", options=options)
    second = await fake.invoke("post", options=options)
    stored = fake.messages_in(alerts.id)
    assert [m.content for m in stored] == ["Drill near the Aras"]
    assert first.content == second.content == f"posted {stored[0].id}"
    assert first.ephemeral
    posts = fake.requests_to("POST", f"/channels/{alerts.id}/messages")
    assert [(r.json["nonce"], r.json["enforce_nonce"]) for r in posts] == [("outbox-17", True)] * 2
    assert [r.deduplicated for r in posts] == [False, True]

    await fake.invoke("post", options={**options, "nonce": "outbox-18"})
    assert len(fake.messages_in(alerts.id)) == 2
    # Discord tells the bot about its own messages (default intents include guild messages).
    await fake.wait_for(lambda: bot.seen["messages"].count("Drill near the Aras") == 2)  # type: ignore[attr-defined]


async def test_a_deferred_answer_is_filled_by_the_followup(
    fake_discord: FakeDiscord, bot: commands.Bot
) -> None:
    record = await fake_discord.invoke("slow")
    assert record.response_type == 5
    assert record.content == "done slowly"
    assert record.original is not None
    assert not record.original.flags & (1 << 7)
    assert record.followups == []  # Discord: the first follow-up after a defer edits the original


async def test_original_edits_and_ephemeral_followups(
    fake_discord: FakeDiscord, bot: commands.Bot
) -> None:
    record = await fake_discord.invoke("report", followups=1)
    assert (record.content, [e["title"] for e in record.embeds]) == ("done", ["Report"])
    assert [(m.content, m.ephemeral) for m in record.followups] == [("only you see this", True)]
    general = fake_discord.guild_a.channel("general")
    assert [m.content for m in fake_discord.messages_in(general.id)] == ["done"]


async def test_subcommand_permissions_come_from_the_member(
    fake_discord: FakeDiscord, bot: commands.Bot
) -> None:
    fake = fake_discord
    owner = await fake.invoke("feeds add", options={"url": "https://example.org/rss"})
    assert owner.content == "added https://example.org/rss as - by alice"

    bob = fake.user("bob")
    refused = await fake.invoke(
        "feeds add", user_id=bob, options={"url": "https://example.org/rss"}
    )
    assert refused.content == "You need Manage Server."
    assert refused.ephemeral

    granted = await fake.invoke(
        "feeds add",
        user_id=bob,
        permissions=MANAGE_GUILD,
        options={"url": "https://x.test/f", "name": "x"},
    )
    assert granted.content == "added https://x.test/f as x by bob"


async def test_autocomplete_returns_the_bots_choices(
    fake_discord: FakeDiscord, bot: commands.Bot
) -> None:
    choices = await fake_discord.autocomplete("feeds remove", "name", options={"name": "alpha"})
    assert choices == [
        {"name": "alpha-news", "value": "alpha-news"},
        {"name": "alpha-wire", "value": "alpha-wire"},
    ]


async def test_a_button_click_updates_the_message(
    fake_discord: FakeDiscord, bot: commands.Bot
) -> None:
    fake = fake_discord
    shown = await fake.invoke("menu")
    assert shown.original is not None
    assert shown.original.custom_ids() == ["menu:next"]
    clicked = await fake.click(shown.original, "menu:next")
    assert clicked.response_type == 7
    assert fake.message(shown.original.id).content == "page 2"


async def test_a_modal_can_be_submitted(fake_discord: FakeDiscord, bot: commands.Bot) -> None:
    shown = await fake_discord.invoke("ask")
    assert shown.response_type == 9
    assert shown.modal is not None
    answered = await fake_discord.submit_modal(shown, {"ask:q": "why the Aras?"})
    assert answered.content == "you asked: why the Aras?"


async def test_an_interaction_answered_too_late_is_unknown(
    fake_discord: FakeDiscord, bot: commands.Bot
) -> None:
    fake = fake_discord
    fake.interaction_deadline = 0.1
    payload = fake.make_interaction("late")
    await fake.dispatch("INTERACTION_CREATE", payload)
    seen = bot.seen  # type: ignore[attr-defined]
    assert await fake.wait_for(lambda: seen.get("late")) == 10062
    assert fake.interactions[int(payload["id"])].expired
    with pytest.raises(AssertionError, match="deadline"):
        await fake.invoke("late")


# -- failures discord.py must handle -------------------------------------------------------------
def text_channel(bot: commands.Bot, channel_id: int) -> discord.TextChannel:
    channel = bot.get_channel(channel_id)
    assert isinstance(channel, discord.TextChannel)
    return channel


async def test_two_500s_are_retried_into_one_message(
    fake_discord: FakeDiscord, bot: commands.Bot
) -> None:
    fake = fake_discord
    alerts = fake.guild_a.channel("alerts")
    failure = fake.fail_next("POST", f"/channels/{alerts.id}/messages", 500, times=2)
    message = await text_channel(bot, alerts.id).send("after two 500s", nonce="n-500")
    assert failure.hits == 2
    assert [r.status for r in fake.requests_to("POST", f"/channels/{alerts.id}/messages")] == [
        500,
        500,
        200,
    ]
    assert [m.id for m in fake.messages_in(alerts.id)] == [message.id]


async def test_a_429_is_waited_out_then_sent_once(
    fake_discord: FakeDiscord, bot: commands.Bot
) -> None:
    fake = fake_discord
    alerts = fake.guild_a.channel("alerts")
    fake.fail_next("POST", "/channels/*/messages", 429, retry_after=0.2)
    started = time.monotonic()
    await text_channel(bot, alerts.id).send("after a 429")
    assert time.monotonic() - started >= 0.2
    assert [r.status for r in fake.requests_to("POST", f"/channels/{alerts.id}/messages")] == [
        429,
        200,
    ]
    assert [m.content for m in fake.messages_in(alerts.id)] == ["after a 429"]


async def test_403_and_404_surface_as_discord_exceptions(
    fake_discord: FakeDiscord, bot: commands.Bot
) -> None:
    fake = fake_discord
    a = fake.guild_a
    alerts = text_channel(bot, a.channel("alerts").id)
    fake.fail_next("POST", f"/channels/{alerts.id}/messages", 403)
    with pytest.raises(discord.Forbidden) as forbidden:
        await alerts.send("scripted 403")
    assert (forbidden.value.code, forbidden.value.text) == (50013, "Missing Permissions")
    fake.fail_next("POST", f"/channels/{alerts.id}/messages", 403, code=50001)
    with pytest.raises(discord.Forbidden) as forbidden:
        await alerts.send("scripted 403 missing access")
    assert (forbidden.value.code, forbidden.value.text) == (50001, "Missing Access")
    # The same errors come from the world's permission overwrites, with no scripting.
    with pytest.raises(discord.Forbidden) as forbidden:
        await text_channel(bot, a.channel("staff-only").id).send("hidden channel")
    assert forbidden.value.code == 50001
    with pytest.raises(discord.Forbidden) as forbidden:
        await text_channel(bot, a.channel("read-only").id).send("no send permission")
    assert forbidden.value.code == 50013

    await fake.delete_channel(alerts.id)
    await fake.wait_for(
        lambda: bot.get_channel(alerts.id) is None
    )  # CHANNEL_DELETE reached the bot
    with pytest.raises(discord.NotFound) as not_found:
        await alerts.send("into the void")
    assert (not_found.value.code, not_found.value.text) == (10003, "Unknown Channel")
    assert fake.messages_in(alerts.id) == []


async def test_discord_limits_are_enforced(fake_discord: FakeDiscord, bot: commands.Bot) -> None:
    alerts = text_channel(bot, fake_discord.guild_a.channel("alerts").id)
    with pytest.raises(discord.HTTPException) as info:
        await alerts.send(embed=discord.Embed(description="x" * 4097))
    assert info.value.code == 50035
    assert "embeds.0.description" in info.value.text
    with pytest.raises(discord.HTTPException) as info:
        await alerts.send("nonce too long", nonce="n" * 26)
    assert info.value.code == 50035
    assert "nonce" in info.value.text
    assert fake_discord.messages_in(alerts.id) == []


async def test_pings_follow_allowed_mentions(fake_discord: FakeDiscord, bot: commands.Bot) -> None:
    fake = fake_discord
    alerts = text_channel(bot, fake.guild_a.channel("alerts").id)
    bob = fake.user("bob")
    role = fake.guild_a.role("Border Watchers")
    text = f"@everyone {bob.mention} {role.mention}"
    await alerts.send(text)
    await alerts.send(text, allowed_mentions=discord.AllowedMentions.none())
    await alerts.send(
        text, allowed_mentions=discord.AllowedMentions(everyone=False, users=False, roles=[role])
    )
    default, none, only_role = (m.pings for m in fake.messages_in(alerts.id))
    assert (default.everyone, default.users, default.roles) == (True, {bob.id}, {role.id})
    assert not none
    assert (only_role.everyone, only_role.users, only_role.roles) == (False, set(), {role.id})


# -- other destinations ---------------------------------------------------------------------------
async def test_a_webhook_posts_through_the_webhook_route(
    fake_discord: FakeDiscord, bot: commands.Bot
) -> None:
    fake = fake_discord
    alerts = fake.guild_a.channel("alerts")
    hook = fake.create_webhook(alerts.id)
    async with aiohttp.ClientSession() as session:
        webhook = discord.Webhook.from_url(hook.url, session=session)
        sent = await webhook.send("via webhook", username="Border Wire", wait=True)
        fake.fail_next("POST", f"/webhooks/{hook.id}/*", 429, retry_after=0.1)
        await webhook.send("after a webhook 429", wait=True)
        await fake.delete_webhook(hook.id)
        with pytest.raises(discord.NotFound) as info:
            await webhook.send("to a deleted webhook", wait=True)
    assert info.value.code == 10015
    assert [m.content for m in fake.webhook_messages(hook.id)] == [
        "via webhook",
        "after a webhook 429",
    ]
    assert fake.message(sent.id).data["author"]["username"] == "Border Wire"
    posts = fake.requests_to("POST", f"/webhooks/{hook.id}/{hook.token}")
    assert [r.status for r in posts] == [200, 429, 200, 404]
    assert posts[0].query["wait"] == "1"
    assert "Authorization" not in posts[0].headers


async def test_dms_threads_and_forum_posts(fake_discord: FakeDiscord, bot: commands.Bot) -> None:
    fake = fake_discord
    a = fake.guild_a
    bob, carol = fake.user("bob"), fake.user("carol")
    await (await bot.fetch_user(bob.id)).send("your subscription was paused")
    assert [m.content for m in fake.dms_to(bob.id)] == ["your subscription was paused"]
    fake.close_dms(carol.id)
    with pytest.raises(discord.Forbidden) as info:
        await (await bot.fetch_user(carol.id)).send("hello?")
    assert info.value.code == 50007

    thread = bot.get_channel(a.channel("alerts-thread").id)
    assert isinstance(thread, discord.Thread)
    await thread.send("in the thread")
    assert [m.content for m in fake.messages_in(thread.id)] == ["in the thread"]

    forum = bot.get_channel(a.channel("reports").id)
    assert isinstance(forum, discord.ForumChannel)
    created = await forum.create_thread(name="Drill near Aras", content="first report")
    posts = fake.forum_posts(forum.id)
    assert [(t.name, [m.content for m in msgs]) for t, msgs in posts] == [
        ("Drill near Aras", ["first report"])
    ]
    assert created.message.id == created.thread.id == posts[0][0].id


async def test_guilds_can_be_joined_and_left(fake_discord: FakeDiscord, bot: commands.Bot) -> None:
    fake = fake_discord
    guild = await fake.join_guild("Charlie Desk", members=["dave"])
    joined = await fake.wait_for(lambda: bot.get_guild(guild.id))
    assert joined.name == "Charlie Desk"
    assert joined.get_channel(guild.channel("alerts").id) is not None
    await fake.leave_guild(guild.id)
    await fake.wait_for(lambda: bot.get_guild(guild.id) is None)


# -- the gateway ----------------------------------------------------------------------------------
async def test_a_dropped_gateway_is_resumed_and_missed_events_replayed(
    fake_discord: FakeDiscord, bot: commands.Bot
) -> None:
    fake = fake_discord
    gw = fake.gateway
    session_id = next(d for d in gw.sent_dispatches if d["t"] == "READY")["d"]["session_id"]
    assert await fake.disconnect_gateway(4000) == "RESUMED"
    assert fake.resumes[-1]["session_id"] == session_id
    assert gw.connect_paths == ["/gateway", "/gateway-resume"]  # resume_gateway_url from READY
    assert (await fake.invoke("ping")).content == "pong"

    # An event sent while the client is away reaches it through the RESUME replay.
    role = fake.guild_a.role("Border Watchers")
    await fake.disconnect_gateway(4000, wait=False)
    await fake.set_role_permissions(fake.guild_a.id, role.id, MANAGE_GUILD)
    update = gw.sent_dispatches[-1]
    assert update["t"] == "GUILD_ROLE_UPDATE"
    await fake.wait_for(lambda: gw.resumed_count == 2)
    assert fake.resumes[-1]["seq"] < update["s"]
    cached = bot.get_guild(fake.guild_a.id).get_role(role.id)  # type: ignore[union-attr]
    assert cached is not None
    assert cached.permissions.manage_guild
    assert len(fake.identifies) == 1


async def test_a_refused_resume_leads_to_a_fresh_identify(
    fake_discord: FakeDiscord, bot: commands.Bot
) -> None:
    fake = fake_discord
    assert await fake.disconnect_gateway(4000, resumable=False) == "READY"
    assert fake.gateway.invalid_sessions == 1
    assert len(fake.identifies) == 2
    await fake.wait_for(bot.is_ready)
    assert (await fake.invoke("ping")).content == "pong"


# -- the harness's own safety net -----------------------------------------------------------------
async def test_unknown_routes_are_recorded_for_the_fixture(fake_discord: FakeDiscord) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{fake_discord.api_base}/no/such/route") as resp,
    ):
        assert resp.status == 404
        assert resp.headers["Content-Type"] == "application/json"
        assert await resp.json() == {"message": "404: Not Found", "code": 0}
    assert fake_discord.unknown_routes == ["GET /no/such/route"]
    fake_discord.unknown_routes.clear()  # otherwise the fixture fails this test at teardown


def test_the_fixture_fails_a_test_that_called_an_unknown_route(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import aiohttp
        pytest_plugins = ["tests.fakediscord.fixtures"]

        async def test_calls_unknown(fake_discord):
            async with aiohttp.ClientSession() as s, s.post(fake_discord.api_base + "/bogus") as r:
                assert r.status == 404
        """
    )
    # Only the plugins this needs: loading hypothesis' plugin alone costs seconds.
    result = pytester.runpytest_inprocess(
        "-p",
        "asyncio",
        "-p",
        "no:hypothesispytest",
        "-p",
        "no:cacheprovider",
        "-o",
        "asyncio_mode=auto",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*does not implement*", "*POST /bogus*"])
