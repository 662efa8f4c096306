"""Local services with a lifecycle: `twin up` starts them on 127.0.0.1, `twin down` stops them.

Each service is skipped when settings point at an external one (a real cluster). Later stages
add their services to :data:`SERVICES`: the Ray head, Milvus Lite, a Prefect server, a
process worker of the project's work pool, and the web UI.

This module only starts, stops and reports processes: where each service is reached lives with
the settings (``Settings.ray_gcs_address``, ``ray_dashboard_url``, ``milvus_uri``,
``prefect_api_url``, ``ui_url``), Prefect's client and environment in
:mod:`twin.prefect_client`, ports and executables in :mod:`twin.processes`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from pydantic import BaseModel, field_validator

from twin.deployments import register_deployments
from twin.prefect_client import PrefectAPI, prefect_environment, prefect_healthy
from twin.processes import PROJECT_ROOT, executable, free_port, port_open
from twin.raycluster import token_environment
from twin.settings import Settings, redact

# Re-exported: callers that import these from here keep working.
__all__ = ["PROJECT_ROOT", "SERVICES", "BackgroundProcess", "MilvusLite", "PrefectServer",
           "PrefectWorker", "RayHead", "Service", "ServiceError", "ServiceStatus", "WebUI",
           "describe", "down", "free_port", "port_open", "prefect_environment",
           "prefect_healthy", "status", "up"]


class ServiceStatus(BaseModel):
    """What `twin status` prints for one service."""

    name: str
    state: str  # running | stopped | external
    address: str | None = None
    detail: str | None = None

    @field_validator("address", "detail")
    @classmethod
    def _no_credentials(cls, value: str | None) -> str | None:
        """Statuses are shown (CLI, UI): a password in a service's URL never is."""
        return redact(value) if value else value


class ServiceError(RuntimeError):
    """A service could not be started or stopped; the message says why."""


class Service(ABC):
    """A local process the stages need on one machine."""

    name: str

    def state_file(self, settings: Settings) -> Path:
        """Where `twin up` records that it started this service."""
        return settings.run_dir / f"{self.name}.json"

    def started_by_us(self, settings: Settings) -> bool:
        """Whether this project started the running instance."""
        return self.state_file(settings).exists()

    @abstractmethod
    def is_external(self, settings: Settings) -> bool:
        """Whether settings point at an external instance (nothing to start)."""

    @abstractmethod
    def is_running(self, settings: Settings) -> bool:
        """Whether the local instance answers."""

    @abstractmethod
    def start(self, settings: Settings) -> ServiceStatus:
        """Start it (idempotent: a running instance is left as it is)."""

    @abstractmethod
    def stop(self, settings: Settings) -> ServiceStatus:
        """Stop it if this project started it."""

    @abstractmethod
    def status(self, settings: Settings) -> ServiceStatus:
        """Where it runs, or that it does not."""


