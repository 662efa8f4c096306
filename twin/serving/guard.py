"""The API key and the body size limit, checked before any route sees a request."""

from __future__ import annotations

import hmac
from typing import Any

from twin.serving.http import error
from twin.settings import ServeSettings

OPEN_PATHS = {"/healthz", "/docs", "/openapi.json", "/docs/oauth2-redirect"}


def key_matches(given: bytes, key: str) -> bool:
    """The Authorization header against the key, in constant time (on bytes: a header with
    other than ASCII in it is a wrong key, not an error)."""
    return hmac.compare_digest(given, f"Bearer {key}".encode())


async def read_body(receive: Any, limit: int) -> list[dict[str, Any]] | None:
    """The request's body messages, read whatever the framing (Content-Length or chunked);
    None as soon as more than ``limit`` bytes have come."""
    messages: list[dict[str, Any]] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":  # the client went away
            return messages
        size += len(message.get("body", b""))
        if size > limit:
            return None
        if not message.get("more_body", False):
            return messages


class Guard:
    """The API key (all routes but health and docs), then the body size limit on the bytes
    read: the body is read up to the limit before any route sees it (bodies are small)."""

    def __init__(self, app: Any, serve: ServeSettings) -> None:
        self.app = app
        self.serve = serve

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        s = self.serve
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: dict[bytes, bytes] = {}
        for name, value in scope.get("headers", []):
            headers.setdefault(name.lower(), value)
        refusal = None
        if s.api_key and scope["path"] not in OPEN_PATHS \
                and not key_matches(headers.get(b"authorization", b""), s.api_key):
            refusal = error(401, "missing or wrong API key: send 'Authorization: Bearer <key>'")
        length = headers.get(b"content-length", b"")
        if refusal is None and length.isdigit() and int(length) > s.max_body_bytes:
            refusal = error(413, f"request body over {s.max_body_bytes} bytes")
        messages = None if refusal else await read_body(receive, s.max_body_bytes)
        if refusal is None and messages is None:
            refusal = error(413, f"request body over {s.max_body_bytes} bytes")
        if refusal is not None:
            await refusal(scope, receive, send)
            return

        async def replay() -> dict[str, Any]:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)
