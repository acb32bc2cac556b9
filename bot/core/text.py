"""Text folding and tokenization, shared by queries and items so that spelling variants meet.

`fold` maps a string to its matching form:

1. Unicode NFKC (compatibility forms, Arabic presentation forms, full-width letters).
2. Azerbaijani/Turkish I: ``İ`` → ``i`` and ``ı`` → ``i`` (so *Naxçıvan*, *Naxcivan* and
   *NAXÇIVAN* meet), then Unicode case folding.
3. Combining marks removed after canonical decomposition: Latin accents (ş ç ğ ö ü → s c g o u),
   Cyrillic ё → е, Arabic harakat, hamza forms (أ إ آ → ا). Cyrillic й keeps its breve: folding it
   to и would make unrelated Russian words meet.
4. Letter unification: Azerbaijani ə → e; Arabic ي ى → Persian ی, ك → ک, ة → ه; Arabic-Indic and
   Persian digits → ASCII digits.
5. Removed: tatweel (ـ), zero-width non-joiner/joiner, soft hyphen, bidi marks, BOM.
6. Curly quotes, guillemets and dashes → ASCII ' " and -.

`tokenize` splits the ORIGINAL text into words (letters, digits, and the marks and joiners inside
them) for Latin, Cyrillic, Armenian, Arabic-script and other alphabetic text; every token carries
its folded text, its word position and its character offsets into the original string, so that a
match can be highlighted in the text the user sees. Apostrophes, hyphens and punctuation separate
words: ``Iran's`` gives ``iran`` and ``s``; ``Rasht–Astara`` gives ``rasht`` and ``astara``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = ["Token", "fold", "fold_word", "fold_words", "scan", "tokenize", "word_offsets", "words"]

# Characters removed outright (after NFKC): tatweel, ZWNJ, ZWJ, ZWSP, word joiner, soft hyphen,
# bidi marks, Arabic letter mark, BOM.
_DELETE = (
    "\u0640\u200c\u200d\u200b\u2060\u00ad\u200e\u200f\u061c\ufeff\u202a\u202b\u202c\u202d\u202e"
)

# Combining-mark ranges removed after NFD (Latin/Greek/Cyrillic diacritics, Hebrew points, Arabic
# harakat and Quranic marks, Syriac, combining extensions, half marks).
_MARK_RANGES = (
    (0x0300, 0x036F),
    (0x0483, 0x0489),
    (0x0591, 0x05BD),
    (0x05BF, 0x05BF),
    (0x05C1, 0x05C2),
    (0x05C4, 0x05C5),
    (0x05C7, 0x05C7),
    (0x0610, 0x061A),
    (0x064B, 0x065F),
    (0x0670, 0x0670),
    (0x06D6, 0x06DC),
    (0x06DF, 0x06E4),
    (0x06E7, 0x06E8),
    (0x06EA, 0x06ED),
    (0x08D3, 0x08FF),
    (0x1AB0, 0x1AFF),
    (0x1DC0, 0x1DFF),
    (0x20D0, 0x20FF),
    (0xFE20, 0xFE2F),
)

_SINGLE_QUOTES = "\u2018\u2019\u201a\u201b\u2032\u2035\u02bc\u02b9\u055a\uff07"
_DOUBLE_QUOTES = "\u201c\u201d\u201e\u201f\u00ab\u00bb\u2033\u2036\u300c\u300d"
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d\u058a"


def _build_table() -> dict[int, str | None]:
    table: dict[int, str | None] = {}
    for ch in _DELETE:
        table[ord(ch)] = None
    for lo, hi in _MARK_RANGES:
        for cp in range(lo, hi + 1):
            table[cp] = None
    for ch in _SINGLE_QUOTES:
        table[ord(ch)] = "'"
    for ch in _DOUBLE_QUOTES:
        table[ord(ch)] = '"'
    for ch in _DASHES:
        table[ord(ch)] = "-"
    table.update(
        {
            ord("ə"): "e",
            ord("Ə"): "e",
            ord("ı"): "i",
            ord("İ"): "i",
            ord("ي"): "ی",  # Arabic yeh -> Farsi yeh
            ord("ى"): "ی",  # alef maksura -> Farsi yeh
            ord("ك"): "ک",  # Arabic kaf -> keheh
            ord("ة"): "ه",  # teh marbuta -> heh
            ord("ە"): "ه",  # ae -> heh
        }
    )
    for i in range(10):
        table[0x0660 + i] = str(i)  # Arabic-Indic digits
        table[0x06F0 + i] = str(i)  # Extended Arabic-Indic (Persian) digits
    return table


_TABLE = _build_table()
# Applied before case folding: casefold() would turn İ into "i" + combining dot above.
_PRE_CASEFOLD = {ord("İ"): "i", ord("ı"): "i"}
_SHORT_I = ("и\u0306", "й")  # keep Cyrillic й (see module docstring)


def _fold_once(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_PRE_CASEFOLD).casefold()
    text = unicodedata.normalize("NFD", text)
    if "\u0306" in text:
        text = text.replace(*_SHORT_I)
    text = text.translate(_TABLE)
    return unicodedata.normalize("NFC", text)


def fold(text: str) -> str:
    """Return the matching form of `text` (see the module docstring). Idempotent."""
    if text.isascii():
        # Fast path: ASCII needs no normalization, only case folding.
        return text.lower()
    folded = _fold_once(text)
    # NFKC, case folding and mark removal do not commute for a few rare characters (e.g. ones
    # whose case folding is not NFKC-closed); a second pass reaches the fixed point.
    again = _fold_once(folded)
    return folded if again == folded else _fold_once(again)


_WORD_CACHE: dict[str, str] = {}
_WORD_CACHE_MAX = 200_000  # distinct words; a day of multilingual news has well under that


_IRREGULAR_CACHE: dict[str, str] = {}  # words whose fold is not one word (empty, or several)


def fold_word(word: str) -> str:
    """`fold` for one word, cached: news vocabulary repeats, so most words fold once.

    _WORD_CACHE only holds words that fold to a single word (letters/digits), so a hit for every
    word of a text proves the fast path of `fold_words` applies.
    """
    folded = _WORD_CACHE.get(word)
    if folded is None:
        folded = _IRREGULAR_CACHE.get(word)
        if folded is None:
            folded = fold(word)
            cache = _WORD_CACHE if folded.isalnum() else _IRREGULAR_CACHE
            if len(cache) >= _WORD_CACHE_MAX:
                cache.clear()  # simpler than LRU bookkeeping on every hit; refills in minutes
            cache[word] = folded
    return folded


# A word: letters and digits (not "_"), plus the combining marks, joiners and tatweel that can sit
# inside words in Arabic-script, Armenian and decomposed Latin text. Most text has none of the
# latter, and the simpler pattern is several times faster.
_INNER = "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in _MARK_RANGES) + "\u200c\u200d\u00ad\u0640"
_WORD_RE = re.compile(rf"(?:[^\W_]|[{_INNER}])+")
_SIMPLE_WORD_RE = re.compile(r"[^\W_]+")
_FASTEST_WORD_RE = re.compile(r"\w+")  # the same as _SIMPLE_WORD_RE on text without "_"
_HAS_INNER_RE = re.compile(rf"[{_INNER}]")
_SUBWORD_RE = _SIMPLE_WORD_RE


def _word_pattern(text: str) -> re.Pattern[str]:
    if _HAS_INNER_RE.search(text):
        return _WORD_RE
    return _SIMPLE_WORD_RE if "_" in text else _FASTEST_WORD_RE


@dataclass(frozen=True, slots=True)
class Token:
    """One word: its folded text, its word position, and [start, end) offsets in the original."""

    text: str
    position: int
    start: int
    end: int


def _fold_all(raw: list[str]) -> list[str] | None:
    """Fold matched words; None in the rare case where a folded word is not a single word."""
    folded: list[str | None] = list(map(_WORD_CACHE.get, raw))  # C speed for cached words
    if all(folded):  # every word cached as regular (folded words are never empty)
        return folded  # type: ignore[return-value]
    done = list(map(fold_word, raw))
    return done if all(map(str.isalnum, done)) else None


def fold_words(text: str) -> tuple[list[str], list[str] | None]:
    """The folded words of `text` (list index = word position), and the words as written when
    they correspond one to one (None in the rare case where folding split or removed a word).

    The hot path of matching: one call per item field, no offsets computed.
    """
    raw = _word_pattern(text).findall(text)
    folded = _fold_all(raw)
    if folded is not None:
        return folded, raw
    return _scan_slow(text)[0], None


def words(text: str) -> list[str]:
    """The folded words of `text`, in order: the same words as `scan` and `tokenize`."""
    return fold_words(text)[0]


def word_offsets(text: str, raw: list[str]) -> tuple[list[int], list[int]]:
    """Start and end offsets in `text` of its words as written (`fold_words(text)[1]`)."""
    starts: list[int] = []
    ends: list[int] = []
    pos = 0
    find = text.find
    for word in raw:
        # Words are separated only by non-word characters, so the next occurrence of the word
        # after the previous one is the word itself.
        pos = find(word, pos)
        starts.append(pos)
        pos += len(word)
        ends.append(pos)
    return starts, ends


def scan(text: str) -> tuple[list[str], list[int], list[int]]:
    """Tokenize `text` into parallel lists (folded words, starts, ends); list index = position."""
    folded, raw = fold_words(text)
    if raw is None:
        return _scan_slow(text)
    starts, ends = word_offsets(text, raw)
    return folded, starts, ends


def _scan_slow(text: str) -> tuple[list[str], list[int], list[int]]:
    out_words: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for m in _word_pattern(text).finditer(text):
        folded = fold_word(m.group())
        start, end = m.span()
        if folded.isalnum():
            out_words.append(folded)
            starts.append(start)
            ends.append(end)
            continue
        # Folding produced separators (e.g. NFKC expanding a ligature into several words) or
        # nothing (a lone mark or joiner). Every piece keeps the original word's offsets.
        for piece in _SUBWORD_RE.findall(folded):
            out_words.append(piece)
            starts.append(start)
            ends.append(end)
    return out_words, starts, ends


def tokenize(text: str) -> list[Token]:
    """Split `text` into tokens with folded text, word position and offsets into `text`."""
    folded, starts, ends = scan(text)
    return [
        Token(word, position, start, end)
        for position, (word, start, end) in enumerate(zip(folded, starts, ends, strict=True))
    ]
