"""The author's raw prose for continued pretraining: ``corpus.jsonl`` in a dataset version.

One row per training-split document (``id``, ``author_id``, ``text``): its style-cleaned text
(the text answers are cut from, :func:`twin.features.clean.clean_for_style`) with the quoted
lines and fenced code blocks left out, the way answers leave them out
(:func:`twin.datasets.samples.prose_spans`). Never a held-out document (the evaluation's prompts
and references come from those), never a repository (code is not prose), never link material
(other people's words). A paragraph that repeats a held-out document's text (a cross-post of a
held-out piece under another key) is left out too, so no held-out text reaches training.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from twin.datasets.samples import prose_spans, shingles, words
from twin.domain import LINK_ORIGIN, Document, Kind
from twin.features.clean import clean_for_style

CORPUS_FILE = "corpus.jsonl"
_PARAGRAPHS = re.compile(r"\n\s*\n")


def prose_text(text: str) -> str:
    """A document's style-cleaned text without its quoted lines and code blocks."""
    cleaned = clean_for_style(text)
    spans, _, _ = prose_spans(cleaned)
    return "\n\n".join(cleaned[s:e] for s, e in spans)


def _is_prose_by_the_author(doc: Document) -> bool:
    return Kind(doc.kind) is not Kind.REPOSITORY and doc.metadata.get("origin") != LINK_ORIGIN


def build_corpus(documents: Iterable[Document], samples: list[dict[str, Any]],
                 max_overlap: float) -> list[dict[str, str]]:
    """The corpus rows: the prose of each document whose samples are in the train split.

    A paragraph sharing more than ``max_overlap`` of its word 5-grams with a held-out
    document's text is dropped (``dataset.context_max_overlap``: the rule that keeps a
    sample's own piece out of its material).
    """
    train_docs = {s["document_id"] for s in samples if s["split"] == "train"}
    test_docs = {s["document_id"] for s in samples if s["split"] == "test"}
    docs = [d for d in documents if _is_prose_by_the_author(d)]
    held_out: set[str] = set()
    for doc in docs:
        if doc.id in test_docs:
            held_out |= shingles(prose_text(doc.text))
    rows = []
    for doc in sorted(docs, key=lambda d: d.id):
        if doc.id not in train_docs or doc.id in test_docs:
            continue
        kept = [p for p in _PARAGRAPHS.split(prose_text(doc.text)) if p.strip()
                and not _repeats(p, held_out, max_overlap)]
        if kept:
            rows.append({"id": doc.id, "author_id": doc.author_id, "text": "\n\n".join(kept)})
    return rows


def _repeats(paragraph: str, held_out: set[str], max_overlap: float) -> bool:
    grams = shingles(paragraph)
    return bool(held_out) and len(grams & held_out) / max(1, len(grams)) > max_overlap


def corpus_counts(rows: list[dict[str, str]]) -> dict[str, int]:
    """What the dataset card says of the corpus: its documents and words."""
    return {"documents": len(rows), "words": sum(len(words(r["text"])) for r in rows)}


def corpus_hash(rows: list[dict[str, str]]) -> str:
    """Hash of the corpus (part of the dataset version's content hash)."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(f"{row['id']}\x1f{row['text']}\n".encode())
    return digest.hexdigest()


def write_corpus(folder: Path, rows: list[dict[str, str]]) -> None:
    """``corpus.jsonl`` in a dataset version folder."""
    with (folder / CORPUS_FILE).open("w") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def load_corpus(dataset_dir: Path) -> list[dict[str, str]]:
    """The corpus rows of a dataset version (empty when it has none: built before it existed)."""
    path = Path(dataset_dir) / CORPUS_FILE
    if not path.exists():
        return []
    with path.open() as handle:
        return [json.loads(line) for line in handle if line.strip()]
