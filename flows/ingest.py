"""Prefect flow: the ingest Ray job.

    prefect deployment run 'ingest/ingest' [--param full=true]
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.tasks import run_stage, stage_settings
from twin.stages import IngestResult


@flow(name="ingest", log_prints=True)
def ingest_flow(full: bool = False, author: str | None = None,
                ray_dashboard_url: str | None = None,
                settings_overrides: dict[str, Any] | None = None) -> IngestResult:
    """Ingest the warehouse into Milvus, as a Ray job; fails if the job fails."""
    return run_stage("ingest", stage_settings(settings_overrides, ray_dashboard_url),
                     full=full, author=author)
