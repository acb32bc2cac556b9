"""Shape of the hand-labeled evaluation set for the default topic (tests/data/labeled.jsonl).

The set is an independent judgement of what is on topic for `iran-azerbaijan-border`; the
precision/recall test of the topic reads it. These checks keep the file usable by that test and
honest as an evaluation set: well-formed lines, balanced labels, several languages and scripts,
summaries that are real HTML, and no near-copies that would count the same story twice.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from selectolax.lexbor import LexborHTMLParser

LABELED = Path(__file__).parent / "data" / "labeled.jsonl"
REQUIRED_KEYS = {"id", "lang", "title", "summary_html", "label", "reason"}
LANGS = {"en", "ru", "az", "fa", "hy"}

# A letter each language's items must contain, so a mislabelled `lang` shows up.
SCRIPT_OF_LANG = {
    "en": re.compile(r"[A-Za-z]"),
    "ru": re.compile(r"[А-Яа-яЁё]"),
    "az": re.compile(r"[əƏıİşŞçÇğĞöÖüÜ]"),
    "fa": re.compile(r"[\u0600-\u06FF]"),
    "hy": re.compile(r"[\u0531-\u0587]"),
}


def _load() -> list[dict[str, Any]]:
    items = []
    for number, line in enumerate(LABELED.read_text(encoding="utf-8").splitlines(), 1):
        assert line.strip(), f"blank line {number} in {LABELED.name}"
        item = json.loads(line)
        assert isinstance(item, dict), f"line {number} is not a JSON object"
        items.append(item)
    return items


ITEMS = _load()


def _plain_text(summary_html: str) -> str:
    body = LexborHTMLParser(summary_html).body
    return body.text(separator=" ") if body is not None else ""


def _words(item: dict[str, Any]) -> set[str]:
    text = f"{item['title']} {_plain_text(item['summary_html'])}".casefold()
    return set(re.findall(r"\w+", text))


def test_ids_are_unique() -> None:
    counts = Counter(item.get("id") for item in ITEMS)
    assert [i for i, n in counts.items() if n > 1] == []


def test_size_and_label_balance() -> None:
    on_topic = sum(1 for item in ITEMS if item["label"] is True)
    assert len(ITEMS) >= 150
    assert 0.25 <= on_topic / len(ITEMS) <= 0.45, f"{on_topic} of {len(ITEMS)} on topic"


def test_enough_items_not_in_english() -> None:
    assert sum(1 for item in ITEMS if item["lang"] != "en") >= 40


@pytest.mark.parametrize("lang", sorted(LANGS))
def test_each_language_has_both_labels(lang: str) -> None:
    labels = {item["label"] for item in ITEMS if item["lang"] == lang}
    assert labels == {True, False}


def test_persian_items_carry_real_world_letter_variants() -> None:
    persian = "".join(
        item["title"] + item["summary_html"] for item in ITEMS if item["lang"] == "fa"
    )
    for char, name in [
        ("\u200c", "zero-width non-joiner"),
        ("\u064a", "Arabic yeh"),
        ("\u0643", "Arabic kaf"),
        ("\u06cc", "Persian yeh"),
        ("\u06a9", "Persian kaf"),
    ]:
        assert char in persian, f"no {name} in the Persian items"
    assert re.search(r"[\u06f0-\u06f9]", persian), "no Persian digits in the Persian items"


@pytest.mark.parametrize("item", ITEMS, ids=[str(item.get("id")) for item in ITEMS])
def test_item_shape(item: dict[str, Any]) -> None:
    assert set(item) == REQUIRED_KEYS
    assert isinstance(item["id"], str)
    assert item["id"].strip()
    assert item["lang"] in LANGS
    assert isinstance(item["label"], bool)
    for key in ("title", "summary_html", "reason"):
        assert isinstance(item[key], str), f"{key} is not a string"
        assert item[key].strip(), f"empty {key}"
    assert not re.search(r"[<>]", item["title"]), "titles are plain text"
    assert SCRIPT_OF_LANG[item["lang"]].search(item["title"]), "title not in the item's script"


@pytest.mark.parametrize("item", ITEMS, ids=[str(item.get("id")) for item in ITEMS])
def test_summary_is_html_with_text(item: dict[str, Any]) -> None:
    html = item["summary_html"]
    assert html.lstrip().startswith("<"), "summary_html should be markup, as an RSS description"
    text = _plain_text(html)
    assert len(text.split()) >= 3, f"too little text: {text!r}"
    # Markup that leaks into the text means a tag was broken or double-escaped.
    assert not re.search(r"</?[a-zA-Z][^>]*>", text), f"tag left in text: {text!r}"
    assert not re.search(r"&(#\d+|[a-z]+);", text), f"undecoded entity in text: {text!r}"


def test_no_near_duplicate_items() -> None:
    words = [(item["id"], _words(item)) for item in ITEMS]
    close = []
    for (id_a, a), (id_b, b) in itertools.combinations(words, 2):
        if len(a & b) / len(a | b) >= 0.6:
            close.append((id_a, id_b))
    assert close == []
