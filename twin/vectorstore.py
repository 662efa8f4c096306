"""The knowledge base in Milvus: one collection of chunks, dense + BM25 full-text search.

Everything connects by URI: the local Milvus Lite server of `twin up`, or any Milvus server or
cluster (`milvus.uri`). Writes are upserts by chunk id, flushed; a document's chunks of an older
version are deleted once its new version is complete.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from twin.domain import CHUNK_SCHEMA, OUTPUT_FIELDS, Hit
from twin.domain import MAX_TEXT_BYTES as MAX_TEXT_BYTES  # re-exported: its old home
from twin.settings import Settings

log = logging.getLogger(__name__)



class VectorStoreError(RuntimeError):
    """Milvus could not be reached or answered an error; the message says which."""


def quote(value: str) -> str:
    """A string literal for a Milvus filter expression."""
    return json.dumps(value)


def build_filter(**conditions: str | None) -> str:
    """``author_id == "x" and platform == "y"`` from the non-empty conditions."""
    parts = [f"{field} == {quote(value)}" for field, value in conditions.items() if value]
    return " and ".join(parts)


class VectorStore:
    """Chunks in one Milvus collection."""

    def __init__(self, settings: Settings, collection: str | None = None) -> None:
        self.settings = settings
        self.name = collection or settings.milvus.collection
        self._client: Any = None
        self._loaded = False

    @property
    def client(self) -> Any:
        """A connected MilvusClient (connects on first use, never at import)."""
        if self._client is None:
            from pymilvus import MilvusClient

            try:
                self._client = MilvusClient(uri=self.settings.milvus_uri,
                                            token=self.settings.milvus.token or "",
                                            grpc_options=dict(self.settings.milvus.grpc_options))
            except Exception as exc:  # pymilvus raises several types for "cannot connect"
                raise VectorStoreError(
                    f"cannot reach Milvus at {self.settings.milvus_uri} ({exc}); start the local "
                    "server with `twin up` or set TWIN_MILVUS__URI") from exc
        return self._client

    def close(self) -> None:
        """Close the connection (an idle open one keeps pinging the server)."""
        if self._client is not None:
            self._client.close()
            self._client = None
            self._loaded = False

    def exists(self) -> bool:
        """Whether the collection has been created; if so it is loaded for search (after a
        server restart a collection comes back released)."""
        if not self.client.has_collection(self.name):
            return False
        if not self._loaded:
            self.client.load_collection(self.name)
            self._loaded = True
        return True

    def ensure(self, dim: int) -> None:
        """Create the collection (schema, dense + BM25 indexes) if it does not exist."""
        from pymilvus import DataType, Function, FunctionType

        if self.exists():
            return
        schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
        for name, (kind, limit) in CHUNK_SCHEMA.items():  # the domain's chunk schema
            if kind == "int64":
                schema.add_field(name, DataType.INT64)
            else:
                schema.add_field(name, DataType.VARCHAR, max_length=limit,
                                 **({"is_primary": True} if name == "id" else {}),
                                 **({"enable_analyzer": True} if name == "text" else {}))
        schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=dim)
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(Function(name="text_bm25", function_type=FunctionType.BM25,
                                     input_field_names=["text"],
                                     output_field_names=["sparse"]))
        index = self.client.prepare_index_params()
        m = self.settings.milvus
        params = ({"M": m.hnsw_m, "efConstruction": m.hnsw_ef_construction}
                  if m.index_type == "HNSW" else {})
        index.add_index(field_name="embedding", index_type=m.index_type, metric_type="COSINE",
                        params=params)
        index.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX",
                        metric_type="BM25")
        self.client.create_collection(self.name, schema=schema, index_params=index)
        log.info("created Milvus collection %s (dim %d) at %s", self.name, dim,
                 self.settings.milvus_uri)

    def drop(self) -> None:
        """Delete the collection and everything in it (`twin ingest --full`)."""
        if self.exists():
            self.client.drop_collection(self.name)

    def upsert(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert or replace chunks by id."""
        if rows:
            self.client.upsert(self.name, list(rows))

    def flush(self) -> None:
        """Seal what was written (unflushed data makes searches slow)."""
        self.client.flush(self.name)

    def count(self, expr: str = "") -> int:
        """Number of chunks (matching a filter)."""
        if not self.exists():
            return 0
        if not expr:
            return int(self.client.get_collection_stats(self.name)["row_count"])
        result = self.client.query(self.name, filter=expr, output_fields=["count(*)"])
        return int(result[0]["count(*)"])

    def scan(self, fields: list[str], expr: str = 'id != ""',
             batch_size: int = 1000) -> Iterable[dict[str, Any]]:
        """Every chunk's ``fields``, in batches (no vectors)."""
        if not self.exists():
            return
        iterator = self.client.query_iterator(self.name, batch_size=batch_size, filter=expr,
                                              output_fields=fields)
        try:
            while True:
                batch = iterator.next()
                if not batch:
                    break
                yield from batch
        finally:
            iterator.close()

    def complete_documents(self) -> dict[str, str]:
        """``document_id -> content_hash`` of documents whose every chunk is stored."""
        seen: dict[tuple[str, str], int] = defaultdict(int)
        expected: dict[tuple[str, str], int] = {}
        for row in self.scan(["document_id", "content_hash", "chunk_count"]):
            key = (row["document_id"], row["content_hash"])
            seen[key] += 1
            expected[key] = int(row["chunk_count"])
        complete: dict[str, str] = {}
        for key, n in seen.items():
            if n >= expected[key]:
                complete[key[0]] = key[1]
        return complete

    def delete_stale(self, document_id: str, content_hash: str) -> int:
        """Remove a document's chunks that belong to another version."""
        result = self.client.delete(self.name, filter=f"document_id == {quote(document_id)} and "
                                    f"content_hash != {quote(content_hash)}")
        return _deleted(result)

    def delete_documents(self, document_ids: Sequence[str]) -> int:
        """Remove every chunk of these documents."""
        total = 0
        for start in range(0, len(document_ids), 500):
            ids = list(document_ids[start: start + 500])
            result = self.client.delete(self.name, filter=f"document_id in {json.dumps(ids)}")
            total += _deleted(result)
        return total

    # Retrieval ------------------------------------------------------------------------------
    def dense(self, vector: Sequence[float], k: int, expr: str = "") -> list[Hit]:
        """Nearest chunks by cosine similarity."""
        result = self.client.search(
            self.name, data=[list(vector)], anns_field="embedding", limit=k, filter=expr,
            output_fields=OUTPUT_FIELDS,
            search_params={"metric_type": "COSINE", "params": {"ef": max(
                self.settings.milvus.search_ef, k)}})
        return _hits(result)

    def full_text(self, query: str, k: int, expr: str = "") -> list[Hit]:
        """Best chunks by BM25 over the analysed text."""
        result = self.client.search(self.name, data=[query], anns_field="sparse", limit=k,
                                    filter=expr, output_fields=OUTPUT_FIELDS,
                                    search_params={"metric_type": "BM25"})
        return _hits(result)

    def hybrid(self, vector: Sequence[float], query: str, k: int, expr: str = "",
               rrf_k: int = 60) -> list[Hit]:
        """Dense and BM25 results fused by reciprocal rank."""
        from pymilvus import AnnSearchRequest, RRFRanker

        candidates = max(k * 4, 20)
        requests = [
            AnnSearchRequest(data=[list(vector)], anns_field="embedding",
                             param={"metric_type": "COSINE",
                                    "params": {"ef": max(self.settings.milvus.search_ef,
                                                         candidates)}},
                             limit=candidates, expr=expr or None),
            AnnSearchRequest(data=[query], anns_field="sparse", param={"metric_type": "BM25"},
                             limit=candidates, expr=expr or None),
        ]
        result = self.client.hybrid_search(self.name, requests, ranker=RRFRanker(rrf_k),
                                           limit=k, output_fields=OUTPUT_FIELDS)
        return _hits(result)


def _deleted(result: Any) -> int:
    if isinstance(result, dict):
        return int(result.get("delete_count", 0))
    return len(result or [])


def _hits(result: Any) -> list[Hit]:
    hits: list[Hit] = []
    for row in result[0] if result else []:
        entity = row.get("entity", {})
        hits.append(Hit(id=row["id"], score=float(row["distance"]),
                        text=entity.get("text", ""), document_id=entity.get("document_id", ""),
                        author_id=entity.get("author_id", ""),
                        platform=entity.get("platform", ""), kind=entity.get("kind", ""),
                        url=entity.get("url", ""), title=entity.get("title", ""),
                        published_at=int(entity.get("published_at") or 0),
                        chunk_index=int(entity.get("chunk_index") or 0)))
    return hits
