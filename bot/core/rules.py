"""The query language of topics: parse a one-line query into an immutable tree, and print it back.

Syntax (operators are case-insensitive; to search for the word itself, quote it: ``"near"``)::

    iran                    a word (folded like the text: Naxçıvan = naxcivan = NAXÇIVAN)
    "rasht astara railway"  an exact phrase (consecutive words; punctuation between them ignored)
    Иран*                   a prefix: matches Иран, Ирана, Ираном, ... (at least 2 letters)
    Rasht-Astara            a word that splits into several words is a phrase: "rasht astara"
    "нахичеван* республик*" a phrase may hold prefixes
    a AND b, a b            both (AND is implicit between neighbours)
    a OR b                  either
    NOT a, -a               not
    ( ... )                 grouping
    a NEAR/5 b              both, in either order, at most 5 words apart (adjacent words are 1
                            apart; NEAR alone means NEAR/10). Each side must be a word, phrase,
                            prefix, @list, or a parenthesised OR-group of those.
    @iran                   a named keyword list: any of its entries; an entry is a word, a phrase
                            (several words) or a prefix (ending in *)
    title:x  body:x         only in the title / only in the body: title:"phrase",
                            title:(a OR b), title:@list

Precedence, tightest first: ``NOT`` / ``-`` / ``field:`` > ``NEAR`` > ``AND`` (and implicit AND)
> ``OR``. So ``a OR b c`` means ``a OR (b AND c)`` and ``NOT a NEAR/3 b`` is an error (NOT binds
first, and a negation cannot be near anything): write ``NOT (a NEAR/3 b)``.

A query that would match an item containing none of its words (``NOT x`` alone) is rejected: a
topic must say what it is about, not only what it is not.

`parse` returns a tree of frozen dataclasses; `format_query` (also ``str(node)``) prints it back so
that ``parse(format_query(q), lists) == q``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias, assert_never

from bot.core.text import scan
from bot.core.types import TopicDef

__all__ = [
    "DEFAULT_NEAR",
    "MIN_PREFIX_LEN",
    "And",
    "Field",
    "FieldName",
    "ListRef",
    "Near",
    "Node",
    "Not",
    "Or",
    "Phrase",
    "Prefix",
    "QuerySyntaxError",
    "Term",
    "compile_topic",
    "format_query",
    "is_positional",
    "matches_empty",
    "parse",
    "parse_entry",
]

DEFAULT_NEAR = 10
MIN_PREFIX_LEN = 2
FieldName: TypeAlias = Literal["title", "body"]
_FIELDS: tuple[FieldName, ...] = ("title", "body")


class QuerySyntaxError(ValueError):
    """A query a user typed cannot be used. `column` is 1-based, into the query string."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"{message} at column {column}")
        self.message = message
        self.column = column


class _Node:
    __slots__ = ()

    def __str__(self) -> str:
        return format_query(self)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True, repr=True)
class Term(_Node):
    text: str  # one folded word


@dataclass(frozen=True, slots=True)
class Prefix(_Node):
    text: str  # folded beginning of a word


@dataclass(frozen=True, slots=True)
class Phrase(_Node):
    words: tuple[Term | Prefix, ...]  # at least two


Entry: TypeAlias = Term | Prefix | Phrase


@dataclass(frozen=True, slots=True)
class ListRef(_Node):
    name: str
    entries: tuple[Entry, ...]


@dataclass(frozen=True, slots=True)
class And(_Node):
    children: tuple[Node, ...]  # at least two, none of them an And


@dataclass(frozen=True, slots=True)
class Or(_Node):
    children: tuple[Node, ...]  # at least two, none of them an Or


@dataclass(frozen=True, slots=True)
class Not(_Node):
    child: Node


@dataclass(frozen=True, slots=True)
class Near(_Node):
    left: Node
    right: Node
    distance: int  # >= 1; 1 = adjacent


@dataclass(frozen=True, slots=True)
class Field(_Node):
    name: FieldName
    child: Node


Node: TypeAlias = Term | Prefix | Phrase | ListRef | And | Or | Not | Near | Field


# --------------------------------------------------------------------------------------------
# Lexer

