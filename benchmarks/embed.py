"""Embedding throughput: the Ray Data actor pool vs plain sentence-transformers, same chunks.

The chunks are the demo author's writing, cleaned and chunked as ingestion does (repeated to
reach --chunks). The baseline is `SentenceTransformer.encode()` in this process; the pipeline is
`ray.data.from_items -> map_batches(Embedder, ActorPoolStrategy)`, at 1 and at 2 CPUs.

    .venv/bin/python benchmarks/embed.py [--chunks 400]
"""

from __future__ import annotations

import argparse
import sys
import time

from twin.demo.content import load_pieces
from twin.features.chunk import ChunkSizes, chunk_text
from twin.features.clean import clean_for_retrieval
from twin.features.embed import Embedder, encode, token_counter
from twin.settings import Settings


def demo_chunks(model: str, n: int) -> list[str]:
    """``n`` chunks of the demo corpus (cycled), as ingestion makes them."""
    count = token_counter(model)
    chunks: list[str] = []
    for piece in load_pieces():
        text = clean_for_retrieval(piece.body, piece.kind)
        chunks.extend(chunk_text(text, piece.kind, count, ChunkSizes()))
    return [chunks[i % len(chunks)] + ("" if i < len(chunks) else f" ({i})") for i in range(n)]


def ray_pipeline(texts: list[str], model: str, cpus: int, batch_size: int) -> float:
    """Seconds to embed ``texts`` through Ray Data with one single-threaded actor per CPU."""
    import ray

    ray.init(address="local", num_cpus=cpus, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        start = time.perf_counter()
        for dataset_texts in (texts[:batch_size], texts):  # first pass loads the actors' model
            dataset = ray.data.from_items([{"text": t} for t in dataset_texts]).map_batches(
                Embedder, fn_constructor_kwargs={"model": model, "batch_size": batch_size,
                                                 "threads": 1},
                compute=ray.data.ActorPoolStrategy(size=cpus), batch_size=batch_size,
                batch_format="numpy", num_cpus=0.9)
            start = time.perf_counter()
            rows = dataset.count()
        assert rows == len(texts)
        return time.perf_counter() - start
    finally:
        ray.shutdown()


def main() -> int:
    """Measure and print chunks per second and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=400)
    args = parser.parse_args()
    settings = Settings()
    model, batch = settings.embed.model, settings.embed.batch_size
    texts = demo_chunks(model, args.chunks)
    encode(texts[:batch], model)  # load and warm the model
    start = time.perf_counter()
    vectors = encode(texts, model, batch_size=batch)
    plain = time.perf_counter() - start
    assert vectors.shape[0] == len(texts)
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    start = time.perf_counter()
    encode(texts, model, batch_size=batch)
    plain_one = time.perf_counter() - start
    torch.set_num_threads(threads)
    results = {cpus: ray_pipeline(texts, model, cpus, batch) for cpus in (1, 2)}
    n = len(texts)
    print(f"chunks: {n} (demo corpus, ~{ChunkSizes().prose} tokens max), model {model}")
    print(f"plain encode(), one process, {threads} torch threads:  {n / plain:6.1f} chunks/s")
    print(f"plain encode(), one process, 1 torch thread:   {n / plain_one:6.1f} chunks/s")
    for cpus, seconds in results.items():
        print(f"Ray Data actor pool, {cpus} CPU(s):                 {n / seconds:6.1f} chunks/s"
              f"  (ratio to plain {plain / seconds:.2f}x)")
    print(f"scaling 1 -> 2 CPUs: {results[1] / results[2]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
