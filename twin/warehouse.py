"""The raw warehouse: a Delta Lake table of documents, merged by document key.

Only the job's driver writes (crawl tasks return documents), so each collection is one merge
commit, i.e. one table version. A collection log table records every run with its summary.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from twin.domain import CollectionSummary, Document
from twin.settings import Settings

log = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class MergeResult:
    """What one merge did, per document id."""

    new: frozenset[str]
    updated: frozenset[str]
    unchanged: frozenset[str]
    version: int | None


class Warehouse:
    """Documents table plus the collection-run log, at one URI (folder or s3://)."""

    def __init__(self, uri: str, storage_options: dict[str, str] | None = None) -> None:
        self.uri = uri.rstrip("/")
        self.storage_options = storage_options or None

    @classmethod
    def from_settings(cls, settings: Settings) -> Warehouse:
        """The warehouse the settings point to."""
        return cls(settings.warehouse_uri, settings.warehouse.storage_options)

    @property
    def documents_uri(self) -> str:
        """URI of the documents Delta table (what ``ray.data.read_delta`` reads)."""
        return f"{self.uri}/documents"

    @property
    def runs_uri(self) -> str:
        """URI of the collection-run log table."""
        return f"{self.uri}/collection_runs"

    # Reading ---------------------------------------------------------------------------------
    def _table(self, uri: str) -> DeltaTable | None:
        try:
            return DeltaTable(uri, storage_options=self.storage_options)
        except TableNotFoundError:
            return None

    def exists(self) -> bool:
        """Whether the documents table has been created."""
        return self._table(self.documents_uri) is not None

    def version(self) -> int | None:
        """Current version of the documents table (None before the first write)."""
        table = self._table(self.documents_uri)
        return table.version() if table else None

    def read_table(self, *, author_id: str | None = None, platform: str | None = None,
                   version: int | None = None, columns: Sequence[str] | None = None) -> pa.Table:
        """Documents as an Arrow table, optionally filtered and at an older version."""
        table = self._table(self.documents_uri)
        if table is None:
            return DOCUMENT_SCHEMA.empty_table()
        if version is not None:
            table.load_as_version(version)
        wanted = list(columns) if columns else None
        needed = None if wanted is None else wanted + [
            c for c, v in (("author_id", author_id), ("platform", platform))
            if v and c not in wanted]
        data = table.to_pyarrow_table(columns=needed)
        # delta-rs may hand back string_view columns after a merge: normalise to our schema.
        data = data.cast(pa.schema([DOCUMENT_SCHEMA.field(n) for n in data.column_names]))
        if author_id:
            data = data.filter(pc.equal(data.column("author_id"), author_id))
        if platform:
            data = data.filter(pc.equal(data.column("platform"), platform))
        return data.select(wanted) if wanted is not None else data

    def documents(self, *, author_id: str | None = None, platform: str | None = None,
                  version: int | None = None) -> list[Document]:
        """Documents as domain objects, newest first."""
        rows = self.read_table(author_id=author_id, platform=platform, version=version).to_pylist()
        docs = [Document.from_row(r) for r in rows]
        docs.sort(key=lambda d: (d.published_at or d.collected_at), reverse=True)
        return docs

    def get(self, doc_id: str) -> Document | None:
        """One document by id (or unique id prefix)."""
        data = self.read_table()
        ids = data.column("id").to_pylist()
        matches = [i for i, v in enumerate(ids) if v == doc_id or v.startswith(doc_id)]
        if len(matches) != 1:
            return None
        return Document.from_row(data.slice(matches[0], 1).to_pylist()[0])

    def stats(self, author_id: str | None = None) -> list[dict[str, Any]]:
        """Counts and date range per author and platform."""
        data = self.read_table(author_id=author_id,
                               columns=["author_id", "platform", "kind", "published_at", "text"])
        if data.num_rows == 0:
            return []
        data = data.append_column("chars", pc.utf8_length(data.column("text")))
        grouped = data.group_by(["author_id", "platform"]).aggregate(
            [("kind", "count"), ("published_at", "min"), ("published_at", "max"), ("chars", "sum")]
        )
        rows = grouped.to_pylist()
        rows.sort(key=lambda r: (r["author_id"], r["platform"]))
        return [
            {
                "author_id": r["author_id"],
                "platform": r["platform"],
                "documents": r["kind_count"],
                "first": r["published_at_min"],
                "last": r["published_at_max"],
                "chars": r["chars_sum"],
            }
            for r in rows
        ]

    def history(self, limit: int = 20) -> list[dict[str, Any]]:
        """The documents table's versions, newest first (Delta's commit log)."""
        table = self._table(self.documents_uri)
        return table.history(limit) if table else []

    def runs(self, author_id: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """Logged collection runs, newest first, with their summaries."""
        table = self._table(self.runs_uri)
        if table is None:
            return []
        rows = table.to_pyarrow_table().cast(RUN_SCHEMA).to_pylist()
        if author_id:
            rows = [r for r in rows if r["author_id"] == author_id]
        rows.sort(key=lambda r: r["finished_at"], reverse=True)
        for row in rows:
            row["summary"] = json.loads(row["summary"])
        return rows[:limit]

    # Writing ---------------------------------------------------------------------------------
    def merge(self, documents: Iterable[Document], attempts: int = 3) -> MergeResult:
        """Upsert documents by id in one commit; changed content replaces the stored row.

        Unchanged documents (same content hash) are left untouched, so re-collecting the same
        links writes nothing. Nothing is ever deleted here. A commit that loses a race with
        another writer is retried against the new table version.
        """
        docs = list(documents)
        for attempt in range(1, attempts + 1):
            try:
                return self._merge_once(docs)
            except (CommitFailedError, FileExistsError, DeltaError) as exc:
                if attempt == attempts:
                    raise
                log.warning("warehouse commit conflict (%s); retrying (%d/%d)", exc, attempt,
                            attempts)
                time.sleep(0.2 * attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _merge_once(self, documents: list[Document]) -> MergeResult:
        by_id: dict[str, Document] = {}
        for doc in documents:
            by_id[doc.id] = doc  # the last one wins if a run found the same item twice
        if not by_id:
            return MergeResult(frozenset(), frozenset(), frozenset(), self.version())

        existing = self._existing_hashes(list(by_id))
        new = {i for i in by_id if i not in existing}
        updated = {i for i in by_id if i in existing and existing[i] != by_id[i].content_hash}
        unchanged = set(by_id) - new - updated
        changed = [by_id[i] for i in sorted(new | updated)]
        if not changed:
            return MergeResult(frozenset(new), frozenset(updated), frozenset(unchanged),
                               self.version())

        source = pa.Table.from_pylist([d.to_row() for d in changed], schema=DOCUMENT_SCHEMA)
        table = self._table(self.documents_uri)
        if table is None:
            write_deltalake(self.documents_uri, source, mode="error",
                            storage_options=self.storage_options,
                            commit_properties=None)
        else:
            (
                table.merge(source=source, predicate="t.id = s.id", source_alias="s",
                            target_alias="t")
                .when_matched_update_all(predicate="t.content_hash <> s.content_hash")
                .when_not_matched_insert_all()
                .execute()
            )
        return MergeResult(frozenset(new), frozenset(updated), frozenset(unchanged),
                           self.version())

    def _existing_hashes(self, ids: list[str]) -> dict[str, str]:
        data = self.read_table(columns=["id", "content_hash"])
        if data.num_rows == 0:
            return {}
        mask = pc.is_in(data.column("id"), value_set=pa.array(ids))
        subset = data.filter(mask)
        return dict(zip(subset.column("id").to_pylist(), subset.column("content_hash").to_pylist(),
                        strict=True))

    def save_unmerged(self, documents: list[Document], folder: Path) -> Path:
        """Keep a run's documents as Parquet when the merge failed, so no crawl is lost."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"unmerged-{datetime.now(UTC):%Y%m%dT%H%M%S}.parquet"
        pq.write_table(pa.Table.from_pylist([d.to_row() for d in documents],
                                            schema=DOCUMENT_SCHEMA), path)
        return path

    def log_run(self, summary: CollectionSummary, finished_at: datetime) -> None:
        """Append a collection run to the run log."""
        row = {
            "run_id": summary.run_id,
            "author_id": summary.author_id,
            "finished_at": finished_at,
            "table_version": summary.table_version,
            "summary": summary.model_dump_json(),
        }
        write_deltalake(self.runs_uri, pa.Table.from_pylist([row], schema=RUN_SCHEMA),
                        mode="append", storage_options=self.storage_options)
