"""Query-biased summaries: the sentences of an item that carry the matched terms, terms in bold.

Output is Discord-safe markdown: feed text is escaped and cannot mention anyone; the only markup
is the `**bold**` around matched terms, balanced even after trimming.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.render import escape_markdown, neutralize_mentions
from bot.core.types import Document, Span

# Sentence ends: Latin/Cyrillic . ! ? …, Persian/Arabic ؟ and ۔, Armenian ։ and ՞ (question).
_SENTENCE_END = re.compile(r"(?<=[.!?…؟۔։՞])[\"'»”’)\]]*\s+")
MAX_SENTENCES = 3
ELLIPSIS = "…"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True, slots=True)
class _Sentence:
    start: int
    end: int
    terms: frozenset[str]
    hits: int


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of each sentence, whitespace around it excluded."""
    bounds: list[tuple[int, int]] = []
    pos = 0
    for m in _SENTENCE_END.finditer(text):
        if text[pos : m.start()].strip():
            bounds.append((pos, m.end() - len(m.group(0)) + len(m.group(0).rstrip())))
        pos = m.end()
    if text[pos:].strip():
        bounds.append((pos, len(text.rstrip())))
    return [(s + (len(text[s:e]) - len(text[s:e].lstrip())), e) for s, e in bounds]


def summarize(doc: Document, spans: Sequence[Span], max_chars: int = 350) -> str:
    """The one to three sentences with the most matched terms (in text order), terms bolded,
    trimmed at a sentence or word boundary to `max_chars`. With no match in the body (a
    title-only match), the lead sentence."""
    body = doc.body.strip() and doc.body
    if not body:
        return ""
    body_spans = sorted((s for s in spans if s.field == "body"), key=lambda s: s.start)
    sentences = [
        _Sentence(
            start,
            end,
            frozenset(s.term for s in body_spans if start <= s.start < end),
            sum(1 for s in body_spans if start <= s.start < end),
        )
        for start, end in split_sentences(body)
    ]
    if not sentences:
        return ""
    matched = [s for s in sentences if s.hits]
    if not matched:
        chosen = [sentences[0]]
    else:
        ranked = sorted(matched, key=lambda s: (-len(s.terms), -s.hits, s.start))
        chosen = []
        length = 0
        for sentence in ranked[:MAX_SENTENCES]:
            size = sentence.end - sentence.start
            if chosen and length + size + 1 > max_chars:
                continue
            chosen.append(sentence)
            length += size + 1
        chosen.sort(key=lambda s: s.start)
    pieces: list[str] = []
    previous_end: int | None = None
    for sentence in chosen:
        if previous_end is not None and _gap_has_sentences(sentences, previous_end, sentence.start):
            pieces.append(ELLIPSIS)
        pieces.append(_bold(body, sentence.start, sentence.end, body_spans))
        previous_end = sentence.end
    return _trim(" ".join(pieces), max_chars)


def _gap_has_sentences(sentences: Sequence[_Sentence], after: int, before: int) -> bool:
    return any(after <= s.start and s.end <= before for s in sentences)


def _safe(text: str) -> str:
    return neutralize_mentions(escape_markdown(_CONTROL.sub("", text)))


def _bold(text: str, start: int, end: int, spans: Sequence[Span]) -> str:
    """Escape text[start:end], wrapping each (non-overlapping) matched span in **bold**."""
    out: list[str] = []
    pos = start
    for span in spans:
        if span.start < pos or span.end > end or span.start < start:
            continue
        out.append(_safe(text[pos : span.start]))
        out.append(f"**{_safe(text[span.start : span.end])}**")
        pos = span.end
    out.append(_safe(text[pos:end]))
    return " ".join("".join(out).split())


def _trim(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: max(limit - len(ELLIPSIS), 0)]
    # Prefer a sentence end, then a word boundary.
    sentence_end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    if sentence_end >= limit // 2:
        cut = cut[: sentence_end + 1]
    elif " " in cut:
        cut = cut[: cut.rfind(" ")]
    cut = cut.rstrip()
    while cut.endswith("\\"):  # never leave a dangling escape
        cut = cut[:-1]
    if _unbalanced_bold(cut):
        cut = cut + "**" if not cut.endswith("**") else cut[:-2].rstrip()
    return cut + ELLIPSIS


def _unbalanced_bold(text: str) -> bool:
    count = 0
    i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text.startswith("**", i):
            count += 1
            i += 2
            continue
        i += 1
    return count % 2 == 1
