"""The README's main command: collect the demo author end to end on a local Ray."""

from __future__ import annotations

import logging
import time
from typing import Any

from rich.console import Console

from twin.demo.content import AUTHOR_NAME
from twin.demo.site import DemoSite
from twin.orchestration import submit_ingest_job
from twin.rayjobs import follow, submit_stage, summary_from_logs
from twin.report import hits_table, stats_table
from twin.retrieval import search
from twin.services import SERVICES, down, up
from twin.settings import Settings
from twin.warehouse import Warehouse

log = logging.getLogger(__name__)
SAMPLE_QUERY = "a partner changed a column type and the loader broke at 3 a.m."


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated with ``extra``, nested dictionaries merged."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def demo_settings(settings: Settings, site: DemoSite) -> Settings:
    """The settings with the platforms pointed at the local demo site."""
    return Settings(**deep_merge(settings.model_dump(), site.settings_overrides()))


def run_demo(settings: Settings, keep_running: bool = False,
             console: Console | None = None) -> dict[str, Any]:
    """Start Ray, serve the demo sites, submit the collect job, print what was collected."""
    console = console or Console()
    start = time.monotonic()
    started = [s.name for s in SERVICES
               if not s.is_external(settings) and not s.is_running(settings)]
    console.print("[bold]1/4[/] starting local services (Ray head with job submission, "
                  "Milvus Lite)…")
    for status in up(settings):
        console.print(f"    {status.name}: {status.state} {status.address or ''} "
                      f"{status.detail or ''}")
    try:
        with DemoSite(settings.home_dir / "demo", settings.demo_base_port) as site:
            local = demo_settings(settings, site)
            links, exports = site.links(), [str(p) for p in site.exports()]
            console.print(f"[bold]2/4[/] demo sites on 127.0.0.1 "
                          f"({', '.join(f'{k} {site.hostport(k)}' for k in site.servers)}); "
                          f"submitting the collect job: {len(links)} links, "
                          f"{len(exports)} export archives")
            args = ["--author", AUTHOR_NAME]
            for link in links:
                args += ["--link", link]
            for export in exports:
                args += ["--export", export]
            job_id = submit_stage("collect.py", args, local,
                                  metadata={"stage": "collect", "demo": "true"})
            console.print(f"    Ray job {job_id} (follow it: ray job logs {job_id} --follow)")
            logs = follow(job_id, local, on_line=lambda line: console.print(
                line, markup=False, highlight=False, soft_wrap=True)
                if "::twin-summary::" not in line else None)
        summary = summary_from_logs(logs) or {}
        console.print("    what the warehouse holds now:")
        console.print(stats_table(Warehouse.from_settings(settings).stats()))
        collected_at = time.monotonic()

        console.print("[bold]3/4[/] submitting the ingest job (clean, chunk, embed into Milvus "
                      "with Ray Data)…")
        ingest = submit_ingest_job(settings, on_line=lambda line: console.print(
            line, markup=False, highlight=False, soft_wrap=True)
            if "::twin-summary::" not in line else None)
        ingested_at = time.monotonic()

        console.print(f"[bold]4/4[/] a sample search of the knowledge base: {SAMPLE_QUERY!r}")
        hits = search(SAMPLE_QUERY, settings, author=AUTHOR_NAME, k=3)
        console.print(hits_table(hits, SAMPLE_QUERY))
        elapsed = time.monotonic() - start
        collect_s = summary.get("seconds", 0)
        console.print(f"demo finished in {elapsed:.0f}s (collect job {collect_s:.0f}s"
                      f", collection step {collected_at - start:.0f}s, ingest job "
                      f"{ingest.get('seconds', 0):.0f}s, ingest step "
                      f"{ingested_at - collected_at:.0f}s)")
        return {"job_id": job_id, "summary": summary, "ingest": ingest, "hits": len(hits),
                "seconds": elapsed}
    finally:
        if started and not keep_running:
            down(settings, started)
            console.print(f"stopped what this demo started ({', '.join(started)}); use "
                          "--keep-running to keep it")
