"""The Delta Lake warehouse: merges by key, versions, the run log."""

from __future__ import annotations

import multiprocessing
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from deltalake.exceptions import CommitFailedError

from twin.domain import CollectionSummary, Document, SourceSummary
from twin.warehouse import DOCUMENT_SCHEMA, Warehouse


def _doc(n: int, text: str = "text", author: str = "maya-okafor",
         platform: str = "medium") -> Document:
    return Document.build(author_id=author, platform=platform, kind="article",
                          url=f"https://medium.com/@maya/story-{n}", title=f"Story {n}",
                          text=f"{text} {n}", published_at=datetime(2025, 1, n, tzinfo=UTC))


def test_merge_is_idempotent_and_replaces_edited_items(tmp_path: Path) -> None:
    store = Warehouse(str(tmp_path / "wh"))
    assert store.version() is None and store.documents() == []
    first = store.merge([_doc(1), _doc(2)])
    assert len(first.new) == 2 and first.version == 0
    again = store.merge([_doc(1), _doc(2)])
    assert not again.new and not again.updated and len(again.unchanged) == 2
    assert again.version == 0  # nothing changed: no new table version
    edited = store.merge([_doc(1, "edited"), _doc(3)])
    assert len(edited.updated) == 1 and len(edited.new) == 1 and edited.version == 1
    docs = {d.title: d for d in store.documents()}
    assert len(docs) == 3 and docs["Story 1"].text == "edited 1"
    assert len(store.read_table().column("id").unique()) == 3
    # The older version is still there to inspect.
    assert {d.text for d in store.documents(version=0)} == {"text 1", "text 2"}


def test_merge_never_deletes(tmp_path: Path) -> None:
    store = Warehouse(str(tmp_path / "wh"))
    store.merge([_doc(1), _doc(2)])
    store.merge([_doc(3)])
    assert len(store.documents()) == 3


def test_stats_get_history_and_runs(tmp_path: Path) -> None:
    store = Warehouse(str(tmp_path / "wh"))
    store.merge([_doc(1), _doc(2), _doc(3, platform="substack"), _doc(4, author="someone")])
    ids = store.read_table(author_id="someone", columns=["id"])
    assert ids.column_names == ["id"] and ids.num_rows == 1
    stats = store.stats("maya-okafor")
    assert [(r["platform"], r["documents"]) for r in stats] == [("medium", 2), ("substack", 1)]
    one = store.documents()[0]
    assert store.get(one.id[:12]).text == one.text
    assert store.history()[0]["operation"] in {"WRITE", "CREATE TABLE"}
    summary = CollectionSummary(run_id="r1", author_id="maya-okafor", table_version=0,
                                sources=[SourceSummary(source="x", collector="medium",
                                                       found=2, new=2)])
    store.log_run(summary, datetime.now(UTC))
    (run,) = store.runs("maya-okafor")
    assert run["run_id"] == "r1" and run["summary"]["sources"][0]["new"] == 2


# Concurrent writers: several processes merge into one warehouse at the same moment -------------
WRITERS = 4
OWN_DOCS = 12  # distinct to each writer
SHARED_DOCS = 12  # the same documents, sent by every writer


def _race_doc(n: int, owner: str) -> Document:
    return Document.build(author_id="maya-okafor", platform="medium", kind="article",
                          url=f"https://medium.com/@maya/{owner}-{n}", title=f"{owner} {n}",
                          text=f"Story {n} of {owner}, long enough to be a document.")


def _writer(uris: list[str], index: int, barrier: Any, results: Any) -> None:
    """One writer process: for each warehouse, wait for the others, then merge and log a run."""
    from twin.domain import CollectionSummary

    for uri in uris:
        docs = ([_race_doc(n, f"writer{index}") for n in range(OWN_DOCS)]
                + [_race_doc(n, "shared") for n in range(SHARED_DOCS)])
        store = Warehouse(uri)
        barrier.wait(timeout=120)  # every writer starts its merge at the same moment
        try:
            merged = store.merge(docs)
            store.log_run(CollectionSummary(run_id=f"{index}", author_id="maya-okafor",
                                            table_version=merged.version, sources=[]),
                          datetime.now(UTC))
            results.put((uri, index, "ok"))
        except Exception as exc:  # reported to the test, which fails with it
            results.put((uri, index, f"{type(exc).__name__}: {exc}"))


