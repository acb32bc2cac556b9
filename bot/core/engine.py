"""Match items against every topic at once, the way Lucene Monitor / the percolator do.

How one item is matched (`Engine.match`):

1. The item is folded and tokenized once (`DocIndex`): title and body word lists and sets.
2. Its distinct words are looked up in an index built from all topics' queries: exact words in
   a dict, prefixes grouped by their first three letters. The result is the set of "atoms"
   present: (word or prefix, field scope) pairs, shared by all topics.
3. Each topic is registered under the atoms of the two clauses its query requires that are
   least likely to occur (for ``@iran AND @azerbaijan AND (drill OR border)``: two of the three
   groups). A topic is a candidate only if both clauses have an atom in the item (one clause,
   if that is all the query requires). How likely a clause is comes from `WordStats` of recent
   items when the caller has them, else from word length.
4. Each candidate's query was compiled into a Python boolean expression over the present atoms
   (set membership, `isdisjoint` for OR groups, least likely AND parts first); phrases and NEAR
   are checked on word positions, lazily and at most once per item even when several topics
   share them.
5. For the few topics that matched, the query is evaluated again to collect evidence (`collect`,
   which gives the same evidence as `evaluate`, the code `explain` uses) for spans and the score.

The score (0–100, see `score_evidence`) lets an admin set a minimum per subscription.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Final, NamedTuple

from bot.core.rules import (
    And,
    Entry,
    Field,
    ListRef,
    Near,
    Node,
    Not,
    Or,
    Phrase,
    Prefix,
    QuerySyntaxError,
    Term,
    compile_topic,
)
from bot.core.text import fold_words, scan, word_offsets, words
from bot.core.types import Document, Span, TopicDef, TopicMatch

__all__ = [
    "FIELD_NAMES",
    "ClauseResult",
    "DocIndex",
    "Engine",
    "Occurrence",
    "TopicError",
    "WordStats",
    "collect",
    "dedupe",
    "evaluate",
    "evidence",
    "score_evidence",
    "to_spans",
    "word_stats",
]

ANCHORS: Final = 3  # required clauses a topic is indexed under (see Engine._build)
_ATOM_CACHE_MAX = 300_000  # words remembered per engine with the atoms they trigger

TITLE: Final = 0
BODY: Final = 1
FIELD_NAMES: Final = ("title", "body")
_SCOPES: Final[dict[str | None, tuple[int, ...]]] = {
    None: (TITLE, BODY),
    "title": (TITLE,),
    "body": (BODY,),
}


class TopicError(ValueError):
    """A topic's query could not be compiled. Names the topic."""

    def __init__(self, topic: str, error: QuerySyntaxError) -> None:
        super().__init__(f"topic {topic}: {error}")
        self.topic = topic
        self.error = error


# --------------------------------------------------------------------------------------------
# One item, folded and tokenized once


class DocIndex:
    """An item's title and body as folded words with positions and original character offsets."""

    __slots__ = (
        "_offsets",
        "_positions",
        "_raw",
        "_sorted",
        "all_words",
        "doc",
        "sets",
        "words",
    )

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        title, title_raw = fold_words(doc.title)
        body, body_raw = fold_words(doc.body)
        self.words: tuple[list[str], list[str]] = (title, body)
        self._raw = (title_raw, body_raw)
        self.sets: tuple[set[str], set[str]] = (set(title), set(body))
        self.all_words = self.sets[0] | self.sets[1]
        self._positions: list[dict[str, list[int]] | None] = [None, None]
        self._sorted: list[list[str] | None] = [None, None]
        self._offsets: tuple[tuple[list[int], list[int]], tuple[list[int], list[int]]] | None = None

    def _field_offsets(self, field: int) -> tuple[list[int], list[int]]:
        text = self.text(field)
        raw = self._raw[field]
        if raw is not None:
            return word_offsets(text, raw)
        _, starts, ends = scan(text)
        return starts, ends

    def _scan_offsets(self) -> tuple[tuple[list[int], list[int]], tuple[list[int], list[int]]]:
        # Offsets are only needed for the spans of matched topics: computed on first use.
        if self._offsets is None:
            title = self._field_offsets(TITLE)
            body = self._field_offsets(BODY)
            self._offsets = ((title[0], body[0]), (title[1], body[1]))
        return self._offsets

    @property
    def starts(self) -> tuple[list[int], list[int]]:
        """Start offset (into the original title/body) of each word, by field and position."""
        return self._scan_offsets()[0]

    @property
    def ends(self) -> tuple[list[int], list[int]]:
        return self._scan_offsets()[1]

    def text(self, field: int) -> str:
        return self.doc.title if field == TITLE else self.doc.body

    def words_in(self, fields: tuple[int, ...]) -> set[str]:
        """The distinct words of the given fields."""
        if len(fields) == 2:
            return self.all_words
        return self.sets[fields[0]] if fields else set()

    def _table(self, field: int) -> dict[str, list[int]]:
        table = self._positions[field]
        if table is None:
            table = {}
            for i, w in enumerate(self.words[field]):
                table.setdefault(w, []).append(i)
            self._positions[field] = table
        return table

    def positions(self, field: int, word: str) -> list[int]:
        """Word positions of `word` (folded) in a field."""
        if word not in self.sets[field]:
            return []
        return (self._positions[field] or self._table(field))[word]

    def prefix_positions(self, field: int, prefix: str) -> list[int]:
        ordered = self._sorted[field]
        if ordered is None:
            ordered = self._sorted[field] = sorted(self.sets[field])
        i = bisect.bisect_left(ordered, prefix)
        found: list[int] = []
        table = None
        while i < len(ordered) and ordered[i].startswith(prefix):
            table = table or self._table(field)
            found.extend(table[ordered[i]])
            i += 1
        found.sort()
        return found

    def word_positions(self, field: int, word: Term | Prefix) -> list[int]:
        if isinstance(word, Prefix):
            return self.prefix_positions(field, word.text)
        return self.positions(field, word.text)