_QUOTES = '"“”„«»'
_Kind = Literal["(", ")", "AND", "OR", "NOT", "-", "NEAR", "LIST", "FIELD", "PHRASE", "WORD", "END"]


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: _Kind
    text: str
    column: int  # 1-based
    number: int = 0  # NEAR distance


_WS = re.compile(r"\s+")
_BARE = re.compile(rf"[^\s(){_QUOTES}]+")
_FIELD = re.compile(r"([A-Za-z]+):(?=[^\s])")
_LIST = re.compile(r"@([^\W][\w-]*)")
_NEAR = re.compile(r"NEAR(?:/(\S*))?", re.IGNORECASE)
_OPERATORS = {"and": "AND", "or": "OR", "not": "NOT"}


def _lex(query: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(query)
    while i < n:
        ws = _WS.match(query, i)
        if ws:
            i = ws.end()
            continue
        ch = query[i]
        col = i + 1
        if ch in "()":
            toks.append(_Tok(ch, ch, col))  # type: ignore[arg-type]
            i += 1
        elif ch in _QUOTES:
            close = min((j for q in _QUOTES if (j := query.find(q, i + 1)) != -1), default=-1)
            if close == -1:
                raise QuerySyntaxError(
                    f"expected '\"' to close the phrase opened at column {col}", n + 1
                )
            toks.append(_Tok("PHRASE", query[i + 1 : close], col))
            i = close + 1
        elif ch == "@":
            m = _LIST.match(query, i)
            if not m:
                raise QuerySyntaxError("expected a list name after '@'", col + 1)
            toks.append(_Tok("LIST", m.group(1), col))
            i = m.end()
        elif ch == "-" and i + 1 < n and not query[i + 1].isspace() and query[i + 1] != ")":
            toks.append(_Tok("-", "-", col))
            i += 1
        else:
            m = _FIELD.match(query, i)
            if m:
                name = m.group(1).lower()
                if name not in _FIELDS:
                    raise QuerySyntaxError(
                        f"unknown field '{m.group(1)}:' (fields are title: and body:)", col
                    )
                toks.append(_Tok("FIELD", name, col))
                i = m.end()
                continue
            word = _BARE.match(query, i)
            assert word is not None  # ch is neither space, paren nor quote
            text = word.group()
            i = word.end()
            lower = text.lower()
            if lower in _OPERATORS:
                toks.append(_Tok(_OPERATORS[lower], text, col))  # type: ignore[arg-type]
                continue
            near = _NEAR.fullmatch(text)
            if near:
                toks.append(_Tok("NEAR", text, col, _near_distance(near.group(1), col)))
                continue
            toks.append(_Tok("WORD", text, col))
    toks.append(_Tok("END", "", n + 1))
    return toks


def _near_distance(raw: str | None, col: int) -> int:
    if raw is None:
        return DEFAULT_NEAR
    if not raw.isascii() or not raw.isdigit():
        raise QuerySyntaxError("expected a number of words after 'NEAR/'", col + 5)
    distance = int(raw)
    if distance < 1:
        raise QuerySyntaxError("NEAR distance must be at least 1", col + 5)
    return distance


# --------------------------------------------------------------------------------------------
# Words, phrases and list entries


def _words(raw: str, column: int, *, allow_inner_star: bool) -> tuple[Term | Prefix, ...]:
    """Fold `raw` into words; a chunk ending in '*' makes its last word a prefix."""
    words: list[Term | Prefix] = []
    chunks = raw.split() if allow_inner_star else [raw]
    for chunk in chunks:
        is_prefix = chunk.endswith("*")
        body = chunk.rstrip("*") if is_prefix else chunk
        if "*" in body:
            raise QuerySyntaxError(
                f"'*' is only allowed at the end of a word (in {chunk!r})", column
            )
        folded = scan(body)[0]
        if not folded:
            if chunks == [raw]:
                raise QuerySyntaxError(f"expected letters or digits in {raw!r}", column)
            continue
        words.extend(Term(w) for w in folded[:-1])
        last = folded[-1]
        if is_prefix:
            if len(last) < MIN_PREFIX_LEN:
                raise QuerySyntaxError(
                    f"prefix {chunk!r} is too short (at least {MIN_PREFIX_LEN} letters before *)",
                    column,
                )
            words.append(Prefix(last))
        else:
            words.append(Term(last))
    return tuple(words)


def _from_words(words: tuple[Term | Prefix, ...], raw: str, column: int) -> Entry:
    if not words:
        raise QuerySyntaxError(f"expected letters or digits in {raw!r}", column)
    if len(words) == 1:
        return words[0]
    return Phrase(words)


def parse_entry(entry: str, column: int = 1) -> Entry:
    """Compile one keyword-list entry: a word, a phrase (several words) or a prefix (ending in *).

    Surrounding quotes are optional: ``"Rasht-Astara railway"`` and ``Rasht-Astara railway`` are
    the same entry.
    """
    raw = entry.strip()
    if len(raw) >= 2 and raw[0] in _QUOTES and raw[-1] in _QUOTES:
        raw = raw[1:-1]
    return _from_words(_words(raw, column, allow_inner_star=True), entry, column)


# --------------------------------------------------------------------------------------------
# Parser


class _Parser:
    def __init__(self, query: str, lists: Mapping[str, Sequence[str]]) -> None:
        self.toks = _lex(query)
        self.i = 0
        self.lists = {name.lower(): entries for name, entries in lists.items()}
        self.compiled_lists: dict[str, tuple[Entry, ...]] = {}
        self.in_field = False  # inside title:/body: (scopes do not nest)

    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def advance(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def starts_operand(self) -> bool:
        return self.tok.kind in ("WORD", "PHRASE", "LIST", "(", "NOT", "-", "FIELD")

    def parse(self) -> Node:
        node = self.parse_or()
        if self.tok.kind == ")":
            raise QuerySyntaxError("unexpected ')'", self.tok.column)
        if self.tok.kind != "END":  # pragma: no cover - the AND loop consumes every operand
            raise QuerySyntaxError(f"unexpected {self.tok.text!r}", self.tok.column)
        return node

    def parse_or(self) -> Node:
        children = [self.parse_and()]
        while self.tok.kind == "OR":
            self.advance()
            children.append(self.parse_and())
        return _flat(Or, children)

    def parse_and(self) -> Node:
        children = [self.parse_near()]
        while True:
            if self.tok.kind == "AND":
                self.advance()
            elif not self.starts_operand():
                break
            children.append(self.parse_near())
        return _flat(And, children)

    def parse_near(self) -> Node:
        left_col = self.tok.column
        left = self.parse_unary()
        if self.tok.kind != "NEAR":
            return left
        near = self.advance()
        right_col = self.tok.column
        right = self.parse_unary()
        for node, col in ((left, left_col), (right, right_col)):
            if not is_positional(node):
                raise QuerySyntaxError(
                    "NEAR needs a word, phrase, prefix, @list or a parenthesised OR of those "
                    "on each side",
                    col,
                )
        after = self.toks[self.i]  # (a fresh name: mypy narrowed self.tok.kind above)
        if after.kind == "NEAR":
            raise QuerySyntaxError("NEAR cannot be chained; join two NEARs with AND", after.column)
        return Near(left, right, near.number)

    def parse_unary(self) -> Node:
        tok = self.tok
        if tok.kind in ("NOT", "-"):
            self.advance()
            return Not(self.parse_unary())
        if tok.kind == "FIELD":
            if self.in_field:
                raise QuerySyntaxError("a field scope cannot hold another field scope", tok.column)
            self.advance()
            self.in_field = True
            child = self.parse_unary()
            self.in_field = False
            return Field(tok.text, child)  # type: ignore[arg-type]
        return self.parse_primary()

    def parse_primary(self) -> Node:
        tok = self.tok
        if tok.kind == "WORD":
            self.advance()
            return _from_words(
                _words(tok.text, tok.column, allow_inner_star=False), tok.text, tok.column
            )
        if tok.kind == "PHRASE":
            self.advance()
            words = _words(tok.text, tok.column, allow_inner_star=True)
            if not words:
                raise QuerySyntaxError("empty phrase", tok.column)
            return _from_words(words, tok.text, tok.column)
        if tok.kind == "LIST":
            self.advance()
            return ListRef(tok.text.lower(), self.list_entries(tok))
        if tok.kind == "(":
            self.advance()
            node = self.parse_or()
            if self.tok.kind != ")":
                raise QuerySyntaxError("expected ')'", self.tok.column)
            self.advance()
            return node
        what = "end of query" if tok.kind == "END" else repr(tok.text)
        raise QuerySyntaxError(
            f"expected a word, phrase, @list or '(' but found {what}", tok.column
        )

    def list_entries(self, tok: _Tok) -> tuple[Entry, ...]:
        name = tok.text.lower()
        if name in self.compiled_lists:
            return self.compiled_lists[name]
        if name not in self.lists:
            known = ", ".join(sorted(self.lists)) or "none defined"
            raise QuerySyntaxError(f"unknown list @{tok.text} (known lists: {known})", tok.column)
        entries: list[Entry] = []
        for raw in self.lists[name]:
            try:
                entries.append(parse_entry(raw, tok.column))
            except QuerySyntaxError as exc:
                raise QuerySyntaxError(f"list @{name}: {exc.message}", tok.column) from None
        if not entries:
            raise QuerySyntaxError(f"list @{name} is empty", tok.column)
        compiled = tuple(dict.fromkeys(entries))  # drop duplicates (e.g. variants that fold alike)
        self.compiled_lists[name] = compiled
        return compiled


def _flat(kind: type[And] | type[Or], children: list[Node]) -> Node:
    if len(children) == 1:
        return children[0]
    flat: list[Node] = []
    for child in children:
        if isinstance(child, kind):
            flat.extend(child.children)
        else:
            flat.append(child)
    return kind(tuple(flat))


def is_positional(node: Node) -> bool:
    """True if `node` matches at word positions, so that NEAR can measure a distance to it."""
    if isinstance(node, Term | Prefix | Phrase | ListRef):
        return True
    if isinstance(node, Or):
        return all(is_positional(c) for c in node.children)
    if isinstance(node, Field):
        return is_positional(node.child)
    return False


def matches_empty(node: Node) -> bool:
    """True if `node` holds for an item with no words at all (so it needs no word to match)."""
    if isinstance(node, And):
        return all(matches_empty(c) for c in node.children)
    if isinstance(node, Or):
        return any(matches_empty(c) for c in node.children)
    if isinstance(node, Not):
        return not matches_empty(node.child)
    if isinstance(node, Field):
        return matches_empty(node.child)
    return False


def parse(query: str, lists: Mapping[str, Sequence[str]] | None = None) -> Node:
    """Parse `query`; `lists` maps list names (without '@') to their entries.

    Raises QuerySyntaxError with a 1-based column for any error, including unknown lists.
    """
    if not query.strip():
        raise QuerySyntaxError("the query is empty", 1)
    node = _Parser(query, lists or {}).parse()
    if matches_empty(node):
        raise QuerySyntaxError(
            "the query would match items containing none of its words; add a word it requires", 1
        )
    return node


def compile_topic(topic: TopicDef) -> Node:
    """Parse a configured topic's query with its own keyword lists."""
    return parse(topic.query, topic.list_map())


# --------------------------------------------------------------------------------------------
# Printer

_KEYWORD_RE = re.compile(r"(?:and|or|not|near(?:/.*)?)", re.IGNORECASE)


def _word(w: Term | Prefix) -> str:
    return w.text + "*" if isinstance(w, Prefix) else w.text


def format_query(node: Node) -> str:
    """Print `node` in the query language, with only the parentheses precedence needs."""
    if isinstance(node, Term):
        return f'"{node.text}"' if _KEYWORD_RE.fullmatch(node.text) else node.text
    if isinstance(node, Prefix):
        return node.text + "*"
    if isinstance(node, Phrase):
        return '"' + " ".join(_word(w) for w in node.words) + '"'
    if isinstance(node, ListRef):
        return "@" + node.name
    if isinstance(node, Or):
        return " OR ".join(format_query(c) for c in node.children)
    if isinstance(node, And):
        return " AND ".join(_grouped(c, Or) for c in node.children)
    if isinstance(node, Near):
        left, right = (_grouped(c, Or, And, Near, Not) for c in (node.left, node.right))
        return f"{left} NEAR/{node.distance} {right}"
    if isinstance(node, Not):
        return "NOT " + _grouped(node.child, Or, And, Near)
    if isinstance(node, Field):
        return f"{node.name}:" + _grouped(node.child, Or, And, Near, Not)
    assert_never(node)


def _grouped(node: Node, *needs_parens: type) -> str:
    text = format_query(node)
    return f"({text})" if isinstance(node, needs_parens) else text
