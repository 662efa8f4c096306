"""The twin's own routes: a LinkedIn post with its sources, whole or streamed."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse

from twin.serving.http import GatewayDep, left, sse, until
from twin.serving.schemas import PostRequest, PostResponse

router = APIRouter()


@router.post("/v1/posts", response_model=PostResponse)
async def posts(body: PostRequest, gw: GatewayDep) -> Any:
    """A LinkedIn post in the author's voice, with the sources it drew on."""
    if (problem := gw.check_prompt(body.prompt)) is not None:
        return problem
    calls: list[Any] = []
    deadline = time.monotonic() + gw.timeout(body.timeout_s)
    return await gw.timed(_post(gw, body, calls, deadline), body.timeout_s, calls)


async def _post(gw: Any, body: PostRequest, calls: list[Any], deadline: float) -> Any:
    start = time.monotonic()
    prepared, max_new = await gw.prepare(body, calls)
    call = gw.llm.generate.remote(prepared["messages"], max_new, body.temperature,
                                  left(deadline))
    calls.append(call)
    result = await call
    return PostResponse(
        post=result["text"], sources=prepared["sources"],
        model_version=result["model_version"], link_errors=prepared["link_errors"],
        notes=prepared["notes"],
        timings={**prepared["timings"], "ttft_s": result["ttft_s"],
                 "generate_s": result["generate_s"],
                 "completion_tokens": result["completion_tokens"],
                 "total_s": round(time.monotonic() - start, 3)})


@router.post("/v1/posts/stream")
async def posts_stream(body: PostRequest, gw: GatewayDep) -> Any:
    """The same post as Server-Sent Events: ``sources``, then ``token``s, then ``done``;
    an ``error`` event (with its status) ends a stream that fails or runs past its
    deadline."""
    if (problem := gw.check_prompt(body.prompt)) is not None:
        return problem
    timeout = gw.timeout(body.timeout_s)
    deadline = time.monotonic() + timeout
    calls: list[Any] = []
    ready = await gw.timed(gw.prepare(body, calls), timeout, calls)
    if isinstance(ready, JSONResponse):
        return ready
    prepared, max_new = ready
    version = (await gw.model_info())["model_version"]

    async def events() -> AsyncIterator[str]:
        start = time.monotonic()
        yield sse("sources", {"sources": prepared["sources"],
                              "link_errors": prepared["link_errors"],
                              "notes": prepared["notes"], "model_version": version})
        stream = gw.llm.options(stream=True).stream.remote(
            prepared["messages"], max_new, body.temperature, left(deadline))
        try:
            async for piece in until(stream, deadline):
                yield sse("token", {"text": piece})
        except TimeoutError:
            yield sse("error", {"status": 504, "message": f"no answer within {timeout:g}s"})
            return
        except Exception as exc:  # noqa: BLE001 - the stream has begun: an event, not a 503
            yield sse("error", {"status": 503, "message": f"the twin could not answer: "
                                f"{type(exc).__name__}: {exc}"[:500]})
            return
        yield sse("done", {"model_version": version,
                           "timings": {**prepared["timings"],
                                       "generate_s": round(time.monotonic() - start, 3)}})

    return StreamingResponse(events(), media_type="text/event-stream")