# --------------------------------------------------------------------------------------------
# Detailed evaluation (used for matched topics and by explain)


class Occurrence(NamedTuple):  # a tuple: cheap to create in the matching loop
    """Where a query word/phrase/prefix matched: word positions [first, last] in one field."""

    field: int  # TITLE or BODY
    first: int
    last: int
    label: str  # the query term as printed: iran, иран*, "rasht astara railway" -> rasht astara...
    group: str  # what it counts as for the score: "@listname" inside a list, else the label


@dataclass(frozen=True, slots=True)
class ClauseResult:
    """One clause of a query evaluated against one item (a tree mirroring the query)."""

    node: Node
    fields: tuple[int, ...]  # where the clause looked (TITLE, BODY)
    held: bool
    occurrences: tuple[Occurrence, ...]  # positive evidence of this clause (for NOT: the child's)
    children: tuple[ClauseResult, ...] = ()


def _label(node: Term | Prefix | Phrase) -> str:
    if isinstance(node, Term):
        return node.text
    if isinstance(node, Prefix):
        return node.text + "*"
    return " ".join(w.text + ("*" if isinstance(w, Prefix) else "") for w in node.words)


def _entry_occurrences(
    node: Entry, dix: DocIndex, fields: tuple[int, ...], group: str | None
) -> list[Occurrence]:
    out: list[Occurrence] = []
    if isinstance(node, Phrase):
        first, rest = node.words[0], node.words[1:]
        for f in fields:
            words = dix.words[f]
            n = len(words)
            for p in dix.word_positions(f, first):
                if p + len(rest) >= n:
                    break
                for k, w in enumerate(rest, 1):
                    actual = words[p + k]
                    if isinstance(w, Prefix):
                        if not actual.startswith(w.text):
                            break
                    elif actual != w.text:
                        break
                else:
                    label = _label(node)
                    out.append(Occurrence(f, p, p + len(rest), label, group or label))
        return out
    for f in fields:
        found = dix.word_positions(f, node)
        if found:
            label = _label(node)
            out.extend(Occurrence(f, p, p, label, group or label) for p in found)
    return out


def _near_pairs(
    left: Sequence[Occurrence], right: Sequence[Occurrence], distance: int
) -> list[Occurrence]:
    """Occurrences of either side that have a partner on the other side within `distance`."""
    used: dict[Occurrence, None] = {}
    for a in left:
        for b in right:
            if a.field != b.field:
                continue
            if a.last < b.first:
                gap = b.first - a.last
            elif b.last < a.first:
                gap = a.first - b.last
            else:
                continue  # overlapping: one word cannot be both sides
            if gap <= distance:
                used[a] = None
                used[b] = None
    return sorted(used, key=lambda o: (o.field, o.first, o.last))


