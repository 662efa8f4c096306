"""The knowledge base's unit: a chunk of a document, its key and fields, a retrieved hit, and
what one ingest did.

The ingest stage writes rows with :data:`CHUNK_COLUMNS` (plus their embedding), the vector
store keeps them and answers with :class:`Hit`; both read the schema here.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

# A chunk row as the ingest stage writes it (the embedding is added by the embedder).
CHUNK_COLUMNS = ["id", "document_id", "author_id", "platform", "kind", "url", "title",
                 "published_at", "chunk_index", "chunk_count", "content_hash", "text"]
# Fields a search can filter on, and the fields a search returns of each hit.
FILTER_FIELDS = ("author_id", "platform", "kind", "document_id", "url")
OUTPUT_FIELDS = ["document_id", "author_id", "platform", "kind", "url", "title",
                 "published_at", "chunk_index", "text"]
# Milvus VARCHAR limits of a chunk's text, url and title, in bytes.
MAX_TEXT_BYTES = 65_535
MAX_URL_BYTES = 2000
MAX_TITLE_BYTES = 1000


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


@dataclass
class IngestSummary:
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
        return asdict(self)
