"""Prefect flow: the evaluate Ray job (held-out style, judge, retrieval settings).

    prefect deployment run 'evaluate/evaluate' [--param versions='[2]']
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.tasks import run_stage, stage_settings
from twin.stages import EvaluateResult


@flow(name="evaluate", log_prints=True)
def evaluate_flow(versions: list[int] | None = None, dataset: str | None = None,
                  max_samples: int | None = None, retrieval: bool = True,
                  ray_dashboard_url: str | None = None,
                  settings_overrides: dict[str, Any] | None = None) -> EvaluateResult:
    """Evaluate the base model and the twin versions; results go to the registry."""
    return run_stage("evaluate", stage_settings(settings_overrides, ray_dashboard_url),
                     versions=versions, dataset=dataset, max_samples=max_samples,
                     retrieval=retrieval)
