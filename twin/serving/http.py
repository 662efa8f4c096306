"""What every route module shares: JSON errors, the exception handlers, Server-Sent Events,
deadlines over streamed deployment calls, and the Gateway as a route dependency."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from ray.serve.exceptions import BackPressureError

log = logging.getLogger(__name__)


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """``{"error": {"message", "status"}}`` with that status."""
    return JSONResponse({"error": {"message": message, "status": status}}, status_code=status,
                        headers=headers)


async def failed(request: Request, exc: Exception) -> JSONResponse:
    """A failure inside a deployment: a readable JSON error, not a bare 500 page."""
    if isinstance(exc, BackPressureError):  # a full queue: busy, not broken
        retry = max(1, round(exc.retry_after_s or 1))
        return error(503, "the twin is busy (its queue is full): try again shortly",
                     {"Retry-After": str(retry)})
    log.exception("request %s failed", request.url.path)
    cause = exc.cause if hasattr(exc, "cause") and exc.cause else exc  # RayTaskError wraps it
    return error(503, f"the twin could not answer: {type(cause).__name__}: "
                 f"{str(cause).splitlines()[0] if str(cause) else ''}"[:500])


async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    """A request that does not validate: 422 with every problem and where it is."""
    problems = []
    for problem in exc.errors():
        where = ".".join(str(p) for p in problem.get("loc", ()) if p != "body")
        problems.append(f"{where or 'body'}: {problem.get('msg')}")
    return error(422, "invalid request: " + "; ".join(problems))


def sse(event: str, data: dict[str, Any]) -> str:
    """One Server-Sent Event."""
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def left(deadline: float) -> float:
    """Seconds until the monotonic ``deadline`` (a little above 0 once it has passed)."""
    return max(deadline - time.monotonic(), 0.001)


async def until(stream: Any, deadline: float) -> AsyncIterator[Any]:
    """The pieces of a streamed deployment call until ``deadline``: past it (or when the
    reader stops early) the call is cancelled in its replica; past it, ``TimeoutError``."""
    try:
        while True:
            try:
                piece = await asyncio.wait_for(stream.__anext__(), left(deadline))
            except StopAsyncIteration:
                return
            yield piece
    finally:
        stream.cancel()


async def until_value(call: Any, deadline: float) -> Any:
    """A deployment call's result by ``deadline``; past it the call is cancelled and
    ``TimeoutError`` raised."""
    try:
        return await asyncio.wait_for(call, left(deadline))
    except TimeoutError:
        call.cancel()
        raise


def current_gateway(request: Request) -> Any:
    """The Gateway replica serving this app (set by the app factory)."""
    return request.app.state.gateway


# Routes take the Gateway (its handles, settings and checks) as a dependency.
GatewayDep = Annotated[Any, Depends(current_gateway)]
