"""The dataset stage: instruction pairs from the warehouse, split by document, versioned.

Ray Data cuts candidate answers from every document (style-preserving cleaning) and writes the
instructions; the driver drops near-duplicates across documents, splits by document with a
fixed seed, checks that every answer is in the warehouse verbatim, and writes a versioned
folder (JSONL + Parquet + a JSON card, each author's voice model under ``voice/``, and the
train split's prose for continued pretraining, ``corpus.jsonl``: :mod:`twin.datasets.corpus`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from twin.datasets.context import retrieve_context
from twin.datasets.corpus import build_corpus, corpus_counts, corpus_hash, write_corpus
from twin.datasets.instructions import add_instructions
from twin.datasets.samples import Candidate, candidates_of, drop_near_duplicates
from twin.domain import LINK_ORIGIN, DatasetResult, slugify
from twin.features.clean import clean_for_style
from twin.settings import Settings, redact
from twin.warehouse import Warehouse

log = logging.getLogger(__name__)

SAMPLE_COLUMNS = ["id", "document_id", "author_id", "platform", "kind", "title", "unit_index",
                  "style", "answer", "path", "description", "part", "section"]


class GroundingError(RuntimeError):
    """Some answers are not the author's text verbatim: the dataset is not written."""


class DatasetError(ValueError):
    """Nothing to build from (an empty warehouse, no usable text)."""


def _candidates(batch: pd.DataFrame, min_words: int, max_words: int,
                max_quote_ratio: float) -> pd.DataFrame:
    """Ray Data step: candidate answers of a batch of documents (+ a row of filter counts)."""
    rows: list[dict[str, Any]] = []
    dropped: Counter[str] = Counter()
    for doc in batch.to_dict("records"):
        if json.loads(doc.get("metadata") or "{}").get("origin") == LINK_ORIGIN:
            dropped["link material (not the author's writing)"] += 1
            continue
        found, why = candidates_of(doc, min_words, max_words, max_quote_ratio)
        rows.extend(c.as_dict() for c in found)
        dropped.update(why)
    frame = pd.DataFrame(rows, columns=SAMPLE_COLUMNS)
    frame["dropped"] = ""
    if dropped:
        stats = {c: "" for c in SAMPLE_COLUMNS} | {"unit_index": -1, "part": -1,
                                                   "dropped": json.dumps(dict(dropped))}
        frame = pd.concat([frame, pd.DataFrame([stats])], ignore_index=True)
    return frame


def split_documents(document_ids: list[str], test_fraction: float, seed: int) -> set[str]:
    """The documents of the test split: a seeded hash order, never a document on both sides."""
    ranked = sorted(set(document_ids),
                    key=lambda d: hashlib.sha256(f"{seed}:{d}".encode()).hexdigest())
    # At least one document on each side once there are two.
    n_test = round(len(ranked) * test_fraction)
    n_test = min(max(n_test, 1), len(ranked) - 1) if len(ranked) >= 2 else 0
    return set(ranked[:n_test])


def check_grounding(samples: list[dict[str, Any]], warehouse: Warehouse,
                    version: int | None) -> int:
    """Every answer must appear verbatim in its document's (style-cleaned) warehouse text."""
    texts = {d.id: clean_for_style(d.text) for d in warehouse.documents(version=version)}
    missing = [s["id"] for s in samples if s["answer"] not in texts.get(s["document_id"], "")]
    if missing:
        raise GroundingError(f"{len(missing)} of {len(samples)} answers are not found verbatim "
                             f"in the warehouse (e.g. sample {missing[0]}): not writing the "
                             "dataset")
    return len(samples)


def content_hash(samples: list[dict[str, Any]],
                 corpus: list[dict[str, str]] | None = None) -> str:
    """Hash of the samples' ids, splits, instructions, word limits and material, of the
    pretraining corpus (what training would see), and of the voice model's format (a version
    whose voice models an older release saved is rebuilt, not reused with models nothing can
    load)."""
    from twin.voice.model import FORMAT as VOICE_FORMAT

    digest = hashlib.sha256()
    digest.update(f"voice-format\x1f{VOICE_FORMAT}\n".encode())
    if corpus:
        digest.update(f"corpus\x1f{corpus_hash(corpus)}\n".encode())
    for s in sorted(samples, key=lambda s: s["id"]):
        material = json.dumps(s.get("context") or [], sort_keys=True, ensure_ascii=False)
        digest.update(f"{s['id']}\x1f{s['split']}\x1f{s['instruction']}\x1f"
                      f"{s.get('max_words')}\x1f{material}\n".encode())
    return digest.hexdigest()