def _race(uris: list[str]) -> list[tuple[str, int, str]]:
    ctx = multiprocessing.get_context("spawn")  # never fork a process that ran delta-rs threads
    barrier, results = ctx.Barrier(WRITERS), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(uris, i, barrier, results))
             for i in range(WRITERS)]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=240) for _ in range(WRITERS * len(uris))]
    for proc in procs:
        proc.join(timeout=30)
    return outcomes


def _problems(uri: str, extra: frozenset[str] = frozenset()) -> list[str]:
    """What is wrong with one raced warehouse: duplicate or missing documents and runs."""
    store = Warehouse(uri)
    ids = store.read_table(columns=["id"]).column("id").to_pylist()
    expected = {_race_doc(n, f"writer{i}").id for i in range(WRITERS) for n in range(OWN_DOCS)}
    expected |= {_race_doc(n, "shared").id for n in range(SHARED_DOCS)} | extra
    problems = []
    if len(ids) != len(set(ids)):
        problems.append(f"{Path(uri).name}: {len(ids) - len(set(ids))} duplicate rows")
    if set(ids) != expected:
        problems.append(f"{Path(uri).name}: {len(expected - set(ids))} documents missing")
    runs = sorted(r["run_id"] for r in store.runs(limit=100))
    if runs != [str(i) for i in range(WRITERS)]:
        problems.append(f"{Path(uri).name}: runs logged {runs}")
    writes = [h["operation"] for h in store.history(100) if h["operation"] != "MERGE"]
    if writes != ["WRITE"]:  # the documents table is created exactly once, by one write
        problems.append(f"{Path(uri).name}: table written by {writes}, not one creating write")
    return problems


def test_concurrent_writers_store_every_document_exactly_once(tmp_path: Path) -> None:
    """4 processes merge into one warehouse at once, first-ever writes and later ones alike
    (two collections started together, from the UI and the CLI): nothing lost, nothing twice."""
    fresh = [str(tmp_path / f"fresh-{t}") for t in range(3)]  # the table-creating race
    seeded = [str(tmp_path / f"seeded-{t}") for t in range(3)]  # merges into an existing table
    for uri in seeded:
        Warehouse(uri).merge([_race_doc(n, "shared") for n in range(3)] + [_doc(1)])
    outcomes = _race(fresh + seeded)
    problems = [f"{Path(u).name} writer {i}: {o[:60]}" for u, i, o in outcomes if o != "ok"]
    for uri in fresh:
        problems += _problems(uri)
    for uri in seeded:
        problems += _problems(uri, frozenset({_doc(1).id}))
    assert not problems, "\n".join(problems)


def test_a_merge_that_keeps_losing_gives_up_at_merge_timeout(tmp_path: Path) -> None:
    """A writer that never wins its commit race fails loudly after warehouse.merge_timeout_s,
    not after a fixed count of attempts and not never."""
    store = Warehouse(str(tmp_path / "wh"), merge_timeout_s=0.5)
    store.merge([_doc(1)])
    stale = DeltaTable(store.documents_uri)  # a writer that read version 0 ...
    store.merge([_doc(2)])  # ... while another one committed version 1
    source = pa.Table.from_pylist([_doc(3).to_row()], schema=DOCUMENT_SCHEMA)

    def stale_merge() -> None:
        (stale.merge(source=source, predicate="t.id = s.id", source_alias="s", target_alias="t")
         .when_not_matched_insert_all().execute())

    start = time.monotonic()
    with pytest.raises(CommitFailedError, match="merge_timeout_s"):
        store._until_committed(stale_merge, "merge")
    assert time.monotonic() - start < 3
    assert store.version() == 1 and len(store.read_table()) == 2


def test_unmerged_runs_never_overwrite_each_other(tmp_path: Path) -> None:
    """Two runs that fail to merge in the same second each keep their own file."""
    store = Warehouse(str(tmp_path / "wh"))
    first = store.save_unmerged([_doc(1)], tmp_path / "unmerged")
    second = store.save_unmerged([_doc(2), _doc(3)], tmp_path / "unmerged")
    assert first != second
    assert [pq.read_table(p).num_rows for p in (first, second)] == [1, 2]
