"""The query language: what each construct parses to, the errors users see, and printing back."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bot.core.rules import (
    And,
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
    format_query,
    matches_empty,
    parse,
    parse_entry,
)
from bot.core.text import words
from bot.core.types import TopicDef

LISTS = {
    "iran": ["Iran", "Иран*", '"Rasht-Astara railway"', "Tehran"],
    "border_places": ["Aras", "Naxçıvan*", "Нахичеван*"],
    "empty": [],
}
IRAN = ListRef(
    "iran",
    (
        Term("iran"),
        Prefix("иран"),
        Phrase((Term("rasht"), Term("astara"), Term("railway"))),
        Term("tehran"),
    ),
)
PLACES = ListRef("border_places", (Term("aras"), Prefix("naxcivan"), Prefix("нахичеван")))
a, b, c, d = Term("a"), Term("b"), Term("c"), Term("d")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # terms, folded like the text
        ("Iran", Term("iran")),
        ("NAXÇIVAN", Term("naxcivan")),
        # phrases; a bare word that splits is a phrase too; curly quotes work
        ('"border guard"', Phrase((Term("border"), Term("guard")))),
        ("Rasht–Astara", Phrase((Term("rasht"), Term("astara")))),
        ("“border guard”", Phrase((Term("border"), Term("guard")))),
        ('"Aras"', Term("aras")),  # a one-word phrase is the word
        ('"нахичеван* республик*"', Phrase((Prefix("нахичеван"), Prefix("республик")))),
        # prefixes in each script
        ("Иран*", Prefix("иран")),
        ("Azərbaycan*", Prefix("azerbaycan")),
        ("ایران*", Prefix("ایران")),
        ("Իրան*", Prefix("իրան")),
        # AND, explicit and implicit; OR; NOT and leading -
        ("a AND b", And((a, b))),
        ("a b", And((a, b))),
        ("a and b", And((a, b))),
        ("a OR b", Or((a, b))),
        ("NOT a b", And((Not(a), b))),
        ("-a b", And((Not(a), b))),
        ("b -a", And((b, Not(a)))),
        ("b NOT NOT a", And((b, Not(Not(a))))),
        # precedence: NOT > NEAR > AND > OR
        ("a OR b c", Or((a, And((b, c))))),
        ("a b OR c d", Or((And((a, b)), And((c, d))))),
        ("a NEAR/3 b c", And((Near(a, b, 3), c))),
        ("c a NEAR/3 b OR d", Or((And((c, Near(a, b, 3))), d))),
        ("(a OR b) c", And((Or((a, b)), c))),
        ("a (b OR (c d))", And((a, Or((b, And((c, d))))))),
        ("((a))", a),
        ("(a AND b) AND c", And((a, b, c))),  # flattened
        ("a OR (b OR c)", Or((a, b, c))),
        # NEAR: distance, default, operands
        ("a NEAR/5 b", Near(a, b, 5)),
        ("a NEAR b", Near(a, b, 10)),
        ("a near/2 b", Near(a, b, 2)),
        (
            'Иран* NEAR/3 "border guard"',
            Near(Prefix("иран"), Phrase((Term("border"), Term("guard"))), 3),
        ),
        ("(a OR bb*) NEAR/4 @iran", Near(Or((a, Prefix("bb"))), IRAN, 4)),
        ("title:a NEAR/2 b", Near(Field("title", a), b, 2)),
        # lists, case-insensitive names
        ("@iran", IRAN),
        ("@IRAN AND @border_places", And((IRAN, PLACES))),
        # field scope
        ("title:Iran", Field("title", Term("iran"))),
        ('title:"border guard"', Field("title", Phrase((Term("border"), Term("guard"))))),
        ("title:(a OR b) c", And((Field("title", Or((a, b))), c))),
        ("TITLE:@iran", Field("title", IRAN)),
        ("body:a -title:b", And((Field("body", a), Not(Field("title", b))))),
        ("title:-b a", And((Field("title", Not(b)), a))),
        # an operator word in quotes is a term
        ('"and" OR "near"', Or((Term("and"), Term("near")))),
    ],
)
def test_parse(query: str, expected: Node) -> None:
    assert parse(query, LISTS) == expected


@pytest.mark.parametrize(
    ("query", "message", "column"),
    [
        ("(iran OR azerbaijan", "expected ')'", 20),
        ("(iran OR (azerbaijan AND baku)", "expected ')'", 31),
        ("iran AND (border guard", "expected ')'", 23),
        ("iran)", "unexpected ')'", 5),
        ("a AND", "expected a word, phrase, @list or '(' but found end of query", 6),
        ("a OR OR b", "expected a word, phrase, @list or '(' but found 'OR'", 6),
        ("()", "but found ')'", 2),
        ("a AND @nope", "unknown list @nope (known lists: border_places, empty, iran)", 7),
        ("@empty", "list @empty is empty", 1),
        ('"abc', "expected '\"' to close the phrase opened at column 1", 5),
        ("a NEAR/x b", "expected a number of words after 'NEAR/'", 8),
        ("a NEAR/0 b", "NEAR distance must be at least 1", 8),
        ("NOT a NEAR/3 b", "NEAR needs a word, phrase, prefix, @list", 1),
        ("a NEAR/3 (b c)", "NEAR needs a word, phrase, prefix, @list", 10),
        ("a NEAR b NEAR c", "NEAR cannot be chained", 10),
        ("title:(body:a)", "a field scope cannot hold another field scope", 8),
        ("foo:bar", "unknown field 'foo:'", 1),
        ("a*b", "'*' is only allowed at the end of a word", 1),
        ("iran x*", "prefix 'x*' is too short", 6),
        ("iran -", "expected letters or digits in '-'", 6),
        ('a ""', "empty phrase", 3),
        ("NOT iran", "would match items containing none of its words", 1),
        ("a OR -b", "would match items containing none of its words", 1),
        ("   ", "the query is empty", 1),
        ("@", "expected a list name after '@'", 2),
    ],
)
def test_errors_say_what_and_where(query: str, message: str, column: int) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse(query, LISTS)
    assert message in str(caught.value)
    assert caught.value.column == column
    assert str(caught.value).endswith(f"at column {column}")


def test_error_in_a_list_entry_names_the_list() -> None:
    with pytest.raises(QuerySyntaxError, match=r"list @bad: prefix 'x\*' is too short"):
        parse("a OR @bad", {"bad": ["fine", "x*"]})


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("Rasht-Astara railway", Phrase((Term("rasht"), Term("astara"), Term("railway")))),
        ('"Rasht-Astara railway"', Phrase((Term("rasht"), Term("astara"), Term("railway")))),
        ("Нахичеван*", Prefix("нахичеван")),
        ("Корпус* стражей", Phrase((Prefix("корпус"), Term("стражей")))),
        ("  Baku ", Term("baku")),
    ],
)
def test_list_entries(entry: str, expected: Node) -> None:
    assert parse_entry(entry) == expected


def test_compile_topic_uses_the_topics_lists() -> None:
    topic = TopicDef("t", "@iran title:drill*", (("iran", ("Iran", "Tehran")),))
    assert compile_topic(topic) == And(
        (ListRef("iran", (Term("iran"), Term("tehran"))), Field("title", Prefix("drill")))
    )


@pytest.mark.parametrize(
    ("node", "printed"),
    [
        (Or((a, And((b, c)))), "a OR b AND c"),
        (And((Or((a, b)), c)), "(a OR b) AND c"),
        (Not(Or((a, b))), "NOT (a OR b)"),
        (Near(Or((a, b)), Field("title", c), 3), "(a OR b) NEAR/3 title:c"),
        (Field("title", And((a, b))), "title:(a AND b)"),
        (Phrase((Term("rasht"), Prefix("ast"))), '"rasht ast*"'),
        (Term("or"), '"or"'),
        (And((Not(Near(a, b, 2)), c)), "NOT (a NEAR/2 b) AND c"),
    ],
)
def test_format_query(node: Node, printed: str) -> None:
    assert format_query(node) == printed
    assert str(node) == printed


# ---------------------------------------------------------------------------------------------
# Property: a query printed back parses to the same query.

_WORDS = st.sampled_from(
    [
        "iran",
        "baku",
        "aras",
        "naxcivan",
        "and",
        "near",
        "иран",
        "граница",
        "ایران",
        "مرز",
        "իրան",
        "2024",
    ]
)
_LEAF_LISTS = {"iran": LISTS["iran"], "border_places": LISTS["border_places"]}
_COMPILED = {name: parse("@" + name, _LEAF_LISTS) for name in _LEAF_LISTS}


def _leaves() -> st.SearchStrategy[Node]:
    word = _WORDS.map(Term)
    prefix = _WORDS.filter(lambda w: len(w) >= 2).map(Prefix)
    phrase = st.lists(st.one_of(word, prefix), min_size=2, max_size=3).map(
        lambda ws: Phrase(tuple(ws))  # type: ignore[arg-type]
    )
    lists = st.sampled_from(list(_COMPILED.values()))
    return st.one_of(word, prefix, phrase, lists)


def _positional() -> st.SearchStrategy[Node]:
    leaf = _leaves()
    ored = st.lists(leaf, min_size=2, max_size=3).map(lambda cs: Or(tuple(cs)))
    return st.one_of(leaf, ored)


def _flat(kind: type[And] | type[Or], children: list[Node]) -> Node:
    out: list[Node] = []
    for child in children:
        out.extend(child.children if isinstance(child, kind) else [child])
    return kind(tuple(out))


def _tree(depth: int = 3, in_field: bool = False) -> st.SearchStrategy[Node]:
    if depth == 0:
        return _leaves()
    sub = st.deferred(lambda: _tree(depth - 1, in_field))
    options: list[st.SearchStrategy[Node]] = [
        _leaves(),
        st.lists(sub, min_size=2, max_size=3).map(lambda cs: _flat(And, cs)),
        st.lists(sub, min_size=2, max_size=3).map(lambda cs: _flat(Or, cs)),
        sub.map(Not),
        st.builds(Near, _positional(), _positional(), st.integers(1, 30)),
    ]
    if not in_field:
        options.append(
            st.builds(Field, st.sampled_from(["title", "body"]), _tree(depth - 1, in_field=True))
        )
    return st.one_of(options)


@settings(max_examples=400, deadline=None)
@given(_tree())
def test_printed_query_parses_back_to_itself(query: Node) -> None:
    assume(not matches_empty(query))
    assert parse(format_query(query), _LEAF_LISTS) == query


_QUERY_CHARS = st.sampled_from(list('ab iran () " * - @iran NEAR/2 OR AND NOT title: Иран ایران'))


@settings(max_examples=400, deadline=None)
@given(st.lists(_QUERY_CHARS, max_size=25).map("".join))
def test_any_parsed_text_prints_back_to_the_same_query(text: str) -> None:
    error: QuerySyntaxError | None = None
    try:
        query = parse(text, _LEAF_LISTS)
    except QuerySyntaxError as exc:
        error = exc
    if error is not None:
        assert 1 <= error.column <= len(text) + 1
    else:
        assert parse(format_query(query), _LEAF_LISTS) == query


def test_words_of_a_term_are_folded_once() -> None:
    # A compiled term holds exactly the word the tokenizer produces for the text.
    for raw in ["NAXÇIVAN", "تـهران", "Пётр"]:
        assert parse(raw) == Term(words(raw)[0])
