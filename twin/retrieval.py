"""The retrieval primitive: nearest chunks for a query, filtered by author/platform/kind."""

from __future__ import annotations

import logging
from typing import Any, Literal

from twin.domain import slugify
from twin.features.embed import encode
from twin.settings import Settings
from twin.vectorstore import Hit, VectorStore, VectorStoreError, build_filter, quote

log = logging.getLogger(__name__)
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


def served_search(query: str, settings: Settings, *, author: str | None = None,
                  platform: str | None = None, kind: str | None = None, k: int = 5,
                  mode: Mode = "hybrid") -> list[dict[str, Any]] | None:
    """The same search answered by the running Serve app (``GET /v1/search``), which already
    holds the embedder and a Milvus connection; None when no app answers there.

    Raises ``ValueError`` for a request the app refuses (422) and ``VectorStoreError`` when the
    knowledge base is empty (404), as the local search would.
    """
    import httpx

    from twin.processes import port_open

    base_url = settings.serve_url
    host = "127.0.0.1" if settings.serve.host in ("0.0.0.0", "") else settings.serve.host
    if not port_open(host, settings.serve.port, timeout=0.2):
        return None
    headers = {"Authorization": f"Bearer {settings.serve.api_key}"} \
        if settings.serve.api_key else {}
    params = {"q": query, "author_id": author, "platform": platform, "kind": kind, "k": k,
              "mode": mode}
    try:
        answer = httpx.get(f"{base_url}/v1/search", headers=headers, timeout=30,
                           params={key: value for key, value in params.items()
                                   if value is not None})
    except httpx.HTTPError:
        return None
    if answer.status_code == 200:
        log.info("answered by the Serve app at %s", base_url)
        return answer.json()["hits"]
    message = _message(answer)
    if answer.status_code == 404 and "knowledge base" in message:
        raise VectorStoreError(message)
    if answer.status_code == 422:
        raise ValueError(message)
    return None  # not our app, no route, a key mismatch, busy: search here instead


def _message(answer: Any) -> str:
    try:
        return str(answer.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return answer.text[:300]
