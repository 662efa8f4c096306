"""Cutting training answers out of documents, verbatim, and filtering them.

An answer is always a contiguous slice of the document's style-cleaned text (DESIGN.md: the
author's own words, never rewritten), so the grounding check can find it again. Quoted lines
(``> `` blockquotes: an embedded tweet, someone else's words) are never part of an answer:
the text is cut at them, and an answer is a slice between two quotes.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass
from typing import Any

from twin.features.clean import clean_for_style

_PARAGRAPH = re.compile(r"\S(?:.*?\S)?(?=\n\s*\n|\Z)", re.S)
_FILE_SECTION = re.compile(r"^## File: (\S[^\n]*)\n", re.M)
_WORD = re.compile(r"\w+", re.U)
_BOILERPLATE = re.compile(
    r"^\s*(subscribe|share|thanks for reading|originally published|follow me|sign up|"
    r"leave a comment|copyright|all rights reserved)\b", re.I | re.M)
_REPOST = re.compile(r"^\s*(repost(ed)?( this)?|rt @|shared a post)\b", re.I)
_QUOTE_LINE = re.compile(r" {0,3}>")
_FENCE = re.compile(r" {0,3}(```|~~~)")


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


def _group_paragraphs(text: str, max_words: int) -> list[str]:
    """Consecutive paragraphs grouped up to ``max_words``, sliced verbatim from ``text``."""
    spans = [(m.start(), m.end(), len(words(m.group()))) for m in _PARAGRAPH.finditer(text)]
    groups: list[str] = []
    start = end = None
    total = 0
    for s, e, n in spans:
        if start is not None and total + n > max_words:
            groups.append(text[start:end])
            start, total = None, 0
        if start is None:
            start = s
        end, total = e, total + n
    if start is not None:
        groups.append(text[start:end])
    return groups


def unquoted_spans(text: str) -> tuple[list[tuple[int, int]], float]:
    """The stretches of ``text`` between quoted lines, as (start, end) offsets, trimmed.

    Also returns the share of the text's words that are in quoted lines (``> ``); a line in
    a code block is never a quote.
    """
    spans: list[tuple[int, int]] = []
    start: int | None = None
    offset = quoted = total = 0
    in_fence = False
    for line in text.splitlines(keepends=True):
        is_quote = not in_fence and _QUOTE_LINE.match(line) is not None
        if _FENCE.match(line):
            in_fence = not in_fence
        n = len(_WORD.findall(line))
        total += n
        quoted += n if is_quote else 0
        if is_quote:
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
    return trimmed, (quoted / total if total else 0.0)


def candidates_of(doc: dict[str, Any], min_words: int, max_words: int,
                  max_quote_ratio: float) -> tuple[list[Candidate], dict[str, int]]:
    """Answers cut from one warehouse row, and how many units each filter dropped.

    Posts and articles are cut at quoted lines, which never enter an answer; one whose words
    are quoted in a share above ``max_quote_ratio`` gives no answer at all ("quotation").
    """
    text = clean_for_style(str(doc.get("text") or ""))
    dropped: dict[str, int] = {}
    base = {"document_id": doc["id"], "author_id": doc["author_id"],
            "platform": doc["platform"], "kind": doc["kind"], "title": doc.get("title") or ""}
    units: list[tuple[str, str, str]] = []  # (style, answer, path)
    if doc["kind"] == "repository":
        sections = list(_FILE_SECTION.finditer(text))
        for k, match in enumerate(sections):
            end = sections[k + 1].start() if k + 1 < len(sections) else len(text)
            body = text[match.end():end].strip()
            if body:
                units.append(("code", body, match.group(1).strip()))
    else:
        spans, quote_share = unquoted_spans(text)
        if quote_share > max_quote_ratio:
            return [], {"quotation": 1}
        style = "post" if doc["kind"] == "post" else "article"
        whole_post = doc["kind"] == "post" and len(words(text)) <= max_words * 2
        for start, end in spans:
            piece = text[start:end]
            if whole_post:
                units.append(("post", piece, ""))
            else:
                units.extend((style, group, "") for group in _group_paragraphs(piece, max_words))
    out: list[Candidate] = []
    for index, (style, answer, path) in enumerate(units):
        reason = _reject(answer, style, min_words)
        if reason:
            dropped[reason] = dropped.get(reason, 0) + 1
            continue
        description = ""
        if style == "code":
            description = _first_sentence(text.split("\n", 3)[2] if text.count("\n") > 2 else "")
        out.append(Candidate(unit_index=index, style=style, answer=answer, path=path,
                             description=description, **base))
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