def evaluate(
    node: Node, dix: DocIndex, fields: tuple[int, ...] = (TITLE, BODY), group: str | None = None
) -> ClauseResult:
    """Evaluate `node` on an item, keeping every clause's outcome and evidence."""
    if isinstance(node, Term | Prefix | Phrase):
        occ = tuple(_entry_occurrences(node, dix, fields, group))
        return ClauseResult(node, fields, bool(occ), occ)
    if isinstance(node, ListRef):
        found: list[Occurrence] = []
        for entry in node.entries:
            found.extend(_entry_occurrences(entry, dix, fields, "@" + node.name))
        found.sort(key=lambda o: (o.field, o.first, o.last))
        return ClauseResult(node, fields, bool(found), tuple(found))
    if isinstance(node, Field):
        scoped = tuple(f for f in fields if FIELD_NAMES[f] == node.name)
        child = evaluate(node.child, dix, scoped, group)
        return ClauseResult(node, scoped, child.held, child.occurrences, (child,))
    if isinstance(node, Not):
        child = evaluate(node.child, dix, fields, group)
        return ClauseResult(node, fields, not child.held, child.occurrences, (child,))
    if isinstance(node, And | Or):
        kids = tuple(evaluate(c, dix, fields, group) for c in node.children)
        held = all(k.held for k in kids) if isinstance(node, And) else any(k.held for k in kids)
        occ = tuple(
            o for k in kids if k.held and not isinstance(k.node, Not) for o in k.occurrences
        )
        return ClauseResult(node, fields, held, occ, kids)
    if isinstance(node, Near):
        left = evaluate(node.left, dix, fields, group)
        right = evaluate(node.right, dix, fields, group)
        pairs = _near_pairs(left.occurrences, right.occurrences, node.distance)
        return ClauseResult(node, fields, bool(pairs), tuple(pairs), (left, right))
    raise TypeError(f"not a query node: {node!r}")  # pragma: no cover


@dataclass(frozen=True, slots=True)
class _ListHint:
    """For one keyword list in one field scope: the atoms of its entries."""

    atoms: frozenset[int]
    entries: Mapping[int, tuple[int, ...]]  # atom -> indexes of the entries it stands for


@dataclass(frozen=True, slots=True)
class _Hint:
    """What the engine already knows about an item: the atoms present in it."""

    present: set[int]
    lists: Mapping[tuple[int, tuple[int, ...]], _ListHint]  # (id(ListRef), fields) -> hint


def _collect_term(
    text: str, dix: DocIndex, fields: tuple[int, ...], group: str | None, out: list[Occurrence]
) -> bool:
    found = False
    for f in fields:
        if text in dix.sets[f]:
            found = True
            grp = group or text
            out.extend([Occurrence(f, p, p, text, grp) for p in dix.positions(f, text)])
    return found


def collect(
    node: Node,
    dix: DocIndex,
    fields: tuple[int, ...],
    group: str | None,
    out: list[Occurrence],
    hint: _Hint | None = None,
) -> bool:
    """Whether `node` holds; if it does, append its evidence to `out` (as `evidence` would).

    The lean twin of `evaluate`, for the engine: no result tree, terms absent from the item
    rejected by one set lookup, nothing kept from failed or negated branches. With the engine's
    `hint`, a keyword list only looks at the entries whose words occur in the item.
    """
    # type(node) is X: the node classes have no subclasses, and this runs for every clause of
    # every matched topic.
    kind = type(node)
    if kind is Term:
        return _collect_term(node.text, dix, fields, group, out)  # type: ignore[union-attr]
    if kind is And:
        mark = len(out)
        for child in node.children:  # type: ignore[union-attr]
            if not collect(child, dix, fields, group, out, hint):
                del out[mark:]
                return False
        return True
    if kind is Or:
        held = False
        seen = dix.words_in(fields)
        for child in node.children:  # type: ignore[union-attr]
            if type(child) is Term:  # the common case, without a call per absent word
                if child.text in seen:
                    held = _collect_term(child.text, dix, fields, group, out) or held
            else:
                held = collect(child, dix, fields, group, out, hint) or held
        return held
    if isinstance(node, Prefix | Phrase):
        occ = _entry_occurrences(node, dix, fields, group)
        out.extend(occ)
        return bool(occ)
    if isinstance(node, ListRef):
        name = "@" + node.name
        found = False
        entries: Sequence[Entry] = node.entries
        seen = dix.words_in(fields)
        list_hint = hint.lists.get((id(node), fields)) if hint is not None else None
        if list_hint is not None and hint is not None:
            hits = list_hint.atoms & hint.present
            if not hits:
                return False
            indexes = sorted({i for a in hits for i in list_hint.entries[a]})
            entries = [node.entries[i] for i in indexes]
        for entry in entries:
            if type(entry) is Term and entry.text not in seen:
                continue
            occ = _entry_occurrences(entry, dix, fields, name)
            if occ:
                out.extend(occ)
                found = True
        return found
    if isinstance(node, Not):
        return not collect(node.child, dix, fields, group, [], hint)
    if isinstance(node, Field):
        scoped = tuple(f for f in fields if FIELD_NAMES[f] == node.name)
        return collect(node.child, dix, scoped, group, out, hint)
    if isinstance(node, Near):
        left: list[Occurrence] = []
        right: list[Occurrence] = []
        if not (
            collect(node.left, dix, fields, group, left, hint)
            and collect(node.right, dix, fields, group, right, hint)
        ):
            return False
        pairs = _near_pairs(left, right, node.distance)
        out.extend(pairs)
        return bool(pairs)
    raise TypeError(f"not a query node: {node!r}")  # pragma: no cover


