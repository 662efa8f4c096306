"""Starting and stopping the Serve app on the configured Ray cluster (`twin serve`)."""

from __future__ import annotations

import logging
import time

import httpx

from twin.settings import Settings

log = logging.getLogger(__name__)
APP_NAME = "twin"


def start(settings: Settings, timeout_s: float = 600.0) -> dict:
    """Deploy (or redeploy) the app on the cluster and wait until /healthz answers."""
    from ray import serve

    from twin.raycluster import connect
    from twin.serving.app import app_for

    connect(settings)
    serve.start(http_options={"host": settings.serve.host, "port": settings.serve.port})
    started = time.monotonic()
    serve.run(app_for(settings), name=APP_NAME, route_prefix="/", blocking=False)
    return wait_healthy(settings, timeout_s - (time.monotonic() - started))


def wait_healthy(settings: Settings, timeout_s: float) -> dict:
    """Poll /healthz until the model has loaded; returns its answer."""
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(f"{settings.serve_url}/healthz", timeout=30)
            if answer.status_code == 200:
                return answer.json()
            last = f"HTTP {answer.status_code}"
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        time.sleep(1.0)
    raise TimeoutError(f"the twin did not become healthy within {timeout_s:.0f}s ({last})")


def stop(settings: Settings) -> None:
    """Delete the app from the cluster (the cluster keeps running)."""
    from ray import serve

    from twin.raycluster import connect

    connect(settings)
    serve.delete(APP_NAME)
