"""Precision and recall of the shipped default topic on the hand-labeled set.

tests/data/labeled.jsonl was written independently of the topic (titles and HTML summaries in
five languages, about a third on topic, the rest hard negatives). The topic in
config.example.toml must reach precision >= 0.95 and recall >= 0.95 on it. When it does not,
fix the topic with a rule that would hold for unseen news too, never for one item.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from selectolax.lexbor import LexborHTMLParser

from bot.core.engine import Engine
from bot.core.types import Document, TopicDef

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config.example.toml"
LABELED = ROOT / "tests" / "data" / "labeled.jsonl"
TOPIC_ID = "iran-azerbaijan-border"


def default_topic() -> TopicDef:
    config = tomllib.loads(CONFIG.read_text(encoding="utf-8"))
    lists = tuple((name, tuple(entries)) for name, entries in config["lists"].items())
    return TopicDef(TOPIC_ID, config["topics"][TOPIC_ID]["query"], lists)


def html_text(html: str) -> str:
    return LexborHTMLParser(html).text(separator=" ")


def load() -> list[dict[str, Any]]:
    lines = LABELED.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_default_topic_precision_and_recall(capsys: pytest.CaptureFixture[str]) -> None:
    engine = Engine([default_topic()])
    items = load()
    assert len(items) >= 150
    false_pos: list[str] = []
    false_neg: list[str] = []
    true_pos = 0
    for item in items:
        doc = Document(item["title"], html_text(item["summary_html"]))
        matched = any(m.topic == TOPIC_ID for m in engine.match(doc))
        if matched and item["label"]:
            true_pos += 1
        elif matched:
            false_pos.append(item["id"])
        elif item["label"]:
            false_neg.append(item["id"])
    precision = true_pos / max(true_pos + len(false_pos), 1)
    recall = true_pos / max(true_pos + len(false_neg), 1)
    with capsys.disabled():
        print(
            f"\n{TOPIC_ID} on {len(items)} labeled items: precision {precision:.3f}, "
            f"recall {recall:.3f}; false positives {false_pos or 'none'}, "
            f"missed {false_neg or 'none'}"
        )
    assert precision >= 0.95, f"false positives: {false_pos}"
    assert recall >= 0.95, f"missed: {false_neg}"


@pytest.mark.parametrize(
    ("title", "body", "expected"),
    [
        # Examples written for this test (not from the labeled set), one per rule of the topic.
        (
            "Russia to fund Rasht–Astara railway",
            "The link completes the North–South corridor.",
            True,
        ),
        ("Tehran: Zangezur corridor is a red line", "Iran opposes any change of borders.", True),
        ("Azerbaijani troops drill along the Araz", "Units held exercises near Nakhchivan.", True),
        ("Иран и Азербайджан обсудили безопасность границы", "Встреча прошла в Баку.", True),
        (
            "İran Azərbaycanla sərhəddə təlim keçirir",
            "İran ordusu Araz boyunca təlimlərə başlayıb.",
            True,
        ),
        ("Baku Grand Prix: Leclerc on pole", "Formula 1 returns to Azerbaijan's capital.", False),
        ("Quake hits Iran's West Azerbaijan province", "It struck near the Turkish border.", False),
        ("Armenia, Azerbaijan agree on border commissions", "Officials met in Yerevan.", False),
        (
            "Iran beat Azerbaijan in World Cup qualifier",
            "Iran's attack dominated the match.",
            False,
        ),
    ],
)
def test_default_topic_rules(title: str, body: str, expected: bool) -> None:
    assert bool(Engine([default_topic()]).match(Document(title, body))) is expected
