"""Prefect flow: the collect Ray job, then (asked to) the ingest job.

    prefect deployment run 'collect/collect' --param author="Maya Okafor" \
        --param links='["https://medium.com/@maya"]'
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.tasks import Progress, run_stage, stage_settings


@flow(name="collect", log_prints=True)
def collect_flow(author: str, links: list[str] | None = None, exports: list[str] | None = None,
                 ingest: bool = False, ray_dashboard_url: str | None = None,
                 settings_overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Collect an author's writing into the warehouse, as a Ray job; fails if the job fails.

    With ``ingest`` the ingest job follows, so the new writing becomes searchable.
    ``settings_overrides`` are nested settings for this run (no secrets: runs show them).
    """
    settings = stage_settings(settings_overrides, ray_dashboard_url)
    progress = Progress(2 if ingest else 1)
    result: dict[str, Any] = {"collect": run_stage("collect", settings, author=author,
                                                   links=links, exports=exports)}
    progress.advance()
    if ingest:
        result["ingest"] = run_stage("ingest", settings, author=author)
        progress.advance()
    return result
