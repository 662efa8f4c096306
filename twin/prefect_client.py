"""A small client of Prefect's REST API, and the environment Prefect's own processes run in.

No Prefect imports: it talks to any Prefect 3 server over HTTP. The UI, the demo and
`twin run` start pipeline runs with it, by deployment name, and follow them (state, logs,
artifacts); :mod:`twin.services` probes the server with :func:`prefect_healthy`.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from twin.raycluster import token_environment
from twin.settings import Settings, split_credentials

FINAL_STATES = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def deployment_name(name: str) -> str:
    """``collect`` -> ``collect/collect``: each flow of prefect.yaml has one deployment of its
    own name (:data:`twin.stages.chains.CHAINS`); a ``flow/deployment`` name stays as it is."""
    return name if "/" in name else f"{name}/{name}"


def short_name(full: str) -> str:
    """``collect/collect`` -> ``collect``; any other ``flow/deployment`` stays whole."""
    flow, _, deployment = full.partition("/")
    return flow if flow == deployment else full


class PrefectError(RuntimeError):
    """Prefect's API could not be reached or refused a request; the message says which."""


def prefect_environment(settings: Settings) -> dict[str, str]:
    """Environment of Prefect processes: our home, the API, no analytics (offline machines).

    Basic-auth credentials in ``prefect.api_url`` (``https://user:pass@host/api``) become
    ``PREFECT_API_AUTH_STRING``, so the URL Prefect prints and logs carries none.
    """
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    api_url, credentials = split_credentials(settings.prefect_api_url)
    auth = {"PREFECT_API_AUTH_STRING": credentials} if credentials else {}
    return {**os.environ, **token_environment(settings),
            "PREFECT_HOME": str(settings.prefect_home),
            "PREFECT_API_URL": api_url, **auth, "PATH": path,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_ENABLED": "true",
            "DO_NOT_TRACK": "1", "MLFLOW_DISABLE_TELEMETRY": "true",
            "TWIN_HOME": str(settings.home_dir)}


def prefect_healthy(api_url: str, timeout: float = 2.0) -> bool:
    """Whether a Prefect API answers its health check (open without credentials)."""
    api_url, _ = split_credentials(api_url)  # urllib would take user:pass@ for the host name
    try:
        with urllib.request.urlopen(f"{api_url.rstrip('/')}/health", timeout=timeout) as answer:
            return answer.status == 200
    except OSError:
        return False


@dataclass
class FlowRun:
    """What a page needs of one flow run."""

    id: str
    name: str
    deployment: str
    state: str
    state_message: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    start_time: str | None = None
    end_time: str | None = None
    duration_s: float = 0.0

    @property
    def finished(self) -> bool:
        """Whether the run has reached a final state."""
        return self.state in FINAL_STATES

    @classmethod
    def from_api(cls, data: dict[str, Any], deployment: str = "") -> FlowRun:
        """From the API's flow-run object."""
        state = data.get("state") or {}
        return cls(id=data["id"], name=data.get("name", ""), deployment=deployment,
                   state=state.get("type") or "PENDING",
                   state_message=state.get("message") or "",
                   parameters=data.get("parameters") or {}, created=data.get("created", ""),
                   start_time=data.get("start_time"), end_time=data.get("end_time"),
                   duration_s=float(data.get("total_run_time") or 0.0))


