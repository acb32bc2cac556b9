"""Decide what a poll means for storage and alerts. Pure: known state in, decisions out."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from bot.core.types import Entry

Change = Literal["new", "updated"]


def content_hash(entry: Entry) -> str:
    """What counts as a change of a known item: its title or its summary."""
    h = hashlib.sha256()
    h.update(entry.title.encode("utf-8"))
    h.update(b"\x00")
    h.update(entry.summary.encode("utf-8"))
    return h.hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class ItemDecision:
    entry: Entry
    change: Change
    content_hash: str
    published: datetime  # the entry's date, or `now` when it gave none
    alert: bool  # new and not part of a first-poll baseline


def decide_items(
    entries: Sequence[Entry],
    known: Mapping[str, str],
    *,
    first_poll: bool,
    baseline_newest: int,
    now: datetime,
) -> list[ItemDecision]:
    """Sort a poll's entries into new and updated items; unchanged ones are dropped.

    `known` maps the identity keys already stored for this feed to their content hash. On a
    feed's first poll everything is new but only the `baseline_newest` newest entries alert,
    so adding a feed never floods a channel with its backlog.
    """
    decisions: list[ItemDecision] = []
    for entry in entries:
        digest = content_hash(entry)
        published = entry.published or entry.updated or now
        stored = known.get(entry.key)
        if stored is None:
            decisions.append(ItemDecision(entry, "new", digest, published, alert=not first_poll))
        elif stored != digest:
            decisions.append(ItemDecision(entry, "updated", digest, published, alert=False))
    if first_poll and baseline_newest > 0:
        newest = sorted(
            (d for d in decisions if d.change == "new"), key=lambda d: d.published, reverse=True
        )[:baseline_newest]
        chosen = {id(d) for d in newest}
        decisions = [
            ItemDecision(d.entry, d.change, d.content_hash, d.published, alert=id(d) in chosen)
            for d in decisions
        ]
    return decisions


def story_key(entry: Entry, folded_title: str) -> str:
    """One post per story per subscription, even when several feeds carry it."""
    if entry.link:
        return "link:" + entry.link
    return "title:" + hashlib.sha256(folded_title.encode("utf-8")).hexdigest()[:32]
