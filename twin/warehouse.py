"""The raw warehouse: a Delta Lake table of documents, merged by document key.

Only the job's driver writes (crawl tasks return documents), so each collection is one merge
commit, i.e. one table version. A collection log table records every run with its summary.
Several collections may write at once (the UI and the CLI): a commit that loses the race is
retried against the new version until it lands or ``warehouse.merge_timeout_s`` runs out.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from twin.domain import CollectionSummary, Document
from twin.settings import Settings, WarehouseSettings
from twin.tables import DOCUMENT_SCHEMA, RUN_SCHEMA

log = logging.getLogger(__name__)

T = TypeVar("T")

# A table-creating commit must never be retried by delta-rs as a later version: that turns a
# lost creation race into an append of the same documents. It fails instead, and the merge
# is run again against the table the winner created.
_CREATE_ONCE = CommitProperties(max_commit_retries=0)
_BACKOFF_FIRST_S = 0.05
_BACKOFF_MAX_S = 2.0

@dataclass(frozen=True)
class MergeResult:
    """What one merge did, per document id."""

    new: frozenset[str]
    updated: frozenset[str]
    unchanged: frozenset[str]
    version: int | None


class Warehouse:
    """Documents table plus the collection-run log, at one URI (folder or s3://)."""

    def __init__(self, uri: str, storage_options: dict[str, str] | None = None,
                 merge_timeout_s: float | None = None) -> None:
        self.uri = uri.rstrip("/")
        self.storage_options = storage_options or None
        default = WarehouseSettings.model_fields["merge_timeout_s"].default
        self.merge_timeout_s = default if merge_timeout_s is None else merge_timeout_s

    @classmethod
    def from_settings(cls, settings: Settings) -> Warehouse:
        """The warehouse the settings point to."""
        return cls(settings.warehouse_uri, settings.warehouse.storage_options,
                   settings.warehouse.merge_timeout_s)

    @property
    def documents_uri(self) -> str:
        """URI of the documents Delta table (what ``ray_dataset`` reads)."""
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

    def ray_dataset(self, *, version: int | None, columns: Sequence[str],
                    ids: Sequence[str] | None = None, num_cpus: float = 0.25) -> Any:
        """The documents table (at ``version``; only ``ids`` if given) as a Ray Dataset whose
        read tasks ask for ``num_cpus`` each, and that starts no other task.

        ``ray.data.read_delta`` first samples the table's files with tasks that ask for a
        whole CPU each (as do ``from_arrow``'s metadata tasks): while the Serve app holds all
        but a fraction of a CPU they wait forever, in silence.
        """
        import ray

        from twin.deltasource import DeltaFiles

        source = DeltaFiles(self.documents_uri, version, self.storage_options, list(columns),
                            None if ids is None else list(ids))
        return ray.data.read_datasource(source, num_cpus=num_cpus)

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
    def merge(self, documents: Iterable[Document]) -> MergeResult:
        """Upsert documents by id in one commit; changed content replaces the stored row.

        Unchanged documents (same content hash) are left untouched, so re-collecting the same
        links writes nothing. Nothing is ever deleted here. A commit that loses a race with
        another writer is retried against the new table version, with jittered exponential
        backoff, until it commits or ``merge_timeout_s`` has passed (then it raises).
        """
        docs = list(documents)
        return self._until_committed(lambda: self._merge_once(docs), "merge")

    def _until_committed(self, write: Callable[[], T], what: str) -> T:
        """Run ``write`` again after each lost commit race, until it lands or time runs out."""
        deadline = time.monotonic() + self.merge_timeout_s
        attempt = 0
        while True:
            attempt += 1
            try:
                return write()
            except (CommitFailedError, FileExistsError, DeltaError) as exc:
                if not _lost_race(exc):
                    raise
                delay = _backoff(attempt)
                if time.monotonic() + delay > deadline:
                    raise CommitFailedError(
                        f"warehouse {what} at {self.uri} still conflicts with other writers "
                        f"after {attempt} attempts in {self.merge_timeout_s:g}s "
                        f"(warehouse.merge_timeout_s): {_first_line(exc)}") from exc
                log.info("warehouse %s lost a commit race with another writer (%s); retrying "
                         "in %.2fs (attempt %d)", what, _first_line(exc), delay, attempt)
                time.sleep(delay)

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
        if table is None:  # the first write creates the table; a lost race raises and retries
            write_deltalake(self.documents_uri, source, mode="error",
                            storage_options=self.storage_options,
                            commit_properties=_CREATE_ONCE)
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

    def save_unmerged(self, documents: list[Document], folder: Path,
                      run_id: str | None = None) -> Path:
        """Keep a run's documents as Parquet when the merge failed, so no crawl is lost.

        Each run gets its own file: runs that fail together (they raced) never overwrite one
        another's.
        """
        folder.mkdir(parents=True, exist_ok=True)
        tag = run_id or uuid.uuid4().hex[:12]
        path = folder / f"unmerged-{datetime.now(UTC):%Y%m%dT%H%M%S}-{tag}.parquet"
        pq.write_table(pa.Table.from_pylist([d.to_row() for d in documents],
                                            schema=DOCUMENT_SCHEMA), path)
        return path

    def log_run(self, summary: CollectionSummary, finished_at: datetime) -> None:
        """Append a collection run to the run log (created once, however many write at once)."""
        row = {
            "run_id": summary.run_id,
            "author_id": summary.author_id,
            "finished_at": finished_at,
            "table_version": summary.table_version,
            "summary": summary.model_dump_json(),
        }
        data = pa.Table.from_pylist([row], schema=RUN_SCHEMA)
        self._until_committed(self._create_runs_table, "run-log creation")
        self._until_committed(
            lambda: write_deltalake(self.runs_uri, data, mode="append",
                                    storage_options=self.storage_options), "run-log append")

    def _create_runs_table(self) -> None:
        """Create the empty run log unless it exists; losing that race to another writer is
        success (its table is the same)."""
        if self._table(self.runs_uri) is not None:
            return
        try:
            DeltaTable.create(self.runs_uri, RUN_SCHEMA, mode="error",
                              storage_options=self.storage_options,
                              commit_properties=_CREATE_ONCE)
        except (CommitFailedError, FileExistsError, DeltaError) as exc:
            if self._table(self.runs_uri) is None:
                raise  # not created by anyone: a real failure, or retried as a race
            log.debug("run log created by another writer (%s)", _first_line(exc))


def _lost_race(exc: Exception) -> bool:
    """Whether a write failed because another writer committed first (worth retrying)."""
    if isinstance(exc, CommitFailedError | FileExistsError):
        return True
    text = str(exc).lower()
    return "already exists" in text or ("version" in text and "exist" in text)


def _backoff(attempt: int) -> float:
    """Jittered exponential backoff: about 0.05 s, 0.1 s, 0.2 s ... up to 2 s, so writers that
    collided once do not collide again in step."""
    ceiling = min(_BACKOFF_MAX_S, _BACKOFF_FIRST_S * 2 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]

