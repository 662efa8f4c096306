"""The Delta Lake warehouse: merges by key, versions, the run log."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from twin.domain import CollectionSummary, Document, SourceSummary
from twin.warehouse import Warehouse


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