class RayHead(Service):
    """A Ray head node with its dashboard (the job-submission API) on 127.0.0.1."""

    name = "ray"

    def gcs_address(self, settings: Settings) -> str:
        """host:port of the head's GCS (``Settings.ray_gcs_address``)."""
        return settings.ray_gcs_address

    def dashboard_url(self, settings: Settings) -> str:
        """The job-submission URL (``Settings.ray_dashboard_url``)."""
        return settings.ray_dashboard_url

    def is_external(self, settings: Settings) -> bool:
        return settings.ray_is_external

    def is_running(self, settings: Settings) -> bool:
        return port_open(settings.ray.host, settings.ray.port)

    def _dashboard_ready(self, settings: Settings) -> bool:
        try:
            with urllib.request.urlopen(f"{self.dashboard_url(settings)}/api/version",
                                        timeout=2) as response:
                return response.status == 200
        except urllib.error.HTTPError as exc:
            # Ray's token authentication answers 401 without the token: it is up.
            return exc.code in (401, 403)
        except OSError:
            return False

    def start(self, settings: Settings) -> ServiceStatus:
        if self.is_external(settings):
            return self.status(settings)
        if not self.is_running(settings):
            settings.run_dir.mkdir(parents=True, exist_ok=True)
            log_path = settings.run_dir / "ray-start.log"
            command = [
                executable("ray"), "start", "--head",
                f"--port={settings.ray.port}",
                f"--node-ip-address={settings.ray.host}",
                f"--dashboard-host={settings.ray.host}",
                f"--dashboard-port={settings.ray.dashboard_port}",
                "--include-dashboard=true",
                "--disable-usage-stats",
            ]
            if settings.ray.num_cpus is not None:
                command.append(f"--num-cpus={settings.ray.num_cpus}")
            http_port, grpc_port = settings.ray.agent_ports or (free_port(settings.ray.host),
                                                                free_port(settings.ray.host))
            command += [f"--dashboard-agent-listen-port={http_port}",
                        f"--dashboard-agent-grpc-port={grpc_port}"]
            # Workers and job drivers inherit this environment: point them at our home.
            # Our interpreter's bin folder first, so `python jobs/...` entry points run with the
            # environment the project is installed in, activated or not.
            path = os.pathsep.join([str(Path(sys.executable).parent),
                                    os.environ.get("PATH", "")])
            # The token: the project's own <home>/ray/auth_token (made here when missing) unless
            # settings or the user's environment name another (twin.raycluster).
            env = {**os.environ, "TWIN_HOME": str(settings.home_dir), "PATH": path,
                   "RAY_USAGE_STATS_ENABLED": "0", "MLFLOW_DISABLE_TELEMETRY": "true",
                   **token_environment(settings, create=True)}
            with log_path.open("w") as log:
                proc = subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                      timeout=settings.ray.start_timeout_s, check=False)
            if proc.returncode != 0:
                tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
                raise ServiceError(f"ray start failed (exit {proc.returncode}): "
                                   + " | ".join(tail) + f" (log: {log_path})")
            self.state_file(settings).write_text(json.dumps({
                "gcs": self.gcs_address(settings), "dashboard": self.dashboard_url(settings),
                "home": str(settings.home_dir), "started_at": time.time()}))
        deadline = time.monotonic() + settings.ray.start_timeout_s
        while not self._dashboard_ready(settings):
            if time.monotonic() > deadline:
                raise ServiceError("the Ray head started but its dashboard (job submission) "
                                   f"did not answer at {self.dashboard_url(settings)}")
            time.sleep(0.5)
        return self.status(settings)

    def stop(self, settings: Settings) -> ServiceStatus:
        if self.is_external(settings):
            return self.status(settings)
        if self.started_by_us(settings):
            subprocess.run([executable("ray"), "stop", "--grace-period", "10"], check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
            self.state_file(settings).unlink(missing_ok=True)
            return ServiceStatus(name=self.name, state="stopped")
        if self.is_running(settings):
            return ServiceStatus(name=self.name, state="running",
                                 address=self.gcs_address(settings),
                                 detail="not started by twin up; left running")
        return ServiceStatus(name=self.name, state="stopped")

    def status(self, settings: Settings) -> ServiceStatus:
        if self.is_external(settings):
            return ServiceStatus(name=self.name, state="external",
                                 address=settings.ray.address,
                                 detail=f"jobs: {self.dashboard_url(settings)}")
        if self.is_running(settings):
            return ServiceStatus(name=self.name, state="running",
                                 address=self.gcs_address(settings),
                                 detail=f"dashboard and jobs: {self.dashboard_url(settings)}")
        return ServiceStatus(name=self.name, state="stopped")


class BackgroundProcess(Service):
    """A local server process started in its own session, tracked by a pid file."""

    @abstractmethod
    def command(self, settings: Settings) -> list[str]:
        """The command line that runs it."""

    def environment(self, settings: Settings) -> dict[str, str]:
        """Its environment (ours, by default)."""
        return dict(os.environ)

    def cwd(self, settings: Settings) -> Path | None:
        """Its working directory (ours, by default)."""
        return None

    def address(self, settings: Settings) -> str | None:
        """Where it answers, for `twin status`."""
        return None

    def timeout_s(self, settings: Settings) -> float:
        """How long it may take to become ready."""
        return 60.0

    def prepare(self, settings: Settings) -> None:
        """Folders it needs before it starts."""

    def after_start(self, settings: Settings) -> None:
        """Work once it is ready (e.g. register deployments)."""

    def _pid(self, settings: Settings) -> int | None:
        try:
            return int(json.loads(self.state_file(settings).read_text())["pid"])
        except (OSError, ValueError, KeyError):
            return None

    def _alive(self, settings: Settings) -> bool:
        pid = self._pid(settings)
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        # A zombie (exited, not yet reaped by us) is not alive.
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
                return False
        return True

    def start(self, settings: Settings) -> ServiceStatus:
        if self.is_external(settings) or self.is_running(settings):
            if not self.is_external(settings):
                self.after_start(settings)
            return self.status(settings)
        settings.run_dir.mkdir(parents=True, exist_ok=True)
        self.prepare(settings)
        log_path = settings.run_dir / f"{self.name}.log"
        with log_path.open("a") as log:
            proc = subprocess.Popen(self.command(settings), stdout=log, stderr=subprocess.STDOUT,
                                    env=self.environment(settings), cwd=self.cwd(settings),
                                    start_new_session=True)
        self.state_file(settings).write_text(json.dumps({
            "pid": proc.pid, "address": self.address(settings), "started_at": time.time()}))
        deadline = time.monotonic() + self.timeout_s(settings)
        while not self.is_running(settings):
            if proc.poll() is not None or time.monotonic() > deadline:
                self.state_file(settings).unlink(missing_ok=True)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
                raise ServiceError(f"{self.name} did not start: " + " | ".join(tail)
                                   + f" (log: {log_path})")
            time.sleep(0.3)
        self.after_start(settings)
        return self.status(settings)

    def stop(self, settings: Settings) -> ServiceStatus:
        if self.is_external(settings):
            return self.status(settings)
        pid = self._pid(settings)
        if pid is not None:
            try:
                os.killpg(pid, signal.SIGTERM)
                for _ in range(100):
                    if not self._alive(settings):
                        break
                    time.sleep(0.1)
                else:
                    os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.state_file(settings).unlink(missing_ok=True)
            return ServiceStatus(name=self.name, state="stopped")
        if self.is_running(settings):
            return ServiceStatus(name=self.name, state="running", address=self.address(settings),
                                 detail="not started by twin up; left running")
        return ServiceStatus(name=self.name, state="stopped")


class MilvusLite(BackgroundProcess):
    """One local `milvus-lite server` process that every client reaches by URI.

    A Milvus Lite data folder opens in one process only (a second client gets
    DataDirLockedError), so Ray workers, Serve replicas and the CLI share this server.
    """

    name = "milvus"

    def is_external(self, settings: Settings) -> bool:
        return bool(settings.milvus.uri)

    def is_running(self, settings: Settings) -> bool:
        return port_open(settings.milvus.host, settings.milvus.port)

    def command(self, settings: Settings) -> list[str]:
        return [executable("milvus-lite"), "server", "--data-dir", str(settings.milvus_data_dir),
                "--host", settings.milvus.host, "--port", str(settings.milvus.port)]

    def prepare(self, settings: Settings) -> None:
        settings.milvus_data_dir.mkdir(parents=True, exist_ok=True)

    def address(self, settings: Settings) -> str | None:
        return settings.milvus_uri

    def timeout_s(self, settings: Settings) -> float:
        return settings.milvus.start_timeout_s

    def status(self, settings: Settings) -> ServiceStatus:
        if self.is_external(settings):
            return ServiceStatus(name=self.name, state="external", address=settings.milvus_uri)
        if self.is_running(settings):
            return ServiceStatus(name=self.name, state="running", address=settings.milvus_uri,
                                 detail=f"Milvus Lite, data in {settings.milvus_data_dir}")
        return ServiceStatus(name=self.name, state="stopped")


class PrefectServer(BackgroundProcess):
    """A local Prefect server (SQLite under <home>/prefect) on 127.0.0.1."""

    name = "prefect"

    def is_external(self, settings: Settings) -> bool:
        return bool(settings.prefect.api_url)

    def is_running(self, settings: Settings) -> bool:
        return prefect_healthy(settings.prefect_api_url)

    def command(self, settings: Settings) -> list[str]:
        return [executable("prefect"), "server", "start", "--host", settings.prefect.host,
                "--port", str(settings.prefect.port)]

    def environment(self, settings: Settings) -> dict[str, str]:
        env = prefect_environment(settings)
        env.pop("PREFECT_API_URL")  # the server itself has no API to point at
        return env

    def prepare(self, settings: Settings) -> None:
        settings.prefect_home.mkdir(parents=True, exist_ok=True)

    def address(self, settings: Settings) -> str | None:
        return settings.prefect_api_url

    def timeout_s(self, settings: Settings) -> float:
        return settings.prefect.start_timeout_s

    def status(self, settings: Settings) -> ServiceStatus:
        url = settings.prefect_api_url
        if self.is_external(settings):
            return ServiceStatus(name=self.name, state="external", address=url)
        if self.is_running(settings):
            return ServiceStatus(name=self.name, state="running", address=url,
                                 detail=f"dashboard: {url.removesuffix('/api')}")
        return ServiceStatus(name=self.name, state="stopped")


class PrefectWorker(BackgroundProcess):
    """A process worker of the project's work pool; starting it (re)registers the
    deployments of ``prefect.yaml``, so every flow can be run by name."""

    name = "prefect-worker"

    def is_external(self, settings: Settings) -> bool:
        return False  # a worker always runs where the flows' Ray driver code is

    def is_running(self, settings: Settings) -> bool:
        return self._alive(settings) and prefect_healthy(settings.prefect_api_url)

    def command(self, settings: Settings) -> list[str]:
        return [executable("prefect"), "worker", "start", "--pool", settings.prefect.work_pool,
                "--type", "process"]

    def environment(self, settings: Settings) -> dict[str, str]:
        return prefect_environment(settings)

    def cwd(self, settings: Settings) -> Path | None:
        return PROJECT_ROOT

    def start(self, settings: Settings) -> ServiceStatus:
        if not prefect_healthy(settings.prefect_api_url):
            raise ServiceError(f"no Prefect API answers at {settings.prefect_api_url}: start "
                               "the prefect service first (`twin up`)")
        return super().start(settings)

    def prepare(self, settings: Settings) -> None:
        api = PrefectAPI.from_settings(settings)
        try:
            api.ensure_work_pool(settings.prefect.work_pool)
        finally:
            api.close()

    def timeout_s(self, settings: Settings) -> float:
        return settings.prefect.start_timeout_s

    def after_start(self, settings: Settings) -> None:
        register_deployments(settings)

    def status(self, settings: Settings) -> ServiceStatus:
        if self.is_running(settings):
            return ServiceStatus(name=self.name, state="running",
                                 address=f"pool {settings.prefect.work_pool}",
                                 detail="runs the prefect.yaml deployments")
        return ServiceStatus(name=self.name, state="stopped")


class WebUI(BackgroundProcess):
    """The NiceGUI web UI (`twin ui`) on 127.0.0.1."""

    name = "ui"

    def is_external(self, settings: Settings) -> bool:
        return False

    def is_running(self, settings: Settings) -> bool:
        return port_open(settings.ui.host, settings.ui.port)

    def command(self, settings: Settings) -> list[str]:
        return [executable("twin"), "ui"]

    def environment(self, settings: Settings) -> dict[str, str]:
        # Everything the pages need comes from these settings; NiceGUI must not think it runs
        # under pytest (it looks for PYTEST_CURRENT_TEST).
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "NICEGUI_"))}
        return {**env, **settings.to_env(), **token_environment(settings)}

    def address(self, settings: Settings) -> str | None:
        return settings.ui_url

    def status(self, settings: Settings) -> ServiceStatus:
        if self.is_running(settings):
            return ServiceStatus(name=self.name, state="running", address=self.address(settings),
                                 detail="the web UI")
        return ServiceStatus(name=self.name, state="stopped")


