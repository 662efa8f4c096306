"""Building the voice model at dataset time: the author's training answers against other
people's writing (other authors in the warehouse, link material, the shipped corpus).

The model is written into the dataset version's folder (``voice/<author_id>/``); the
registry copies that folder into the artifacts of every model version trained on the dataset
(``Registry.voice_model_dir``), so a version carries the voice model that scores its drafts.
The held-out check uses the dataset's test split for the author and the last pieces of each
other document for everyone else.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any

from twin.domain import LINK_ORIGIN
from twin.domain.models import VOICE_DIR
from twin.features.clean import clean_for_style
from twin.settings import Settings
from twin.voice.corpus import Piece, corpus_pieces, cut_pieces, split_tail, word_count
from twin.voice.model import MODEL_FILE, VoiceModel, describe, held_out_check
from twin.warehouse import Warehouse

log = logging.getLogger(__name__)


def author_texts(samples: list[dict[str, Any]], author_id: str, split: str,
                 min_words: int) -> list[str]:
    """The author's prose answers of one split (code answers are not a voice)."""
    return [s["answer"] for s in samples
            if s["author_id"] == author_id and s["split"] == split and s["style"] != "code"
            and word_count(s["answer"]) >= min_words]


def others_pieces(warehouse: Warehouse, author_id: str, version: int | None,
                  settings: Settings) -> list[Piece]:
    """Other people's writing in the warehouse, cut into pieces: other authors' posts and
    articles, and the link material saved for this author (someone else's words)."""
    v = settings.voice
    pieces: list[Piece] = []
    for doc in warehouse.documents(version=version):
        others = doc.author_id != author_id
        link = doc.metadata.get("origin") == LINK_ORIGIN
        if doc.kind == "repository" or not (others or link):
            continue
        who = f"{doc.author_id} (link)" if link and not others else doc.author_id
        pieces.extend(Piece(author=who, document=doc.id, index=i, text=t) for i, t in
                      enumerate(cut_pieces(clean_for_style(doc.text), v.piece_words,
                                           v.min_piece_words)))
    return pieces


def build_voice_model(settings: Settings, samples: list[dict[str, Any]], author_id: str,
                      folder: Path, *, warehouse: Warehouse | None = None,
                      version: int | None = None) -> dict[str, Any]:
    """Train, check and save one author's voice model; the card (or why none was built)."""
    start = time.monotonic()
    v = settings.voice
    train = author_texts(samples, author_id, "train", v.min_piece_words)
    test = author_texts(samples, author_id, "test", v.min_piece_words)
    if len(train) < v.min_author_pieces:
        return {"skipped": f"{len(train)} training texts of {author_id} (voice.min_author_pieces"
                           f" is {v.min_author_pieces})"}
    others = others_pieces(warehouse, author_id, version, settings) if warehouse else []
    if v.use_corpus:
        others += corpus_pieces(v.piece_words, v.min_piece_words)
    others_train, others_test = split_tail(others, v.held_out_fraction)
    if len(others_train) < 2:
        return {"skipped": "no other people's writing to compare with (voice.use_corpus is off "
                           "and the warehouse holds no other author)"}
    try:
        model = VoiceModel.train(train, [p.text for p in others_train], settings)
    except ValueError as exc:  # texts with no usable words or n-grams: the dataset still stands
        log.warning("no voice model for %s: %s", author_id, exc)
        return {"skipped": f"the voice model could not be trained: {exc}"}
    model.card.update({
        "author_id": author_id,
        "held_out": held_out_check(model, test, [p.text for p in others_test]),
        "others": {"authors": dict(Counter(p.author for p in others)),
                   "corpus": v.use_corpus},
        "seconds": round(time.monotonic() - start, 1),
    })
    model.save(folder)
    log.info("%s for %s (%.1fs)", describe(model.card), author_id, model.card["seconds"])
    return model.card


def build_voice_models(settings: Settings, samples: list[dict[str, Any]], dataset_dir: Path,
                       *, warehouse: Warehouse | None = None, version: int | None = None
                       ) -> dict[str, dict[str, Any]]:
    """One voice model per author of the samples, under ``<dataset_dir>/voice/``; their
    cards by author (for the dataset card)."""
    authors = sorted({s["author_id"] for s in samples})
    return {a: build_voice_model(settings, samples, a, dataset_dir / VOICE_DIR / a,
                                 warehouse=warehouse, version=version) for a in authors}


def voice_model_dir(dataset_dir: Path | str, author_id: str) -> Path:
    """Where a dataset version keeps an author's voice model."""
    return Path(dataset_dir) / VOICE_DIR / author_id


def load_voice_model(dataset_dir: Path | str, author_id: str) -> VoiceModel | None:
    """The author's voice model of a dataset version, or None when it has none."""
    folder = voice_model_dir(dataset_dir, author_id)
    return VoiceModel.load(folder) if (folder / MODEL_FILE).is_file() else None
