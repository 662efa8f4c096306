"""Chunking measured in the embedder's tokens.

Prose is cut at paragraph and sentence boundaries, with an overlap of whole sentences; code at
file boundaries, then at function/class (or heading) boundaries, then at lines. Sizes come from
settings (``ingest.*_tokens``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from twin.domain import Kind
from twin.markup import split_code

TokenCounter = Callable[[Sequence[str]], list[int]]

_SENTENCE = re.compile(r"(?<=[.!?。！？])\s+|(?<=[。！？])")
_FILE_HEADER = re.compile(r"^## File: (\S[^\n]*)$", re.M)  # see collect/repository.py
_CODE_BOUNDARY = re.compile(
    r"^(\s{0,4}(async def |def |class |function |func |fn |pub fn |impl |interface |export |"
    r"public |private |protected |CREATE |WITH |SELECT |INSERT |UPDATE )|#{1,4} |```)", re.I)


@dataclass(frozen=True)
class ChunkSizes:
    """Token budgets for one chunking run."""

    prose: int = 200
    overlap: int = 40
    code: int = 220


def _pack(units: list[str], counts: list[int], limit: int, overlap: int,
          joiner: Callable[[list[str]], str]) -> list[str]:
    """Greedy packing of units into chunks of at most ``limit`` tokens, overlapping by whole
    trailing units worth at most ``overlap`` tokens."""
    chunks: list[str] = []
    current: list[int] = []
    total = 0
    for i, n in enumerate(counts):
        if current and total + n > limit:
            chunks.append(joiner([units[j] for j in current]))
            keep: list[int] = []
            kept = 0
            for j in reversed(current):
                if kept + counts[j] > overlap or kept + counts[j] + n > limit:
                    break
                keep.insert(0, j)
                kept += counts[j]
            current, total = keep, kept
        current.append(i)
        total += n
    if current:
        chunks.append(joiner([units[j] for j in current]))
    return chunks


def _split_long(unit: str, count: TokenCounter, limit: int) -> list[str]:
    """A unit over the budget (a very long sentence or line) split at word boundaries."""
    words = unit.split(" ")
    pieces: list[str] = []
    current: list[str] = []
    for word in words:
        candidate = " ".join([*current, word])
        if current and count([candidate])[0] > limit:
            pieces.append(" ".join(current))
            current = [word]
        else:
            current.append(word)
    if current:
        pieces.append(" ".join(current))
    # A single "word" longer than the budget (minified code, CJK without spaces): characters.
    out: list[str] = []
    for piece in pieces:
        while count([piece])[0] > limit and len(piece) > 1:
            cut = max(1, len(piece) * limit // max(count([piece])[0], 1))
            out.append(piece[:cut])
            piece = piece[cut:]
        out.append(piece)
    return [p for p in out if p.strip()]


def chunk_prose(text: str, count: TokenCounter, sizes: ChunkSizes) -> list[str]:
    """Paragraph- and sentence-bounded chunks with sentence overlap; code fences kept whole."""
    units: list[str] = []
    breaks: list[bool] = []  # whether a unit starts a new paragraph
    code_units: set[int] = set()  # indexes of the units that are code blocks
    for block, code in split_code(text):
        if not block.strip():
            continue
        if code:
            code_units.add(len(units))
            units.append(block.strip())
            breaks.append(True)
            continue
        for paragraph in re.split(r"\n\s*\n", block):
            sentences = [s.strip() for s in _SENTENCE.split(paragraph.strip()) if s.strip()]
            for k, sentence in enumerate(sentences):
                units.append(sentence)
                breaks.append(k == 0)
    if not units:
        return []
    counts = count(units)
    expanded: list[str] = []
    expanded_breaks: list[bool] = []
    expanded_counts: list[int] = []
    for index, (unit, brk, n) in enumerate(zip(units, breaks, counts, strict=True)):
        if n <= sizes.prose:
            expanded.append(unit)
            expanded_breaks.append(brk)
            expanded_counts.append(n)
            continue
        splitter = _split_lines if index in code_units else _split_long
        for k, piece in enumerate(splitter(unit, count, sizes.prose)):
            expanded.append(piece)
            expanded_breaks.append(brk and k == 0)
            expanded_counts.append(count([piece])[0])
    starts = {id(u): b for u, b in zip(expanded, expanded_breaks, strict=True)}

    def join(parts: list[str]) -> str:
        out = parts[0]
        for part in parts[1:]:
            out += ("\n\n" if starts.get(id(part)) else " ") + part
        return out

    return _pack(expanded, expanded_counts, sizes.prose, sizes.overlap, join)


def _split_lines(block: str, count: TokenCounter, limit: int) -> list[str]:
    lines = block.split("\n")
    counts = count(lines)
    pieces: list[str] = []
    for line, n in zip(lines, counts, strict=True):
        pieces.extend(_split_long(line, count, limit) if n > limit else [line])
    return _pack(pieces, count(pieces), limit, 0, "\n".join)


def chunk_code(text: str, count: TokenCounter, sizes: ChunkSizes) -> list[str]:
    """A repository document: one file per ``## File: path`` section, split at definitions."""
    headers = list(_FILE_HEADER.finditer(text))
    sections: list[tuple[str, str]] = []
    if not headers:
        sections.append(("", text))
    else:
        preamble = text[: headers[0].start()].strip()
        if preamble:
            sections.append(("", preamble))
        for k, match in enumerate(headers):
            end = headers[k + 1].start() if k + 1 < len(headers) else len(text)
            sections.append((match.group(1).strip(), text[match.end(): end].strip("\n")))
    chunks: list[str] = []
    for path, body in sections:
        prefix = f"{path}\n" if path else ""
        budget = sizes.code - (count([prefix])[0] if prefix else 0)
        if count([body])[0] <= budget:
            chunks.append(prefix + body)
            continue
        blocks: list[str] = []
        current: list[str] = []
        for line in body.split("\n"):
            if current and _CODE_BOUNDARY.match(line):
                blocks.append("\n".join(current))
                current = []
            current.append(line)
        if current:
            blocks.append("\n".join(current))
        pieces: list[str] = []
        for block in blocks:
            pieces.extend(_split_lines(block, count, budget) if count([block])[0] > budget
                          else [block])
        chunks.extend(prefix + piece for piece in _pack(pieces, count(pieces), budget, 0,
                                                         "\n".join))
    return [c for c in chunks if c.strip()]


def chunk_text(text: str, kind: Kind | str, count: TokenCounter, sizes: ChunkSizes) -> list[str]:
    """Chunks of a document's (cleaned) text, by kind."""
    if not text.strip():
        return []
    if Kind(kind) is Kind.REPOSITORY:
        return chunk_code(text, count, sizes)
    return chunk_prose(text, count, sizes)
