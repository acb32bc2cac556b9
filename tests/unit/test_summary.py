"""Query-biased summaries: best sentences, bold terms, safe markdown, trimmed at boundaries."""

import pytest

from bot.core.summarize import split_sentences, summarize
from bot.core.types import Document, Span

BODY = (
    "Officials met on Monday. Iranian forces began drills on the Aras river. "
    "The weather was mild! Baku asked @everyone for *calm* near the Aras."
)


def spans(body: str, *words: str) -> list[Span]:
    out = []
    for word in words:
        start = body.find(word)
        while start != -1:
            out.append(Span("body", start, start + len(word), word.lower()))
            start = body.find(word, start + 1)
    return out


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("One. Two! Three?", ["One.", "Two!", "Three?"]),
        ("Иран провёл учения. Баку ответил.", ["Иран провёл учения.", "Баку ответил."]),
        ("آیا مرز باز است؟ بله.", ["آیا مرز باز است؟", "بله."]),
        ("Երևան։ Բաքու։", ["Երևան։", "Բաքու։"]),
        ("No end mark here", ["No end mark here"]),
    ],
)
def test_sentences_split_in_each_script(text: str, expected: list[str]) -> None:
    assert [text[s:e] for s, e in split_sentences(text)] == expected


def test_picks_matching_sentences_in_order_with_terms_in_bold() -> None:
    got = summarize(Document("t", BODY), spans(BODY, "Aras", "drills"))
    assert got == (
        "Iranian forces began **drills** on the **Aras** river. … "
        "Baku asked @\u200beveryone for \\*calm\\* near the **Aras**."
    )


def test_title_only_match_gives_the_lead_sentence() -> None:
    assert summarize(Document("Aras", BODY), [Span("title", 0, 4, "aras")]) == (
        "Officials met on Monday."
    )


def test_trimmed_at_a_word_boundary_with_balanced_bold() -> None:
    body = "The Aras " + "bridge " * 80 + "was closed near the Aras."
    got = summarize(Document("t", body), spans(body, "Aras"), max_chars=60)
    assert len(got) <= 60
    assert got.endswith("…")
    assert got.count("**") % 2 == 0
    assert not got[:-1].endswith(" ")


def test_cannot_break_out_of_markdown_or_mention() -> None:
    body = "[click](https://evil.test) <@123> near the Aras ``` ||x||"
    got = summarize(Document("t", body), spans(body, "Aras"))
    assert "](" not in got.replace("\\]", "").replace("\\(", "")
    assert "<@123>" not in got
    assert "```" not in got
    assert "**Aras**" in got
