"""The RAG deployment's work: from a request to ranked context chunks and their sources."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twin.features.chunk import ChunkSizes, chunk_text
from twin.features.clean import clean_for_retrieval
from twin.features.embed import encode, token_counter
from twin.rag.expand import expand_query
from twin.rag.links import fetch_links, save_link_material
from twin.rag.prompt import ContextChunk
from twin.rag.rerank import cross_encode, dedupe, mmr, rrf
from twin.rag.selfquery import Filters, self_query
from twin.settings import Settings
from twin.vectorstore import Hit, VectorStore, build_filter

log = logging.getLogger(__name__)
AUTHORS_TTL_S = 60.0


@dataclass
class Retrieval:
    """Context for one request, and how it was found."""

    chunks: list[ContextChunk] = field(default_factory=list)
    filters: Filters = field(default_factory=Filters)
    variants: list[str] = field(default_factory=list)
    link_errors: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def _to_context(hit: Hit) -> ContextChunk:
    return ContextChunk(text=hit.text, title=hit.title, url=hit.url, platform=hit.platform,
                        score=hit.score)


class Retriever:
    """Expand, self-query, search Milvus per variant, de-duplicate, re-rank, add link material."""

    def __init__(self, settings: Settings) -> None:
        r = settings.rag
        if r.reranker == "cross-encoder" and not r.cross_encoder_model:
            raise ValueError("rag.reranker is cross-encoder but rag.cross_encoder_model is not "
                             "set; choose mmr or rrf, or name a CrossEncoder model")
        self.settings = settings
        self.store = VectorStore(settings)
        self._authors: dict[str, str] = {}
        self._authors_at = 0.0

    def authors(self) -> dict[str, str]:
        """Author ids in the warehouse, with their names as words (refreshed each minute)."""
        if time.monotonic() - self._authors_at > AUTHORS_TTL_S:
            from twin.warehouse import Warehouse

            ids = Warehouse.from_settings(self.settings).read_table(columns=["author_id"])
            self._authors = {a: a.replace("-", " ") for a in
                             sorted(set(ids.column("author_id").to_pylist()))} \
                if ids.num_rows else {}
            self._authors_at = time.monotonic()
        return self._authors

    def retrieve(self, prompt: str, *, author: str | None = None, links: list[str] = (),
                 ask_llm: Callable[[str], str] | None = None,
                 save_links: bool | None = None) -> Retrieval:
        """Context chunks for ``prompt``: the links' material first, then the knowledge base.

        ``save_links`` (default ``rag.save_links``) also merges the links' documents into the
        warehouse as the author's reference material.
        """
        r = self.settings.rag
        out = Retrieval()
        t0 = time.monotonic()
        out.filters = self_query(prompt, self.authors(), author)
        out.variants = expand_query(prompt, r.variants, r.expansion, ask_llm)
        t1 = time.monotonic()
        model = self.settings.embed.model
        query_vectors = encode(out.variants, model, normalize=True)
        extra: list[ContextChunk] = []
        if links:
            material = fetch_links(list(links), out.filters.author_id or "guest", self.settings)
            out.link_errors = material.errors
            extra = self._link_chunks(material.documents, query_vectors[0])
            if (r.save_links if save_links is None else save_links) and material.documents:
                if out.filters.author_id:
                    out.notes.append(save_link_material(material, out.filters.author_id,
                                                        self.settings))
                else:
                    out.notes.append("link material not saved: no author for this request")
        t2 = time.monotonic()
        ranked = self._search(out, query_vectors, prompt)
        t3 = time.monotonic()
        out.chunks = extra + [_to_context(h) for h in ranked]
        out.timings = {"expand_s": round(t1 - t0, 3), "links_s": round(t2 - t1, 3),
                       "search_s": round(t3 - t2, 3)}
        return out

    def _search(self, out: Retrieval, vectors: np.ndarray, prompt: str) -> list[Hit]:
        r = self.settings.rag
        expr = build_filter(author_id=out.filters.author_id, platform=out.filters.platform)
        try:
            if not self.store.exists():
                out.notes.append("the knowledge base is empty: run `twin ingest`")
                return []
            lists = []
            for variant, vector in zip(out.variants, vectors, strict=True):
                if r.search_mode == "dense":
                    lists.append(self.store.dense(vector, r.k, expr))
                elif r.search_mode == "text":
                    lists.append(self.store.full_text(variant, r.k, expr))
                else:
                    lists.append(self.store.hybrid(vector, variant, r.k, expr))
        except Exception as exc:  # noqa: BLE001 - the post is still written, without context
            log.warning("knowledge base search failed: %s", exc)
            out.notes.append(f"knowledge base unavailable ({type(exc).__name__}): {exc}")
            return []
        candidates = dedupe(lists)
        if r.reranker == "rrf":
            return rrf(lists, r.context_chunks)
        if r.reranker == "cross-encoder":
            return cross_encode(prompt, candidates, r.context_chunks,
                                r.cross_encoder_model or "")
        if r.reranker == "mmr" and candidates:
            chunk_vectors = encode([h.text for h in candidates], self.settings.embed.model,
                                   normalize=True)
            return mmr(vectors[0], candidates, chunk_vectors, r.context_chunks, r.mmr_lambda)
        return sorted(candidates, key=lambda h: -h.score)[: r.context_chunks]

    def _link_chunks(self, documents: list[Any], query: np.ndarray) -> list[ContextChunk]:
        """The links' documents cleaned and chunked as ingestion does, best chunks first."""
        count = token_counter(self.settings.embed.model)
        i = self.settings.ingest
        sizes = ChunkSizes(prose=i.prose_chunk_tokens, overlap=i.prose_overlap_tokens,
                           code=i.code_chunk_tokens)
        chunks: list[ContextChunk] = []
        for doc in documents:
            text = clean_for_retrieval(doc.text, doc.kind)
            for piece in chunk_text(text, doc.kind, count, sizes):
                chunks.append(ContextChunk(text=piece, title=doc.title or doc.url, url=doc.url,
                                           platform=str(doc.platform), score=0.0,
                                           origin="link"))
        if not chunks:
            return []
        vectors = encode([c.text for c in chunks], self.settings.embed.model, normalize=True)
        for chunk, vector in zip(chunks, vectors, strict=True):
            chunk.score = round(float(vector @ query), 6)
        return sorted(chunks, key=lambda c: -c.score)[: self.settings.rag.context_chunks]

    def close(self) -> None:
        """Release the Milvus connection."""
        self.store.close()
