"""Retrieved material for training samples: train the way the twin is served.

A served request carries the chunks the retriever found; a training sample carries chunks
retrieved at dataset time for its instruction, from the author's *other* documents (never its
own: its document and its URL are excluded, and so is a chunk that repeats the sample's own
text, such as a cross-post of the same piece). The chunks are stored in the sample
(``context``: title, url, platform, text) and training renders them with the one prompt builder
(:func:`twin.prompting.sample_messages`), in exactly the serving prompt's shape.

Where the material comes from (``dataset.context_source``): the knowledge base, searched with
the project's own :func:`twin.retrieval.search` as ``rag.search_mode``; or, when the knowledge
base is not there (no Milvus in the dataset job, nothing ingested for the author), the
warehouse's documents chunked as ingest chunks them and searched by their embeddings in memory.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from twin.datasets.samples import shingles
from twin.domain import Document, Hit
from twin.features.chunk import ChunkSizes
from twin.features.clean import clean_for_style
from twin.features.embed import encode
from twin.prompting import ContextChunk, word_limit
from twin.settings import Settings

log = logging.getLogger(__name__)

# (query, author id, the sample's own document id, how many) -> hits, best first.
Finder = Callable[[str, str, str, int], list[Hit]]
# Hits asked for per wanted chunk: some are dropped as the sample's own text.
OVERSAMPLE = 3


def gets_context(sample: dict[str, Any], share: float, seed: int) -> bool:
    """Whether ``sample`` carries material: every held-out sample (served requests always
    retrieve), and a seeded ``share`` of the training samples."""
    if sample.get("split") == "test":
        return True
    digest = hashlib.sha256(f"{seed}:context:{sample['id']}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def overlap(chunk: str, own: set[str]) -> float:
    """Share of ``chunk``'s word 5-grams that are also in the sample's own text (``own``)."""
    grams = shingles(chunk)
    return len(grams & own) / max(1, len(grams))


@dataclass
class WarehouseIndex:
    """The knowledge base's chunks made from warehouse documents, with their embeddings: the
    fallback when Milvus is not there (dense search only)."""

    hits: list[Hit]
    vectors: np.ndarray
    model: str
    normalize: bool

    @classmethod
    def build(cls, documents: Iterable[Document], settings: Settings) -> WarehouseIndex:
        """Chunk ``documents`` exactly as ``twin ingest`` does and embed the chunks."""
        from twin.ingest import chunk_documents

        rows = [{"id": d.id, "author_id": d.author_id, "platform": str(d.platform),
                 "kind": str(d.kind), "url": d.url, "title": d.title or "",
                 "published_at": d.published_at, "content_hash": d.content_hash,
                 "text": d.text} for d in documents]
        i = settings.ingest
        sizes = ChunkSizes(prose=i.prose_chunk_tokens, overlap=i.prose_overlap_tokens,
                           code=i.code_chunk_tokens)
        chunks = chunk_documents(pd.DataFrame(rows), settings.embed.model, sizes,
                                 i.min_chunk_chars).to_dict("records") if rows else []
        hits = [Hit(id=c["id"], score=0.0, text=c["text"], document_id=c["document_id"],
                    author_id=c["author_id"], platform=c["platform"], kind=c["kind"],
                    url=c["url"], title=c["title"], published_at=int(c["published_at"]),
                    chunk_index=int(c["chunk_index"])) for c in chunks]
        vectors = encode([h.text for h in hits], settings.embed.model,
                         normalize=settings.embed.normalize) if hits else np.zeros((0, 1))
        return cls(hits, vectors, settings.embed.model, settings.embed.normalize)

    def find(self, query: str, author_id: str, exclude_document: str, k: int) -> list[Hit]:
        """The ``k`` chunks of the author's other documents nearest to ``query``."""
        allowed = [n for n, h in enumerate(self.hits)
                   if h.author_id == author_id and h.document_id != exclude_document]
        if not allowed or k < 1:
            return []
        vector = encode([query], self.model, normalize=self.normalize)[0]
        scores = self.vectors[allowed] @ vector
        best = np.argsort(-scores, kind="stable")[:k]
        return [Hit(**{**vars(self.hits[allowed[b]]), "score": round(float(scores[b]), 6)})
                for b in best]