def dedupe(occurrences: Iterable[Occurrence]) -> list[Occurrence]:
    """One occurrence per (place, concept): when two entries of a list match the same words
    (Iran and Iran*), the first one stands for both."""
    seen: dict[tuple[int, int, int, str], Occurrence] = {}
    for o in occurrences:
        seen.setdefault((o.field, o.first, o.last, o.group), o)
    return list(seen.values())


def evidence(result: ClauseResult) -> list[Occurrence]:
    """The occurrences that made a held clause hold (nothing from negated parts), deduplicated."""
    return dedupe(_evidence(result))


def _evidence(result: ClauseResult) -> Iterable[Occurrence]:
    if not result.held or isinstance(result.node, Not):
        return
    if isinstance(result.node, And | Or | Field):
        for child in result.children:
            yield from _evidence(child)
    else:
        yield from result.occurrences


# --------------------------------------------------------------------------------------------
# Score

# Points, documented for admins who set a minimum score (the sum is at most 100):
#   concepts  10 per distinct concept matched, up to 4 (40). A concept is a keyword list (@iran)
#             or, outside lists, a query term. Several independent concepts = a more specific hit.
#   variety   5 per distinct term beyond one per concept, up to 3 (15): "Aras" and "Julfa" and
#             "Nakhchivan" say more than "Aras" three times.
#   title     up to 20: 20 x (share of the matched concepts that appear in the title).
#   proximity up to 25: the closest two occurrences of different concepts in the same field:
#             <= 3 words apart 25, <= 8 18, <= 20 10, farther 4; 0 with a single concept.
SCORE_WEIGHTS: Final = {"concept": 10.0, "variety": 5.0, "title": 20.0}
_PROXIMITY: Final = ((3, 25.0), (8, 18.0), (20, 10.0))
_FAR: Final = 4.0


def score_evidence(occurrences: Sequence[Occurrence]) -> float:
    """Score a match from its evidence, 0–100 (see the table above)."""
    if not occurrences:
        return 0.0
    groups = {o.group for o in occurrences}
    labels = {o.label for o in occurrences}
    concepts = SCORE_WEIGHTS["concept"] * min(len(groups), 4)
    variety = SCORE_WEIGHTS["variety"] * min(max(len(labels) - len(groups), 0), 3)
    in_title = {o.group for o in occurrences if o.field == TITLE}
    title = SCORE_WEIGHTS["title"] * len(in_title) / len(groups)
    return round(concepts + variety + title + _proximity(occurrences), 1)


def _proximity(occurrences: Sequence[Occurrence]) -> float:
    best: int | None = None
    ordered = sorted(occurrences, key=lambda o: (o.field, o.first))
    for a, b in itertools.pairwise(ordered):
        if a.field == b.field and a.group != b.group:
            gap = max(b.first - a.last, 0)
            best = gap if best is None else min(best, gap)
    if best is None:
        groups_by_field: dict[int, set[str]] = {}
        for o in occurrences:
            groups_by_field.setdefault(o.field, set()).add(o.group)
        return 0.0 if all(len(g) < 2 for g in groups_by_field.values()) else _FAR
    for limit, points in _PROXIMITY:
        if best <= limit:
            return points
    return _FAR


def to_spans(dix: DocIndex, occurrences: Iterable[Occurrence]) -> tuple[Span, ...]:
    """Character spans (into the item's title/body) of occurrences, deduplicated, in text order."""
    spans: dict[tuple[int, int, int], str] = {}
    starts, ends = dix.starts, dix.ends
    for field, first, last, label, _ in occurrences:
        spans.setdefault((field, starts[field][first], ends[field][last]), label)
    return tuple(
        Span("title" if f == TITLE else "body", start, end, spans[(f, start, end)])
        for f, start, end in sorted(spans)
    )


def _distinct_terms(spans: Sequence[Span]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(s.term for s in spans))


def match_compiled(
    topic_id: str, query: Node, dix: DocIndex, hint: _Hint | None = None
) -> TopicMatch | None:
    """Evaluate one compiled query in detail; the TopicMatch if it holds."""
    found: list[Occurrence] = []
    if not collect(query, dix, (TITLE, BODY), None, found, hint):
        return None
    occ = dedupe(found)
    spans = to_spans(dix, occ)
    return TopicMatch(topic_id, score_evidence(occ), _distinct_terms(spans), spans)


# --------------------------------------------------------------------------------------------
# Compilation of all topics into one index

