"""New/updated/baseline decisions for one poll."""

from datetime import UTC, datetime, timedelta

from bot.core.ingest import content_hash, decide_items, story_key
from bot.core.types import Entry

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def entry(key: str, title: str = "t", summary: str = "s", hours_ago: float | None = 1) -> Entry:
    published = None if hours_ago is None else NOW - timedelta(hours=hours_ago)
    return Entry(
        key=key, title=title, link=f"https://e.test/{key}", summary=summary, published=published
    )


def test_first_poll_records_everything_and_alerts_nothing() -> None:
    got = decide_items([entry("a"), entry("b")], {}, first_poll=True, baseline_newest=0, now=NOW)
    assert [(d.entry.key, d.change, d.alert) for d in got] == [
        ("a", "new", False),
        ("b", "new", False),
    ]


def test_first_poll_can_alert_the_newest_n() -> None:
    entries = [entry("old", hours_ago=10), entry("newest", hours_ago=1), entry("mid", hours_ago=5)]
    got = decide_items(entries, {}, first_poll=True, baseline_newest=2, now=NOW)
    assert {d.entry.key for d in got if d.alert} == {"newest", "mid"}


def test_later_poll_alerts_only_unknown_keys() -> None:
    a, b, c = entry("a"), entry("b"), entry("c")
    known = {"a": content_hash(a), "b": content_hash(b)}
    got = decide_items([a, b, c], known, first_poll=False, baseline_newest=0, now=NOW)
    assert [(d.entry.key, d.change, d.alert) for d in got] == [("c", "new", True)]


def test_changed_title_is_an_update_not_a_new_item() -> None:
    old = entry("a", title="Drills near Aras")
    new = entry("a", title="Drills near Aras river (updated)")
    got = decide_items(
        [new], {"a": content_hash(old)}, first_poll=False, baseline_newest=0, now=NOW
    )
    assert [(d.change, d.alert) for d in got] == [("updated", False)]


def test_missing_date_falls_back_to_now() -> None:
    got = decide_items(
        [entry("a", hours_ago=None)], {}, first_poll=False, baseline_newest=0, now=NOW
    )
    assert got[0].published == NOW


def test_story_key_prefers_link_then_title() -> None:
    with_link = entry("a")
    no_link = Entry(key="k", title="Same story", link=None, summary="")
    assert story_key(with_link, "t") == "link:https://e.test/a"
    assert story_key(no_link, "same story") == story_key(
        Entry(key="other", title="x", link=None, summary=""), "same story"
    )
