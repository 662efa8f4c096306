"""Moving the knowledge base between two real Milvus servers (`twin migrate-milvus`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from twin.settings import Settings
from twin.vectorstore import VectorStore

pytestmark = pytest.mark.slow


def _port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def target_milvus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second Milvus server: the place the collection moves to."""
    from twin.services import MilvusLite

    settings = Settings(home=tmp_path_factory.mktemp("target"), milvus={"port": _port()})
    MilvusLite().start(settings)
    yield settings.milvus_uri
    MilvusLite().stop(settings)


def _rows(n: int) -> list[dict]:
    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(n, 384))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return [{"id": f"c{i}", "document_id": f"d{i // 4}", "author_id": "maya-okafor",
             "platform": "medium", "kind": "article", "url": f"https://x.test/{i // 4}",
             "title": f"T{i // 4}", "published_at": 0, "chunk_index": i % 4, "chunk_count": 4,
             "content_hash": "h", "text": f"chunk {i} about parquet schema drift number{i}",
             "embedding": vectors[i].tolist()} for i in range(n)]


def test_a_collection_moves_to_another_milvus_whole_and_searchable(
        tmp_path: Path, milvus: dict, target_milvus: str) -> None:
    from twin.migrate import migrate_collection

    settings = Settings(home=tmp_path / "home",
                        milvus={"port": milvus["port"], "collection": "t_migrate"})
    source = VectorStore(settings)
    source.drop()
    source.ensure(384)
    rows = _rows(1203)
    source.upsert(rows)
    source.flush()

    result = migrate_collection(settings, target_milvus, batch_size=500, show_progress=False)
    assert result.copied == result.target_count == 1203
    again = migrate_collection(settings, target_milvus, show_progress=False)  # resumable
    assert again.target_count == 1203

    moved = Settings(home=tmp_path / "home",
                     milvus={"uri": target_milvus, "collection": "t_migrate"})
    target = VectorStore(moved)
    try:
        probe = rows[77]["embedding"]
        assert [h.id for h in target.dense(probe, 3)] == [h.id for h in source.dense(probe, 3)]
        assert target.dense(probe, 1)[0].id == "c77"
        assert target.full_text("number1111", 1)[0].id == "c1111"  # BM25 rebuilt there
    finally:
        target.close()
        source.drop()
        source.close()

    with pytest.raises(ValueError, match="the target is the source"):
        migrate_collection(settings, settings.milvus_uri, show_progress=False)
    empty = Settings(home=tmp_path / "home", milvus={"port": milvus["port"],
                                                      "collection": "t_nothing"})
    with pytest.raises(ValueError, match="no collection t_nothing"):
        migrate_collection(empty, target_milvus, show_progress=False)