_Checker = Callable[[set[int], Callable[[int], bool]], bool]

# Words so frequent that anchoring a topic on them would make it a candidate for most items.
_COMMON_BY_LANGUAGE: Final = (
    "the a an of to in and or for on at by with from as is are was were be has have had it its "
    "this that said says new not but after over about more than his her their will would",
    "в и на с по не что из за к о от для как это у а его до также при об",
    "ve bu bir ile ila da de ki ucun olan",
    "و در به از که این با را است برای آن یک تا بر شد",
    "և է ու որ են այդ մասին հետ համար",
)
_COMMON: Final = frozenset(w for line in _COMMON_BY_LANGUAGE for w in line.split())


def _atom_chance(kind: str, text: str) -> float:
    """A rough chance that an item contains this word ("t") or prefix ("p").

    Only the ranking matters: it decides which clause anchors a topic and in which order the
    compiled code tests the parts of an AND (least likely first, so most candidates fail fast).
    Without corpus statistics, longer words are taken as rarer, common words as very likely.
    """
    if kind == "t" and text in _COMMON:
        return 0.9
    n = len(text)
    chance = 0.02 if n >= 7 else 0.03 if n >= 5 else 0.06 if n >= 3 else 0.15
    if text.isdigit():
        chance *= 3
    if kind == "p":
        chance *= 1.5 if n >= 5 else 3.0
    return min(chance, 0.9)


@dataclass(frozen=True)
class WordStats:
    """How often words occur in recent items: word -> share of items containing it (0..1).

    Optional input to `Engine`: with it, each topic is anchored on the clauses least likely to
    occur in real items (a rare name rather than a frequent word of the same length). Build it
    with `word_stats` from a few thousand recent items; rebuild it now and then.
    """

    share: Mapping[str, float]
    items: int  # how many items the shares come from

    def chance(self, kind: str, text: str) -> float:
        if kind == "t":
            return self.share.get(text, 0.5 / max(self.items, 1))
        ordered = self._sorted()
        i = bisect.bisect_left(ordered, text)
        total = 0.0
        while i < len(ordered) and ordered[i].startswith(text):
            total += self.share[ordered[i]]
            i += 1
        return min(max(total, 0.5 / max(self.items, 1)), 0.95)

    def _sorted(self) -> list[str]:
        cached: list[str] | None = self.__dict__.get("_ordered")
        if cached is None:
            cached = sorted(self.share)
            object.__setattr__(self, "_ordered", cached)
        return cached


def word_stats(docs: Iterable[Document]) -> WordStats:
    """Share of `docs` that contain each folded word (title or body)."""
    counts: dict[str, int] = {}
    n = 0
    for doc in docs:
        n += 1
        for w in set(words(doc.title)) | set(words(doc.body)):
            counts[w] = counts.get(w, 0) + 1
    return WordStats({w: c / n for w, c in counts.items()}, n)


def _all_chance(chances: Iterable[float]) -> float:
    both = 1.0
    for c in chances:
        both *= c
    return both


def _any_chance(chances: Iterable[float]) -> float:
    miss = 1.0
    for c in chances:
        miss *= 1.0 - c
    return 1.0 - miss


@dataclass(frozen=True, slots=True)
class _Complex:
    """A phrase or NEAR checked on word positions, shared by all topics that use it."""

    node: Node
    fields: tuple[int, ...]