def build_instruction_dataset(settings: Settings, *, author: str | None = None,
                              show_progress: bool = True) -> DatasetResult:
    """Build (or reuse) the instruction dataset version for the warehouse's current state."""
    import ray

    from twin.raycluster import connect

    start = time.monotonic()
    warehouse = Warehouse.from_settings(settings)
    version = warehouse.version()
    author_id = slugify(author) if author else None
    if version is None or warehouse.read_table(author_id=author_id, columns=["id"]).num_rows == 0:
        raise DatasetError(f"the warehouse at {warehouse.uri} holds no documents"
                           + (f" for {author_id}" if author_id else "")
                           + ": collect first (`twin collect`)")
    d = settings.dataset
    connect(settings)
    ray.data.DataContext.get_current().enable_progress_bars = False
    # Not ray.data.read_delta: its file-sampling tasks want a whole CPU each, and wait forever
    # while the Serve app holds all but a fraction of one.
    dataset = warehouse.ray_dataset(version=version, num_cpus=0.25,
                                    columns=["id", "author_id", "platform", "kind", "title",
                                             "text", "metadata"])
    if author_id:
        dataset = dataset.filter(expr=f"author_id == '{author_id}'")
    rows = dataset.map_batches(_candidates, fn_kwargs={
        "min_words": d.min_words, "max_words": d.max_words,
        "max_quote_ratio": d.max_quote_ratio}, batch_format="pandas", num_cpus=0.25).take_all()
    dropped: Counter[str] = Counter()
    candidates: list[Candidate] = []
    for row in rows:
        if row.get("dropped"):
            dropped.update(json.loads(row["dropped"]))
            continue
        fields = {k: row[k] for k in SAMPLE_COLUMNS if k != "id"}
        fields["unit_index"], fields["part"] = int(fields["unit_index"]), int(fields["part"])
        candidates.append(Candidate(**fields))
    kept, near_dupes = drop_near_duplicates(candidates, d.near_duplicate_jaccard)
    if near_dupes:
        dropped["near-duplicate"] = near_dupes
    if not kept:
        raise DatasetError("no usable training text: every candidate was filtered out "
                           f"({dict(dropped)})")
    teacher = settings.teacher.model_dump() if settings.teacher.base_url else None
    samples_ds = ray.data.from_pandas(pd.DataFrame([c.as_dict() for c in kept]))
    samples = samples_ds.map_batches(add_instructions, fn_kwargs={
        "teacher": teacher}, batch_format="pandas",
        batch_size=settings.teacher.batch_size, num_cpus=0.25).take_all()
    test_docs = split_documents([s["document_id"] for s in samples], d.test_fraction, d.seed)
    for sample in samples:
        sample["unit_index"], sample["part"] = int(sample["unit_index"]), int(sample["part"])
        sample["split"] = "test" if sample["document_id"] in test_docs else "train"
    samples.sort(key=lambda s: (s["split"], s["document_id"], s["unit_index"]))
    grounded = check_grounding(samples, warehouse, version)
    documents = warehouse.documents(version=version)
    # Material from the author's other documents, in the serving prompt's shape.
    context = retrieve_context(samples, documents, settings)
    # The train split's prose, for continued pretraining (train.pretrain_steps).
    corpus = build_corpus(documents, samples, d.context_max_overlap)
    digest = content_hash(samples, corpus)
    card = {
        "name": "instruct",
        "created_at": datetime.now(UTC).isoformat(),
        "author_id": author_id,
        "content_hash": digest,
        "source": {"warehouse": warehouse.documents_uri, "table_version": version},
        "counts": {
            "documents": len({s["document_id"] for s in samples}),
            "samples": len(samples),
            "train": sum(s["split"] == "train" for s in samples),
            "test": sum(s["split"] == "test" for s in samples),
            "test_documents": len(test_docs),
            "by_platform": dict(Counter(s["platform"] for s in samples)),
            "by_style": dict(Counter(s["style"] for s in samples)),
            "by_instruction_source": dict(Counter(s["instruction_source"] for s in samples)),
            "filtered": dict(dropped),
            "corpus": corpus_counts(corpus),
        },
        "grounding": {"checked": grounded, "passed": grounded},
        "context": context,
        "settings": {"dataset": d.model_dump(), "teacher": {
            # the card is shown (UI, registry): the endpoint without any credential in its URL
            "base_url": settings.teacher.base_url and redact(settings.teacher.base_url),
            "model": settings.teacher.model}},
    }
    result = _write_version(settings.home_dir / "datasets" / "instruct", samples, card,
                            voice=_voice_builder(settings, samples, warehouse, version),
                            corpus=corpus)
    log.info("instruction dataset %s: %d samples (%d train / %d test) in %.1fs%s",
             result.path.name, len(samples), card["counts"]["train"], card["counts"]["test"],
             time.monotonic() - start, " (unchanged: reused)" if result.reused else "")
    return result


