"""Cutting training answers out of documents, verbatim, and filtering them.

An answer is always a contiguous slice of the document's style-cleaned text (DESIGN.md: the
author's own words, never rewritten), so the grounding check can find it again. Quoted lines
(``> `` blockquotes: an embedded tweet, someone else's words) and fenced code blocks in prose
are never part of an answer: the text is cut at them, and an answer is a slice between two.
No answer is longer than ``dataset.max_words``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass
from typing import Any

from twin.datasets.sentences import sentence_spans
from twin.features.clean import clean_for_style
from twin.markup import FENCE, HEADING

_PARAGRAPH = re.compile(r"\S(?:.*?\S)?(?=\n\s*\n|\Z)", re.S)
_FILE_SECTION = re.compile(r"^## File: (\S[^\n]*)\n", re.M)
_WORD = re.compile(r"\w+", re.U)
_BOILERPLATE = re.compile(
    r"^\s*(subscribe|share|thanks for reading|originally published|follow me|sign up|"
    r"leave a comment|copyright|all rights reserved)\b", re.I | re.M)
_REPOST = re.compile(r"^\s*(repost(ed)?( this)?|rt @|shared a post)\b", re.I)
_QUOTE_LINE = re.compile(r" {0,3}>")


@dataclass
class Candidate:
    """One answer cut from a document, before instructions are written."""

    document_id: str
    author_id: str
    platform: str
    kind: str
    title: str
    unit_index: int
    style: str  # post | article | code
    answer: str
    path: str = ""  # the file, for code
    description: str = ""
    part: int = 0  # position among the pieces of its document (prose) or file (code)
    section: str = ""  # the markdown heading the answer falls under, for prose

    @property
    def id(self) -> str:
        """Stable key: document, position and text."""
        raw = f"{self.document_id}\x1f{self.unit_index}\x1f{self.answer}".encode()
        return hashlib.sha256(raw).hexdigest()[:32]

    def as_dict(self) -> dict[str, Any]:
        """Plain data, with the id."""
        return {"id": self.id, **asdict(self)}


def words(text: str) -> list[str]:
    """Lowercased words."""
    return _WORD.findall(text.lower())


def _group_paragraphs(text: str, max_words: int,
                      code: bool = False) -> tuple[list[tuple[int, int]], int]:
    """Consecutive paragraphs grouped up to ``max_words``, as (start, end) offsets in ``text``.

    ``max_words`` is a hard cap: a prose paragraph longer than that is cut at its sentences
    (a single sentence longer than that is dropped), a longer code block is dropped; a group
    never reaches across a dropped piece, and a heading opens a group rather than closing one.
    Also returns how many pieces were dropped for their size.
    """
    units: list[tuple[int, int, int, bool] | None] = []  # start, end, words, heading; None: cut
    oversized = 0
    for match in _PARAGRAPH.finditer(text):
        n = len(words(match.group()))
        if n <= max_words:
            heading = HEADING.match(match.group()) is not None  # not a line of #hashtags
            units.append((match.start(), match.end(), n, heading))
            continue
        if code:
            oversized += 1
            units.append(None)
            continue
        for s, e in sentence_spans(match.group()):
            k = len(words(match.group()[s:e]))
            fits = k <= max_words
            oversized += 0 if fits else 1
            units.append((match.start() + s, match.start() + e, k, False) if fits else None)
    groups: list[tuple[int, int]] = []
    current: list[tuple[int, int, int, bool]] = []

    def close() -> None:
        if current:
            groups.append((current[0][0], current[-1][1]))
        current.clear()

    for unit in units:
        if unit is None:
            close()
            continue
        if current and sum(u[2] for u in current) + unit[2] > max_words:
            heading = current.pop() if len(current) > 1 and current[-1][3] else None
            close()
            if heading is not None and heading[2] + unit[2] <= max_words:
                current.append(heading)
        current.append(unit)
    close()
    return groups, oversized


def prose_spans(text: str) -> tuple[list[tuple[int, int]], float, int]:
    """The stretches of ``text`` between quoted lines and fenced code blocks, trimmed.

    Returns the (start, end) offsets, the share of the text's words that are in quoted lines
    (``> ``; a line in a code block is never a quote) and the number of fenced code blocks
    (code in a prose post is not the author's prose: an answer is a slice between blocks).
    """
    spans: list[tuple[int, int]] = []
    start: int | None = None
    offset = quoted = total = blocks = 0
    in_fence = False
    for line in text.splitlines(keepends=True):
        fence = FENCE.match(line) is not None
        is_quote = not in_fence and not fence and _QUOTE_LINE.match(line) is not None
        cut = is_quote or fence or in_fence
        if fence:
            blocks += 0 if in_fence else 1
            in_fence = not in_fence
        n = len(_WORD.findall(line))
        total += n
        quoted += n if is_quote else 0
        if cut:
            if start is not None:
                spans.append((start, offset))
                start = None
        elif start is None:
            start = offset
        offset += len(line)
    if start is not None:
        spans.append((start, offset))
    trimmed = []
    for s, e in spans:
        piece = text[s:e]
        lead = len(piece) - len(piece.lstrip())
        if piece.strip():
            trimmed.append((s + lead, s + len(piece.rstrip())))
    return trimmed, (quoted / total if total else 0.0), blocks


def _section_at(text: str, offset: int) -> str:
    """The markdown heading the text at ``offset`` falls under ("" before the first one)."""
    headings = [m for m in HEADING.finditer(text) if m.start() <= offset]
    return headings[-1].group(1).strip() if headings else ""


def candidates_of(doc: dict[str, Any], min_words: int, max_words: int,
                  max_quote_ratio: float) -> tuple[list[Candidate], dict[str, int]]:
    """Answers cut from one warehouse row, and how many units each filter dropped.

    Posts and articles are cut at quoted lines and at fenced code blocks, which never enter
    an answer; one whose words are quoted in a share above ``max_quote_ratio`` gives no answer
    at all ("quotation"). No answer is longer than ``max_words`` (see ``_group_paragraphs``).
    """
    text = clean_for_style(str(doc.get("text") or ""))
    dropped: dict[str, int] = {}
    base = {"document_id": doc["id"], "author_id": doc["author_id"],
            "platform": doc["platform"], "kind": doc["kind"], "title": doc.get("title") or ""}
    units: list[tuple[str, str, str, int, str]] = []  # (style, answer, path, part, section)
    oversized = 0
    if doc["kind"] == "repository":
        sections = list(_FILE_SECTION.finditer(text))
        for k, match in enumerate(sections):
            end = sections[k + 1].start() if k + 1 < len(sections) else len(text)
            body = text[match.end():end].strip()
            path = match.group(1).strip()
            if not body:
                continue
            pieces = [body]
            if len(words(body)) > max_words:
                spans, over = _group_paragraphs(body, max_words, code=True)
                pieces = [body[s:e] for s, e in spans]
                oversized += over
            units.extend(("code", piece, path, part, "") for part, piece in enumerate(pieces))
    else:
        spans, quote_share, blocks = prose_spans(text)
        if quote_share > max_quote_ratio:
            return [], {"quotation": 1}
        if blocks:
            dropped["code block in prose"] = blocks
        style = "post" if doc["kind"] == "post" else "article"
        whole_post = doc["kind"] == "post" and len(words(text)) <= max_words
        pieces = []
        for start, end in spans:
            if whole_post:
                pieces.append((start, text[start:end]))
                continue
            groups, over = _group_paragraphs(text[start:end], max_words)
            oversized += over
            pieces.extend((start + s, text[start + s:start + e]) for s, e in groups)
        units.extend((style, piece, "", part, _section_at(text, at))
                     for part, (at, piece) in enumerate(pieces))
    if oversized:
        dropped["longer than max_words"] = oversized
    out: list[Candidate] = []
    for index, (style, answer, path, part, section) in enumerate(units):
        reason = _reject(answer, style, min_words)
        if reason:
            dropped[reason] = dropped.get(reason, 0) + 1
            continue
        description = ""
        if style == "code":
            description = _first_sentence(text.split("\n", 3)[2] if text.count("\n") > 2 else "")
        out.append(Candidate(unit_index=index, style=style, answer=answer, path=path,
                             description=description, part=part, section=section, **base))
    return out, dropped


def _first_sentence(text: str) -> str:
    line = text.strip().split("\n", 1)[0]
    return line if not line.startswith("#") else ""


def _reject(answer: str, style: str, min_words: int) -> str | None:
    """Why an answer is not training material, or None."""
    n = len(words(answer))
    if n < (min_words // 2 if style == "code" else min_words):
        return "too short"
    lines = [line for line in answer.split("\n") if line.strip()]
    if style != "code":
        if _REPOST.match(answer):
            return "repost"
        if lines and len(_BOILERPLATE.findall(answer)) / len(lines) > 0.5:
            return "boilerplate"
    return None


def shingles(text: str, size: int = 5) -> set[str]:
    """Word 5-grams, for near-duplicate detection."""
    w = words(text)
    return {" ".join(w[i:i + size]) for i in range(max(1, len(w) - size + 1))}


def drop_near_duplicates(candidates: list[Candidate],
                         threshold: float) -> tuple[list[Candidate], int]:
    """Keep the first of every group of answers whose shingle Jaccard is >= ``threshold``."""
    kept: list[Candidate] = []
    kept_shingles: list[set[str]] = []
    dropped = 0
    for candidate in sorted(candidates, key=lambda c: (c.document_id, c.unit_index)):
        s = shingles(candidate.answer)
        if any(len(s & t) / max(1, len(s | t)) >= threshold for t in kept_shingles):
            dropped += 1
            continue
        kept.append(candidate)
        kept_shingles.append(s)
    return kept, dropped
