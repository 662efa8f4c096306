"""Prefect flow: the dataset Ray job (instruction pairs, optionally preference pairs).

    prefect deployment run 'dataset/dataset' [--param preference=true]
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.tasks import run_stage, stage_settings
from twin.stages import DatasetResult


@flow(name="dataset", log_prints=True)
def dataset_flow(author: str | None = None, preference: bool = False,
                 ray_dashboard_url: str | None = None,
                 settings_overrides: dict[str, Any] | None = None) -> DatasetResult:
    """Training datasets from the warehouse, as a Ray job; fails if the job fails."""
    return run_stage("dataset", stage_settings(settings_overrides, ray_dashboard_url),
                     author=author, preference=preference)
