"""The Prefect tasks every flow is made of: one per stage, each submitting that stage's Ray job,
streaming its logs into Prefect's and leaving a Markdown artifact that tells its story.

Tasks whose job is idempotent (collect, ingest, dataset) are retried when the Ray cluster could
not be reached; a job that ran and failed is never retried: its error is the task's error.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prefect import get_run_logger, task  # noqa: E402
from prefect.artifacts import (  # noqa: E402
    create_markdown_artifact,
    create_progress_artifact,
    update_progress_artifact,
)

from twin import orchestration  # noqa: E402
from twin.rayjobs import RayJobFailed  # noqa: E402
from twin.settings import Settings, get_settings, with_overrides  # noqa: E402


def stage_settings(overrides: dict[str, Any] | None,
                   ray_dashboard_url: str | None = None) -> Settings:
    """The flow's settings: the environment's, then the run's overrides (no secrets there)."""
    settings = with_overrides(get_settings(), overrides)
    if ray_dashboard_url:
        settings = with_overrides(settings, {"ray": {"dashboard_url": ray_dashboard_url}})
    return settings


def network_failure(task: Any, task_run: Any, state: Any) -> bool:
    """Retry condition: the cluster could not be reached (not: the job ran and failed)."""
    try:
        state.result()
    except RayJobFailed:
        return False
    except (ConnectionError, OSError, TimeoutError):
        return True
    except Exception:  # noqa: BLE001 - anything else is the job's own error: no retry
        return False
    return False


def _retries() -> int:
    return get_settings().prefect.network_retries


@task(name="collect-ray-job", retries=_retries(), retry_delay_seconds=10,
      retry_condition_fn=network_failure)
def collect_job(author: str, links: list[str], exports: list[str],
                settings: Settings) -> dict[str, Any]:
    """Submit ``jobs/collect.py``, stream its logs, leave the per-source table as an artifact."""
    logger = get_run_logger()
    summary = orchestration.submit_collect_job(author, links, exports, settings,
                                               on_line=logger.info,
                                               timeout_s=settings.prefect.flow_timeout_s)
    create_markdown_artifact(key="collect-summary", markdown=orchestration.collect_markdown(
        summary), description=f"collection for {author}")
    logger.info("Ray job %s: %s", summary["job_id"], orchestration.collect_totals(summary))
    return summary


@task(name="ingest-ray-job", retries=_retries(), retry_delay_seconds=10,
      retry_condition_fn=network_failure)
def ingest_job(full: bool, author: str | None, settings: Settings) -> dict[str, Any]:
    """Submit ``jobs/ingest.py``, stream its logs, leave its counts as an artifact."""
    logger = get_run_logger()
    summary = orchestration.submit_ingest_job(settings, full=full, author=author,
                                              on_line=logger.info,
                                              timeout_s=settings.prefect.flow_timeout_s)
    create_markdown_artifact(key="ingest-summary",
                             markdown=orchestration.ingest_markdown(summary))
    logger.info("Ray job %s: %s", summary["job_id"], summary.get("message"))
    return summary


@task(name="dataset-ray-job", retries=_retries(), retry_delay_seconds=10,
      retry_condition_fn=network_failure)
def dataset_job(author: str | None, preference: bool, settings: Settings) -> dict[str, Any]:
    """Submit ``jobs/dataset.py``, stream its logs, leave the dataset card as an artifact."""
    logger = get_run_logger()
    summary = orchestration.submit_dataset_job(settings, author=author, preference=preference,
                                               on_line=logger.info,
                                               timeout_s=settings.prefect.flow_timeout_s)
    create_markdown_artifact(key="dataset-summary",
                             markdown=orchestration.dataset_markdown(summary))
    logger.info("Ray job %s: dataset %s %s", summary["job_id"], summary.get("path"),
                summary.get("counts"))
    return summary


# Training is not idempotent (a second submission is a second run): no retries.
@task(name="train-ray-job", retries=0)
def train_job(options: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Submit ``jobs/train.py``, stream its logs, leave losses and the version as an artifact."""
    logger = get_run_logger()
    summary = orchestration.submit_train_job(settings, on_line=logger.info,
                                             timeout_s=settings.prefect.flow_timeout_s,
                                             **options)
    create_markdown_artifact(key="train-summary", markdown=orchestration.train_markdown(summary))
    sft = summary.get("sft", {})
    logger.info("Ray job %s: SFT loss %s -> %s, model version %s", summary["job_id"],
                (sft.get("losses") or ["?"])[0], (sft.get("losses") or ["?"])[-1],
                sft.get("version"))
    return summary


@task(name="evaluate-ray-job", retries=_retries(), retry_delay_seconds=10,
      retry_condition_fn=network_failure)
def evaluate_job(versions: list[int] | None, retrieval: bool,
                 settings: Settings) -> dict[str, Any]:
    """Submit ``jobs/evaluate.py``, stream its logs, leave the headline numbers as an artifact."""
    logger = get_run_logger()
    report = orchestration.submit_evaluate_job(settings, versions=versions, retrieval=retrieval,
                                               on_line=logger.info,
                                               timeout_s=settings.prefect.flow_timeout_s)
    create_markdown_artifact(key="evaluate-summary",
                             markdown=orchestration.evaluate_markdown(report))
    logger.info("Ray job %s: evaluation written to %s", report["job_id"], report.get("path"))
    return report


def train_options(dataset: dict[str, Any], **options: Any) -> dict[str, Any]:
    """The train job's options after a dataset job: its folders, plus the flow's choices."""
    return {"dataset": dataset["path"],
            "preference": (dataset.get("preference") or {}).get("path"), **options}


class Progress:
    """A progress artifact a flow moves forward stage by stage (shown live in the UI)."""

    def __init__(self, stages: int) -> None:
        self.stages, self.done = stages, 0
        self.id = create_progress_artifact(progress=0.0, key=None,
                                           description=f"{stages} stages")

    def advance(self) -> None:
        """One more stage finished."""
        self.done += 1
        update_progress_artifact(self.id, progress=100.0 * self.done / self.stages)
