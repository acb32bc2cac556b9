"""The engine: which items each query matches, spans, scores, and the fast path's agreement."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bot.core.engine import DocIndex, Engine, TopicError, evaluate, evidence, to_spans
from bot.core.explain import explain
from bot.core.rules import (
    And,
    Field,
    Near,
    Node,
    Not,
    Or,
    Phrase,
    Prefix,
    Term,
    matches_empty,
    parse,
)
from bot.core.types import Document, Span, TopicDef

LISTS = (
    ("iran", ("Iran", "Tehran", "Иран*", "ایران*", "İran*", "Իրան*")),
    ("azerbaijan", ("Azerbaijan", "Baku", "Азербайджан*", "Azərbaycan*", "Ադրբեջան*")),
    ("places", ("Aras", "Naxçıvan*", "Нахичеван*", "Rasht-Astara railway")),
)


def matches(query: str, title: str, body: str = "") -> bool:
    engine = Engine([TopicDef("t", query, LISTS)])
    return bool(engine.match(Document(title, body)))


@pytest.mark.parametrize(
    ("query", "title", "body", "expected"),
    [
        # terms, folded on both sides
        ("naxcivan", "NAXÇIVAN", "", True),
        ("Naxçıvan", "", "naxcivan today", True),
        ("iran", "Iranian", "", False),  # a word, not a prefix
        # AND / implicit AND / OR / NOT / -
        ("iran azerbaijan", "Iran and", "Azerbaijan", True),
        ("iran AND azerbaijan", "Iran", "", False),
        ("iran OR azerbaijan", "", "Azerbaijan", True),
        ("iran -grand", "Iran", "Grand Prix", False),
        ("iran NOT grand", "Iran", "", True),
        ("(iran OR baku) -(prix OR football)", "Baku", "football", False),
        ("(iran OR baku) -(prix OR football)", "Baku", "drills", True),
        # phrases: consecutive words, punctuation ignored, not across a gap
        ('"rasht astara"', "The Rasht–Astara railway", "", True),
        ('"rasht astara"', "Astara, Rasht", "", False),
        ('"rasht astara"', "Rasht to Astara", "", False),
        ("Rasht-Astara", "", "rasht astara", True),
        ('"border guard*"', "", "Iranian border guards", True),
        # prefixes in each script
        ("Иран*", "", "Ирану и Ираном", True),
        ("Иран*", "", "Ирак", False),
        ("Azərbaycan*", "AZƏRBAYCANIN", "", True),
        ("ایران*", "ایرانیان", "", True),
        ("ایران*", "مرز", "", False),
        ("Իրան*", "Իրանի սահմանին", "", True),
        ("İran*", "Iranla", "", True),
        ("Нахичеван*", "НАХИЧЕВАНИ", "", True),
        # lists: any entry, entries may be prefixes and phrases
        ("@iran AND @places", "Иранские войска", "near the Naxçıvanın border", True),
        ("@iran AND @places", "Tehran", "the Rasht-Astara railway", True),
        ("@iran AND @places", "Tehran", "railway to Rasht", False),
        # fields
        ("title:iran", "Iran", "", True),
        ("title:iran", "", "Iran", False),
        ("body:iran", "Iran", "", False),
        ("title:(iran OR baku) body:aras", "Baku", "Aras", True),
        ("title:(iran OR baku) body:aras", "Aras", "Baku", False),
        ('title:"border guard"', "Border guard", "", True),
        ("baku -title:prix", "Baku", "Grand Prix", True),
        ("baku -title:prix", "Grand Prix Baku", "", False),
    ],
)
def test_operators(query: str, title: str, body: str, expected: bool) -> None:
    assert matches(query, title, body) is expected


@pytest.mark.parametrize(
    ("query", "body", "expected"),
    [
        ("iran NEAR/1 baku", "Iran Baku", True),  # adjacent words are 1 apart
        ("iran NEAR/1 baku", "Baku Iran", True),  # either order
        ("iran NEAR/1 baku", "Iran and Baku", False),
        ("iran NEAR/2 baku", "Iran and Baku", True),
        ("iran NEAR/3 baku", "Iran, one two Baku", True),  # exactly 3
        ("iran NEAR/3 baku", "Iran one two three Baku", False),  # 4 apart
        ("iran NEAR/3 baku", "Baku one two three Iran", False),
        ("iran NEAR/3 baku", "Iran x x x x x x x Baku Iran", True),  # the closer pair counts
        ("iran NEAR baku", "Iran " + "x " * 9 + "Baku", True),  # default 10
        ("iran NEAR baku", "Iran " + "x " * 10 + "Baku", False),
        ('"border guard" NEAR/2 iran', "the border guard of Iran", True),  # from the phrase's end
        ('"border guard" NEAR/2 iran', "Iran a b border guard", False),
        ("(iran OR tehran) NEAR/2 @azerbaijan", "Tehran and Baku", True),
        ("(iran OR tehran) NEAR/2 @azerbaijan", "Tehran and then Baku", False),
        ("Иран* NEAR/2 Азербайджан*", "Ирана с Азербайджаном", True),
        ("iran* NEAR/5 iran*", "Iran", False),  # one word cannot be both sides
        ("iran* NEAR/5 iran*", "Iran and Iranian", True),
    ],
)
def test_near_distances(query: str, body: str, expected: bool) -> None:
    assert matches(query, "", body) is expected


def test_near_does_not_join_title_and_body() -> None:
    assert not matches("iran NEAR/1 baku", "news from Iran", "Baku said")
    assert matches("iran NEAR/1 baku", "Iran Baku", "")


def test_match_reports_terms_and_spans_in_the_original_text() -> None:
    title = "Иран провёл учения у Аракса"
    body = "Tehran's forces held drills on the Rasht–Astara railway. Baku watched."
    engine = Engine([TopicDef("t", "@iran AND (@places OR drills)", LISTS)])
    (found,) = engine.match(Document(title, body))
    assert found.topic == "t"
    assert found.terms == ("иран*", "tehran", "drills", "rasht astara railway")
    assert found.spans == (
        Span("title", 0, 4, "иран*"),
        Span("body", 0, 6, "tehran"),
        Span("body", 21, 27, "drills"),
        Span("body", 35, 55, "rasht astara railway"),
    )
    assert body[35:55] == "Rasht–Astara railway"


def test_negated_terms_are_not_evidence() -> None:
    engine = Engine([TopicDef("t", "baku -prix -(title:football)", LISTS)])
    (found,) = engine.match(Document("Baku", "football in the body only"))
    assert found.terms == ("baku",)


SCORED = TopicDef("t", "@iran AND @azerbaijan AND (@places OR drills OR border)", LISTS)


@pytest.mark.parametrize(
    ("stronger", "weaker"),
    [
        # concepts and proximity in the title beat a scattered body-only match
        (
            Document("Iran and Azerbaijan: drills on the Aras", ""),
            Document("News", "Iran said. " + "x " * 40 + "Baku answered. " + "y " * 40 + "drills"),
        ),
        # the same words closer together
        (
            Document("", "Iran and Baku drills"),
            Document("", "Iran " + "x " * 30 + "Baku " + "x " * 30 + "drills"),
        ),
        # in the title rather than the body
        (Document("Iran Baku border", ""), Document("", "Iran Baku border")),
        # more distinct terms of the same concepts
        (
            Document("", "Iran Tehran Baku Azerbaijan border drills Aras"),
            Document("", "Iran Iran Baku Baku border border"),
        ),
    ],
)
def test_score_orders_matches_sensibly(stronger: Document, weaker: Document) -> None:
    engine = Engine([SCORED])
    (strong,) = engine.match(stronger)
    (weak,) = engine.match(weaker)
    assert 0 < weak.score < strong.score <= 100


def test_min_score_and_ordering() -> None:
    engine = Engine(
        [
            TopicDef("broad", "baku", LISTS),
            TopicDef("narrow", "@iran AND baku AND aras", LISTS),
        ]
    )
    doc = Document("Iran, Baku and the Aras", "")
    found = engine.match(doc)
    assert [m.topic for m in found] == ["narrow", "broad"]  # best score first
    assert found[0].score > found[1].score
    cut = (found[0].score + found[1].score) / 2
    assert [m.topic for m in engine.match(doc, min_score=cut)] == ["narrow"]


def test_only_topics_whose_required_words_occur_are_evaluated() -> None:
    topics = [TopicDef(f"t{i}", f"word{i} AND (other{i} OR extra{i})") for i in range(300)]
    topics.append(TopicDef("single", "word8 OR word9"))  # one required clause
    engine = Engine(topics)
    doc = Document("word7 other7", "word8 extra9")
    # t7 has both required clauses; t8 and t9 only one of theirs; "single" has its only one.
    assert engine.candidates(engine.present_atoms(DocIndex(doc))) == {7, 300}
    assert [m.topic for m in engine.match(doc)] == ["t7", "single"]


def test_bad_topics_raise_or_are_reported() -> None:
    bad = TopicDef("bad", "iran AND (", LISTS)
    good = TopicDef("good", "iran", LISTS)
    with pytest.raises(TopicError, match=r"topic bad: expected a word.*column 11") as caught:
        Engine([good, bad])
    assert caught.value.topic == "bad"
    engine = Engine([good, bad], strict=False)
    assert engine.topic_ids() == ("good",)
    assert engine.errors["bad"].error.column == 11
    with pytest.raises(ValueError, match="duplicate topic id 'good'"):
        Engine([good, good])


def test_single_and_precompiled_engines() -> None:
    assert Engine.single(TopicDef("x", "aras", LISTS)).match(Document("Aras", ""))[0].topic == "x"
    engine = Engine.from_queries({"q": parse("baku OR aras")})
    assert engine.topic_ids() == ("q",)
    assert engine.query("q") == Or((Term("baku"), Term("aras")))
    assert engine.match(Document("", "nothing here")) == ()
    assert Engine([]).match(Document("Iran", "Baku")) == ()


# ---------------------------------------------------------------------------------------------
# Property: the fast path (term index, anchors, compiled code) decides exactly like the detailed
# evaluator that explain uses, for any query and item.

_VOCAB = ["iran", "iranian", "baku", "aras", "border", "drills", "иран", "ирана", "ایران", "x"]


_PROPERTY_LISTS = {
    "sides": ["Iran*", "Baku", "border guard*", "ایران"],
    "places": ["Aras", "drills", "x aras", "ира*"],
}
_LIST_NODES = [parse("@" + name, _PROPERTY_LISTS) for name in _PROPERTY_LISTS]


def _leaf() -> st.SearchStrategy[Node]:
    word = st.sampled_from(_VOCAB).map(Term)
    prefix = st.sampled_from(["ir", "iran", "ba", "bo", "ира", "ای"]).map(Prefix)
    phrase = st.lists(st.one_of(word, prefix), min_size=2, max_size=3).map(
        lambda ws: Phrase(tuple(ws))  # type: ignore[arg-type]
    )
    return st.one_of(word, word, prefix, phrase, st.sampled_from(_LIST_NODES))


def _positional() -> st.SearchStrategy[Node]:
    return st.one_of(_leaf(), st.lists(_leaf(), min_size=2, max_size=3).map(lambda c: Or(tuple(c))))


def _query(depth: int = 3, in_field: bool = False) -> st.SearchStrategy[Node]:
    if depth == 0:
        return _leaf()
    sub = st.deferred(lambda: _query(depth - 1, in_field))
    options: list[st.SearchStrategy[Node]] = [
        _leaf(),
        st.lists(sub, min_size=2, max_size=3).map(lambda c: And(tuple(c))),
        st.lists(sub, min_size=2, max_size=3).map(lambda c: Or(tuple(c))),
        sub.map(Not),
        st.builds(Near, _positional(), _positional(), st.integers(1, 4)),
    ]
    if not in_field:
        options.append(
            st.builds(Field, st.sampled_from(["title", "body"]), _query(depth - 1, True))
        )
    return st.one_of(options)


_TEXT = st.lists(
    st.sampled_from([*_VOCAB, "Iran's", "IRAN", "Ирану", "ایرانی", ",", ".", "Border guards"]),
    max_size=12,
).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(_query(), min_size=1, max_size=4), _TEXT, _TEXT)
def test_fast_path_agrees_with_the_detailed_evaluator(
    queries: list[Node], title: str, body: str
) -> None:
    assume(not any(matches_empty(q) for q in queries))
    engine = Engine.from_queries({f"q{i}": q for i, q in enumerate(queries)})
    doc = Document(title, body)
    dix = DocIndex(doc)
    expected = {f"q{i}" for i, q in enumerate(queries) if evaluate(q, dix).held}
    found = {m.topic: m for m in engine.match(doc)}
    assert set(found) == expected
    for topic_id, match in found.items():  # and finds the same evidence as explain
        explained = explain(engine.query(topic_id), doc)
        assert (match.score, match.terms) == (explained.score, explained.terms)
        assert set(match.spans) == set(
            to_spans(dix, evidence(evaluate(engine.query(topic_id), dix)))
        )
