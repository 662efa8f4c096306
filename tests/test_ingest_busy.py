"""Ingest while the Serve app holds most of the CPUs: it fits what is free, or says why it waits.

A real in-process Ray with 2 CPUs, an actor holding most of them (standing in for the Serve
app's replicas), a real warehouse, Milvus Lite and the real embedder.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from twin.domain import Document
from twin.ingest import IngestSummary, run_ingest
from twin.settings import Settings
from twin.vectorstore import VectorStore
from twin.warehouse import Warehouse

pytestmark = pytest.mark.usefixtures("local_ray")
LIMIT_S = 240  # generous: the test machine may be shared; a hang is forever


def _waiting(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "waits" in r.getMessage()]


class _Holder:
    """Holds its CPUs for as long as it lives, as a Serve replica does."""

    def ping(self) -> bool:
        return True


def _hold_cpus(cpus: float) -> Any:
    import ray

    holder = ray.remote(_Holder).options(num_cpus=cpus).remote()
    ray.get(holder.ping.remote(), timeout=60)
    return holder


def _warehouse(settings: Settings) -> int:
    docs = [Document.build(author_id="maya-okafor", platform="web", kind="article",
                           url=f"https://example.org/busy-{n}", title=f"Busy {n}",
                           text=f"Post {n}: the depot scanners in Rotterdam went quiet for an "
                                "hour, and the backfill job ran twice before anyone noticed.",
                           published_at=datetime(2025, 3, n + 1, tzinfo=UTC))
            for n in range(6)]
    store = Warehouse.from_settings(settings)
    store.merge(docs[:3])
    store.merge(docs[3:])  # two data files: two read tasks
    return len(docs)


def _in_thread(run: Callable[[], IngestSummary]) -> tuple[threading.Thread, dict]:
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["summary"] = run()
        except BaseException as exc:  # handed to the test
            out["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, out


def _settings(tmp_path: Path, milvus: dict, collection: str) -> Settings:
    return Settings(home=tmp_path, milvus={"port": milvus["port"], "collection": collection},
                    embed={"batch_size": 8}, ingest={"write_batch_size": 8,
                                                      "stall_report_s": 2.0})


def test_ingest_finishes_while_serve_holds_most_cpus(tmp_path: Path, milvus: dict) -> None:
    """1.6 of 2 CPUs held: the ingest fits the 0.4 left instead of waiting forever."""
    import ray

    settings = _settings(tmp_path, milvus, "t_busy_fit")
    count = _warehouse(settings)
    holder = _hold_cpus(1.6)
    try:
        thread, out = _in_thread(lambda: run_ingest(settings, full=True, show_progress=False))
        thread.join(timeout=LIMIT_S)  # ~20 s on an idle machine; the old code never finished
        assert not thread.is_alive(), f"ingest still waiting after {LIMIT_S} s, 0.4 CPUs free"
        assert "error" not in out, out.get("error")
        assert out["summary"].processed == count
        assert VectorStore(settings).count() == out["summary"].chunks_written > 0
    finally:
        ray.kill(holder)


def test_ingest_says_why_it_waits_and_goes_on_once_cpus_are_free(
        tmp_path: Path, milvus: dict, caplog: pytest.LogCaptureFixture) -> None:
    """With less free than even its smallest steps need, the ingest says so (CPUs free and
    needed) instead of hanging in silence, and finishes once the CPUs come back."""
    import ray

    settings = _settings(tmp_path, milvus, "t_busy_wait")
    count = _warehouse(settings)
    holder = _hold_cpus(1.97)
    caplog.set_level(logging.WARNING, logger="twin.ingest")
    try:
        thread, out = _in_thread(lambda: run_ingest(settings, full=True, show_progress=False))
        deadline = time.monotonic() + 60
        while not (waiting := _waiting(caplog)) and thread.is_alive() and \
                time.monotonic() < deadline:
            time.sleep(0.2)
        assert waiting, "no word on why the ingest waits"
        assert "0.03" in waiting[0] and "CPUs free" in waiting[0]
        assert thread.is_alive()  # it waits: the CPUs are still held
    finally:
        ray.kill(holder)
    thread.join(timeout=LIMIT_S)
    assert not thread.is_alive() and "error" not in out, out.get("error")
    assert out["summary"].processed == count
