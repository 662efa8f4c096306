"""The ingestion stage: warehouse -> clean -> chunk -> embed -> Milvus, with Ray Data.

Incremental by default: a document is processed when Milvus does not hold every chunk of its
current version (content hash); `full=True` rebuilds the collection. Writes are upserts by
chunk id; once a document's new version is complete, its older chunks are deleted. A killed run
therefore loses nothing: the next run finds the incomplete documents and finishes them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd
import pyarrow as pa

from twin.domain import (
    CHUNK_COLUMNS,
    MAX_TEXT_BYTES,
    MAX_TITLE_BYTES,
    MAX_URL_BYTES,
    IngestSummary,
    chunk_id,
    slugify,
)
from twin.features.chunk import ChunkSizes, chunk_text
from twin.features.clean import clean_for_retrieval
from twin.features.embed import Embedder, embedding_dimension, token_counter
from twin.progress import progress_bar
from twin.settings import Settings
from twin.vectorstore import VectorStore
from twin.warehouse import Warehouse

log = logging.getLogger(__name__)

READ_COLUMNS = ["id", "author_id", "platform", "kind", "url", "title", "text", "published_at",
                "content_hash"]


def _truncate_bytes(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    return text if len(data) <= limit else data[:limit].decode("utf-8", errors="ignore")


def _epoch(value: Any) -> int:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return 0
    try:
        return int(pd.Timestamp(value).timestamp())
    except (TypeError, ValueError):
        return 0


def chunk_documents(batch: pd.DataFrame, model: str, sizes: ChunkSizes,
                    min_chars: int) -> pd.DataFrame:
    """Ray Data step: clean for retrieval and chunk each document, one row per chunk."""
    count = token_counter(model)
    rows: list[dict[str, Any]] = []
    for doc in batch.to_dict("records"):
        text = clean_for_retrieval(str(doc.get("text") or ""), doc["kind"])
        chunks = [c for c in chunk_text(text, doc["kind"], count, sizes)
                  if len(c.strip()) >= min_chars]
        for index, chunk in enumerate(chunks):
            chunk = _truncate_bytes(chunk, MAX_TEXT_BYTES)
            rows.append({
                "id": chunk_id(doc["id"], index, chunk),
                "document_id": doc["id"],
                "author_id": doc["author_id"],
                "platform": doc["platform"],
                "kind": doc["kind"],
                "url": _truncate_bytes(doc.get("url") or "", MAX_URL_BYTES),
                "title": _truncate_bytes(doc.get("title") or "", MAX_TITLE_BYTES),
                "published_at": _epoch(doc.get("published_at")),
                "chunk_index": index,
                "chunk_count": len(chunks),
                "content_hash": doc["content_hash"],
                "text": chunk,
            })
    return pd.DataFrame(rows, columns=CHUNK_COLUMNS)


def fit_cpus(settings: Settings, free_cpus: float) -> tuple[float, float]:
    """CPUs for the map steps and for each embedding actor, within what the cluster has free.

    Ray Data waits forever, silently, when its steps ask for more CPUs than are free (a Serve
    app on the same head holds some): ask for a share of what is free instead. When even the
    smallest share does not fit, say so: the ingest then waits for CPUs to be freed.
    """
    steps = 2  # read (with the selection), chunk
    map_cpus, actor_cpus = settings.ingest.map_num_cpus, settings.embed.actor_num_cpus
    actors = settings.embed.actors
    needed = steps * map_cpus + actors * actor_cpus
    if free_cpus >= needed:
        return map_cpus, actor_cpus
    map_cpus = min(map_cpus, 0.05)
    actor_cpus = round(max(0.1, (free_cpus - steps * map_cpus) / actors), 2)
    smallest = steps * map_cpus + actors * actor_cpus
    if free_cpus + 1e-6 < smallest:
        log.warning("the cluster has %.2f CPUs free, less than this ingest needs at least "
                    "(%.2f: %.2f per embedding actor, %.2f per read or chunk task): it waits "
                    "until the Serve app or other jobs free some (`ray status` shows who holds "
                    "them)", free_cpus, smallest, actor_cpus, map_cpus)
    else:
        log.warning("the cluster has %.2f CPUs free (%.2f asked for): ingesting with %.2f CPUs "
                    "per embedding actor and %.2f per step", free_cpus, needed, actor_cpus,
                    map_cpus)
    return map_cpus, actor_cpus


@contextmanager
def stall_reporter(every_s: float, map_cpus: float, actor_cpus: float
                   ) -> Iterator[threading.Event]:
    """While the body runs, a line every ``every_s`` without progress (set the yielded event
    on progress): the CPUs free and the CPUs asked for, so a wait is never silent."""
    import ray

    progress, done = threading.Event(), threading.Event()

    def watch() -> None:
        while not done.wait(every_s):
            if progress.is_set():
                progress.clear()
                continue
            try:
                free = ray.available_resources().get("CPU", 0.0)
                total = ray.cluster_resources().get("CPU", 0.0)
            except Exception:  # the connection is going away: nothing to report
                return
            if free + 1e-6 >= max(actor_cpus, map_cpus):
                log.info("ingest: nothing written for %.0fs, still working (%.2f of %.2f CPUs "
                         "free)", every_s, free, total)
                continue
            log.warning("ingest: nothing written for %.0fs; %.2f of %.2f CPUs free, this ingest "
                        "asks for %.2f per embedding actor and %.2f per read or chunk task: it "
                        "waits while they are not free (`ray status` shows who holds them)",
                        every_s, free, total, actor_cpus, map_cpus)

    watcher = threading.Thread(target=watch, name="ingest-stall-reporter", daemon=True)
    watcher.start()
    try:
        yield progress
    finally:
        done.set()
        watcher.join(timeout=5)


def run_ingest(settings: Settings, *, full: bool = False, author: str | None = None,
               show_progress: bool = True, collection: str | None = None) -> IngestSummary:
    """Ingest the warehouse (or one author's part of it) into Milvus."""
    store = VectorStore(settings, collection)
    try:
        return _ingest(settings, store, full=full, author=author, show_progress=show_progress)
    finally:
        store.close()  # an idle open client keeps pinging the server (GOAWAY too_many_pings)


def _ingest(settings: Settings, store: VectorStore, *, full: bool, author: str | None,
            show_progress: bool) -> IngestSummary:
    import ray

    from twin.raycluster import connect

    start = time.monotonic()
    summary = IngestSummary(full=full)
    warehouse = Warehouse.from_settings(settings)
    author_id = slugify(author) if author else None
    table = warehouse.read_table(author_id=author_id,
                                 columns=["id", "content_hash", "text"])
    summary.warehouse_documents = table.num_rows
    summary.warehouse_version = warehouse.version()
    if table.num_rows == 0:
        summary.message = (f"the warehouse at {warehouse.uri} holds no documents"
                           + (f" for {author_id}" if author_id else "")
                           + ": nothing to ingest (collect first: `twin collect`)")
        summary.seconds = round(time.monotonic() - start, 1)
        return summary

    model = settings.embed.model
    if full:
        store.drop()
    store.ensure(embedding_dimension(model))
    ids = table.column("id").cast(pa.string()).to_pylist()
    hashes_now = table.column("content_hash").cast(pa.string()).to_pylist()
    texts = table.column("text").cast(pa.string()).to_pylist()
    wanted = {i: h for i, h, t in zip(ids, hashes_now, texts, strict=True) if (t or "").strip()}
    blank = [i for i, t in zip(ids, texts, strict=True) if not (t or "").strip()]
    summary.empty = len(blank)
    complete = store.complete_documents()
    if author_id:
        mine = {r["document_id"] for r in store.scan(["document_id"],
                                                     f'author_id == "{author_id}"')}
        complete = {d: h for d, h in complete.items() if d in mine}
    todo = sorted(d for d, h in wanted.items() if complete.get(d) != h)
    vanished = sorted(d for d in complete if d not in wanted and d not in blank)
    emptied_now = sorted(d for d in blank if d in complete)  # edited down to nothing
    summary.unchanged = len(wanted) - len(todo)
    if emptied_now:
        summary.stale_chunks_deleted += store.delete_documents(emptied_now)
    if vanished:
        summary.removed = len(vanished)
        summary.stale_chunks_deleted += store.delete_documents(vanished)
    if not todo:
        store.flush()
        summary.chunks_in_collection = store.count()
        summary.message = "everything is up to date"
        summary.seconds = round(time.monotonic() - start, 1)
        return summary

    connect(settings)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    sizes = ChunkSizes(prose=settings.ingest.prose_chunk_tokens,
                       overlap=settings.ingest.prose_overlap_tokens,
                       code=settings.ingest.code_chunk_tokens)
    map_cpus, actor_cpus = fit_cpus(settings, ray.available_resources().get("CPU", 0.0))
    gpus = settings.embed.actor_num_gpus or (
        1.0 if ray.cluster_resources().get("GPU", 0) >= 1 else 0.0)
    dataset = (
        warehouse.ray_dataset(version=summary.warehouse_version, columns=READ_COLUMNS, ids=todo,
                              num_cpus=map_cpus)
        .map_batches(chunk_documents, fn_kwargs={"model": model, "sizes": sizes,
                                                 "min_chars": settings.ingest.min_chunk_chars},
                     batch_format="pandas", batch_size=16, num_cpus=map_cpus)
        .map_batches(Embedder, fn_constructor_kwargs={
                         "model": model, "batch_size": settings.embed.batch_size,
                         "normalize": settings.embed.normalize,
                         "threads": max(1, int(settings.embed.actor_num_cpus))},
                     compute=ray.data.ActorPoolStrategy(size=settings.embed.actors),
                     batch_size=settings.embed.batch_size, batch_format="numpy",
                     num_cpus=actor_cpus, num_gpus=gpus)
    )
    written: dict[str, int] = {}
    expected: dict[str, int] = {}
    hashes: dict[str, str] = {}
    finished: set[str] = set()
    with progress_bar("Ingesting documents", total=len(todo), enabled=show_progress) as bar, \
            stall_reporter(settings.ingest.stall_report_s, map_cpus, actor_cpus) as progress:
        for batch in dataset.iter_batches(batch_size=settings.ingest.write_batch_size,
                                          batch_format="pandas"):
            progress.set()
            rows = batch.to_dict("records")
            for row in rows:
                row["embedding"] = [float(x) for x in row["embedding"]]
                row["published_at"] = int(row["published_at"])
                row["chunk_index"] = int(row["chunk_index"])
                row["chunk_count"] = int(row["chunk_count"])
            store.upsert(rows)
            summary.chunks_written += len(rows)
            for row in rows:
                doc = row["document_id"]
                written[doc] = written.get(doc, 0) + 1
                expected[doc] = row["chunk_count"]
                hashes[doc] = row["content_hash"]
            done = [d for d in written if d not in finished and written[d] >= expected[d]]
            for doc in done:  # the new version is complete: drop the old one's chunks
                summary.stale_chunks_deleted += store.delete_stale(doc, hashes[doc])
                finished.add(doc)
            bar.advance(len(done))
        store.flush()
        no_chunks = len(todo) - len(finished)
        summary.empty += no_chunks
        bar.advance(no_chunks)
    # Documents that yield no chunks now (emptied) must not keep old ones.
    emptied = [d for d in todo if d not in finished and d in complete]
    if emptied:
        summary.stale_chunks_deleted += store.delete_documents(emptied)
        store.flush()
    summary.processed = len(todo)
    summary.chunks_in_collection = store.count()
    summary.seconds = round(time.monotonic() - start, 1)
    summary.message = (f"{summary.processed} documents ingested ({summary.chunks_written} "
                       f"chunks), {summary.unchanged} unchanged, {summary.removed} removed, "
                       f"{summary.empty} without text")
    return summary
