"""The UI's front door, as ASGI middleware in front of every route NiceGUI serves.

With ``serve.api_key`` set, every request but the login page and NiceGUI's static files needs
a signed-in session: pages redirect to ``/login``, anything else (uploads included) is a 401.
A socket (NiceGUI's ``/_nicegui_ws/``) may only attach to a page its own session loaded, and
acts only for the page it attached to. Upload bodies are refused at ``ui.max_upload_bytes``
while they stream: at the ``Content-Length`` before a byte is read, or at the first byte past
it (chunked bodies too), never after reading the whole.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs, quote

from nicegui import Client, app, core
from nicegui.version import __version__

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UPLOAD_PATH = re.compile(r"/_nicegui/client/(?P<client>[^/]+)/upload/[^/]+/?")
SOCKET_PREFIX = "/_nicegui_ws/"
STATIC_PREFIX = f"/_nicegui/{__version__}/"
OPEN_PATHS = frozenset({"/login", "/favicon.ico"})
# Multipart framing around the one file an upload request carries (boundaries, headers).
MULTIPART_SLACK_BYTES = 64 * 1024


class BodyTooLarge(Exception):
    """An upload body went past its limit while streaming."""


def is_open(path: str) -> bool:
    """Whether a path is served without signing in: the login page and static files."""
    if "/../" in path or path.endswith("/.."):
        return False
    return path in OPEN_PATHS or path.startswith(STATIC_PREFIX)


def signed_in() -> bool:
    """The check every page uses: this request's session has given the API key."""
    try:
        return bool(app.storage.user.get("authenticated"))
    except (RuntimeError, AssertionError, KeyError):  # no session for this request
        return False


def _session_id(scope: Scope) -> str | None:
    session = scope.get("session")
    return session.get("id") if isinstance(session, dict) else None


def _client_session_id(client: Client) -> str | None:
    try:
        return client.request.session.get("id")
    except (RuntimeError, AssertionError):
        return None


def same_session(scope: Scope, client_id: str | None) -> bool:
    """Whether ``client_id`` names a live page that this request's own session loaded."""
    client = Client.instances.get(client_id or "")
    mine = _session_id(scope)
    return client is not None and mine is not None and _client_session_id(client) == mine


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or []:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


async def _answer(send: Send, status: int, message: str,
                  headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"error": {"message": message}}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


class Gate:
    """ASGI middleware: sessions checked on every route (with a key), upload sizes bounded."""

    def __init__(self, app: ASGIApp, *, keyed: bool, max_upload_bytes: int) -> None:
        self.app = app
        self.keyed = keyed
        self.max_body = max_upload_bytes + MULTIPART_SLACK_BYTES
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith(SOCKET_PREFIX):
            await self._socket(scope, receive, send)
            return
        if scope["type"] == "http" and self.keyed and not is_open(path) and not signed_in():
            await self._anonymous(scope, send)
            return
        upload = UPLOAD_PATH.fullmatch(path)
        if upload and scope["type"] == "http":
            if self.keyed and not same_session(scope, upload["client"]):
                await _answer(send, 403, "this upload belongs to another session's page")
                return
            await self._limited(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _anonymous(self, scope: Scope, send: Send) -> None:
        if scope.get("method") in ("GET", "HEAD"):
            query = scope.get("query_string", b"").decode("latin-1")
            back = scope["path"] + (f"?{query}" if query else "")
            location = "/login?redirect_to=" + quote(back, safe="")
            await send({"type": "http.response.start", "status": 307,
                        "headers": [(b"location", location.encode("latin-1")),
                                    (b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        await _answer(send, 401, "sign in first: this UI asks for the twin's API key")

    async def _socket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A socket names its page in its query; with a key, only that page's session may."""
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        client_id = (query.get("client_id") or [None])[0]
        if not self.keyed or same_session(scope, client_id):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008})
            return
        await _answer(send, 403, "this socket belongs to another session's page")

    async def _limited(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.max_upload_bytes
        refusal = f"an export ZIP is at most {limit:,} bytes (ui.max_upload_bytes)"
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await _answer(send, 400, "invalid Content-Length")
                return
            if int(declared) > self.max_body:
                await _answer(send, 413, refusal)
                return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise BodyTooLarge
            return message

        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge:
            if not started:
                await _answer(send, 413, refusal)


def bind_socket_events() -> None:
    """A socket's messages act only for the page it attached to (NiceGUI dispatches them by
    the client id in the message, whichever socket sent it)."""
    handlers = core.sio.handlers.get("/", {})
    for name in ("event", "javascript_response", "ack", "log"):
        original = handlers.get(name)
        if original is None or getattr(original, "twin_bound", False):
            continue

        def bound(sid: str, message: Any, _original: Callable = original) -> Any:
            client_id = message.get("client_id") if isinstance(message, dict) else None
            try:
                rooms = core.sio.rooms(sid)
            except (KeyError, ValueError):
                rooms = []
            if client_id is None or client_id not in rooms:
                return None
            return _original(sid, message)

        bound.twin_bound = True  # type: ignore[attr-defined]
        handlers[name] = bound


def install(keyed: bool, max_upload_bytes: int) -> None:
    """Put the gate in front of every route (call once, before ``ui.run``)."""
    app.add_middleware(Gate, keyed=keyed, max_upload_bytes=max_upload_bytes)
    if keyed:
        bind_socket_events()


__all__ = ["Gate", "bind_socket_events", "install", "is_open", "same_session", "signed_in"]
