"""`twin search` as a person runs it: a fresh `twin` process per query, answered by the running
Serve app vs searched in the process itself (`--local`, the baseline), in one run.

Sets up its own home: a Milvus Lite server, the demo author's writing ingested with the real
pipeline, and the Serve app deployed on an in-process Ray (as `twin serve` deploys it). Then it
runs `twin search QUERY` and `twin search --local QUERY` as subprocesses, alternating, and
prints the median wall time of each and their ratio.

    .venv/bin/python benchmarks/cli_search.py [--queries 5]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from twin.settings import Settings

ROOT = Path(__file__).resolve().parents[1]

QUERIES = ["a partner changed a column type and the loader broke",
           "blameless postmortems and the word just",
           "deleting dashboards nobody uses",
           "on-call handoff notes",
           "schema drift in Parquet files",
           "data contracts are mise en place"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def timed_search(query: str, env: dict[str, str], local: bool) -> float:
    """Wall seconds of one `twin search` process, checked to have found something."""
    command = [str(Path(sys.executable).parent / "twin"), "search", query, "-k", "5", "--json"]
    if local:
        command.append("--local")
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0 or not done.stdout.strip().startswith("[{"):
        raise RuntimeError(f"twin search failed: {done.stdout[-500:]} {done.stderr[-1500:]}")
    return seconds


def main() -> int:
    """Measure and print the medians and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=5)
    args = parser.parse_args()

    queries = (QUERIES * 3)[: args.queries]
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=Path(tmp) / "home", milvus={"port": _free_port()},
                            serve={"port": _free_port()}, ray={"num_cpus": 2})
        env = {**os.environ, **settings.to_env()}
        from twin.raycluster import use_cluster_token

        use_cluster_token(settings, create=True)  # before Ray reads its config
        import ray
        from ray import serve

        from tests.helpers import demo_documents
        from twin.ingest import run_ingest
        from twin.services import MilvusLite
        from twin.serving.app import app_for
        from twin.serving.runner import wait_healthy
        from twin.warehouse import Warehouse

        milvus = MilvusLite()
        milvus.start(settings)
        try:
            Warehouse.from_settings(settings).merge(demo_documents())
            run_ingest(settings, full=True, show_progress=False)
            serve.start(http_options={"host": "127.0.0.1", "port": settings.serve.port})
            serve.run(app_for(settings), name="twin", route_prefix="/", blocking=False)
            wait_healthy(settings, 600)
            timed_search(queries[0], env, local=False)  # the app's first query warms it
            served, local = [], []
            for query in queries:
                served.append(timed_search(query, env, local=False))
                local.append(timed_search(query, env, local=True))
        finally:
            serve.shutdown()
            ray.shutdown()
            milvus.stop(settings)
    base, fast = statistics.median(local), statistics.median(served)
    print(f"{len(queries)} queries, one `twin search` process each, top 5, hybrid")
    print(f"searched in the process (--local, baseline)  median {base:5.2f}s")
    print(f"answered by the running Serve app            median {fast:5.2f}s  "
          f"(x{base / fast:.1f} faster)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
