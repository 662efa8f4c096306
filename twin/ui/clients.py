"""The UI's only ways out: the twin's HTTP API (Serve) and Prefect's API.

Every failure becomes a :class:`UIError` whose message a person can read on the page.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from twin.deployments import PrefectAPI, PrefectError
from twin.settings import Settings


class UIError(RuntimeError):
    """Something the page should show as a readable message."""


def _message(answer: httpx.Response) -> str:
    try:
        error = answer.json().get("error") or {}
        return str(error.get("message") or answer.text[:300])
    except (ValueError, AttributeError):
        return answer.text[:300] or answer.reason_phrase


class TwinAPI:
    """The Serve app's HTTP API, as the UI uses it (async, never blocks the page)."""

    def __init__(self, base_url: str, api_key: str | None = None,
                 timeout_s: float = 330.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.timeout_s = timeout_s

    @classmethod
    def from_settings(cls, settings: Settings) -> TwinAPI:
        """The client of the configured (or local) Serve endpoint."""
        from twin.serving.runner import base_url

        return cls(base_url(settings), settings.serve.api_key,
                   settings.serve.request_timeout_s + 30)

    async def _get(self, path: str, **params: Any) -> Any:
        query = {k: v for k, v in params.items() if v not in (None, "")}
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                answer = await client.get(self.base_url + path, params=query,
                                          headers=self.headers)
        except httpx.HTTPError as exc:
            raise UIError(f"the twin's API at {self.base_url} does not answer: start it with "
                          f"`twin serve` ({type(exc).__name__})") from exc
        if answer.status_code != 200:
            raise UIError(f"the twin's API answered {answer.status_code}: {_message(answer)}")
        return answer.json()

    async def health(self) -> dict[str, Any]:
        """The served model version and engine."""
        return await self._get("/healthz")

    async def library(self, author_id: str | None = None) -> dict[str, Any]:
        """What the warehouse holds per platform, and its latest documents."""
        return await self._get("/v1/library", author_id=author_id)

    async def search(self, query: str, author_id: str | None = None, k: int = 5,
                     mode: str = "hybrid") -> list[dict[str, Any]]:
        """Nearest chunks of the knowledge base."""
        return (await self._get("/v1/search", q=query, author_id=author_id, k=k,
                                mode=mode))["hits"]

    async def model_versions(self) -> dict[str, Any]:
        """Registered versions with metrics, and what is served."""
        return await self._get("/v1/model-versions")

    async def stream_post(self, body: dict[str, Any]) -> AsyncIterator[tuple[str, dict]]:
        """``(event, data)`` pairs of ``POST /v1/posts/stream``: sources, tokens, done."""
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client, client.stream(
                    "POST", self.base_url + "/v1/posts/stream", json=body,
                    headers=self.headers) as answer:
                if answer.status_code != 200:
                    await answer.aread()
                    raise UIError(f"the twin could not write the post ({answer.status_code}): "
                                  f"{_message(answer)}")
                event = "message"
                async for line in answer.aiter_lines():
                    if line.startswith("event: "):
                        event = line[7:].strip()
                    elif line.startswith("data: "):
                        yield event, json.loads(line[6:])
        except httpx.HTTPError as exc:
            raise UIError(f"the twin's API at {self.base_url} does not answer: start it with "
                          f"`twin serve` ({type(exc).__name__})") from exc


def prefect(settings: Settings) -> PrefectAPI:
    """Prefect's API client for the configured (or local) server."""
    return PrefectAPI.from_settings(settings)


__all__ = ["PrefectAPI", "PrefectError", "TwinAPI", "UIError", "prefect"]