class _Compiler:
    def __init__(self, stats: WordStats | None = None) -> None:
        self.stats = stats
        self.atoms: dict[tuple[str, str, str | None], int] = {}
        self.atom_keys: list[tuple[str, str, str | None]] = []
        self.complex: dict[_Complex, int] = {}
        self.complex_list: list[_Complex] = []
        self.constants: list[frozenset[int]] = []
        self.constant_ids: dict[frozenset[int], int] = {}

    def atom(self, kind: str, text: str, scope: str | None) -> int:
        key = (kind, text, scope)
        aid = self.atoms.get(key)
        if aid is None:
            aid = self.atoms[key] = len(self.atom_keys)
            self.atom_keys.append(key)
        return aid

    def complex_id(self, node: Node, scope: str | None) -> int:
        key = _Complex(node, _SCOPES[scope])
        cid = self.complex.get(key)
        if cid is None:
            cid = self.complex[key] = len(self.complex_list)
            self.complex_list.append(key)
        return cid

    def constant(self, atoms: frozenset[int]) -> int:
        kid = self.constant_ids.get(atoms)
        if kid is None:
            kid = self.constant_ids[atoms] = len(self.constants)
            self.constants.append(atoms)
        return kid

    # The generated code contains only integers, fixed operators and the names m, c and K: no
    # text from the query, so compiling it is safe.
    def expr(self, node: Node, scope: str | None) -> str:
        if isinstance(node, Term):
            return f"{self.atom('t', node.text, scope)} in m"
        if isinstance(node, Prefix):
            return f"{self.atom('p', node.text, scope)} in m"
        if isinstance(node, Phrase):
            words = " and ".join(self.expr(w, scope) for w in node.words)
            return f"({words} and c({self.complex_id(node, scope)}))"
        if isinstance(node, ListRef):
            return self.any_of(node.entries, scope)
        if isinstance(node, Or):
            return self.any_of(node.children, scope)
        if isinstance(node, And):
            # least likely part first: most candidates then fail on the first test
            ordered = sorted(node.children, key=self.chance)
            return "(" + " and ".join(self.expr(c, scope) for c in ordered) + ")"
        if isinstance(node, Not):
            return f"(not {self.expr(node.child, scope)})"
        if isinstance(node, Field):
            if scope is not None and scope != node.name:
                return "False"  # pragma: no cover - the parser rejects nested scopes
            return self.expr(node.child, node.name)
        if isinstance(node, Near):
            left = self.expr(node.left, scope)
            right = self.expr(node.right, scope)
            return f"({left} and {right} and c({self.complex_id(node, scope)}))"
        raise TypeError(f"not a query node: {node!r}")  # pragma: no cover

    def any_of(self, children: Sequence[Node], scope: str | None) -> str:
        simple: list[int] = []
        other: list[str] = []
        for child in children:
            if isinstance(child, Term):
                simple.append(self.atom("t", child.text, scope))
            elif isinstance(child, Prefix):
                simple.append(self.atom("p", child.text, scope))
            else:
                other.append(self.expr(child, scope))
        parts = [f"{a} in m" for a in simple] if len(simple) <= 3 else []
        if len(simple) > 3:
            parts.append(f"not m.isdisjoint(K[{self.constant(frozenset(simple))}])")
        parts.extend(other)
        return "(" + " or ".join(parts) + ")"

    def required(self, node: Node, scope: str | None) -> list[frozenset[int]]:
        """Clauses (sets of atoms) that must each have one atom present for `node` to hold."""
        if isinstance(node, Term):
            return [frozenset({self.atom("t", node.text, scope)})]
        if isinstance(node, Prefix):
            return [frozenset({self.atom("p", node.text, scope)})]
        if isinstance(node, Phrase):
            return [c for w in node.words for c in self.required(w, scope)]
        if isinstance(node, ListRef | Or):
            children: Sequence[Node] = node.entries if isinstance(node, ListRef) else node.children
            options: list[list[frozenset[int]]] = []
            for child in children:
                clauses = sorted(set(self.required(child, scope)), key=self.cost)
                if not clauses:
                    return []
                options.append(clauses[:ANCHORS])
            if len(options) > 4:  # many alternatives (a list): one clause, the best of each
                return [frozenset().union(*(o[0] for o in options))]
            # (A AND B) OR (C AND D) requires A-or-C, A-or-D, B-or-C and B-or-D: every way of
            # taking one required clause from each alternative.
            return [frozenset().union(*combo) for combo in itertools.product(*options)]
        if isinstance(node, And):
            return [c for child in node.children for c in self.required(child, scope)]
        if isinstance(node, Near):
            return self.required(node.left, scope) + self.required(node.right, scope)
        if isinstance(node, Field):
            return self.required(node.child, node.name)
        return []  # NOT requires nothing

    def cost(self, clause: frozenset[int]) -> float:
        """Chance that a clause (any of its atoms) is present: lower is a better anchor."""
        return _any_chance(self.atom_chance(*self.atom_keys[a][:2]) for a in clause)

    def atom_chance(self, kind: str, text: str) -> float:
        if self.stats is not None:
            return self.stats.chance(kind, text)
        return _atom_chance(kind, text)

    def chance(self, node: Node) -> float:
        """Rough chance that `node` holds for an item (see _atom_chance)."""
        if isinstance(node, Term):
            return self.atom_chance("t", node.text)
        if isinstance(node, Prefix):
            return self.atom_chance("p", node.text)
        if isinstance(node, Phrase):
            return 0.5 * _all_chance(self.chance(w) for w in node.words)
        if isinstance(node, ListRef):
            return _any_chance(self.chance(e) for e in node.entries)
        if isinstance(node, Or):
            return _any_chance(self.chance(c) for c in node.children)
        if isinstance(node, And):
            return _all_chance(self.chance(c) for c in node.children)
        if isinstance(node, Near):
            return 0.5 * self.chance(node.left) * self.chance(node.right)
        if isinstance(node, Not):
            return 1.0 - self.chance(node.child)
        return self.chance(node.child)  # Field


