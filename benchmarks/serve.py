"""Serving speed: the full RAG endpoint vs the model's own generate in one process, and
requests per second at 1, 4 and 16 concurrent clients, in one run.

Sets up its own Milvus Lite server and warehouse with the demo author's writing (ingested with
the real pipeline), loads the base model once in this process for the baseline, then deploys
the Serve app on an in-process Ray and measures through HTTP on loopback:
- time to first token (TTFT) and tokens/s: streamed `POST /v1/posts/stream` vs
  `TransformersEngine.stream` on the same prompt, no retrieval;
- requests/s: `POST /v1/posts` (short posts) from N concurrent clients for --seconds each.

    .venv/bin/python benchmarks/serve.py [--prompts 3] [--seconds 30] [--max-words 40]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from twin.demo.content import load_pieces
from twin.domain import Document
from twin.settings import Settings

PROMPTS = ["Write a LinkedIn post about schema drift in partner Parquet files",
           "Write a LinkedIn post about blameless postmortems",
           "Write a LinkedIn post about deleting dashboards nobody uses",
           "Write a LinkedIn post about on-call handoff notes"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def demo_documents() -> list[Document]:
    """The demo author's pieces as warehouse documents."""
    return [Document.build(author_id="maya-okafor",
                           platform=p.platform if p.platform != "blog" else "web",
                           kind=p.kind, url=f"https://example.org/{p.slug}", title=p.title,
                           text=p.body, published_at=p.date) for p in load_pieces()]


def direct(settings: Settings, prompts: list[str], max_new: int) -> tuple[float, float]:
    """(median TTFT s, tokens/s) of the transformers engine's stream in this process."""
    from twin.llm.chat import GenParams
    from twin.llm.engines import describe_model, load_engine

    engine = load_engine(describe_model("transformers", settings.llm.base_model, None,
                                        label="base", version=None,
                                        cache_dir=str(settings.models_dir)))
    ttfts, rates = [], []
    for prompt in prompts:
        start = time.perf_counter()
        first, text = None, ""
        rendered = engine.render([{"role": "user", "content": prompt}])
        for piece in engine.stream_blocking(rendered, GenParams(max_new)):
            first = first or time.perf_counter()
            text += piece
        end = time.perf_counter()
        ttfts.append(first - start)
        rates.append(engine.count_tokens(text) / (end - first))
    return statistics.median(ttfts), statistics.median(rates)


def endpoint(url: str, prompts: list[str], max_words: int, tokenizer) -> tuple[float, float]:
    """(median TTFT s, tokens/s) through the streamed RAG endpoint."""
    ttfts, rates = [], []
    for prompt in prompts:
        start = time.perf_counter()
        first, text = None, ""
        with httpx.stream("POST", url + "/v1/posts/stream", timeout=600,
                          json={"prompt": prompt, "max_words": max_words,
                                "temperature": 0}) as response:
            event = ""
            for line in response.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "token":
                    first = first or time.perf_counter()
                    text += json.loads(line[6:])["text"]
        end = time.perf_counter()
        ttfts.append(first - start)
        rates.append(len(tokenizer(text, add_special_tokens=False)["input_ids"]) / (end - first))
    return statistics.median(ttfts), statistics.median(rates)


async def throughput(url: str, clients: int, seconds: float, max_words: int) -> float:
    """Completed requests per second with ``clients`` concurrent clients for ``seconds``."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def client(i: int) -> None:
        nonlocal done
        async with httpx.AsyncClient(timeout=600) as http:
            while time.perf_counter() < deadline:
                answer = await http.post(url + "/v1/posts", json={
                    "prompt": PROMPTS[i % len(PROMPTS)], "max_words": max_words,
                    "temperature": 0})
                if answer.status_code == 200:
                    done += 1

    start = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    return done / (time.perf_counter() - start)


def main() -> int:
    """Measure and print TTFT, tokens/s, requests/s and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--max-words", type=int, default=40)
    args = parser.parse_args()

    from twin.raycluster import use_cluster_token

    # Ray's token variables before anything imports Ray (it reads them once per process).
    use_cluster_token(Settings(home=Path(tempfile.mkdtemp(prefix="twin-bench-"))), create=True)
    import ray
    from ray import serve
    from transformers import AutoTokenizer

    from twin.ingest import run_ingest
    from twin.llm.models import resolve_base_model
    from twin.rag.prompt import words_to_tokens
    from twin.services import MilvusLite
    from twin.serving.app import app_for
    from twin.serving.runner import base_url, wait_healthy
    from twin.warehouse import Warehouse

    prompts = PROMPTS[: args.prompts]
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=Path(tmp) / "home", milvus={"port": _free_port()},
                            serve={"port": _free_port()}, ray={"num_cpus": 2})
        settings.models_dir.mkdir(parents=True, exist_ok=True)
        milvus = MilvusLite()
        milvus.start(settings)
        try:
            Warehouse.from_settings(settings).merge(demo_documents())
            run_ingest(settings, full=True, show_progress=False)
            max_new = words_to_tokens(args.max_words)
            base_ttft, base_rate = direct(settings, prompts, max_new)
            serve.start(http_options={"host": "127.0.0.1", "port": settings.serve.port})
            serve.run(app_for(settings), name="twin", route_prefix="/", blocking=False)
            wait_healthy(settings, 600)
            url = base_url(settings)
            tokenizer = AutoTokenizer.from_pretrained(
                resolve_base_model(settings.llm.base_model, settings.models_dir))
            rag_ttft, rag_rate = endpoint(url, prompts, args.max_words, tokenizer)
            rps = {n: asyncio.run(throughput(url, n, args.seconds, args.max_words))
                   for n in (1, 4, 16)}
        finally:
            serve.shutdown()
            ray.shutdown()
            milvus.stop(settings)
    print(f"{len(prompts)} prompts, ~{args.max_words} words each, greedy; 1 LLM replica")
    print(f"direct generate (1 process)  TTFT {base_ttft:6.2f}s  {base_rate:6.1f} tokens/s")
    print(f"RAG endpoint (streamed)      TTFT {rag_ttft:6.2f}s  {rag_rate:6.1f} tokens/s  "
          f"(TTFT x{rag_ttft / base_ttft:.1f}, tokens/s x{rag_rate / base_rate:.2f})")
    for n, value in rps.items():
        print(f"{n:2d} concurrent clients: {value:5.2f} requests/s "
              f"(x{value / rps[1]:.2f} of 1 client)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
