"""The retrieval primitive: nearest chunks for a query, filtered by author/platform/kind."""

from __future__ import annotations

from typing import Literal

from twin.domain import slugify
from twin.features.embed import encode
from twin.settings import Settings
from twin.vectorstore import Hit, VectorStore, VectorStoreError, build_filter, quote

Mode = Literal["dense", "text", "hybrid"]
MODES = ("dense", "text", "hybrid")


def search(query: str, settings: Settings, *, author: str | None = None,
           platform: str | None = None, kind: str | None = None, k: int = 5,
           mode: Mode = "hybrid", collection: str | None = None,
           store: VectorStore | None = None, exclude_document: str | None = None) -> list[Hit]:
    """The ``k`` chunks nearest to ``query``: dense (embeddings), text (BM25) or hybrid (RRF).

    ``store`` reuses an open connection (a long-lived server's); otherwise one is opened and
    closed for this search. ``exclude_document`` leaves that document's chunks out (the
    dataset stage retrieves a sample's material from the author's *other* documents).
    """
    query = query.strip()
    if not query:
        raise ValueError("the query is empty")
    if k < 1 or k > 1000:
        raise ValueError(f"k must be between 1 and 1000, not {k}")
    if mode not in MODES:
        raise ValueError(f"unknown search mode {mode!r}: use one of {', '.join(MODES)}")
    own = store is None
    store = store or VectorStore(settings, collection)
    try:
        if not store.exists():
            raise VectorStoreError(f"the knowledge base ({store.name} at {settings.milvus_uri}) "
                                   "does not exist yet: run `twin ingest` first")
        expr = build_filter(author_id=slugify(author) if author else None, platform=platform,
                            kind=kind)
        if exclude_document:
            expr = " and ".join(filter(None, [expr, f"document_id != {quote(exclude_document)}"]))
        if mode == "text":
            return store.full_text(query, k, expr)
        vector = encode([query], settings.embed.model, normalize=settings.embed.normalize)[0]
        if mode == "dense":
            return store.dense(vector, k, expr)
        return store.hybrid(vector, query, k, expr)
    finally:
        if own:
            store.close()


