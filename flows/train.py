"""Prefect flow: build the datasets, then fine-tune and register, as two Ray jobs.

    prefect deployment run 'train/train' --param max_steps=30
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.tasks import Progress, run_stage, stage_settings
from twin.stages import DatasetResult


def datasets_of(data: DatasetResult) -> dict[str, Any]:
    """The train stage's dataset fields after a dataset job: its folders."""
    return {"dataset": data.path, "dpo": data.preference.path if data.preference else None}


@flow(name="train", log_prints=True)
def train_flow(author: str | None = None, preference: bool = False,
               max_steps: int | None = None, dpo_steps: int | None = None,
               workers: int | None = None, run: str | None = None, deepspeed: str | None = None,
               serve: bool = False, ray_dashboard_url: str | None = None,
               settings_overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Datasets from the warehouse (``preference``: DPO pairs too), then LoRA SFT (and DPO)
    registered as model versions."""
    settings = stage_settings(settings_overrides, ray_dashboard_url)
    progress = Progress(2)
    data = run_stage("dataset", settings, author=author, preference=preference)
    progress.advance()
    trained = run_stage("train", settings, **datasets_of(data), max_steps=max_steps,
                        dpo_steps=dpo_steps, workers=workers, run=run, deepspeed=deepspeed,
                        serve=serve)
    progress.advance()
    return {"dataset": data, "train": trained}
