"""Why an item matched a topic, or why not: every clause of the query with its outcome and spans.

`explain(topic, doc)` evaluates the topic's query on the item with the same code the engine uses
for matched topics, and keeps the whole tree; `render_explanation` turns it into plain text for
the CLI (`borderwatch explain`) and the Discord `/why` command::

    iran-azerbaijan-border: not matched
    why not: (@border_places OR @security) found nothing
    query: @iran AND @azerbaijan AND (@border_places OR @security)
    ✘ all of
      ✔ @iran: "Iran" (title), "Tehran" (body)
      ✔ @azerbaijan: "Baku" (body)
      ✘ any of: nothing found
        ✘ @border_places: nothing found
        ✘ @security: nothing found
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.engine import (
    ClauseResult,
    DocIndex,
    Occurrence,
    evaluate,
    match_compiled,
    to_spans,
)
from bot.core.rules import And, Field, Near, Node, Not, Or, compile_topic, format_query
from bot.core.types import Document, Span, TopicDef

__all__ = ["Clause", "Explanation", "explain", "render_explanation"]

HELD = "✔"
FAILED = "✘"
MAX_QUOTES = 4  # quoted matches shown per clause


@dataclass(frozen=True, slots=True)
class Clause:
    """One clause of the query and how it fared on the item."""

    text: str  # the clause in the query language
    kind: str  # all, any, not, near, field, list, term, prefix, phrase
    held: bool
    spans: tuple[Span, ...]  # what was found (for NOT: what was found and so excluded the item)
    children: tuple[Clause, ...] = ()
    note: str = ""  # e.g. NEAR's closest distance when it failed


@dataclass(frozen=True, slots=True)
class Explanation:
    topic: str | None
    query: str
    matched: bool
    score: float
    terms: tuple[str, ...]  # distinct matched terms, as in TopicMatch
    root: Clause
    doc: Document

    def failed_reasons(self) -> tuple[str, ...]:
        """One short line per top-level part that failed (empty when matched)."""
        if self.matched:
            return ()
        parts = self.root.children if self.root.kind == "all" else (self.root,)
        return tuple(_reason(c, self.doc) for c in parts if not c.held)


def explain(topic: TopicDef | Node, doc: Document) -> Explanation:
    """Evaluate a topic (or an already compiled query) on `doc`, keeping every clause's outcome.

    Raises QuerySyntaxError if a TopicDef's query does not compile.
    """
    if isinstance(topic, TopicDef):
        topic_id: str | None = topic.id
        query = compile_topic(topic)
    else:
        topic_id, query = None, topic
    dix = DocIndex(doc)
    result = evaluate(query, dix)
    found = match_compiled(topic_id or "", query, dix) if result.held else None
    return Explanation(
        topic=topic_id,
        query=format_query(query),
        matched=result.held,
        score=found.score if found else 0.0,
        terms=found.terms if found else (),
        root=_clause(result, dix),
        doc=doc,
    )


def _kind(node: Node) -> str:
    if isinstance(node, And):
        return "all"
    if isinstance(node, Or):
        return "any"
    return type(node).__name__.lower().replace("listref", "list")


def _clause(result: ClauseResult, dix: DocIndex) -> Clause:
    node = result.node
    children: tuple[Clause, ...] = ()
    if isinstance(node, And | Or | Not | Near):
        children = tuple(_clause(c, dix) for c in result.children)
    elif isinstance(node, Field):
        inner = result.children[0]
        if isinstance(inner.node, And | Or | Not | Near):
            children = (_clause(inner, dix),)
    spans = to_spans(dix, result.occurrences)
    note = ""
    if isinstance(node, Near) and not result.held:
        note = _near_note(node, result)
    return Clause(format_query(node), _kind(node), result.held, spans, children, note)


def _near_note(node: Near, result: ClauseResult) -> str:
    left, right = result.children
    if not left.held or not right.held:
        missing = [format_query(c.node) for c in (left, right) if not c.held]
        return "not found: " + ", ".join(missing)
    gaps = [
        _gap(a, b)
        for a in left.occurrences
        for b in right.occurrences
        if a.field == b.field and _gap(a, b) > 0
    ]
    if not gaps:
        return "both found, but never in the same field"
    return f"both found, closest {min(gaps)} words apart (needs at most {node.distance})"


def _gap(a: Occurrence, b: Occurrence) -> int:
    if a.last < b.first:
        return b.first - a.last
    if b.last < a.first:
        return a.first - b.last
    return 0  # overlapping


def _quotes(spans: tuple[Span, ...], doc: Document) -> str:
    seen: dict[tuple[str, str], None] = {}
    for s in spans:
        text = (doc.title if s.field == "title" else doc.body)[s.start : s.end]
        seen[(" ".join(text.split()), s.field)] = None
    shown = [f'"{text}" ({field})' for text, field in list(seen)[:MAX_QUOTES]]
    more = len(seen) - MAX_QUOTES
    return ", ".join(shown) + (f", +{more} more" if more > 0 else "")


def _summary(clause: Clause, doc: Document) -> str:
    """What the clause found, in a few words."""
    if clause.kind == "not":
        if clause.held:
            return "none found"
        return "excluded by " + (_quotes(clause.spans, doc) or "a match")
    if clause.note:
        return clause.note
    if clause.spans and clause.held:
        return _quotes(clause.spans, doc)
    if clause.spans:  # a failed AND/NEAR that found some of its parts
        return "only partly found"
    return "nothing found"


def _reason(clause: Clause, doc: Document) -> str:
    return f"{clause.text} — {_summary(clause, doc)}"


_LABELS = {"all": "all of", "any": "any of"}


def render_explanation(explanation: Explanation, *, max_lines: int = 60) -> str:
    """Plain-text rendering, one line per clause (nested clauses indented)."""
    e = explanation
    name = e.topic or "query"
    head = f"{name}: matched, score {e.score:g}" if e.matched else f"{name}: not matched"
    lines = [head]
    if e.matched and e.terms:
        lines.append("terms: " + ", ".join(e.terms))
    for reason in e.failed_reasons():
        lines.append("why not: " + reason)
    lines.append("query: " + e.query)
    _render(e.root, e.doc, 0, lines)
    if len(lines) > max_lines:
        hidden = len(lines) - max_lines + 1
        lines = [*lines[: max_lines - 1], f"… {hidden} more lines"]
    return "\n".join(lines)


def _render(clause: Clause, doc: Document, depth: int, lines: list[str]) -> None:
    mark = HELD if clause.held else FAILED
    pad = "  " * depth
    if clause.kind in _LABELS:
        label = _LABELS[clause.kind]
        failed_any = clause.kind == "any" and not clause.held
        lines.append(f"{pad}{mark} {label}" + (": nothing found" if failed_any else ""))
        for child in clause.children:
            _render(child, doc, depth + 1, lines)
        return
    lines.append(f"{pad}{mark} {clause.text}: {_summary(clause, doc)}")
    if clause.kind in ("near", "field", "not"):
        for child in clause.children:
            if child.kind in ("all", "any", "near", "not", "field"):
                _render(child, doc, depth + 1, lines)
