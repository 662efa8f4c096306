"""Prefect deployments: registering ``prefect.yaml`` with the configured Prefect API.

The client that runs them and follows their runs is :mod:`twin.prefect_client` (its names are
re-exported here for the callers that import them from this module).
"""

from __future__ import annotations

import logging
import subprocess

from twin.prefect_client import (
    FINAL_STATES,
    FlowRun,
    PrefectAPI,
    PrefectError,
    prefect_environment,
)
from twin.processes import PROJECT_ROOT, executable
from twin.settings import Settings

__all__ = ["FINAL_STATES", "FlowRun", "PrefectAPI", "PrefectError",
           "register_deployments"]

log = logging.getLogger(__name__)


def register_deployments(settings: Settings, timeout_s: float = 300.0) -> None:
    """(Re)register every deployment of ``prefect.yaml`` with the configured Prefect API."""
    api = PrefectAPI.from_settings(settings)
    try:
        api.ensure_work_pool(settings.prefect.work_pool)
    finally:
        api.close()
    env = {**prefect_environment(settings), "TWIN_WORK_POOL": settings.prefect.work_pool}
    proc = subprocess.run([executable("prefect"), "--no-prompt", "deploy", "--all"],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout_s, check=False)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
        raise PrefectError("registering the prefect.yaml deployments failed: "
                           + " | ".join(tail))
    log.info("registered the prefect.yaml deployments in pool %s", settings.prefect.work_pool)
