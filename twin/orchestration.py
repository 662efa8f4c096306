"""What the Prefect flows do, kept here so the flows stay thin and testable."""

from __future__ import annotations

import logging
from typing import Any

from twin.collect.pipeline import parse_sources
from twin.rayjobs import follow, submit_stage, summary_from_logs
from twin.settings import Settings

log = logging.getLogger(__name__)


def collect_job_args(author: str, links: list[str], exports: list[str]) -> list[str]:
    """Arguments of ``jobs/collect.py`` (export paths made absolute for the job)."""
    args = ["--author", author]
    for source in parse_sources(links, exports):
        hint = f"{source.platform_hint.value}=" if source.platform_hint else ""
        args += [f"--{source.kind.value}", hint + source.value]
    return args


def submit_collect_job(author: str, links: list[str], exports: list[str], settings: Settings,
                    on_line: Any = None, timeout_s: float | None = None) -> dict[str, Any]:
    """Submit the collect job, stream its logs, return its summary (raises if it failed)."""
    job_id = submit_stage("collect.py", collect_job_args(author, links, exports), settings,
                          metadata={"stage": "collect", "author": author})
    logs = follow(job_id, settings, on_line=on_line, timeout_s=timeout_s)
    summary = summary_from_logs(logs) or {}
    summary["job_id"] = job_id
    return summary


def submit_ingest_job(settings: Settings, *, full: bool = False, author: str | None = None,
                      on_line: Any = None, timeout_s: float | None = None) -> dict[str, Any]:
    """Submit the ingest job, stream its logs, return its summary (raises if it failed)."""
    args = ["--full"] if full else []
    if author:
        args += ["--author", author]
    job_id = submit_stage("ingest.py", args, settings, metadata={"stage": "ingest"})
    logs = follow(job_id, settings, on_line=on_line, timeout_s=timeout_s)
    summary = summary_from_logs(logs) or {}
    summary["job_id"] = job_id
    return summary


def submit_dataset_job(settings: Settings, *, author: str | None = None,
                       preference: bool = False, on_line: Any = None,
                       timeout_s: float | None = None) -> dict[str, Any]:
    """Submit the dataset job (instruction pairs, optionally DPO pairs); return its summary."""
    args = ["--author", author] if author else []
    if preference:
        args.append("--preference")
    job_id = submit_stage("dataset.py", args, settings, metadata={"stage": "dataset"})
    summary = summary_from_logs(follow(job_id, settings, on_line=on_line,
                                       timeout_s=timeout_s)) or {}
    summary["job_id"] = job_id
    return summary


def train_job_args(*, dataset: str | None = None, preference: str | None = None,
                   max_steps: int | None = None, dpo_steps: int | None = None,
                   workers: int | None = None, run: str | None = None,
                   deepspeed: str | None = None, serve: bool = False) -> list[str]:
    """Arguments of ``jobs/train.py``."""
    args: list[str] = []
    for flag, value in (("--dataset", dataset), ("--preference", preference),
                        ("--max-steps", max_steps), ("--dpo-steps", dpo_steps),
                        ("--workers", workers), ("--run", run), ("--deepspeed", deepspeed)):
        if value is not None:
            args += [flag, str(value)]
    return args + (["--serve"] if serve else [])


def submit_train_job(settings: Settings, *, on_line: Any = None, timeout_s: float | None = None,
                     **options: Any) -> dict[str, Any]:
    """Submit the train job (SFT, then DPO with a preference dataset); return its summary."""
    job_id = submit_stage("train.py", train_job_args(**options), settings,
                          metadata={"stage": "train"})
    summary = summary_from_logs(follow(job_id, settings, on_line=on_line,
                                       timeout_s=timeout_s)) or {}
    summary["job_id"] = job_id
    return summary
