"""Sentences of a text as offsets, so that a cut at a sentence keeps the text verbatim.

Plain heuristics, no model: a sentence ends at ``.``, ``!``, ``?`` or ``…`` (closing quotes,
brackets and emphasis included) when the next word does not start in lower case ("3 a.m. with"
and "e.g. a" do not end one), at a blank line, and at a line break unless the line reads on (a
hard-wrapped paragraph: the line ends without punctuation and the next starts in lower case). A
list item, a heading and a post's one-line paragraph are sentences of their own.
"""

from __future__ import annotations

import re

_END = re.compile(r"[.!?…]+[\"'”’)\]*_]*(?=[ \t]+\S)")
_LINE = re.compile(r"[^\n]*\n?")
_STARTS_ITEM = re.compile(r"\s*(?:[-*+•→]\s|\d+[.)]\s|#|>|\|)")


def _reads_on(line: str, next_line: str) -> bool:
    """Whether ``next_line`` continues the sentence of ``line`` (a hard-wrapped paragraph)."""
    end = line.rstrip()
    nxt = next_line.lstrip()
    return bool(end and nxt and nxt[0].islower() and end[-1] not in ".!?…:;\"'”’)"
                and not _STARTS_ITEM.match(line) and not _STARTS_ITEM.match(next_line))


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """The sentences of ``text`` as ``(start, end)`` offsets, trimmed of surrounding space."""
    spans: list[tuple[int, int]] = []

    def add(start: int, end: int) -> None:
        piece = text[start:end]
        if piece.strip():
            lead = len(piece) - len(piece.lstrip())
            spans.append((start + lead, start + len(piece.rstrip())))

    lines = [(m.start(), m.group()) for m in _LINE.finditer(text) if m.group()]
    start = 0
    for k, (offset, line) in enumerate(lines):
        for match in _END.finditer(line):
            following = line[match.end():].lstrip()
            if following[:1].islower():
                continue
            add(start, offset + match.end())
            start = offset + match.end()
        following_line = lines[k + 1][1] if k + 1 < len(lines) else ""
        if not _reads_on(line, following_line):
            add(start, offset + len(line))
            start = offset + len(line)
    add(start, len(text))
    return spans


def sentences(text: str) -> list[str]:
    """The sentences of ``text``, as text."""
    return [text[s:e] for s, e in sentence_spans(text)]
