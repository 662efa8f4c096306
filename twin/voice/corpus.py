"""Other people's writing for the voice model: the corpus the project ships, and pieces.

The shipped corpus (``twin/voice/corpus/``, sources and licences in its ``SOURCES.md``) is
real prose by several authors, public domain or CC BY: blog posts on software and
infrastructure (the demo author's own field, so the model must learn her voice rather than
her topics), two on teaching programming, a musician's post, and two nineteenth-century
essays. Every text is cut into
post-sized pieces at paragraph boundaries, the same way other authors' warehouse documents are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from twin.markup import CLOSED_CODE_BLOCK

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Piece:
    """One post-sized piece of someone's writing, and where it came from."""

    author: str
    document: str  # a key of the source document (title or id)
    index: int  # position of the piece in its document
    text: str


def corpus_dir() -> Path:
    """The folder of the shipped reference corpus."""
    return Path(str(resources.files("twin.voice") / "corpus"))


def word_count(text: str) -> int:
    """Words in a text."""
    return len(_WORD.findall(text))


def cut_pieces(text: str, max_words: int, min_words: int) -> list[str]:
    """Consecutive paragraphs of ``text`` grouped up to ``max_words``; code blocks dropped.

    A paragraph longer than ``max_words`` is a piece of its own; pieces shorter than
    ``min_words`` (a lone heading, a sign-off) are not kept.
    """
    prose = CLOSED_CODE_BLOCK.sub("", text)
    pieces: list[str] = []
    group: list[str] = []
    total = 0
    for paragraph in (p.strip() for p in _PARAGRAPH_BREAK.split(prose)):
        n = word_count(paragraph)
        if not n:
            continue
        if group and total + n > max_words:
            pieces.append("\n\n".join(group))
            group, total = [], 0
        group.append(paragraph)
        total += n
    if group:
        pieces.append("\n\n".join(group))
    return [p for p in pieces if word_count(p) >= min_words]


def _parse(path: Path) -> tuple[dict[str, str], str]:
    raw = path.read_text(encoding="utf-8")
    _, front, body = raw.split("---", 2)
    return yaml.safe_load(front) or {}, body.strip()


def corpus_documents() -> list[tuple[dict[str, str], str]]:
    """Every shipped text as (front matter, body), in file-name order."""
    return [_parse(p) for p in sorted(corpus_dir().glob("*.md")) if p.name != "SOURCES.md"]


def corpus_pieces(max_words: int, min_words: int) -> list[Piece]:
    """The shipped corpus cut into pieces."""
    pieces: list[Piece] = []
    for meta, body in corpus_documents():
        title = str(meta.get("title", ""))
        pieces.extend(Piece(author=str(meta["author"]), document=title, index=i, text=t)
                      for i, t in enumerate(cut_pieces(body, max_words, min_words)))
    return pieces


def split_tail(pieces: list[Piece], fraction: float) -> tuple[list[Piece], list[Piece]]:
    """Training and held-out pieces: the last ``fraction`` of each document's pieces is held
    out (at least one when a document has two or more; a one-piece document trains)."""
    by_document: dict[tuple[str, str], list[Piece]] = {}
    for piece in pieces:
        by_document.setdefault((piece.author, piece.document), []).append(piece)
    train: list[Piece] = []
    held_out: list[Piece] = []
    for group in by_document.values():
        group.sort(key=lambda p: p.index)
        n_out = max(1, round(len(group) * fraction)) if len(group) >= 2 else 0
        train.extend(group[:len(group) - n_out])
        held_out.extend(group[len(group) - n_out:])
    return train, held_out
