"""Turn the rendered HTML of a Stack Exchange post body into readable plain text.

The output follows `clean_markdown`: paragraphs separated by a blank line, `<pre>` blocks marked
as `[code]` ... `[/code]` (or only `[code]`, or removed, by the same `code` modes), inline `<code>`
kept as text (removed with `code="drop"`), links reduced to their text, images to
`[image: alt]`, list items on their own lines starting with "- ". Entities are decoded by the HTML
parser, so `&amp;lt;` in Posts.xml ends up as `<`.
"""

from __future__ import annotations

import re
import threading

from .text import CODE_MODES, _code_block

# Elements that start and end a paragraph (a blank line around them).
_PARAGRAPH_TAGS = frozenset(
    {"p", "div", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "dl", "table", "hr", "figure"}
)
# Elements that only start a new line.
_LINE_TAGS = frozenset({"li", "dt", "dd", "tr", "br"})
_SPACES = re.compile(r"\s+")
_BLANK_LINES = re.compile(r"\n{3,}")
_PARAGRAPH = "\n\n"
_parsers = threading.local()  # an lxml parser must not be used by two threads at once


class _TextBuilder:
    """Collects prose and code; prose whitespace collapses like a browser renders it."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.words: list[str] = []

    def add_text(self, text: str | None) -> None:
        if text:
            self.words.append(text)

    def end_line(self) -> None:
        if not self.words:
            return
        line = _SPACES.sub(" ", "".join(self.words)).strip()
        self.words = []
        if line:
            self.lines.append(line)

    def end_paragraph(self) -> None:
        self.end_line()
        if self.lines and self.lines[-1] != "":
            self.lines.append("")

    def add_block(self, block: list[str]) -> None:
        self.end_paragraph()
        if block:
            self.lines.extend(block)
            self.lines.append("")

    def text(self) -> str:
        self.end_line()
        return _BLANK_LINES.sub(_PARAGRAPH, "\n".join(self.lines)).strip()


def html_to_text(body: str, code: str = "keep") -> str:
    """Return readable text from a post body in HTML (the `Body` attribute of Posts.xml)."""
    if code not in CODE_MODES:
        raise ValueError(f"invalid code mode {code!r}: use one of {', '.join(CODE_MODES)}")
    if not body or not body.strip():
        return ""

    from lxml import etree

    root = _parse(body)
    if root is None:
        return ""
    builder = _TextBuilder()
    # iterwalk instead of recursion: bodies with deeply nested quotes cannot hit the recursion limit.
    walker = etree.iterwalk(root, events=("start", "end", "comment", "pi"))
    for event, element in walker:
        tag = element.tag
        if event in ("comment", "pi"):
            # Comments and processing instructions get one event and no end event; keep their tail.
            builder.add_text(element.tail)
        elif event == "start":
            if tag == "pre":
                builder.add_block(_code_lines("".join(element.itertext()), code))
                walker.skip_subtree()
            elif tag == "code":
                if code != "drop":
                    builder.add_text("".join(element.itertext()))
                walker.skip_subtree()
            elif tag == "img":
                alt = (element.get("alt") or "").strip()
                builder.add_text(f" [image: {alt}] " if alt else " [image] ")
            elif tag in _PARAGRAPH_TAGS:
                builder.end_paragraph()
                builder.add_text(element.text)
            elif tag in _LINE_TAGS:
                builder.end_line()
                if tag == "li":
                    builder.add_text("- ")
                builder.add_text(element.text)
            else:
                builder.add_text(element.text)
        else:
            if tag in _PARAGRAPH_TAGS:
                builder.end_paragraph()
            elif tag in _LINE_TAGS:
                builder.end_line()
            builder.add_text(element.tail if element is not root else None)
    return builder.text()


def _parse(body: str):
    """Parse an HTML fragment with libxml2's HTML parser; return its <body> element (None if empty).

    The plain etree parser is used instead of lxml.html, which calls a Python element-class
    lookup for every element it creates.
    """
    from lxml import etree

    parser = getattr(_parsers, "parser", None)
    if parser is None:
        parser = _parsers.parser = etree.HTMLParser(remove_blank_text=False, no_network=True)
    document = etree.fromstring(f"<html><body>{body}</body></html>", parser)
    return None if document is None else document.find("body")


def _code_lines(text: str, code: str) -> list[str]:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return _code_block(lines, code)
