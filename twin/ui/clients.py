"""The UI's only ways out: the twin's HTTP API (Serve) and Prefect's API.

Every failure is a :class:`TwinAPIError` or a :class:`PrefectError` whose message a person can
read on the page.
"""

from __future__ import annotations

from twin.deployments import PrefectAPI, PrefectError
from twin.serving.client import TwinAPI, TwinAPIError
from twin.settings import Settings


def prefect(settings: Settings) -> PrefectAPI:
    """Prefect's API client for the configured (or local) server."""
    return PrefectAPI.from_settings(settings)


__all__ = ["PrefectAPI", "PrefectError", "TwinAPI", "TwinAPIError", "prefect"]
