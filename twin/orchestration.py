"""What the Prefect flows do, kept here so the flows stay thin and testable."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from twin.collect.pipeline import parse_sources
from twin.domain import SourceSummary
from twin.rayjobs import follow, submit_stage, summary_from_logs
from twin.report import missing_markdown
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


# What a flow run page shows: Markdown summaries of each stage's result. ----------------------
def collect_markdown(summary: dict[str, Any]) -> str:
    """The collect job's result: totals and one row per source (failures with their reason)."""
    sources = summary.get("sources", [])
    totals = collect_totals(summary)
    lines = [f"### Collection for {summary.get('author_id', '?')}",
             f"Ray job `{summary.get('job_id', '?')}`, run `{summary.get('run_id', '?')}`, "
             f"{summary.get('seconds', 0):.0f}s, warehouse version "
             f"{summary.get('table_version')}.", "",
             " | ".join(f"**{v}** {k}" for k, v in totals.items()), "",
             "| source | collector | found | new | updated | unchanged | failed | reason |",
             "|---|---|---|---|---|---|---|---|"]
    for s in sources:
        reason = (s.get("reason") or "").replace("|", "/")
        lines.append(f"| {s['source']} | {s.get('collector', '')} | {s.get('found', 0)} | "
                     f"{s.get('new', 0)} | {s.get('updated', 0)} | {s.get('unchanged', 0)} | "
                     f"{s.get('failed', 0)} | {reason} |")
    missing = missing_markdown(_source_summaries(sources))
    return "\n".join(lines + ["", missing] if missing else lines)


def _source_summaries(sources: list[dict[str, Any]]) -> list[SourceSummary]:
    """The job's per-source rows as models; an unreadable one contributes nothing."""
    parsed = []
    for source in sources:
        try:
            parsed.append(SourceSummary.model_validate(source))
        except ValidationError:
            continue
    return parsed


def ingest_markdown(summary: dict[str, Any]) -> str:
    """The ingest job's result."""
    return (f"### Ingestion\nRay job `{summary.get('job_id', '?')}`: "
            f"{summary.get('message', '')}.\n\n"
            f"- documents processed: **{summary.get('processed', 0)}**\n"
            f"- chunks written: **{summary.get('chunks_written', 0)}**\n"
            f"- chunks in the collection: **{summary.get('chunks_in_collection', 0)}**\n"
            f"- seconds: {summary.get('seconds', 0)}")


def dataset_markdown(summary: dict[str, Any]) -> str:
    """The dataset job's result."""
    counts = summary.get("counts", {})
    grounding = summary.get("grounding", {})
    text = (f"### Dataset {summary.get('version', '')}\nRay job `{summary.get('job_id', '?')}`:"
            f" `{summary.get('path', '')}`\n\n"
            f"- samples: **{counts.get('samples', 0)}** ({counts.get('train', 0)} train / "
            f"{counts.get('test', 0)} test) from {counts.get('documents', 0)} documents\n"
            f"- grounding: {grounding.get('passed', 0)}/{grounding.get('checked', 0)} answers "
            "verbatim in the warehouse\n"
            f"- filtered: {counts.get('filtered', {})}")
    if summary.get("preference"):
        text += f"\n- preference pairs: {summary['preference'].get('counts', {})}"
    return text


def train_markdown(summary: dict[str, Any]) -> str:
    """The train job's result: per stage, the loss and the registered version."""
    lines = [f"### Training\nRay job `{summary.get('job_id', '?')}`"]
    for stage in ("sft", "dpo"):
        part = summary.get(stage)
        if not part:
            continue
        losses = part.get("losses") or []
        loss = f"{losses[0]:.3f} -> {losses[-1]:.3f}" if losses else "?"
        lines.append(f"- {stage.upper()}: model version **{part.get('version')}**, "
                     f"{part.get('steps')} steps, loss {loss}, {part.get('seconds', 0):.0f}s")
    return "\n".join(lines)


def collect_totals(summary: dict[str, Any]) -> dict[str, int]:
    """Found/new/updated/unchanged/failed summed over the sources of a collect summary."""
    return {k: sum(s.get(k, 0) for s in summary.get("sources", []))
            for k in ("found", "new", "updated", "unchanged", "failed")}


def submit_evaluate_job(settings: Settings, *, versions: list[int] | None = None,
                        retrieval: bool = True, on_line: Any = None,
                        timeout_s: float | None = None) -> dict[str, Any]:
    """Submit the evaluate job (held-out style, judge, retrieval); return its report."""
    args: list[str] = [] if retrieval else ["--no-retrieval"]
    for version in versions or []:
        args += ["--version", str(version)]
    job_id = submit_stage("evaluate.py", args, settings, metadata={"stage": "evaluate"})
    summary = summary_from_logs(follow(job_id, settings, on_line=on_line,
                                       timeout_s=timeout_s)) or {}
    summary["job_id"] = job_id
    return summary


def evaluate_markdown(report: dict[str, Any]) -> str:
    """The evaluation's headline: each model's style numbers, the best retrieval settings."""
    lines = [f"### Evaluation\nRay job `{report.get('job_id', '?')}` on "
             f"{report.get('samples', 0)} held-out samples.", "",
             "| metric | " + " | ".join(report.get("models", [])) + " |",
             "|---|" + "---|" * len(report.get("models", []))]
    summary = report.get("summary", {})
    metrics = list(dict.fromkeys(m for label in summary for m in summary[label]))
    for metric in metrics:
        cells = [f"{summary[label][metric]['mean']:.3f}" if metric in summary[label] else ""
                 for label in report.get("models", [])]
        lines.append(f"| {metric} | " + " | ".join(cells) + " |")
    for row in report.get("retrieval", [])[:3]:
        lines.append(f"\n- retrieval {row['search_mode']}/{row['expansion']}/{row['reranker']}:"
                     f" hit@5 {row['hit@5']}, MRR {row['mrr']}")
    lines += [f"\n_{note}_" for note in report.get("notes", [])]
    return "\n".join(lines)