def _register_lists(
    node: Node,
    scope: str | None,
    comp: _Compiler,
    hints: dict[tuple[int, tuple[int, ...]], _ListHint],
) -> None:
    """Record, for each keyword list of a query, which atoms stand for which of its entries."""
    if isinstance(node, ListRef):
        key = (id(node), _SCOPES[scope])
        if key in hints:
            return
        by_atom: dict[int, list[int]] = {}
        for i, entry in enumerate(node.entries):
            word = entry.words[0] if isinstance(entry, Phrase) else entry
            kind = "p" if isinstance(word, Prefix) else "t"
            by_atom.setdefault(comp.atom(kind, word.text, scope), []).append(i)
        hints[key] = _ListHint(frozenset(by_atom), {a: tuple(e) for a, e in by_atom.items()})
    elif isinstance(node, And | Or):
        for child in node.children:
            _register_lists(child, scope, comp, hints)
    elif isinstance(node, Not):
        _register_lists(node.child, scope, comp, hints)
    elif isinstance(node, Near):
        _register_lists(node.left, scope, comp, hints)
        _register_lists(node.right, scope, comp, hints)
    elif isinstance(node, Field):
        _register_lists(node.child, node.name, comp, hints)


@dataclass(frozen=True, slots=True)
class _Topic:
    id: str
    query: Node
    check: _Checker


