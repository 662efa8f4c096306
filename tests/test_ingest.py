"""Ingestion on real Ray Data, a real Milvus Lite server and the real embedder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.helpers import demo_documents
from twin.domain import Document
from twin.features.embed import token_counter
from twin.ingest import run_ingest
from twin.retrieval import search
from twin.settings import Settings
from twin.vectorstore import VectorStore, VectorStoreError
from twin.warehouse import Warehouse

pytestmark = pytest.mark.usefixtures("local_ray")
ROOT = Path(__file__).resolve().parents[1]
AUTHOR = "maya-okafor"


def _corpus() -> list[Document]:
    docs = demo_documents(AUTHOR)
    when = datetime(2025, 6, 1, tzinfo=UTC)
    docs += [
        Document.build(author_id=AUTHOR, platform="web", kind="article",
                       url="https://example.org/empty", title="Empty", text="   "),
        Document.build(author_id=AUTHOR, platform="web", kind="article",
                       url="https://example.org/huge", title="Huge",
                       text="\n\n".join(f"Paragraph {i}: the backfill ran for {i} minutes "
                                        "and nobody was paged." for i in range(1500)),
                       published_at=when),
        Document.build(author_id=AUTHOR, platform="web", kind="article",
                       url="https://example.org/ja", title="日本語",
                       text="データパイプラインは毎晩三時に壊れた。" * 40
                       + "原因はスキーマの変更だった。",
                       published_at=when),
        Document.build(author_id=AUTHOR, platform="web", kind="post",
                       url="https://example.org/bad-bytes", title="Mojibake",
                       text="Caf\udce9 r\u00e9sum\u00e9: latin-1 bytes decoded badly, "
                            "still the author's post about Rotterdam depots."),
        Document.build(author_id="someone-else", platform="medium", kind="article",
                       url="https://example.org/other", title="Other author",
                       text="Schema drift happens to everyone. Another author writes about "
                            "Parquet files and late data, in a different voice.",
                       published_at=when),
    ]
    return docs


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, milvus: dict) -> dict:
    home = tmp_path_factory.mktemp("ingest")
    settings = Settings(home=home, milvus={"port": milvus["port"], "collection": "t_ingest"},
                        embed={"batch_size": 16}, ingest={"write_batch_size": 64})
    docs = _corpus()
    Warehouse.from_settings(settings).merge(docs)
    first = run_ingest(settings, full=True, show_progress=False)
    return {"settings": settings, "docs": docs, "first": first}


def _chunks(settings: Settings) -> list[dict]:
    return list(VectorStore(settings).scan(["id", "document_id", "content_hash",
                                            "chunk_index", "chunk_count", "text", "author_id"]))


def test_first_ingest_stores_every_document(setup: dict) -> None:
    first, docs, settings = setup["first"], setup["docs"], setup["settings"]
    assert first.processed == len(docs) - 1 and first.empty == 1  # the whitespace-only one
    chunks = _chunks(settings)
    assert len(chunks) == first.chunks_written == first.chunks_in_collection
    assert len({c["id"] for c in chunks}) == len(chunks)
    per_doc = Counter(c["document_id"] for c in chunks)
    assert set(per_doc) == {d.id for d in docs if d.text.strip()}
    for chunk in chunks:
        assert per_doc[chunk["document_id"]] == chunk["chunk_count"]
    count = token_counter(settings.embed.model)
    code_ids = {d.id for d in docs if d.kind.value == "repository"}
    prose = [c["text"] for c in chunks if c["document_id"] not in code_ids]
    code = [c["text"] for c in chunks if c["document_id"] in code_ids]
    assert max(count(prose)) <= settings.ingest.prose_chunk_tokens
    assert max(count(code)) <= settings.ingest.code_chunk_tokens
    assert any(c.startswith("parquet_drift/compare.py\n") for c in code)
    huge = next(d for d in docs if d.title == "Huge")
    assert per_doc[huge.id] > 50
    mojibake = next(c for c in chunks if "Rotterdam depots" in c["text"])
    mojibake["text"].encode("utf-8")  # valid UTF-8: the lone surrogate was replaced
    assert mojibake["text"].startswith("Caf") and "résumé" in mojibake["text"]


def test_reingest_is_idempotent(setup: dict) -> None:
    again = run_ingest(setup["settings"], show_progress=False)
    assert again.processed == 0 and again.unchanged == len(setup["docs"]) - 1
    assert again.message == "everything is up to date"
    assert again.chunks_in_collection == setup["first"].chunks_written


def test_search_modes_and_filters(setup: dict) -> None:
    settings = setup["settings"]
    hits = search("Mönchengladbach", settings, author="Maya Okafor", k=3, mode="text")
    assert hits and hits[0].title == "Stock and Sauce" or "Mönchengladbach" in hits[0].text
    dense = search("teaching a child SQL using football statistics", settings, k=3,
                   mode="dense", author=AUTHOR)
    assert "nephew" in dense[0].title.lower() or "football" in dense[0].text.lower()
    hybrid = search("parquet schema drift", settings, k=10)
    assert {h.author_id for h in hybrid} >= {AUTHOR}
    only_other = search("parquet schema drift", settings, k=10, author="someone-else")
    assert only_other and {h.author_id for h in only_other} == {"someone-else"}
    only_github = search("compare schemas", settings, k=5, platform="github")
    assert only_github and {h.platform for h in only_github} == {"github"}
    assert all(h.url and h.score for h in hybrid)
    with pytest.raises(ValueError, match="empty"):
        search("   ", settings)
    with pytest.raises(VectorStoreError, match="run `twin ingest` first"):
        search("x", settings, collection="does_not_exist")


def test_a_released_collection_is_loaded_again(setup: dict) -> None:
    """After a Milvus restart a collection comes back released; search loads it."""
    from twin.vectorstore import VectorStore

    settings = setup["settings"]
    store = VectorStore(settings)
    store.client.release_collection(store.name)
    store.close()
    assert search("parquet schema drift", settings, k=3)


def test_changed_document_replaces_its_chunks(setup: dict) -> None:
    settings, docs = setup["settings"], setup["docs"]
    target = next(d for d in docs if d.title == "Mojibake")
    edited = target.model_copy(update={"text": "Rewritten post: the Utrecht depot reported "
                                               "zero scans for an hour, which was a lie.",
                                       "content_hash": ""})
    edited = Document(**edited.model_dump(exclude={"content_hash"}))
    Warehouse.from_settings(settings).merge([edited])
    run = run_ingest(settings, show_progress=False)
    assert run.processed == 1 and run.stale_chunks_deleted >= 1
    mine = [c for c in _chunks(settings) if c["document_id"] == target.id]
    assert mine and all(c["content_hash"] == edited.content_hash for c in mine)
    assert "Utrecht" in mine[0]["text"]


def test_vanished_document_chunks_are_removed(setup: dict, tmp_path: Path) -> None:
    settings = setup["settings"]
    other = Settings(**{**settings.model_dump(), "warehouse": {"uri": str(tmp_path / "wh")}})
    current = Warehouse.from_settings(settings).documents()
    gone = next(d for d in current if d.title == "Huge")
    Warehouse.from_settings(other).merge([d for d in current if d.id != gone.id])
    run = run_ingest(other, show_progress=False)
    assert run.removed == 1 and run.processed == 0
    assert not [c for c in _chunks(settings) if c["document_id"] == gone.id]
    run_ingest(settings, show_progress=False)  # put it back for the other tests


def test_empty_warehouse_is_a_clear_message(tmp_path: Path, milvus: dict) -> None:
    settings = Settings(home=tmp_path, milvus={"port": milvus["port"], "collection": "t_empty"})
    run = run_ingest(settings, show_progress=False)
    assert run.processed == 0 and "holds no documents" in run.message
    proc = subprocess.run([sys.executable, "jobs/ingest.py"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, **settings.to_env()})
    assert proc.returncode == 0 and "nothing to ingest" in proc.stdout


@pytest.mark.slow
def test_killed_ingest_is_finished_by_the_next_run(setup: dict, tmp_path: Path) -> None:
    settings = Settings(**{**setup["settings"].model_dump(),
                           "milvus": {**setup["settings"].milvus.model_dump(),
                                      "collection": "t_killed"},
                           "ingest": {"write_batch_size": 8}, "embed": {"batch_size": 8}})
    env = {**os.environ, **settings.to_env()}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.Popen([sys.executable, "jobs/ingest.py"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    store = VectorStore(settings)
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline:
            if store.exists() and store.count() > 0:
                break
            assert proc.poll() is None, "the ingest finished before it could be killed"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    partial = store.count()
    expected = setup["first"].chunks_written
    assert 0 < partial < expected
    resumed = run_ingest(settings, show_progress=False)
    assert resumed.processed > 0
    chunks = list(store.scan(["id", "document_id", "chunk_count"]))
    assert len(chunks) == len({c["id"] for c in chunks})
    per_doc = Counter(c["document_id"] for c in chunks)
    assert all(per_doc[c["document_id"]] == c["chunk_count"] for c in chunks)
    reference = Counter(c["document_id"] for c in _chunks(setup["settings"]))
    assert per_doc == reference