class PrefectAPI:
    """A small client of Prefect's REST API (no Prefect imports: any server version 3)."""

    def __init__(self, api_url: str, timeout_s: float = 15.0) -> None:
        self.api_url = api_url.rstrip("/")
        self.http = httpx.Client(base_url=self.api_url, timeout=timeout_s)
        self._deployment_ids: dict[str, str] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> PrefectAPI:
        """The client of the configured (or local) Prefect server."""
        return cls(settings.prefect_api_url)

    def close(self) -> None:
        """Release the connection pool."""
        self.http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            answer = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise PrefectError(f"Prefect's API at {self.api_url} did not answer "
                               f"({type(exc).__name__}): is it running? (`twin up`)") from exc
        if answer.status_code >= 400:
            detail = answer.text[:300]
            with contextlib.suppress(ValueError, AttributeError):
                detail = str(answer.json().get("detail", detail))[:300]
            raise PrefectError(f"Prefect answered {answer.status_code} to {method} {path}: "
                               f"{detail}")
        return answer.json() if answer.content else None

    def healthy(self) -> bool:
        """Whether the API answers."""
        try:
            return self.http.get("/health").status_code == 200
        except httpx.HTTPError:
            return False

    def ensure_work_pool(self, name: str) -> None:
        """Create the process work pool the deployments run in, unless it exists."""
        try:
            self._call("GET", f"/work_pools/{name}")
        except PrefectError as exc:
            if " 404 " not in str(exc):
                raise
            self._call("POST", "/work_pools/", json={"name": name, "type": "process"})

    def deployment_id(self, deployment: str) -> str:
        """The id of a deployment, by short name (``collect``) or ``flow/deployment``."""
        full = deployment_name(deployment)
        if full not in self._deployment_ids:
            try:
                data = self._call("GET", f"/deployments/name/{full}")
            except PrefectError as exc:
                if " 404 " in str(exc):
                    raise PrefectError(f"no deployment {full!r}: register them with `twin up` "
                                       "or `twin deploy`") from exc
                raise
            self._deployment_ids[full] = data["id"]
        return self._deployment_ids[full]

    def run(self, deployment: str, parameters: dict[str, Any]) -> FlowRun:
        """Start a run of a deployment with these parameters; returns at once."""
        data = self._call("POST", f"/deployments/{self.deployment_id(deployment)}/create_flow_run",
                          json={"parameters": parameters})
        return FlowRun.from_api(data, deployment)

    def flow_run(self, run_id: str) -> FlowRun:
        """A flow run's current state."""
        return FlowRun.from_api(self._call("GET", f"/flow_runs/{run_id}"))

    def runs(self, deployment: str | None = None, limit: int = 20) -> list[FlowRun]:
        """Recent runs, newest first, of one deployment or of all."""
        body: dict[str, Any] = {"sort": "EXPECTED_START_TIME_DESC", "limit": limit}
        if deployment:
            body["deployments"] = {"id": {"any_": [self.deployment_id(deployment)]}}
        rows = self._call("POST", "/flow_runs/filter", json=body)
        ids = {r.get("deployment_id") for r in rows if r.get("deployment_id")}
        labels: dict[str, str] = {}
        for dep_id in ids:
            with_flow = self._call("GET", f"/deployments/{dep_id}")
            flow = self._call("GET", f"/flows/{with_flow['flow_id']}")
            full = f"{flow['name']}/{with_flow['name']}"
            labels[dep_id] = short_name(full)
        return [FlowRun.from_api(r, labels.get(r.get("deployment_id") or "", deployment or ""))
                for r in rows]

    def logs(self, run_id: str, offset: int = 0, limit: int = 200) -> list[dict[str, Any]]:
        """A run's log lines (flow and task logs) from ``offset``, oldest first."""
        return self._call("POST", "/logs/filter", json={
            "logs": {"flow_run_id": {"any_": [run_id]}}, "sort": "TIMESTAMP_ASC",
            "offset": offset, "limit": limit})

    def all_logs(self, run_id: str) -> list[dict[str, Any]]:
        """Every log line of a run (the API pages by at most 200)."""
        lines: list[dict[str, Any]] = []
        while batch := self.logs(run_id, offset=len(lines)):
            lines += batch
        return lines

    def artifacts(self, run_id: str) -> list[dict[str, Any]]:
        """A run's artifacts (markdown summaries, tables, progress; not results), oldest
        first."""
        rows = self._call("POST", "/artifacts/filter", json={
            "artifacts": {"flow_run_id": {"any_": [run_id]}}, "sort": "CREATED_DESC"})[::-1]
        return [a for a in rows if a.get("type") in ("markdown", "table", "progress")]

    def task_runs(self, run_id: str) -> list[dict[str, Any]]:
        """A run's task runs (one per stage), in the order they started."""
        rows = self._call("POST", "/task_runs/filter", json={
            "flow_runs": {"id": {"any_": [run_id]}}, "sort": "EXPECTED_START_TIME_ASC"})
        return [{"name": r["name"], "state": (r.get("state") or {}).get("type") or "PENDING",
                 "message": (r.get("state") or {}).get("message") or ""} for r in rows]

    def progress(self, run_id: str) -> float | None:
        """The run's latest progress artifact (0-100), if it has one."""
        values = [a for a in self.artifacts(run_id) if a.get("type") == "progress"]
        return float(values[-1]["data"]) if values else None

    def wait(self, run_id: str, timeout_s: float, poll_s: float = 2.0,
             on_log: Any = None, on_poll: Any = None) -> FlowRun:
        """Follow a run until it ends (streaming its logs to ``on_log``, the run to
        ``on_poll`` on every poll); returns its end state."""
        deadline = time.monotonic() + timeout_s
        seen = 0
        while True:
            run = self.flow_run(run_id)
            if on_poll:
                on_poll(run)
            lines = self.logs(run_id, offset=seen)
            seen += len(lines)
            if on_log:
                for line in lines:
                    on_log(line["message"])
            if run.finished:
                # Logs are shipped in batches: pick up the last ones.
                for line in self.logs(run_id, offset=seen):
                    if on_log:
                        on_log(line["message"])
                return run
            if time.monotonic() > deadline:
                raise PrefectError(f"flow run {run.name} still {run.state} after "
                                   f"{timeout_s:.0f}s")
            time.sleep(poll_s)