class Engine:
    """All topics compiled into one index. Build once per topic change; `match` per item.

    `Engine(topics)` raises TopicError for a topic whose query does not compile; with
    ``strict=False`` such topics are left out and listed in `errors` instead.
    """

    def __init__(
        self,
        topics: Iterable[TopicDef],
        *,
        strict: bool = True,
        stats: WordStats | None = None,
    ) -> None:
        compiled: dict[str, Node] = {}
        self.errors: dict[str, TopicError] = {}
        for topic in topics:
            if topic.id in compiled or topic.id in self.errors:
                raise ValueError(f"duplicate topic id {topic.id!r}")
            try:
                compiled[topic.id] = compile_topic(topic)
            except QuerySyntaxError as exc:
                err = TopicError(topic.id, exc)
                if strict:
                    raise err from None
                self.errors[topic.id] = err
        self._build(compiled, stats)

    @classmethod
    def from_queries(cls, queries: Mapping[str, Node], *, stats: WordStats | None = None) -> Engine:
        """An engine over already compiled queries (topic id -> parsed query)."""
        engine = cls.__new__(cls)
        engine.errors = {}
        engine._build(dict(queries), stats)
        return engine

    @classmethod
    def single(cls, topic: TopicDef) -> Engine:
        """An engine for one topic (e.g. to preview or test a topic being edited)."""
        return cls([topic])

    def _build(self, queries: dict[str, Node], stats: WordStats | None = None) -> None:
        comp = _Compiler(stats)
        topics: list[_Topic] = []
        # A topic is a candidate for an item when each of its ANCHORS least likely required
        # clauses has an atom in the item (all of them, when it requires fewer): a few lookups
        # and set intersections instead of evaluating many near misses.
        tables: list[dict[int, list[int]]] = [{} for _ in range(ANCHORS)]
        fewer: list[list[int]] = [[] for _ in range(ANCHORS)]  # [j]: topics with <= j clauses
        always: list[int] = []
        for index, (topic_id, query) in enumerate(queries.items()):
            source = f"lambda m, c, K=K: {comp.expr(query, None)}"
            check = eval(compile(source, f"<topic {topic_id}>", "eval"), {"K": comp.constants})
            topics.append(_Topic(topic_id, query, check))
            clauses = sorted(set(comp.required(query, None)), key=comp.cost)
            if not clauses:
                always.append(index)  # e.g. NOT NOT x: evaluate on every item
                continue
            for j in range(ANCHORS):
                if j < len(clauses):
                    for aid in clauses[j]:
                        tables[j].setdefault(aid, []).append(index)
                else:
                    fewer[j].append(index)
        list_hints: dict[tuple[int, tuple[int, ...]], _ListHint] = {}
        for topic in topics:
            _register_lists(topic.query, None, comp, list_hints)
        self._list_hints = list_hints
        self._topics: tuple[_Topic, ...] = tuple(topics)
        self._always: frozenset[int] = frozenset(always)
        self._anchor_tables = [{a: tuple(t) for a, t in table.items()} for table in tables]
        self._fewer = [frozenset(f) for f in fewer]
        self._complex: tuple[_Complex, ...] = tuple(comp.complex_list)

        # word / prefix -> atoms, by field scope (None: title or body)
        word_atoms: dict[str | None, dict[str, list[int]]] = {None: {}, "title": {}, "body": {}}
        prefix_atoms: dict[str | None, dict[str, list[int]]] = {None: {}, "title": {}, "body": {}}
        for aid, (kind, text, scope) in enumerate(comp.atom_keys):
            table = word_atoms if kind == "t" else prefix_atoms
            table[scope].setdefault(text, []).append(aid)
        self._word_atoms = {s: {w: tuple(a) for w, a in t.items()} for s, t in word_atoms.items()}
        self._prefix_atoms = {
            s: {p: tuple(a) for p, a in t.items()} for s, t in prefix_atoms.items()
        }
        # Prefixes by their first 3 letters (prefixes are at least MIN_PREFIX_LEN = 2 long; the
        # 2-letter ones are looked up directly).
        all_prefixes = sorted({p for t in prefix_atoms.values() for p in t})
        by_head: dict[str, list[str]] = {}
        for p in all_prefixes:
            if len(p) >= 3:
                by_head.setdefault(p[:3], []).append(p)
        self._prefixes_by_head = {h: tuple(ps) for h, ps in by_head.items()}
        self._scope_used = {
            scope: bool(self._word_atoms[scope] or self._prefix_atoms[scope])
            for scope in (None, "title", "body")
        }
        self._atoms_of_word: dict[str | None, dict[str, tuple[int, ...]]] = {
            None: {},
            "title": {},
            "body": {},
        }
        self._short_prefixes = frozenset(p for p in all_prefixes if len(p) < 3)

    def topic_ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in self._topics)

    def query(self, topic_id: str) -> Node:
        """The compiled query of a topic (KeyError if unknown)."""
        for t in self._topics:
            if t.id == topic_id:
                return t.query
        raise KeyError(topic_id)

    def present_atoms(self, dix: DocIndex) -> set[int]:
        """The atoms (word or prefix, with field scope) that occur in the item."""
        present: set[int] = set()
        for scope, found in (
            (None, dix.all_words),
            ("title", dix.sets[TITLE]),
            ("body", dix.sets[BODY]),
        ):
            if not self._scope_used[scope]:
                continue
            cache = self._atoms_of_word[scope]
            known = list(map(cache.get, found))  # most words were seen in earlier items
            if None in known:
                known = [
                    atoms if atoms is not None else self._word_atoms_in(scope, word)
                    for word, atoms in zip(found, known, strict=True)
                ]
            present.update(chain.from_iterable(known))  # type: ignore[arg-type]
        return present

    def _word_atoms_in(self, scope: str | None, word: str) -> tuple[int, ...]:
        """The atoms a word triggers (the word itself, and every prefix it has); cached."""
        atoms = list(self._word_atoms[scope].get(word, ()))
        ptable = self._prefix_atoms[scope]
        if ptable:
            for prefix in self._prefixes_by_head.get(word[:3], ()):
                if word.startswith(prefix) and prefix in ptable:
                    atoms.extend(ptable[prefix])
            short = word[:2]
            if short in self._short_prefixes and short in ptable:
                atoms.extend(ptable[short])
        cache = self._atoms_of_word[scope]
        if len(cache) >= _ATOM_CACHE_MAX:
            cache.clear()
        found = cache[word] = tuple(atoms)
        return found

    def candidates(self, present: set[int]) -> set[int]:
        """Indexes of the topics worth evaluating on an item with these atoms."""
        cands: set[int] = set()
        for j, table in enumerate(self._anchor_tables):
            hit = set(chain.from_iterable(map(table.__getitem__, table.keys() & present)))
            if j == 0:
                cands = hit
            else:
                fewer = self._fewer[j]
                cands = (cands & hit) | (cands & fewer) if fewer else cands & hit
            if not cands:
                break
        return cands | self._always if self._always else cands

    def match(self, doc: Document, *, min_score: float = 0.0) -> tuple[TopicMatch, ...]:
        """Every topic `doc` matches (score >= min_score), best score first."""
        dix = DocIndex(doc)
        present = self.present_atoms(dix)
        if not present and not self._always:
            return ()
        memo: dict[int, bool] = {}
        complex_nodes = self._complex
        hint = _Hint(present, self._list_hints)

        def check_complex(cid: int) -> bool:
            held = memo.get(cid)
            if held is None:
                spec = complex_nodes[cid]
                held = memo[cid] = collect(spec.node, dix, spec.fields, None, [], hint)
            return held

        topics = self._topics
        out: list[TopicMatch] = []
        for index in self.candidates(present):
            topic = topics[index]
            if topic.check(present, check_complex):
                found = match_compiled(topic.id, topic.query, dix, hint)
                if found is not None and found.score >= min_score:
                    out.append(found)
        out.sort(key=lambda t: (-t.score, t.topic))
        return tuple(out)
