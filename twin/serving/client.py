"""The twin's HTTP API as its callers use it: the web UI, ``twin post`` and ``twin search``.

One async client (the UI awaits it; the CLI runs it with :func:`asyncio.run`). Every failure
is a :class:`TwinAPIError` with a message a person can read and the HTTP status, if any.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from twin.settings import Settings


class TwinAPIError(RuntimeError):
    """The twin's API could not be reached (``status`` None) or refused a request."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def error_message(answer: httpx.Response) -> str:
    """The API's own error message (``{"error": {"message": ...}}``), else the body's start."""
    try:
        error = answer.json().get("error") or {}
        return str(error.get("message") or answer.text[:300])
    except (ValueError, AttributeError):
        return answer.text[:300] or answer.reason_phrase


class TwinAPI:
    """The Serve app's HTTP API (``/healthz``, ``/v1/posts``, ``/v1/library``, ...)."""

    def __init__(self, base_url: str, api_key: str | None = None,
                 timeout_s: float = 330.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.timeout_s = timeout_s

    @classmethod
    def from_settings(cls, settings: Settings) -> TwinAPI:
        """The client of the configured (or local) Serve endpoint."""
        return cls(settings.serve_url, settings.serve.api_key,
                   settings.serve.request_timeout_s + 30)

    def _unreachable(self, exc: Exception) -> TwinAPIError:
        return TwinAPIError(f"the twin's API at {self.base_url} does not answer: start it with "
                            f"`twin serve` ({type(exc).__name__})")

    async def _call(self, method: str, path: str, timeout_s: float | None = None,
                    **kwargs: Any) -> Any:
        try:
            async with httpx.AsyncClient(timeout=timeout_s or self.timeout_s) as client:
                answer = await client.request(method, self.base_url + path,
                                              headers=self.headers, **kwargs)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        if answer.status_code != 200:
            raise TwinAPIError(f"the twin's API answered {answer.status_code}: "
                               f"{error_message(answer)}", answer.status_code)
        return answer.json()

    async def _get(self, path: str, timeout_s: float | None = None, **params: Any) -> Any:
        query = {k: v for k, v in params.items() if v not in (None, "")}
        return await self._call("GET", path, timeout_s, params=query)

    async def health(self) -> dict[str, Any]:
        """The served model version and engine."""
        return await self._get("/healthz")

    async def library(self, author_id: str | None = None) -> dict[str, Any]:
        """What the warehouse holds per platform, and its latest documents."""
        return await self._get("/v1/library", author_id=author_id)

    async def search(self, query: str, author_id: str | None = None, k: int = 5,
                     mode: str = "hybrid", platform: str | None = None,
                     kind: str | None = None, timeout_s: float | None = None
                     ) -> list[dict[str, Any]]:
        """Nearest chunks of the knowledge base."""
        return (await self._get("/v1/search", timeout_s, q=query, author_id=author_id, k=k,
                                mode=mode, platform=platform, kind=kind))["hits"]

    async def model_versions(self) -> dict[str, Any]:
        """Registered versions with metrics, and what is served."""
        return await self._get("/v1/model-versions")

    async def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /v1/posts``: the post, its sources, notes and timings."""
        return await self._call("POST", "/v1/posts", json=body)

    async def stream_post(self, body: dict[str, Any]) -> AsyncIterator[tuple[str, dict]]:
        """``(event, data)`` pairs of ``POST /v1/posts/stream``: sources, tokens, done."""
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client, client.stream(
                    "POST", self.base_url + "/v1/posts/stream", json=body,
                    headers=self.headers) as answer:
                if answer.status_code != 200:
                    await answer.aread()
                    raise TwinAPIError(f"the twin could not write the post "
                                       f"({answer.status_code}): {error_message(answer)}",
                                       answer.status_code)
                event = "message"
                async for line in answer.aiter_lines():
                    if line.startswith("event: "):
                        event = line[7:].strip()
                    elif line.startswith("data: "):
                        yield event, json.loads(line[6:])
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc


def served_search(query: str, settings: Settings, *, author: str | None = None,
                  platform: str | None = None, kind: str | None = None, k: int = 5,
                  mode: str = "hybrid") -> list[dict[str, Any]] | None:
    """``twin search`` answered by the running Serve app, which already holds the embedder and
    a Milvus connection; None when no app answers there (the caller searches locally).

    Raises ``ValueError`` for a request the app refuses (422) and ``VectorStoreError`` when the
    knowledge base is empty (404), as the local search would.
    """
    import asyncio
    import logging

    from twin.processes import port_open
    from twin.vectorstore import VectorStoreError

    host = "127.0.0.1" if settings.serve.host in ("0.0.0.0", "") else settings.serve.host
    if not port_open(host, settings.serve.port, timeout=0.2):
        return None
    api = TwinAPI.from_settings(settings)
    try:
        hits = asyncio.run(api.search(query, author, k, mode, platform, kind, timeout_s=30))
    except TwinAPIError as exc:
        message = str(exc).split(": ", 1)[-1]
        if exc.status == 404 and "knowledge base" in message:
            raise VectorStoreError(message) from exc
        if exc.status == 422:
            raise ValueError(message) from exc
        return None  # not our app, no route, a key mismatch, busy: search here instead
    logging.getLogger(__name__).info("answered by the Serve app at %s", api.base_url)
    return hits
