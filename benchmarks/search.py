"""Filtered top-10 search latency in Milvus (the local Milvus Lite server) vs brute-force numpy.

Synthetic 384-dim unit vectors with 20 authors and 5 platforms; each query filters on one
author. Sizes 10k and 100k chunks; p50 and p99 over the same queries for both sides.

    .venv/bin/python benchmarks/search.py [--queries 200]
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from twin.services import MilvusLite
from twin.settings import Settings
from twin.vectorstore import VectorStore

DIM = 384
PLATFORMS = ["linkedin", "medium", "substack", "github", "web"]


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _unit(rows: int, rng: np.random.Generator) -> np.ndarray:
    vectors = rng.standard_normal((rows, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def percentiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    values = np.array(samples) * 1000
    return float(np.percentile(values, 50)), float(np.percentile(values, 99))


def run_size(settings: Settings, size: int, queries: int, rng: np.random.Generator) -> None:
    """Load ``size`` chunks, then time filtered top-10 queries on both sides."""
    store = VectorStore(settings, f"bench_{size}")
    store.drop()
    store.ensure(DIM)
    vectors = _unit(size, rng)
    authors = rng.integers(0, 20, size)
    start = time.perf_counter()
    for lo in range(0, size, 2000):
        hi = min(size, lo + 2000)
        store.upsert([{"id": f"c{i}", "document_id": f"d{i // 8}", "author_id": f"a{authors[i]}",
                       "platform": PLATFORMS[i % 5], "kind": "post", "url": "", "title": "",
                       "published_at": 0, "chunk_index": i % 8, "chunk_count": 8,
                       "content_hash": "h", "text": f"chunk {i}", "embedding": vectors[i].tolist()}
                      for i in range(lo, hi)])
    store.flush()
    load_s = time.perf_counter() - start
    probes = _unit(queries, rng)
    who = rng.integers(0, 20, queries)
    milvus_times: list[float] = []
    numpy_times: list[float] = []
    agree = 0
    for q, author in zip(probes, who, strict=True):
        t = time.perf_counter()
        hits = store.dense(q, 10, f'author_id == "a{author}"')
        milvus_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        mask = np.flatnonzero(authors == author)
        scores = vectors[mask] @ q
        top = mask[np.argpartition(-scores, 10)[:10]]
        numpy_times.append(time.perf_counter() - t)
        agree += len({h.id for h in hits} & {f"c{i}" for i in top})
    m50, m99 = percentiles(milvus_times)
    n50, n99 = percentiles(numpy_times)
    print(f"{size:>7,} chunks (loaded in {load_s:.1f}s, {size / load_s:,.0f} rows/s): "
          f"Milvus p50 {m50:.2f} ms p99 {m99:.2f} ms | numpy brute force p50 {n50:.2f} ms "
          f"p99 {n99:.2f} ms | p50 ratio numpy/Milvus {n50 / m50:.2f}x | "
          f"recall@10 vs exact {agree / (10 * queries):.3f}")
    store.drop()
    store.close()


def main() -> int:
    """Start a Milvus Lite server, measure both sizes, stop it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=Path(tmp), milvus={"port": _port()})
        service = MilvusLite()
        service.start(settings)
        try:
            for size in args.sizes:
                run_size(settings, size, args.queries, rng)
        finally:
            service.stop(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
