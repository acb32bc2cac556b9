"""Folding and tokenization: spelling and script variants must meet; offsets must point home."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.text import Token, fold, fold_words, scan, tokenize, words


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Azerbaijani/Turkish dotted and dotless I, in every case combination
        ("Naxçıvan", "naxcivan"),
        ("NAXÇIVAN", "naxcivan"),
        ("Naxcivan", "naxcivan"),
        ("İran", "iran"),
        ("IRAN", "iran"),
        ("ılıq", "iliq"),
        ("İİR", "iir"),
        # Azerbaijani schwa, both cases
        ("Əliyev", "eliyev"),
        ("Zəngəzur", "zengezur"),
        ("ƏRDƏBİL", "erdebil"),
        # combining accents stripped (precomposed and decomposed input)
        ("şçğöü", "scgou"),
        ("Şəki", "seki"),
        ("e\u0301te\u0301", "ete"),
        ("Ağbənd", "agbend"),
        # Cyrillic ё -> е, but й keeps its breve
        ("Пётр", "петр"),
        ("ЁЛКА", "елка"),
        ("Йемен", "йемен"),
        ("и\u0306од", "йод"),
        # Persian/Arabic letter unification
        ("علي", "علی"),  # Arabic yeh -> Farsi yeh
        ("موسى", "موسی"),  # alef maksura -> Farsi yeh
        ("كرمان", "کرمان"),  # Arabic kaf -> keheh
        ("مدرسة", "مدرسه"),  # teh marbuta -> heh
        ("آستارا", "استارا"),  # alef with madda -> alef
        ("أحمد", "احمد"),  # hamza on alef
        # Arabic-Indic and Persian digits
        ("١٢٣٤٥٦٧٨٩٠", "1234567890"),
        ("۱۴۰۳", "1403"),
        # tatweel, harakat, zero-width non-joiner and joiner removed
        ("تـــهران", "تهران"),
        ("مُحَمَّد", "محمد"),
        ("ایران\u200cی", "ایرانی"),
        ("می\u200dرود", "میرود"),
        # curly quotes and dashes
        ("“Aras”", '"aras"'),
        ("‘Aras’", "'aras'"),
        ("«Аракс»", '"аракс"'),
        ("Rasht–Astara — Baku − 5", "rasht-astara - baku - 5"),
        # NFKC: ligatures, full-width, Arabic presentation forms
        ("ﬁle", "file"),
        ("ＩＲＡＮ", "iran"),
        ("ﻻ", "لا"),
        # Armenian: lower case; the ligature և expands
        ("ԻՐԱՆ", "իրան"),
        ("Նախիջևան", "նախիջեւան"),
        ("Straße", "strasse"),
    ],
)
def test_fold(text: str, expected: str) -> None:
    assert fold(text) == expected


@pytest.mark.parametrize(
    ("variants"),
    [
        ["Naxçıvan", "Naxcivan", "NAXÇIVAN", "naxçivan"],
        ["Əliyev", "Eliyev", "ƏLİYEV"],
        ["تهران", "تـهران", "تهران"],
        ["ایرانی", "ایران\u200cی", "ايراني"],
        ["Пётр", "Петр", "ПЁТР"],
    ],
)
def test_variants_meet(variants: list[str]) -> None:
    assert len({fold(v) for v in variants}) == 1


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_fold_is_idempotent(text: str) -> None:
    once = fold(text)
    assert fold(once) == once


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_words_and_scan_agree(text: str) -> None:
    folded, starts, ends = scan(text)
    assert words(text) == folded
    assert len(starts) == len(ends) == len(folded)
    assert all(0 <= s < e <= len(text) for s, e in zip(starts, ends, strict=True))
    assert all(w and w.isalnum() for w in folded)
    assert starts == sorted(starts)
    if fold_words(text)[1] is not None:  # one folded word per written word: offsets are exact
        assert [fold(text[s:e]) for s, e in zip(starts, ends, strict=True)] == folded


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Iran's “Rasht–Astara” railway",
            [
                ("iran", 0, 4),
                ("s", 5, 6),
                ("rasht", 8, 13),
                ("astara", 14, 20),
                ("railway", 22, 29),
            ],
        ),
        (
            "Иран, Ирана и Ираном.",
            [("иран", 0, 4), ("ирана", 6, 11), ("и", 12, 13), ("ираном", 14, 20)],
        ),
        (
            "Naxçıvanın 2024-cü ili",
            [("naxcivanin", 0, 10), ("2024", 11, 15), ("cu", 16, 18), ("ili", 19, 22)],
        ),
        ("مرز ایران\u200cی ۱۴۰۳", [("مرز", 0, 3), ("ایرانی", 4, 11), ("1403", 12, 16)]),
        ("Իրանի սահմանին։", [("իրանի", 0, 5), ("սահմանին", 6, 14)]),
        ("e\u0301te\u0301 snake_case", [("ete", 0, 5), ("snake", 6, 11), ("case", 12, 16)]),
        ("", []),
        ("— … !", []),
    ],
)
def test_tokenize_keeps_positions_and_original_offsets(
    text: str, expected: list[tuple[str, int, int]]
) -> None:
    tokens = tokenize(text)
    assert tokens == [Token(w, i, s, e) for i, (w, s, e) in enumerate(expected)]
    for token in tokens:  # the offsets point at the original spelling of the word
        assert fold(text[token.start : token.end]) == token.text
