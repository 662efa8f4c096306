"""The twin's own routes: a LinkedIn post with its sources, whole or streamed."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse

from twin.serving.http import GatewayDep, left, sse, until, until_value
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
    temperature, n = gw.decoding(body)
    call = gw.llm.generate_many.remote(prepared["messages"], max_new, temperature, n,
                                       left(deadline))
    calls.append(call)
    result = await call
    drafts = [c["text"] for c in result["candidates"]]
    finishing = gw.rag.finish.remote(drafts, body.prompt, prepared["filters"]["author_id"]
                                     or body.author_id, prepared["material"], prepared["urls"],
                                     body.max_words)
    calls.append(finishing)
    finished = await finishing
    return PostResponse(
        post=finished["post"], sources=prepared["sources"],
        model_version=result["model_version"], link_errors=prepared["link_errors"],
        notes=prepared["notes"] + finished["notes"], voice=finished["voice"],
        checks=finished["checks"], candidates=finished["candidates"],
        timings={**prepared["timings"],
                 "generate_s": max(c["generate_s"] for c in result["candidates"]),
                 "completion_tokens": sum(c["completion_tokens"] for c in result["candidates"]),
                 "candidates": len(drafts), "total_s": round(time.monotonic() - start, 3)})


@router.post("/v1/posts/stream")
async def posts_stream(body: PostRequest, gw: GatewayDep) -> Any:
    """One draft as Server-Sent Events: ``sources``, then ``token``s, then ``done`` with the
    post shaped for the author's channel, its checks and voice score; an ``error`` event (with
    its status) ends a stream that fails or runs past its deadline."""
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
            prepared["messages"], max_new, gw.decoding(body)[0], left(deadline))
        pieces: list[str] = []
        try:
            async for piece in until(stream, deadline):
                pieces.append(piece)
                yield sse("token", {"text": piece})
        except TimeoutError:
            yield sse("error", {"status": 504, "message": f"no answer within {timeout:g}s"})
            return
        except Exception as exc:  # noqa: BLE001 - the stream has begun: an event, not a 503
            yield sse("error", {"status": 503, "message": f"the twin could not answer: "
                                f"{type(exc).__name__}: {exc}"[:500]})
            return
        generate_s = round(time.monotonic() - start, 3)
        try:
            finished = await until_value(gw.rag.finish.remote(
                ["".join(pieces)], body.prompt, prepared["filters"]["author_id"]
                or body.author_id, prepared["material"], prepared["urls"], body.max_words),
                deadline)
        except TimeoutError:
            yield sse("error", {"status": 504, "message": f"no answer within {timeout:g}s"})
            return
        yield sse("done", {"model_version": version, "post": finished["post"],
                           "voice": finished["voice"], "checks": finished["checks"],
                           "notes": finished["notes"],
                           "timings": {**prepared["timings"], "generate_s": generate_s}})

    return StreamingResponse(events(), media_type="text/event-stream")
