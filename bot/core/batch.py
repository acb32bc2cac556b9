"""The batch interface behind `borderwatch match`: one JSON object in, one result object out.

Input objects need `id`, `title` and `summary_html` (other keys are ignored; `summary` plain text
is used when `summary_html` is absent). Output: ``{"id", "matched", "score", "terms"}``.
HTML is turned into text by the `html_to_text` callable the caller passes (the CLI passes
bot.core.normalize.html_to_text); the default here is a small standard-library fallback.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from html.parser import HTMLParser

from bot.core.engine import Engine
from bot.core.types import Document

__all__ = ["match_jsonl_line", "strip_html"]


class _TextOnly(HTMLParser):
    _BLOCK = frozenset({"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "tr", "td"})
    _HIDDEN = frozenset({"script", "style"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self.hidden += 1
        elif tag in self._BLOCK:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in self._BLOCK:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def strip_html(html: str) -> str:
    """Visible text of an HTML fragment, whitespace collapsed (standard library only)."""
    parser = _TextOnly()
    parser.feed(html)
    parser.close()
    return " ".join("".join(parser.parts).split())


def match_jsonl_line(
    engine: Engine,
    topic_id: str,
    obj: Mapping[str, object],
    html_to_text: Callable[[str], str] = strip_html,
) -> dict[str, object]:
    """Match one input object against one topic of `engine`.

    Raises KeyError for a missing `id` or an unknown topic, TypeError for a non-string title or
    summary (the CLI reports the line and goes on).
    """
    if topic_id not in engine.topic_ids():
        raise KeyError(f"unknown topic {topic_id!r}")
    item_id = obj["id"]
    title = obj.get("title") or ""
    html = obj.get("summary_html")
    if html is None:
        html = obj.get("summary") or ""
    if not isinstance(title, str) or not isinstance(html, str):
        raise TypeError("title and summary_html must be strings")
    # Feed titles may carry entities or stray tags too.
    doc = Document(title=html_to_text(title), body=html_to_text(html))
    found = next((m for m in engine.match(doc) if m.topic == topic_id), None)
    return {
        "id": item_id,
        "matched": found is not None,
        "score": found.score if found else 0.0,
        "terms": list(found.terms) if found else [],
    }
