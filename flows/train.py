"""Prefect flow: build the datasets, then fine-tune and register, as two Ray jobs.

    python flows/train.py --max-steps 30 [--preference] [--author NAME]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prefect import flow, get_run_logger, task  # noqa: E402

from twin.orchestration import submit_dataset_job, submit_train_job  # noqa: E402
from twin.settings import Settings  # noqa: E402


def _settings(ray_dashboard_url: str | None) -> Settings:
    settings = Settings()
    if ray_dashboard_url:
        settings.ray.dashboard_url = ray_dashboard_url
    return settings


@task(name="dataset-ray-job", retries=0)
def dataset_job(author: str | None, preference: bool,
                ray_dashboard_url: str | None) -> dict[str, Any]:
    """Submit ``jobs/dataset.py`` and stream its logs into Prefect's."""
    logger = get_run_logger()
    summary = submit_dataset_job(_settings(ray_dashboard_url), author=author,
                                 preference=preference, on_line=logger.info)
    logger.info("Ray job %s: dataset %s %s", summary["job_id"], summary.get("path"),
                summary.get("counts"))
    return summary


@task(name="train-ray-job", retries=0)
def train_job(options: dict[str, Any], ray_dashboard_url: str | None) -> dict[str, Any]:
    """Submit ``jobs/train.py`` and stream its logs into Prefect's."""
    logger = get_run_logger()
    summary = submit_train_job(_settings(ray_dashboard_url), on_line=logger.info, **options)
    sft = summary.get("sft", {})
    logger.info("Ray job %s: SFT loss %s -> %s, model version %s", summary["job_id"],
                (sft.get("losses") or ["?"])[0], (sft.get("losses") or ["?"])[-1],
                sft.get("version"))
    return summary


@flow(name="train", log_prints=True)
def train_flow(author: str | None = None, preference: bool = False,
               max_steps: int | None = None, dpo_steps: int | None = None,
               workers: int | None = None, deepspeed: str | None = None, serve: bool = False,
               ray_dashboard_url: str | None = None) -> dict[str, Any]:
    """Datasets from the warehouse, then LoRA SFT (and DPO) registered as model versions."""
    data = dataset_job(author, preference, ray_dashboard_url)
    options = {"dataset": data["path"], "max_steps": max_steps, "dpo_steps": dpo_steps,
               "workers": workers, "deepspeed": deepspeed, "serve": serve,
               "preference": (data.get("preference") or {}).get("path")}
    return {"dataset": data, "train": train_job(options, ray_dashboard_url)}


def main(argv: list[str] | None = None) -> int:
    """Run the flow once from the command line."""
    parser = argparse.ArgumentParser(description="Run the train flow once.")
    parser.add_argument("--author", default=None)
    parser.add_argument("--preference", action="store_true", help="also DPO pairs, then DPO")
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--dpo-steps", type=int, default=None)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--deepspeed", choices=["auto", "off", "zero2", "zero3"], default=None)
    parser.add_argument("--serve", action="store_true", help="mark the new version for serving")
    parser.add_argument("--ray-dashboard-url", default=None)
    args = parser.parse_args(argv)
    train_flow(args.author, args.preference, args.max_steps, args.dpo_steps, args.workers,
               args.deepspeed, args.serve, args.ray_dashboard_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
