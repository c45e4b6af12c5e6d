"""Turn Stack Overflow Markdown (and the HTML inside it) into readable plain text.

Code is kept by default but marked, because what a question's code looks like (present at all,
an error trace, a whole program) carries signal about whether it gets closed; `code="placeholder"`
keeps only a `[code]` marker and `code="drop"` removes it.
"""

from __future__ import annotations

import html
import re

CODE_MODES = ("keep", "placeholder", "drop")

_FENCE = re.compile(r"^\s*(```|~~~)")
_INDENTED = re.compile(r"^(    |\t)")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_REF_LINK = re.compile(r"\[([^\]]+)\]\[[^\]]*\]")
_REF_DEFINITION = re.compile(r"^\s*\[[^\]]+\]:\s*\S+.*$")
_TAG = re.compile(r"<[^>\n]{1,200}>")
_INLINE_CODE = re.compile(r"`([^`\n]+)`")
_EMPHASIS = re.compile(r"(\*\*|__|\*|_)(?=\S)(.+?)(?<=\S)\1")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s*")
_SPACES = re.compile(r"[ \t]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def _code_block(lines: list[str], code: str) -> list[str]:
    if code == "drop" or not lines:
        return []
    if code == "placeholder":
        return ["[code]"]
    return ["[code]", *lines, "[/code]"]


def clean_markdown(markdown: str, code: str = "keep") -> str:
    """Return readable text from a question body in Stack Overflow Markdown."""
    if code not in CODE_MODES:
        raise ValueError(f"invalid code mode {code!r}: use one of {', '.join(CODE_MODES)}")
    if not markdown:
        return ""

    out: list[str] = []
    block: list[str] = []
    in_fence = False
    previous_blank = True
    for raw in markdown.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        # Fenced code (``` or ~~~) and indented code (4 spaces or a tab after a blank line).
        if _FENCE.match(raw):
            if in_fence:
                out.extend(_code_block(block, code))
                block = []
            in_fence = not in_fence
            continue
        if in_fence:
            block.append(raw.rstrip())
            continue
        if _INDENTED.match(raw) and (previous_blank or block):
            block.append(raw[4:].rstrip() if raw.startswith("    ") else raw[1:].rstrip())
            continue
        if block and not raw.strip():
            block.append("")
            continue
        if block:
            while block and not block[-1]:
                block.pop()
            out.extend(_code_block(block, code))
            block = []
        previous_blank = not raw.strip()
        out.append(_clean_prose_line(raw, code))
    if block:
        while block and not block[-1]:
            block.pop()
        out.extend(_code_block(block, code))

    text = "\n".join(out)
    text = _BLANK_LINES.sub("\n\n", text)
    return text.strip()


def _clean_prose_line(line: str, code: str) -> str:
    if _REF_DEFINITION.match(line):
        return ""
    line = _HEADING.sub("", line)
    line = _IMAGE.sub(lambda m: f"[image: {m.group(1)}]" if m.group(1) else "[image]", line)
    line = _LINK.sub(r"\1", line)
    line = _REF_LINK.sub(r"\1", line)
    if code == "drop":
        line = _INLINE_CODE.sub("", line)
    else:
        line = _INLINE_CODE.sub(r"\1", line)
    line = _TAG.sub(" ", line)
    line = html.unescape(line)
    line = _EMPHASIS.sub(r"\2", line)
    line = line.lstrip("> ").rstrip() if line.lstrip().startswith(">") else line.rstrip()
    return _SPACES.sub(" ", line)


def question_text(title: str, body: str, tags: list[str] | tuple[str, ...] = ()) -> tuple[str, str]:
    """Return the two text segments a model reads: title with tags, and body."""
    first = title.strip()
    if tags:
        first = f"{first} [tags: {' '.join(tags)}]"
    return first, body
