"""Submitting pipeline stages as Ray jobs and following them to the end.

Used by :func:`twin.orchestration.submit` (the Prefect flows, `twin <stage> --submit`, the
demo): the same entry point (`python -m jobs <stage>`) that `ray job submit` runs by hand.
"""

from __future__ import annotations

import logging
import shlex
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from twin.settings import Settings

if TYPE_CHECKING:
    from pydantic import BaseModel

    R = TypeVar("R", bound=BaseModel)

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SUMMARY_MARKER = "::twin-summary::"
# The job command line's own flags (twin.stages.job parses them; submit_stage sends them).
SUMMARY_FLAG = "--emit-summary"
REQUEST_FLAG = "--request"
# The flows and `twin ... --submit` read a job's result (the stage's result model as JSON) from
# one marked line of its log; a person's `ray job submit` (without the flag) sees the readable
# summary only.
# Kept out of the uploaded working directory (Ray caps its size).
WORKING_DIR_EXCLUDES = [".venv", ".venv-vllm", ".twin", ".git", "**/__pycache__", ".pytest_cache",
                        ".ruff_cache", "*.egg-info", "build", "dist", "tests/artifacts"]
TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}
AGENT_WAIT_S = 60.0


class RayJobFailed(RuntimeError):
    """A Ray job ended in FAILED or STOPPED; carries its id, status and last log lines."""

    def __init__(self, job_id: str, status: str, message: str, logs: str) -> None:
        tail = "\n".join(logs.strip().splitlines()[-20:])
        super().__init__(f"Ray job {job_id} {status}: {message}\n{tail}")
        self.job_id, self.status, self.logs = job_id, status, logs


def dashboard_url(settings: Settings) -> str:
    """Where jobs are submitted: an external cluster's dashboard or the local head's."""
    return settings.ray_dashboard_url


def auth_headers(settings: Settings) -> dict[str, str]:
    """The bearer token header for clusters with Ray's token authentication (the default
    for local clusters since Ray 2.5x): see :func:`twin.raycluster.token_environment`."""
    from twin.raycluster import cluster_token

    token = cluster_token(settings)
    return {"Authorization": f"Bearer {token}"} if token else {}


def client(settings: Settings) -> Any:
    """A job-submission client for the configured cluster."""
    from ray.job_submission import JobSubmissionClient

    return JobSubmissionClient(dashboard_url(settings), headers=auth_headers(settings))


def git_commit(root: Path = PROJECT_ROOT) -> str:
    """The project's git commit (``TWIN_GIT_COMMIT`` wins), with ``-dirty`` if it has edits."""
    import os
    import subprocess

    if os.environ.get("TWIN_GIT_COMMIT"):
        return os.environ["TWIN_GIT_COMMIT"]
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True,
                               timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def job_runtime_env(settings: Settings, working_dir: Path = PROJECT_ROOT) -> dict[str, Any]:
    """Runtime env of a stage job: the project as working dir, our settings as env vars."""
    return {
        "working_dir": str(working_dir),
        "excludes": WORKING_DIR_EXCLUDES,
        # The job's copy of the project has no .git: pass the commit for the model registry.
        "env_vars": {**settings.to_env(include_secrets=False),
                     "TWIN_GIT_COMMIT": git_commit(working_dir)},
    }


def submit_stage(stage: str, request_json: str, settings: Settings,
                 metadata: dict[str, str] | None = None) -> str:
    """Submit ``python -m jobs <stage> --request JSON`` to the cluster; returns the job id."""
    entrypoint = shlex.join(["python", "-m", "jobs", stage, REQUEST_FLAG, request_json,
                             SUMMARY_FLAG])
    jobs = client(settings)
    deadline = time.monotonic() + AGENT_WAIT_S
    while True:
        try:
            job_id = jobs.submit_job(
                entrypoint=entrypoint, runtime_env=job_runtime_env(settings),
                metadata={"stage": stage, **(metadata or {})}, entrypoint_num_cpus=0,
            )
            break
        except RuntimeError as exc:
            # A head that has just started answers 500 until its job agent is up.
            if "No available agent" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(2.0)
    log.info("submitted Ray job %s: %s", job_id, entrypoint)
    return job_id


def follow(job_id: str, settings: Settings, on_line: Callable[[str], None] | None = None,
           poll_s: float = 1.0, timeout_s: float | None = None) -> str:
    """Stream a job's logs until it ends; returns all logs, raises :class:`RayJobFailed`."""
    jobs = client(settings)
    printed = 0
    deadline = time.monotonic() + timeout_s if timeout_s else None
    while True:
        status = str(jobs.get_job_status(job_id)).split(".")[-1]
        logs = jobs.get_job_logs(job_id)
        lines = logs.splitlines()
        for line in lines[printed:]:
            if on_line:
                on_line(line)
        printed = len(lines)
        if status in TERMINAL:
            break
        if deadline and time.monotonic() > deadline:
            jobs.stop_job(job_id)
            raise RayJobFailed(job_id, "TIMED OUT", f"no result after {timeout_s:.0f}s", logs)
        time.sleep(poll_s)
    if status != "SUCCEEDED":
        info = jobs.get_job_info(job_id)
        raise RayJobFailed(job_id, status, info.message or "", logs)
    return logs


def emit_result(result: BaseModel) -> None:
    """Print a job's result model as its ``::twin-summary::`` line."""
    print(f"{SUMMARY_MARKER}{result.model_dump_json()}", flush=True)


def result_from_logs(logs: str, model: type[R]) -> R | None:
    """The result model a stage job printed on its last ``::twin-summary::`` line."""
    for line in reversed(logs.splitlines()):
        if SUMMARY_MARKER in line:
            return model.model_validate_json(line.split(SUMMARY_MARKER, 1)[1])
    return None
