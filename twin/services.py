"""Local services with a lifecycle: `twin up` starts them on 127.0.0.1, `twin down` stops them.

Each service is skipped when settings point at an external one (a real cluster). Later stages
add their services (Milvus Lite, Prefect) to :data:`SERVICES`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from twin.settings import Settings


class ServiceStatus(BaseModel):
    """What `twin status` prints for one service."""

    name: str
    state: str  # running | stopped | external
    address: str | None = None
    detail: str | None = None


class ServiceError(RuntimeError):
    """A service could not be started or stopped; the message says why."""


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _bin(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


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
        """host:port of the head's GCS, what ``ray.init(address=...)`` takes."""
        return settings.ray.address or f"{settings.ray.host}:{settings.ray.port}"

    def dashboard_url(self, settings: Settings) -> str:
        """The job-submission URL."""
        return settings.ray.dashboard_url or (
            f"http://{settings.ray.host}:{settings.ray.dashboard_port}")

    def is_external(self, settings: Settings) -> bool:
        return bool(settings.ray.address or settings.ray.dashboard_url)

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
                _bin("ray"), "start", "--head",
                f"--port={settings.ray.port}",
                f"--node-ip-address={settings.ray.host}",
                f"--dashboard-host={settings.ray.host}",
                f"--dashboard-port={settings.ray.dashboard_port}",
                "--include-dashboard=true",
                "--disable-usage-stats",
            ]
            if settings.ray.num_cpus is not None:
                command.append(f"--num-cpus={settings.ray.num_cpus}")
            # Workers and job drivers inherit this environment: point them at our home.
            # Token authentication on, explicitly (Ray's default for new local clusters).
            # Our interpreter's bin folder first, so `python jobs/...` entry points run with the
            # environment the project is installed in, activated or not.
            path = os.pathsep.join([str(Path(sys.executable).parent),
                                    os.environ.get("PATH", "")])
            env = {**os.environ, "TWIN_HOME": str(settings.home_dir), "PATH": path,
                   "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token"}
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
            subprocess.run([_bin("ray"), "stop", "--grace-period", "10"], check=False,
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


class MilvusLite(Service):
    """One local `milvus-lite server` process that every client reaches by URI.

    A Milvus Lite data folder opens in one process only (a second client gets
    DataDirLockedError), so Ray workers, Serve replicas and the CLI share this server.
    """

    name = "milvus"

    def is_external(self, settings: Settings) -> bool:
        return bool(settings.milvus.uri)

    def is_running(self, settings: Settings) -> bool:
        return port_open(settings.milvus.host, settings.milvus.port)

    def _pid(self, settings: Settings) -> int | None:
        try:
            return int(json.loads(self.state_file(settings).read_text())["pid"])
        except (OSError, ValueError, KeyError):
            return None

    def start(self, settings: Settings) -> ServiceStatus:
        if self.is_external(settings) or self.is_running(settings):
            return self.status(settings)
        settings.run_dir.mkdir(parents=True, exist_ok=True)
        data_dir = settings.milvus_data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        log_path = settings.run_dir / "milvus.log"
        command = [_bin("milvus-lite"), "server", "--data-dir", str(data_dir),
                   "--host", settings.milvus.host, "--port", str(settings.milvus.port)]
        with log_path.open("a") as log:
            proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.state_file(settings).write_text(json.dumps({
            "pid": proc.pid, "uri": settings.milvus_uri, "data_dir": str(data_dir),
            "started_at": time.time()}))
        deadline = time.monotonic() + settings.milvus.start_timeout_s
        while not self.is_running(settings):
            if proc.poll() is not None or time.monotonic() > deadline:
                self.state_file(settings).unlink(missing_ok=True)
                proc.kill()
                tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
                raise ServiceError("milvus-lite server did not start: " + " | ".join(tail)
                                   + f" (log: {log_path})")
            time.sleep(0.3)
        return self.status(settings)

    def stop(self, settings: Settings) -> ServiceStatus:
        if self.is_external(settings):
            return self.status(settings)
        pid = self._pid(settings)
        if pid is not None:
            try:
                os.killpg(pid, signal.SIGTERM)
                for _ in range(50):
                    if not self.is_running(settings):
                        break
                    time.sleep(0.1)
                else:
                    os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.state_file(settings).unlink(missing_ok=True)
            return ServiceStatus(name=self.name, state="stopped")
        if self.is_running(settings):
            return ServiceStatus(name=self.name, state="running", address=settings.milvus_uri,
                                 detail="not started by twin up; left running")
        return ServiceStatus(name=self.name, state="stopped")

    def status(self, settings: Settings) -> ServiceStatus:
        if self.is_external(settings):
            return ServiceStatus(name=self.name, state="external", address=settings.milvus_uri)
        if self.is_running(settings):
            return ServiceStatus(name=self.name, state="running", address=settings.milvus_uri,
                                 detail=f"Milvus Lite, data in {settings.milvus_data_dir}")
        return ServiceStatus(name=self.name, state="stopped")


SERVICES: list[Service] = [RayHead(), MilvusLite()]


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
    """Stop the local services this project started."""
    return [service.stop(settings) for service in reversed(_select(names))]


def status(settings: Settings) -> list[ServiceStatus]:
    """Status of every service."""
    return [service.status(settings) for service in SERVICES]


def describe(statuses: list[ServiceStatus]) -> list[dict[str, Any]]:
    """Statuses as plain rows for printing."""
    return [s.model_dump() for s in statuses]
