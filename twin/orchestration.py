"""Running a stage as a Ray job: one submit function for every stage, kept here so that the
Prefect flows and ``twin <stage> --submit`` stay thin."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from twin.rayjobs import follow, result_from_logs, submit_stage
from twin.settings import Settings
from twin.stages import CollectResult, StageRequest, StageResult, get_stage

log = logging.getLogger(__name__)


class MissingResult(RuntimeError):
    """A stage job succeeded but printed no result line (an old or foreign entry point)."""


def submit(stage: str, request: StageRequest, settings: Settings, *,
           on_line: Callable[[str], None] | None = None,
           timeout_s: float | None = None) -> StageResult:
    """Submit ``stage``'s job with ``request``, stream its logs, return its typed result.

    Raises :class:`twin.rayjobs.RayJobFailed` when the job failed or ran past ``timeout_s``.
    """
    declared = get_stage(stage)
    if not isinstance(request, declared.request):
        raise TypeError(f"the {declared.name} stage takes a {declared.request.__name__}, "
                        f"not a {type(request).__name__}")
    metadata = {"author": author} if (author := getattr(request, "author", None)) else {}
    job_id = submit_stage(declared.name, request.for_job().model_dump_json(), settings,
                          metadata=metadata)
    logs = follow(job_id, settings, on_line=on_line, timeout_s=timeout_s)
    result = result_from_logs(logs, declared.result)
    if result is None:
        raise MissingResult(f"Ray job {job_id} ({declared.name}) printed no result line")
    return result.model_copy(update={"job_id": job_id})


def collect_markdown(summary: CollectResult | dict[str, Any]) -> str:
    """The collect job's Prefect artifact (also from a result already turned into data)."""
    try:
        return CollectResult.model_validate(summary).markdown()
    except ValidationError:
        job = summary.get("job_id", "?") if isinstance(summary, dict) else "?"
        return f"### Collection for ?\nRay job `{job}` left no readable summary."
