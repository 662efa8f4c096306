"""The Arrow schemas of the warehouse's Delta tables: documents and the collection log.

The warehouse writes with them and its Ray Data source (:mod:`twin.deltasource`) reads with
them; both import them from here.
"""

from __future__ import annotations

import pyarrow as pa

_TS = pa.timestamp("us", tz="UTC")

DOCUMENT_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("author_id", pa.string(), nullable=False),
        pa.field("platform", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("url", pa.string()),
        pa.field("title", pa.string()),
        pa.field("text", pa.string()),
        pa.field("published_at", _TS),
        pa.field("collected_at", _TS),
        pa.field("content_hash", pa.string()),
        pa.field("metadata", pa.string()),
    ]
)

RUN_SCHEMA = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("author_id", pa.string()),
        pa.field("finished_at", _TS),
        pa.field("table_version", pa.int64()),
        pa.field("summary", pa.string()),
    ]
)
