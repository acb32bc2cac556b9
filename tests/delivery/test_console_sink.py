"""ConsoleSink: the alert block is printed and the row counts as sent."""

from __future__ import annotations

import io

from bot.core.render import render_alert
from bot.core.types import OutboxItem
from bot.delivery.console import ConsoleSink
from tests.delivery.fake_outbox import T0, Clock, make_alert


def item() -> OutboxItem:
    return OutboxItem(
        id=7,
        subscription_id=1,
        guild_id=None,
        destination_kind="console",
        destination="console",
        nonce="n7",
        attempts=0,
        alert=make_alert("Aras bridge closed"),
    )


async def test_prints_the_block_and_reports_sent() -> None:
    out = io.StringIO()
    it = item()
    result = await ConsoleSink(out, clock=Clock(T0)).send(it, render_alert(it.alert))
    assert (result.kind, result.message_id) == ("sent", None)
    text = out.getvalue()
    assert "Title:     Aras bridge closed\n" in text
    assert "Summary:   Iranian forces held drills near the Aras." in text
    assert "(just now)" in text
    assert text.endswith("\n\n")  # blocks are separated by a blank line


async def test_a_closed_stream_is_a_retry_not_a_crash() -> None:
    out = io.StringIO()
    out.close()
    it = item()
    result = await ConsoleSink(out).send(it, render_alert(it.alert))
    assert result.kind == "retry"
