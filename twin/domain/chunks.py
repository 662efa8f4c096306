"""The knowledge base's unit: a chunk of a document, its key and fields, a retrieved hit, and
what one ingest did.

The ingest stage writes rows with :data:`CHUNK_COLUMNS` (plus their embedding), the vector
store keeps them and answers with :class:`Hit`; both read the schema here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

# The most bytes of a chunk's text the vector store keeps (Milvus' VARCHAR limit), and how
# much of a url and title the ingest stage keeps (under their fields' limits below).
MAX_TEXT_BYTES = 65_535
MAX_URL_BYTES = 2000
MAX_TITLE_BYTES = 1000
# The chunk schema: every stored field of a chunk, in order, as (type, byte limit of a
# varchar); the vector store adds the embedding and the BM25 vector of ``text``.
CHUNK_SCHEMA: dict[str, tuple[str, int | None]] = {
    "id": ("varchar", 64), "document_id": ("varchar", 64), "author_id": ("varchar", 128),
    "platform": ("varchar", 32), "kind": ("varchar", 32), "url": ("varchar", 2048),
    "title": ("varchar", 1024), "published_at": ("int64", None), "chunk_index": ("int64", None),
    "chunk_count": ("int64", None), "content_hash": ("varchar", 64),
    "text": ("varchar", MAX_TEXT_BYTES),
}
# A chunk row as the ingest stage writes it (the embedding is added by the embedder).
CHUNK_COLUMNS = list(CHUNK_SCHEMA)
# Fields a search can filter on, and the fields a search returns of each hit.
FILTER_FIELDS = ("author_id", "platform", "kind", "document_id", "url")
OUTPUT_FIELDS = ["document_id", "author_id", "platform", "kind", "url", "title",
                 "published_at", "chunk_index", "text"]


def chunk_id(document_id: str, index: int, text: str) -> str:
    """The key of a chunk: hash of (document id, chunk index, text)."""
    digest = hashlib.sha256(f"{document_id}\x1f{index}\x1f{text}".encode()).hexdigest()
    return digest[:32]


@dataclass
class Hit:
    """One retrieved chunk."""

    id: str
    score: float
    text: str
    document_id: str
    author_id: str
    platform: str
    kind: str
    url: str
    title: str
    published_at: int
    chunk_index: int


class IngestSummary(BaseModel):
    """What one ingest did."""

    warehouse_documents: int = 0
    warehouse_version: int | None = None
    processed: int = 0
    unchanged: int = 0
    removed: int = 0
    empty: int = 0
    chunks_written: int = 0
    stale_chunks_deleted: int = 0
    chunks_in_collection: int = 0
    full: bool = False
    seconds: float = 0.0
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return self.model_dump()
