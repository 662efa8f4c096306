"""Moving the knowledge base from the local Milvus Lite server to a Milvus server (or any two
Milvus instances): every chunk with its embedding, in batches; the BM25 vectors are rebuilt by
the target's own function. Re-running upserts the same ids, so an interrupted copy resumes."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from twin.progress import progress_bar
from twin.settings import Settings
from twin.vectorstore import VectorStore

log = logging.getLogger(__name__)
FIELDS = ["id", "document_id", "author_id", "platform", "kind", "url", "title", "published_at",
          "chunk_index", "chunk_count", "content_hash", "text", "embedding"]


@dataclass
class MigrationResult:
    """What was copied where."""

    source: str
    target: str
    collection: str
    copied: int
    target_count: int


def migrate_collection(settings: Settings, target_uri: str, *, target_token: str | None = None,
                       collection: str | None = None, batch_size: int = 500,
                       show_progress: bool = True) -> MigrationResult:
    """Copy ``collection`` (default ``milvus.collection``) from the configured Milvus to
    ``target_uri``; the target collection is created with the same schema and indexes."""
    source = VectorStore(settings, collection)
    target_settings = settings.model_copy(deep=True)
    target_settings.milvus.uri = target_uri
    target_settings.milvus.token = target_token
    target = VectorStore(target_settings, collection)
    if target_settings.milvus_uri == settings.milvus_uri:
        raise ValueError("the target is the source: give another Milvus URI")
    try:
        if not source.exists():
            raise ValueError(f"there is no collection {source.name} at {settings.milvus_uri} "
                             "to copy: run `twin ingest` first")
        total = source.count()
        copied = 0
        batch: list[dict] = []
        with progress_bar("Copying chunks", total=total, enabled=show_progress) as bar:
            for row in source.scan(FIELDS, batch_size=batch_size):
                row["embedding"] = [float(x) for x in row["embedding"]]
                if not batch and copied == 0:
                    target.ensure(len(row["embedding"]))
                batch.append(row)
                if len(batch) >= batch_size:
                    target.upsert(batch)
                    copied += len(batch)
                    bar.advance(len(batch))
                    batch = []
            if batch:
                target.upsert(batch)
                copied += len(batch)
                bar.advance(len(batch))
        target.flush()
        result = MigrationResult(settings.milvus_uri, target_settings.milvus_uri, source.name,
                                 copied, target.count())
    finally:
        source.close()
        target.close()
    log.info("copied %d chunks of %s from %s to %s", result.copied, result.collection,
             result.source, result.target)
    return result