def knowledge_base_finder(settings: Settings, store: Any) -> Finder:
    """Search the knowledge base the way ``twin search`` does, leaving the own document out."""
    from twin.retrieval import search

    def find(query: str, author_id: str, exclude_document: str, k: int) -> list[Hit]:
        return search(query, settings, author=author_id, k=k, mode=settings.rag.search_mode,
                      store=store, exclude_document=exclude_document)

    return find


def open_finder(settings: Settings, documents: list[Document],
                author_ids: set[str]) -> tuple[Finder, str, Callable[[], None]]:
    """(finder, the source's name, close) for ``dataset.context_source``.

    ``auto`` uses the knowledge base when it is reachable and holds chunks of every author of
    the samples, else the warehouse; ``knowledge-base`` raises when Milvus cannot be reached.
    """
    source = settings.dataset.context_source
    if source != "warehouse":
        from twin.vectorstore import VectorStore, VectorStoreError, build_filter

        store = VectorStore(settings)
        try:
            missing = [a for a in sorted(author_ids)
                       if store.count(build_filter(author_id=a)) == 0]
        except VectorStoreError as exc:
            store.close()
            if source == "knowledge-base":
                raise
            log.warning("dataset context from the warehouse: %s", exc)
        else:
            if not missing or source == "knowledge-base":
                return knowledge_base_finder(settings, store), "knowledge-base", store.close
            store.close()
            log.warning("dataset context from the warehouse: the knowledge base holds no "
                        "chunks of %s (run `twin ingest` first)", ", ".join(missing))
    index = WarehouseIndex.build([d for d in documents if d.author_id in author_ids], settings)
    return index.find, "warehouse", lambda: None


def add_context(samples: list[dict[str, Any]], documents: list[Document], finder: Finder,
                settings: Settings) -> Counter[str]:
    """Give each sample its word limit and, when :func:`gets_context` chooses it, the material
    retrieved for its instruction; counts of what was added and dropped."""
    d = settings.dataset
    own_text = {doc.id: clean_for_style(doc.text) for doc in documents}
    urls = {doc.id: doc.url for doc in documents}
    own_grams: dict[str, set[str]] = {}
    counts: Counter[str] = Counter()
    for sample in samples:
        sample["max_words"] = word_limit(sample["answer"])
        sample["context"] = []
        if d.context_chunks < 1 or not gets_context(sample, d.context_share, d.seed):
            continue
        doc_id = sample["document_id"]
        own = own_grams.setdefault(doc_id, shingles(own_text.get(doc_id, sample["answer"])))
        seen: set[str] = set()
        for hit in finder(sample["instruction"], sample["author_id"], doc_id,
                          d.context_chunks * OVERSAMPLE):
            if hit.document_id == doc_id or (hit.url and hit.url == urls.get(doc_id)):
                counts["own document"] += 1  # a finder that does not filter, a stale chunk
                continue
            if overlap(hit.text, own) > d.context_max_overlap:
                counts["repeats the sample's own text"] += 1
                continue
            if hit.text in seen:
                continue
            seen.add(hit.text)
            sample["context"].append(ContextChunk(
                text=hit.text, title=hit.title, url=hit.url, platform=hit.platform,
                score=round(float(hit.score), 6)).as_dict())
            if len(sample["context"]) == d.context_chunks:
                break
        counts[f"{sample.get('split', 'train')} samples with material"] += bool(sample["context"])
        counts["chunks"] += len(sample["context"])
    return counts


def retrieve_context(samples: list[dict[str, Any]], documents: list[Document],
                     settings: Settings) -> dict[str, Any]:
    """Add material to ``samples`` (see :func:`add_context`) from the source
    ``dataset.context_source`` picks; what the dataset card records of it."""
    d = settings.dataset
    authors = {s["author_id"] for s in samples}
    wanted = d.context_chunks > 0 and any(gets_context(s, d.context_share, d.seed)
                                          for s in samples)
    if not wanted:
        counts = add_context(samples, documents, lambda *_: [], settings)
        return {"source": None, **counts}
    finder, source, close = open_finder(settings, documents, authors)
    try:
        counts = add_context(samples, documents, finder, settings)
    finally:
        close()
    log.info("dataset context from the %s: %s", source, dict(counts))
    return {"source": source, **counts}
