"""The README's main command: collect the demo author end to end on a local Ray."""

from __future__ import annotations

import logging
import time
from typing import Any

from rich.console import Console

from twin.demo.content import AUTHOR_NAME
from twin.demo.site import DemoSite
from twin.rayjobs import follow, submit_stage, summary_from_logs
from twin.report import stats_table
from twin.services import RayHead, down, up
from twin.settings import Settings
from twin.warehouse import Warehouse

log = logging.getLogger(__name__)


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
    head = RayHead()
    started_ray = not head.is_external(settings) and not head.is_running(settings)
    console.print("[bold]1/3[/] starting local services (Ray head with job submission)…")
    for status in up(settings):
        console.print(f"    {status.name}: {status.state} {status.address or ''} "
                      f"{status.detail or ''}")
    try:
        with DemoSite(settings.home_dir / "demo", settings.demo_base_port) as site:
            local = demo_settings(settings, site)
            links, exports = site.links(), [str(p) for p in site.exports()]
            console.print(f"[bold]2/3[/] demo sites on 127.0.0.1 "
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
        console.print("[bold]3/3[/] what the warehouse holds now:")
        console.print(stats_table(Warehouse.from_settings(settings).stats()))
        elapsed = time.monotonic() - start
        console.print(f"demo collection finished in {elapsed:.0f}s "
                      f"(collect job {summary.get('seconds', 0):.0f}s)")
        return {"job_id": job_id, "summary": summary, "seconds": elapsed}
    finally:
        if started_ray and not keep_running:
            down(settings)
            console.print("stopped the Ray head this demo started (use --keep-running to keep it)")
