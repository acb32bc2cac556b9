"""explain: which clauses held and which failed, with the text that made them; batch matching."""

from __future__ import annotations

import pytest

from bot.core.batch import match_jsonl_line, strip_html
from bot.core.engine import Engine
from bot.core.explain import explain, render_explanation
from bot.core.rules import QuerySyntaxError, parse
from bot.core.types import Document, Span, TopicDef

TOPIC = TopicDef(
    "iran-azerbaijan-border",
    "@iran AND @azerbaijan AND (@places OR @security) AND NOT @sport",
    (
        ("iran", ("Iran", "Tehran", "Iran*")),
        ("azerbaijan", ("Azerbaijan", "Baku")),
        ("places", ("Aras", "Astara")),
        ("security", ("drills", "troops")),
        ("sport", ("football", "Grand Prix")),
    ),
)


def test_matched_item_lists_each_clause_with_its_quotes() -> None:
    doc = Document("Iran holds drills near Azerbaijan", "Troops moved to the Aras, Tehran said.")
    e = explain(TOPIC, doc)
    assert e.matched
    assert e.score > 0
    assert e.failed_reasons() == ()
    assert render_explanation(e).splitlines() == [
        f"iran-azerbaijan-border: matched, score {e.score:g}",
        "terms: iran, drills, azerbaijan, troops, aras, tehran",
        "query: @iran AND @azerbaijan AND (@places OR @security) AND NOT @sport",
        "✔ all of",
        '  ✔ @iran: "Iran" (title), "Tehran" (body)',
        '  ✔ @azerbaijan: "Azerbaijan" (title)',
        "  ✔ any of",
        '    ✔ @places: "Aras" (body)',
        '    ✔ @security: "drills" (title), "Troops" (body)',
        "  ✔ NOT @sport: none found",
    ]


def test_unmatched_item_says_why_not() -> None:
    doc = Document("Baku Grand Prix: Iran's driver third", "Football fans came from Tehran.")
    e = explain(TOPIC, doc)
    assert not e.matched
    assert e.score == 0
    assert e.terms == ()
    assert e.failed_reasons() == (
        "@places OR @security — nothing found",
        'NOT @sport — excluded by "Grand Prix" (title), "Football" (body)',
    )
    text = render_explanation(e)
    assert text.splitlines()[0] == "iran-azerbaijan-border: not matched"
    assert "  ✘ any of: nothing found" in text
    assert "    ✘ @places: nothing found" in text
    assert '  ✘ NOT @sport: excluded by "Grand Prix" (title), "Football" (body)' in text


def test_explain_agrees_with_the_engine() -> None:
    engine = Engine([TOPIC])
    for doc in [
        Document("Iran, Azerbaijan and the Aras", ""),
        Document("Iran, Azerbaijan and the Aras", "football"),
        Document("Baku", "Astara drills"),
    ]:
        found = engine.match(doc)
        e = explain(TOPIC, doc)
        assert e.matched == bool(found)
        if found:
            assert (e.score, e.terms) == (found[0].score, found[0].terms)


@pytest.mark.parametrize(
    ("query", "body", "line"),
    [
        ("iran NEAR/2 baku", "Iran one two three Baku", "closest 4 words apart (needs at most 2)"),
        ("iran NEAR/2 baku", "Iran only", "not found: baku"),
        ("title:iran NEAR/2 baku", "Iran Baku", "not found: title:iran"),
    ],
)
def test_near_failures_say_how_close(query: str, body: str, line: str) -> None:
    e = explain(parse(query), Document("", body))
    assert not e.matched
    assert e.topic is None
    assert line in render_explanation(e)


def test_clause_spans_point_into_the_item() -> None:
    doc = Document("Tehran", "Drills on the Aras.")
    root = explain(TOPIC, doc).root
    places = root.children[2].children[0]
    assert places.text == "@places"
    assert places.spans == (Span("body", 14, 18, "aras"),)


def test_long_explanations_are_cut() -> None:
    query = " OR ".join(f"w{i}" for i in range(100))
    text = render_explanation(explain(parse(query), Document("w1", "")), max_lines=10)
    lines = text.splitlines()
    assert len(lines) == 10
    assert lines[-1].startswith("… ")
    assert lines[-1].endswith("more lines")


def test_a_bad_topic_raises() -> None:
    with pytest.raises(QuerySyntaxError):
        explain(TopicDef("x", "iran AND"), Document("Iran", ""))


# ---------------------------------------------------------------------------------------------
# batch: one JSON object in, one result out


def test_match_jsonl_line() -> None:
    engine = Engine([TOPIC])
    obj = {
        "id": "en-1",
        "title": "Iran &amp; Azerbaijan",
        "summary_html": "<p>Troops on the <b>Ar</b>as</p><script>Baku</script>",
        "lang": "en",
    }
    assert match_jsonl_line(engine, TOPIC.id, obj) == {
        "id": "en-1",
        "matched": True,
        "score": engine.match(Document("Iran & Azerbaijan", "Troops on the Aras"))[0].score,
        "terms": ["iran", "azerbaijan", "troops", "aras"],
    }
    miss = match_jsonl_line(engine, TOPIC.id, {"id": 2, "title": "Baku", "summary_html": ""})
    assert miss == {"id": 2, "matched": False, "score": 0.0, "terms": []}


def test_match_jsonl_line_uses_the_given_html_converter() -> None:
    engine = Engine([TopicDef("t", "aras")])
    seen: list[str] = []

    def convert(html: str) -> str:
        seen.append(html)
        return "Aras"

    assert match_jsonl_line(
        engine, "t", {"id": 1, "title": "", "summary_html": "<i>x</i>"}, convert
    )["matched"]
    assert seen == ["", "<i>x</i>"]


@pytest.mark.parametrize(
    ("obj", "error"),
    [
        ({"title": "x", "summary_html": ""}, KeyError),
        ({"id": 1, "title": 5, "summary_html": ""}, TypeError),
        ({"id": 1, "title": "x", "summary_html": ["<p>"]}, TypeError),
    ],
)
def test_match_jsonl_line_rejects_bad_objects(
    obj: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        match_jsonl_line(Engine([TopicDef("t", "aras")]), "t", obj)


def test_match_jsonl_line_unknown_topic() -> None:
    with pytest.raises(KeyError, match="unknown topic 'nope'"):
        match_jsonl_line(Engine([TopicDef("t", "aras")]), "nope", {"id": 1})


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>One</p><p>Two</p>", "One Two"),
        ("Tom &amp; Jerry", "Tom & Jerry"),
        ("<b>Ex</b>ample <style>p{}</style>", "Example"),
        ("a<br>b", "a b"),
    ],
)
def test_strip_html(html: str, text: str) -> None:
    assert strip_html(html) == text
