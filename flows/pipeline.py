"""Prefect flow: the whole journey, each stage a Ray job: collect, ingest, dataset, train,
evaluate.

    prefect deployment run 'pipeline/pipeline' --param author="Maya Okafor" \
        --param links='["https://medium.com/@maya"]' --param max_steps=30
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.tasks import Progress, run_stage, stage_settings
from flows.train import datasets_of


@flow(name="pipeline", log_prints=True)
def pipeline_flow(author: str, links: list[str] | None = None,
                  exports: list[str] | None = None, max_steps: int | None = None,
                  preference: bool = False, serve: bool = True, evaluate: bool = True,
                  ray_dashboard_url: str | None = None,
                  settings_overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Collect the author's writing, ingest it, build the datasets, fine-tune and register a
    model version (marked for serving unless ``serve`` is false), then evaluate it."""
    settings = stage_settings(settings_overrides, ray_dashboard_url)
    progress = Progress(5 if evaluate else 4)
    result: dict[str, Any] = {}
    result["collect"] = run_stage("collect", settings, author=author, links=links,
                                  exports=exports)
    progress.advance()
    result["ingest"] = run_stage("ingest", settings, author=author)
    progress.advance()
    result["dataset"] = run_stage("dataset", settings, author=author, preference=preference)
    progress.advance()
    result["train"] = run_stage("train", settings, **datasets_of(result["dataset"]),
                                max_steps=max_steps, serve=serve)
    progress.advance()
    if evaluate:
        result["evaluate"] = run_stage("evaluate", settings,
                                       versions=[result["train"].sft.version])
        progress.advance()
    return result