SERVICES: list[Service] = [RayHead(), MilvusLite(), PrefectServer(), PrefectWorker(), WebUI()]


def _select(names: list[str] | None) -> list[Service]:
    if not names:
        return SERVICES
    known = {s.name: s for s in SERVICES}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ServiceError(f"unknown service(s): {', '.join(unknown)}; known: "
                           f"{', '.join(known)}")
    return [known[n] for n in names]


def up(settings: Settings, names: list[str] | None = None) -> list[ServiceStatus]:
    """Start the local services (idempotent)."""
    return [service.start(settings) for service in _select(names)]


def down(settings: Settings, names: list[str] | None = None) -> list[ServiceStatus]:
    """Stop the local services this project started (one failing never keeps the others up)."""
    statuses = []
    for service in reversed(_select(names)):
        try:
            statuses.append(service.stop(settings))
        except Exception as exc:  # noqa: BLE001 - reported, and the rest are still stopped
            statuses.append(ServiceStatus(name=service.name, state="unknown",
                                          detail=f"could not stop: {exc}"))
    return statuses


def status(settings: Settings) -> list[ServiceStatus]:
    """Status of every service."""
    return [service.status(settings) for service in SERVICES]


def describe(statuses: list[ServiceStatus]) -> list[dict[str, Any]]:
    """Statuses as plain rows for printing."""
    return [s.model_dump() for s in statuses]