def _voice_builder(settings: Settings, samples: list[dict[str, Any]], warehouse: Warehouse,
                   version: int | None) -> Callable[[Path], dict[str, Any]]:
    """Writes the authors' kits into a version folder: each one's channel profile (what the
    checks compare a draft with) and, unless voice.enabled is off, voice model."""
    from twin.domain.models import VOICE_DIR
    from twin.posts.kit import write_profiles

    def build(folder: Path) -> dict[str, Any]:
        cards: dict[str, Any] = {}
        if settings.voice.enabled:
            from twin.voice.build import build_voice_models

            cards = build_voice_models(settings, samples, folder, warehouse=warehouse,
                                       version=version)
        profiles = write_profiles(settings, samples, folder / VOICE_DIR,
                                  warehouse.documents(version=version))
        for author, measured_on in profiles.items():
            cards.setdefault(author, {})["channel_profile"] = measured_on
        return cards

    return build


def _write_version(root: Path, samples: list[dict[str, Any]], card: dict[str, Any],
                   voice: Callable[[Path], dict[str, Any]] | None = None,
                   corpus: list[dict[str, str]] | None = None) -> DatasetResult:
    """Write ``v<N>-<hash8>`` unless the newest version has the same content hash.

    ``voice`` writes the voice models into the new folder and returns their cards (kept in
    the dataset card under ``voice``); a reused version keeps the models it has. ``corpus``
    is written as ``corpus.jsonl`` (the pretraining text; the content hash covers it).
    """
    root.mkdir(parents=True, exist_ok=True)
    versions = sorted((p for p in root.iterdir() if p.is_dir() and p.name.startswith("v")),
                      key=lambda p: int(p.name[1:].split("-")[0]))
    if versions:
        latest = json.loads((versions[-1] / "card.json").read_text())
        if latest.get("content_hash") == card["content_hash"]:
            return DatasetResult(path=versions[-1], card=latest, reused=True)
    number = int(versions[-1].name[1:].split("-")[0]) + 1 if versions else 1
    folder = root / f"v{number}-{card['content_hash'][:8]}"
    tmp = root / f".{folder.name}.tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    card = {**card, "version": folder.name}
    if voice is not None:
        card["voice"] = voice(tmp)
    for split in ("train", "test"):
        part = [s for s in samples if s["split"] == split]
        with (tmp / f"{split}.jsonl").open("w") as handle:
            for sample in part:
                handle.write(json.dumps(sample, ensure_ascii=False) + "\n")
        pd.DataFrame(part).to_parquet(tmp / f"{split}.parquet", index=False)
    write_corpus(tmp, corpus or [])
    (tmp / "card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False))
    tmp.rename(folder)  # a version appears whole or not at all
    return DatasetResult(path=folder, card=card)


def load_split(path: Path, split: str) -> list[dict[str, Any]]:
    """The samples of one split of a dataset version."""
    with (path / f"{split}.jsonl").open() as handle:
        return [json.loads(line) for line in handle]
