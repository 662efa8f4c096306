"""The Prefect task every flow is made of: one stage's Ray job, its logs streamed into Prefect's
and a Markdown artifact that tells its story.

Idempotent stages (collect, ingest, dataset, evaluate) are retried when the Ray cluster could
not be reached; a job that ran and failed is never retried: its error is the task's error.
Nothing here reads settings at import time: the retries come from the flow's settings.
"""

from __future__ import annotations

import inspect
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    update_progress_artifact,
)

from twin import orchestration
from twin.rayjobs import RayJobFailed
from twin.settings import Settings, get_settings, with_overrides
from twin.stages import STAGES, StageRequest, StageResult, get_stage
from twin.stages.chains import get_chain


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


@task
def _stage_job(stage: str, request: StageRequest, settings: Settings) -> StageResult:
    """Submit the stage's job, stream its logs, leave its result as an artifact."""
    logger = get_run_logger()
    result = orchestration.submit(stage, request, settings, on_line=logger.info,
                                  timeout_s=settings.prefect.flow_timeout_s)
    create_markdown_artifact(key=f"{stage}-summary", markdown=result.markdown(),
                             description=f"{stage} (Ray job {result.job_id})")
    logger.info("Ray job %s: %s", result.job_id, result.headline())
    return result


def run_stage(stage: str, settings: Settings, **values: Any) -> Any:
    """Run one stage's Ray job as the task ``<stage>-ray-job``; returns its typed result.

    ``values`` are the stage's request fields; a bad one fails here, before any job runs.
    """
    declared = get_stage(stage)
    request = declared.parse(values)
    retries = settings.prefect.network_retries if declared.idempotent else 0
    job = _stage_job.with_options(name=f"{stage}-ray-job", retries=retries,
                                  retry_delay_seconds=10,
                                  retry_condition_fn=network_failure if retries else None)
    return job(stage, request, settings)


def chain_flow(name: str) -> Any:
    """The flow of the deployment ``name`` (:data:`twin.stages.chains.CHAINS`): its steps'
    Ray jobs in order. Its parameters are the chain's (the stages' request fields, with their
    descriptions, and the switches), then ``ray_dashboard_url`` and ``settings_overrides``; a
    one-stage flow returns that stage's result, a longer one the results by stage."""
    chain = get_chain(name)
    declared = chain.parameters(STAGES)
    parameters = [inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY,
                                    annotation=p.annotation, default=p.default)
                  for p in declared]
    parameters += [inspect.Parameter("ray_dashboard_url", inspect.Parameter.KEYWORD_ONLY,
                                     annotation=str | None, default=None),
                   inspect.Parameter("settings_overrides", inspect.Parameter.KEYWORD_ONLY,
                                     annotation=dict[str, Any] | None, default=None)]
    defaults = {p.name: p.default for p in declared if p.default is not inspect.Parameter.empty}

    def run(**values: Any) -> Any:
        settings = stage_settings(values.pop("settings_overrides", None),
                                  values.pop("ray_dashboard_url", None))
        given = {**defaults, **values}
        steps = chain.running(given)
        progress = Progress(len(steps)) if len(steps) > 1 else None
        results: dict[str, StageResult] = {}
        for step in steps:
            stage = get_stage(step.stage)
            results[step.stage] = run_stage(step.stage, settings,
                                            **step.values(stage, given, results))
            if progress:
                progress.advance()
        return results[steps[0].stage] if len(chain.steps) == 1 else results

    run.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in parameters}
    run.__name__ = run.__qualname__ = f"{name}_flow"
    args = "\n".join(f"    {p.name}: {p.help}" for p in declared)
    run.__doc__ = f"{chain.description}\n\nArgs:\n{args}\n{FLOW_ARGS}"
    return flow(name=name, log_prints=True)(run)


FLOW_ARGS = """    ray_dashboard_url: the Ray cluster to submit to (default: the settings').
    settings_overrides: nested settings for this run (no secrets: runs show them)."""


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
