"""Connecting to Ray: an external cluster, the local head of `twin up`, or an in-process Ray."""

from __future__ import annotations

import logging
import os
import secrets
import sys
from pathlib import Path

from twin.processes import port_open
from twin.settings import Settings

log = logging.getLogger(__name__)


def ray_address(settings: Settings) -> str | None:
    """The address to connect to, or None for an in-process Ray (or the job's own cluster)."""
    if settings.ray.address:
        return settings.ray.address
    if port_open(settings.ray.host, settings.ray.port):  # the local head of `twin up`
        return settings.ray_gcs_address
    return None


def _is_local(settings: Settings) -> bool:
    """Whether the cluster is the project's own local head (or an in-process Ray)."""
    return not settings.ray_is_external


def ensure_token_file(settings: Settings) -> Path:
    """The project's Ray token file, created (random, owner-only) when it is missing.

    Ray itself would write a missing token to ``~/.ray/auth_token``, outside the project's
    home, and only for an in-process ``ray.init``: a fresh machine's ``ray start --head``
    with token authentication then fails. The local stack owns its credentials instead.
    """
    path = settings.ray_token_file
    if not path.is_file() or not path.read_text().strip():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))  # what `ray get-auth-token --generate` writes
        log.info("created the local Ray cluster's token at %s", path)
    return path


def token_environment(settings: Settings, create: bool = False) -> dict[str, str]:
    """Ray's token variables for every process the project starts or joins a cluster from
    (the CLI, the head and so its job drivers and Serve replicas, the Prefect worker, the UI).

    In order: a token in settings; a token file in settings; a token the environment already
    gives Ray (``RAY_AUTH_TOKEN`` / ``RAY_AUTH_TOKEN_PATH``: the user's own); for the local
    stack, the project's file ``<home>/ray/auth_token`` (``create``: make it when missing).
    An external cluster with no token configured gets nothing (Ray's defaults apply).
    """
    if settings.ray.auth_token:
        return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": settings.ray.auth_token}
    if settings.ray.auth_token_file is None:
        # Ray's own variables, set by the user: theirs wins over the project's file.
        # (A path equal to the project's file was put there by us: not the user's.)
        own = str(settings.ray_token_file)
        for name in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
            if os.environ.get(name) and os.environ[name] != own:
                return {"RAY_AUTH_MODE": "token", name: os.environ[name]}
        if not _is_local(settings):
            return {}
    path = ensure_token_file(settings) if create and settings.ray.auth_token_file is None \
        else settings.ray_token_file
    return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(path)}


def cluster_token(settings: Settings) -> str | None:
    """The token itself (for the job-submission client's bearer header), if there is one."""
    env = token_environment(settings)
    if "RAY_AUTH_TOKEN" in env:
        return env["RAY_AUTH_TOKEN"]
    path = Path(env.get("RAY_AUTH_TOKEN_PATH", "")).expanduser()
    if env and path.is_file():
        return path.read_text().strip() or None
    return None


def use_cluster_token(settings: Settings, create: bool = False) -> None:
    """Put Ray's token variables into this process's environment before Ray reads its
    config, i.e. before ``import ray``: the CLI calls this first thing."""
    os.environ.update(token_environment(settings, create=create))


def connect(settings: Settings) -> None:
    """``ray.init`` once per process, quietly, with the project on the workers' path.

    Inside a submitted Ray job, Ray's own ``RAY_ADDRESS`` points at the job's cluster and
    ``ray.init()`` joins it with the credentials the cluster gave it.
    """
    if "ray" in sys.modules and sys.modules["ray"].is_initialized():
        return  # joined already, with the token it loaded (Ray keeps one per process)
    in_job = bool(os.environ.get("RAY_ADDRESS"))  # Ray's own variable, set for job drivers
    if not in_job:
        # Before Ray reads its config; an in-process Ray needs the file to exist.
        use_cluster_token(settings, create=True)
    import ray

    address = ray_address(settings)
    kwargs: dict[str, object] = {"log_to_driver": True, "configure_logging": False}
    if address is None and not in_job:
        # "local": a new in-process instance. With None, Ray would join whatever cluster a
        # `ray start` on this machine recorded last (/tmp/ray/ray_current_cluster), even a
        # stopped one.
        address = "local"
        kwargs["num_cpus"] = settings.ray.num_cpus
        kwargs["include_dashboard"] = False
    log.info("connecting to Ray at %s", "a new local (in-process) instance"
             if address == "local" else address or "the job's cluster")
    ray.init(address=address, **kwargs)
