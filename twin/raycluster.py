"""Connecting to Ray: an external cluster, the local head of `twin up`, or an in-process Ray."""

from __future__ import annotations

import logging
import os

from twin.settings import Settings

log = logging.getLogger(__name__)


def ray_address(settings: Settings) -> str | None:
    """The address to connect to, or None for an in-process Ray (or the job's own cluster)."""
    if settings.ray.address:
        return settings.ray.address
    from twin.services import RayHead

    head = RayHead()
    if head.is_running(settings):
        return head.gcs_address(settings)
    return None


def use_cluster_token(settings: Settings) -> None:
    """A driver joining a token-authenticated cluster (Ray 2.60's default for `twin up`)
    needs RAY_AUTH_MODE=token and the token in its environment before Ray reads its config,
    i.e. before ``import ray``: the CLI calls this first thing."""
    token = settings.ray.auth_token
    path = settings.ray.auth_token_file.expanduser()
    if not token and not path.exists():
        return
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    if token:
        os.environ.setdefault("RAY_AUTH_TOKEN", token)
    else:
        os.environ.setdefault("RAY_AUTH_TOKEN_PATH", str(path))


def connect(settings: Settings) -> None:
    """``ray.init`` once per process, quietly, with the project on the workers' path.

    Inside a submitted Ray job, Ray's own ``RAY_ADDRESS`` points at the job's cluster and
    ``ray.init()`` joins it.
    """
    import ray

    if ray.is_initialized():
        return
    address = ray_address(settings)
    kwargs: dict[str, object] = {"log_to_driver": True, "configure_logging": False}
    # RAY_ADDRESS is Ray's own variable, set for the driver of a submitted job.
    if address is None and not os.environ.get("RAY_ADDRESS"):
        kwargs["num_cpus"] = settings.ray.num_cpus
        kwargs["include_dashboard"] = False
    if address is not None:
        use_cluster_token(settings)  # in case the caller did not (too late if ray read it)
    log.info("connecting to Ray at %s", address or "a new local (in-process) instance")
    ray.init(address=address, **kwargs)
