"""The Ray Serve application: an LLM deployment, a RAG deployment and a FastAPI ingress.

    serve run serve.app:build_app          # development (see serve/config.yaml for deploy)
    twin serve                             # the same on the local Ray head

Routes: ``POST /v1/posts`` (and ``/v1/posts/stream``, Server-Sent Events), OpenAI-compatible
``POST /v1/chat/completions`` and ``GET /v1/models``, ``GET /healthz``. An API key (settings)
guards every route but the health check; bodies are size-limited on the bytes read; chats are
checked (roles, sizes, the prompt's tokens against the model's window) before any generation; a
request that runs past its deadline (``serve.request_timeout_s`` or its own ``timeout_s``)
answers 504 and its work stops; a full queue answers 503.
"""

import asyncio
import contextlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from ray import serve
from ray.serve.exceptions import BackPressureError
from ray.serve.handle import DeploymentHandle

from twin.serving.schemas import ChatRequest, PostRequest, PostResponse
from twin.settings import Settings

log = logging.getLogger(__name__)
OPEN_PATHS = {"/healthz", "/docs", "/openapi.json", "/docs/oauth2-redirect"}


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


@serve.deployment
class LLMDeployment:
    """Loads the served model once per replica and streams generations."""

    def __init__(self, settings_data: dict[str, Any]) -> None:
        from twin.llm.engines import choose_engine, load_engine
        from twin.logs import setup_logging
        from twin.serving.model import served_model

        settings = Settings.model_validate(settings_data)
        setup_logging(settings.log_level)
        s = settings.serve
        self.spec = served_model(settings)
        self.kind = choose_engine(s.engine, s.vllm_python)
        self.engine = load_engine(
            self.kind, self.spec, **({"python": s.vllm_python, "dtype": s.vllm_dtype,
                                      "kv_cache_gb": s.vllm_kv_cache_gb,
                                      "max_model_len": s.vllm_max_model_len,
                                      "log_dir": str(settings.home_dir / "logs")}
                                     if self.kind == "vllm-server" else
                                     {"max_model_len": s.vllm_max_model_len}
                                     if self.kind == "vllm" else {}))

    def __del__(self) -> None:
        close = getattr(getattr(self, "engine", None), "close", None)
        if close is not None:
            close()

    def info(self) -> dict[str, Any]:
        """What is being served."""
        return {"model_version": self.spec.label, "engine": self.kind,
                "base_model": self.spec.base, "adapter": self.spec.adapter,
                "window": self.engine.window}

    async def stream(self, messages: list[dict[str, str]], max_new_tokens: int,
                     temperature: float, budget_s: float | None = None) -> AsyncIterator[str]:
        """Text pieces as they are generated; generation stops when the request is cancelled
        or ``budget_s`` after it arrived (the Gateway's deadline, should no cancel come)."""
        deadline = time.monotonic() + budget_s if budget_s else None
        if self.kind in ("vllm", "vllm-server"):
            async for piece in self.engine.astream(messages, max_new_tokens, temperature,
                                                   deadline):
                yield piece
            return
        import threading

        # A producer thread runs the blocking generator to its end; a cancelled request sets
        # ``stop``, generation ends at the next token and the engine is free again.
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()

        def put(item: Any) -> None:
            with contextlib.suppress(RuntimeError):  # the loop may be gone at shutdown
                loop.call_soon_threadsafe(queue.put_nowait, item)

        def produce() -> None:
            try:
                for piece in self.engine.stream(messages, max_new_tokens, temperature, stop,
                                                deadline):
                    put(piece)
            except Exception as exc:  # noqa: BLE001 - re-raised in the request
                put(exc)
            finally:
                put(None)

        threading.Thread(target=produce, daemon=True).start()
        try:
            while (item := await queue.get()) is not None:
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            stop.set()

    async def generate(self, messages: list[dict[str, str]], max_new_tokens: int,
                       temperature: float, budget_s: float | None = None) -> dict[str, Any]:
        """The whole answer, with token counts and time to first token."""
        start = time.monotonic()
        first: float | None = None
        parts: list[str] = []
        async for piece in self.stream(messages, max_new_tokens, temperature, budget_s):
            first = first or time.monotonic()
            parts.append(piece)
        text = "".join(parts).strip()
        prompt = self.engine.render(messages)
        return {"text": text, "prompt_tokens": self.engine.count_tokens(prompt),
                "completion_tokens": self.engine.count_tokens(text),
                "ttft_s": round((first or time.monotonic()) - start, 3),
                "generate_s": round(time.monotonic() - start, 3)}


@serve.deployment
class RAGDeployment:
    """Retrieval and the prompt: expand, self-query, search, re-rank, fit the window."""

    def __init__(self, settings_data: dict[str, Any], tokenizer_path: str, window: int,
                 llm: DeploymentHandle | None = None) -> None:
        from transformers import AutoTokenizer

        from twin.logs import setup_logging
        from twin.rag.retriever import Retriever

        self.settings = Settings.model_validate(settings_data)
        setup_logging(self.settings.log_level)
        self.retriever = Retriever(self.settings)
        self.tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
        self.window = window
        self.llm = llm

    def _ask_llm(self, text: str) -> str:
        """For query expansion by the LLM (called from a worker thread)."""
        if self.llm is None:
            return ""
        answer = self.llm.generate.remote([{"role": "user", "content": text}], 96, 0.0)
        return answer.result(timeout_s=60)["text"]

    async def prepare(self, prompt: str, author_id: str | None, links: list[str],
                      max_words: int | None, max_new_tokens: int,
                      save_links: bool | None = None, tone: str | None = None
                      ) -> dict[str, Any]:
        """Chat messages for the request and the sources they draw on."""
        from twin.rag.prompt import build_messages

        start = time.monotonic()
        found = await asyncio.to_thread(self.retriever.retrieve, prompt, author=author_id,
                                        links=links, ask_llm=self._ask_llm,
                                        save_links=save_links)
        messages, used = build_messages(prompt, found.chunks, self.tokenizer, self.window,
                                        max_new_tokens, max_words,
                                        self.settings.rag.context_tokens, tone)
        sources: dict[str, dict[str, Any]] = {}
        for chunk in used:
            known = sources.get(chunk.url)
            if known is None or chunk.score > known["score"]:
                sources[chunk.url] = {"url": chunk.url, "title": chunk.title,
                                      "platform": chunk.platform, "score": chunk.score,
                                      "origin": chunk.origin}
        return {"messages": messages, "sources": list(sources.values()),
                "link_errors": found.link_errors, "notes": found.notes,
                "variants": found.variants,
                "filters": {"author_id": found.filters.author_id,
                            "platform": found.filters.platform},
                "timings": {**found.timings, "retrieve_s": round(time.monotonic() - start, 3)}}


    async def library(self, author_id: str | None, limit: int) -> dict[str, Any]:
        """What the warehouse holds: counts per author and platform, and the latest pieces."""
        from twin.warehouse import Warehouse

        def read() -> dict[str, Any]:
            warehouse = Warehouse.from_settings(self.settings)
            stats = warehouse.stats(author_id)
            docs = warehouse.documents(author_id=author_id)[:limit] if stats else []
            return {"platforms": [{**row, "first": _iso(row["first"]), "last": _iso(row["last"])}
                                  for row in stats],
                    "documents": [{"id": d.id, "author_id": d.author_id,
                                   "platform": d.platform.value, "kind": d.kind.value,
                                   "title": d.title, "url": d.url,
                                   "published_at": _iso(d.published_at),
                                   "origin": d.metadata.get("origin", "collected")}
                                  for d in docs],
                    "table_version": warehouse.version()}

        return await asyncio.to_thread(read)

    async def search(self, query: str, author_id: str | None, platform: str | None, k: int,
                     mode: str, kind: str | None = None) -> list[dict[str, Any]]:
        """The knowledge base's nearest chunks (the `twin search` primitive)."""
        from dataclasses import asdict

        from twin.retrieval import search

        hits = await asyncio.to_thread(search, query, self.settings, author=author_id,
                                       platform=platform, kind=kind, k=k, mode=mode,
                                       store=self.retriever.store)
        return [asdict(h) for h in hits]

    async def versions(self) -> list[dict[str, Any]]:
        """The model registry: every version with its metrics and aliases."""
        from twin.registry import Registry

        return await asyncio.to_thread(lambda: [v.to_dict() for v in
                                                Registry(self.settings).versions()])


api = FastAPI(title="LLM Twin", version="0.1.0",
              description="Ask the twin for a LinkedIn post in the author's voice, grounded in "
              "their writing and any links you give it.")


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "status": status}}, status_code=status,
                        headers=headers)


@api.exception_handler(Exception)
async def _failed(request: Request, exc: Exception) -> JSONResponse:
    """A failure inside a deployment: a readable JSON error, not a bare 500 page."""
    if isinstance(exc, BackPressureError):  # a full queue: busy, not broken
        retry = max(1, round(exc.retry_after_s or 1))
        return _error(503, "the twin is busy (its queue is full): try again shortly",
                      {"Retry-After": str(retry)})
    log.exception("request %s failed", request.url.path)
    cause = exc.cause if hasattr(exc, "cause") and exc.cause else exc  # RayTaskError wraps it
    return _error(503, f"the twin could not answer: {type(cause).__name__}: "
                  f"{str(cause).splitlines()[0] if str(cause) else ''}"[:500])


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def _left(deadline: float) -> float:
    """Seconds until the monotonic ``deadline`` (a little above 0 once it has passed)."""
    return max(deadline - time.monotonic(), 0.001)


async def _until(stream: Any, deadline: float) -> AsyncIterator[Any]:
    """The pieces of a streamed deployment call until ``deadline``: past it (or when the
    reader stops early) the call is cancelled in its replica; past it, ``TimeoutError``."""
    try:
        while True:
            try:
                piece = await asyncio.wait_for(stream.__anext__(), _left(deadline))
            except StopAsyncIteration:
                return
            yield piece
    finally:
        stream.cancel()


def _key_matches(given: bytes, key: str) -> bool:
    """The Authorization header against the key, in constant time (on bytes: a header with
    other than ASCII in it is a wrong key, not an error)."""
    return hmac.compare_digest(given, f"Bearer {key}".encode())


async def _read_body(receive: Any, limit: int) -> list[dict[str, Any]] | None:
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


class _Guard:
    """The API key (all routes but health and docs), then the body size limit on the bytes
    read: the body is read up to the limit before any route sees it (bodies are small)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        s = getattr(getattr(scope.get("app"), "state", None), "serve_settings", None)
        if scope["type"] != "http" or s is None:
            await self.app(scope, receive, send)
            return
        headers: dict[bytes, bytes] = {}
        for name, value in scope.get("headers", []):
            headers.setdefault(name.lower(), value)
        refusal = None
        if s.api_key and scope["path"] not in OPEN_PATHS \
                and not _key_matches(headers.get(b"authorization", b""), s.api_key):
            refusal = _error(401, "missing or wrong API key: send 'Authorization: Bearer <key>'")
        length = headers.get(b"content-length", b"")
        if refusal is None and length.isdigit() and int(length) > s.max_body_bytes:
            refusal = _error(413, f"request body over {s.max_body_bytes} bytes")
        messages = None if refusal else await _read_body(receive, s.max_body_bytes)
        if refusal is None and messages is None:
            refusal = _error(413, f"request body over {s.max_body_bytes} bytes")
        if refusal is not None:
            await refusal(scope, receive, send)
            return

        async def replay() -> dict[str, Any]:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


api.add_middleware(_Guard)


# Everything the Gateway's methods use must be defined above it: Serve serialises the class
# when it is decorated, with the module globals that exist at that moment.
@api.exception_handler(RequestValidationError)
async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        problems.append(f"{where or 'body'}: {error.get('msg')}")
    return _error(422, "invalid request: " + "; ".join(problems))


@serve.deployment
@serve.ingress(api)
class Gateway:
    """The HTTP API; RAG and LLM work happen in their own deployments. Every request is
    bounded before it costs anything (sizes, the chat's shape, the prompt's tokens against
    the model's window) and has one deadline over queueing, retrieval and generation."""

    def __init__(self, llm: DeploymentHandle, rag: DeploymentHandle,
                 settings_data: dict[str, Any], tokenizer_path: str) -> None:
        from transformers import AutoTokenizer

        self.llm, self.rag = llm, rag
        self.settings = Settings.model_validate(settings_data)
        self.tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)  # counts chat prompts
        self._info: dict[str, Any] | None = None
        api.state.serve_settings = self.settings.serve

    async def _model_info(self) -> dict[str, Any]:
        if self._info is None:
            self._info = await self.llm.info.remote()
        return self._info

    def _timeout(self, limit: float | None = None) -> float:
        """The request's own limit, never past the server's."""
        return min(limit or self.settings.serve.request_timeout_s,
                   self.settings.serve.request_timeout_s)

    async def _timed(self, work: Any, limit: float | None = None,
                     calls: list[Any] | None = None) -> Any:
        timeout = self._timeout(limit)
        try:
            return await asyncio.wait_for(work, timeout)
        except TimeoutError:
            for call in calls or []:  # stop the replicas' work too, not only the waiting
                call.cancel()
            return _error(504, f"no answer within {timeout:g}s")

    def _check_prompt(self, prompt: str) -> JSONResponse | None:
        limit = self.settings.serve.max_prompt_chars
        if len(prompt) > limit:
            return _error(413, f"the prompt has {len(prompt)} characters; the limit is {limit}")
        return None

    def _check_chat(self, messages: list[dict[str, str]]) -> JSONResponse | None:
        """The chat's size: how many messages, each one's length, the last turn's."""
        s = self.settings.serve
        if len(messages) > s.max_chat_messages:
            return _error(413, f"the chat has {len(messages)} messages; the limit is "
                          f"{s.max_chat_messages}")
        for i, message in enumerate(messages):
            if len(message["content"]) > s.max_message_chars:
                return _error(413, f"message {i} has {len(message['content'])} characters; "
                              f"the limit is {s.max_message_chars}")
        return self._check_prompt(messages[-1]["content"])

    async def _tokens(self, messages: list[dict[str, str]]) -> int:
        from twin.rag.prompt import rendered_tokens

        return await asyncio.to_thread(rendered_tokens, self.tokenizer, messages)

    async def _check_window(self, tokens: int, max_new: int) -> JSONResponse | None:
        from twin.rag.prompt import window_problem

        problem = window_problem(tokens, max_new, (await self._model_info())["window"])
        return _error(413, problem) if problem else None

    @api.get("/healthz")
    async def healthz(self) -> dict[str, Any]:
        """Liveness: the model version and engine once the model has loaded (nothing more:
        this route is open without the key)."""
        info = await self._model_info()
        return {"status": "ok", "model_version": info["model_version"], "engine": info["engine"]}

    @api.post("/v1/posts", response_model=PostResponse)
    async def posts(self, body: PostRequest) -> Any:
        """A LinkedIn post in the author's voice, with the sources it drew on."""
        if (problem := self._check_prompt(body.prompt)) is not None:
            return problem
        calls: list[Any] = []
        deadline = time.monotonic() + self._timeout(body.timeout_s)
        return await self._timed(self._post(body, calls, deadline), body.timeout_s, calls)

    async def _prepare(self, body: PostRequest,
                       calls: list[Any] | None = None) -> tuple[dict[str, Any], int]:
        from twin.rag.prompt import words_to_tokens

        max_new = min(words_to_tokens(body.max_words), self.settings.llm.max_new_tokens * 2)
        call = self.rag.prepare.remote(body.prompt, body.author_id, body.links,
                                       body.max_words, max_new, body.save_links, body.tone)
        if calls is not None:
            calls.append(call)
        return await call, max_new

    async def _post(self, body: PostRequest, calls: list[Any], deadline: float) -> Any:
        start = time.monotonic()
        prepared, max_new = await self._prepare(body, calls)
        call = self.llm.generate.remote(prepared["messages"], max_new, body.temperature,
                                        _left(deadline))
        calls.append(call)
        result = await call
        info = await self._model_info()
        return PostResponse(
            post=result["text"], sources=prepared["sources"],
            model_version=info["model_version"], link_errors=prepared["link_errors"],
            notes=prepared["notes"],
            timings={**prepared["timings"], "ttft_s": result["ttft_s"],
                     "generate_s": result["generate_s"],
                     "completion_tokens": result["completion_tokens"],
                     "total_s": round(time.monotonic() - start, 3)})

    @api.post("/v1/posts/stream")
    async def posts_stream(self, body: PostRequest) -> Any:
        """The same post as Server-Sent Events: ``sources``, then ``token``s, then ``done``;
        an ``error`` event (with its status) ends a stream that fails or runs past its
        deadline."""
        if (problem := self._check_prompt(body.prompt)) is not None:
            return problem
        timeout = self._timeout(body.timeout_s)
        deadline = time.monotonic() + timeout
        calls: list[Any] = []
        ready = await self._timed(self._prepare(body, calls), timeout, calls)
        if isinstance(ready, JSONResponse):
            return ready
        prepared, max_new = ready
        info = await self._model_info()
        sse, clock, until, left = _sse, time.monotonic, _until, _left

        async def events() -> AsyncIterator[str]:
            start = clock()
            yield sse("sources", {"sources": prepared["sources"],
                                   "link_errors": prepared["link_errors"],
                                   "notes": prepared["notes"],
                                   "model_version": info["model_version"]})
            stream = self.llm.options(stream=True).stream.remote(
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
            yield sse("done", {"model_version": info["model_version"],
                               "timings": {**prepared["timings"],
                                           "generate_s": round(clock() - start, 3)}})

        return StreamingResponse(events(), media_type="text/event-stream")

    @api.get("/v1/library")
    async def library(self, author_id: str | None = Query(default=None, max_length=200),
                      limit: int = Query(default=50, ge=1, le=500)) -> Any:
        """What the warehouse holds per platform, and its latest documents."""
        return await self._timed(self.rag.library.remote(author_id, limit))

    @api.get("/v1/search")
    async def search(self, q: str = Query(min_length=1, max_length=1000),
                     author_id: str | None = Query(default=None, max_length=200),
                     platform: str | None = Query(default=None, max_length=40),
                     kind: Literal["post", "article", "repository"] | None = None,
                     k: int = Query(default=5, ge=1, le=50),
                     mode: Literal["hybrid", "dense", "text"] = "hybrid") -> Any:
        """Nearest chunks of the knowledge base, with score, source and date."""
        if not q.strip():
            return _error(422, "invalid request: q: the query is empty")
        try:
            return {"hits": await self.rag.search.remote(q, author_id, platform, k, mode,
                                                         kind)}
        except Exception as exc:  # noqa: BLE001 - an empty knowledge base is a 404, not a 503
            if "does not exist yet" in str(exc):
                return _error(404, "the knowledge base is empty: collect and ingest first")
            raise

    @api.get("/v1/model-versions")
    async def model_versions(self) -> dict[str, Any]:
        """Registered model versions with their metrics; which is marked and which is served
        (its base model, adapter folder and window under ``model``)."""
        info = await self._model_info()
        return {"served": info["model_version"], "engine": info["engine"],
                "model": {k: info[k] for k in ("base_model", "adapter", "window")},
                "versions": await self.rag.versions.remote()}

    @api.get("/v1/models")
    async def models(self) -> dict[str, Any]:
        """OpenAI-compatible model list: ``twin`` (plain chat) and ``twin-rag``."""
        info = await self._model_info()
        now = int(time.time())
        return {"object": "list", "data": [
            {"id": name, "object": "model", "created": now, "owned_by": "llm-twin",
             "root": info["model_version"]} for name in ("twin", "twin-rag")]}

    @api.post("/v1/chat/completions")
    async def chat(self, body: ChatRequest) -> Any:
        """OpenAI-compatible chat; model ``twin-rag`` adds retrieval to the last user turn.
        Sizes and the rendered prompt's tokens are checked before anything is generated."""
        if body.model not in ("twin", "twin-rag"):
            return _error(404, f"unknown model {body.model!r}: use twin or twin-rag")
        messages = [m.model_dump() for m in body.messages]
        if (problem := self._check_chat(messages)) is not None:
            return problem
        max_new = body.max_tokens or self.settings.llm.max_new_tokens
        tokens = await self._tokens(messages)
        if (problem := await self._check_window(tokens, max_new)) is not None:
            return problem
        timeout = self._timeout()
        deadline = time.monotonic() + timeout
        if body.model == "twin-rag":
            # The retrieved context is fitted beside the answer and the earlier turns.
            history = tokens - await self._tokens(messages[-1:]) if len(messages) > 1 else 0
            call = self.rag.prepare.remote(messages[-1]["content"], None, [], None,
                                           max_new + max(history, 0))
            prepared = await self._timed(call, timeout, [call])
            if isinstance(prepared, JSONResponse):
                return prepared
            messages = messages[:-1] + prepared["messages"]
            if (problem := await self._check_window(await self._tokens(messages),
                                                    max_new)) is not None:
                return problem
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        if not body.stream:
            call = self.llm.generate.remote(messages, max_new, body.temperature,
                                            _left(deadline))
            result = await self._timed(call, _left(deadline), [call])
            if isinstance(result, JSONResponse):
                return result
            return {"id": completion_id, "object": "chat.completion", "created": created,
                    "model": body.model, "choices": [{
                        "index": 0, "finish_reason": "stop",
                        "message": {"role": "assistant", "content": result["text"]}}],
                    "usage": {"prompt_tokens": result["prompt_tokens"],
                              "completion_tokens": result["completion_tokens"],
                              "total_tokens": result["prompt_tokens"]
                              + result["completion_tokens"]}}
        dumps, until, left = json.dumps, _until, _left

        async def chunks() -> AsyncIterator[str]:
            def chunk(delta: dict[str, str], finish: str | None) -> str:
                return "data: " + dumps({
                    "id": completion_id, "object": "chat.completion.chunk", "created": created,
                    "model": body.model, "choices": [{"index": 0, "delta": delta,
                                                      "finish_reason": finish}]}) + "\n\n"
            yield chunk({"role": "assistant", "content": ""}, None)
            stream = self.llm.options(stream=True).stream.remote(messages, max_new,
                                                                 body.temperature,
                                                                 left(deadline))
            try:
                async for piece in until(stream, deadline):
                    yield chunk({"content": piece}, None)
            except TimeoutError:  # OpenAI's clients raise on an error object in the stream
                yield "data: " + dumps({"error": {"message": f"no answer within {timeout:g}s",
                                                  "status": 504}}) + "\n\n"
                return
            yield chunk({}, "stop")
            yield "data: [DONE]\n\n"

        return StreamingResponse(chunks(), media_type="text/event-stream")


def build_app(args: dict[str, Any] | None = None) -> Any:
    """The Serve application; ``args`` may carry ``settings`` overrides (serve config YAML)."""
    from twin.settings import get_settings, with_overrides

    return app_for(with_overrides(get_settings(), (args or {}).get("settings")))


def app_for(settings: Settings) -> Any:
    """The Serve application for ``settings``: replicas, resources, queue limits and
    autoscaling included. The Gateway takes every request at once (each on its own deadline);
    the LLM's queue is bounded, so a request past it is a 503 at once, not a long wait."""
    from twin.serving.model import served_model, tokenizer_and_window

    data = settings.model_dump(mode="json")
    s = settings.serve
    spec = served_model(settings)
    tokenizer_path, window = tokenizer_and_window(spec)
    llm_options: dict[str, Any] = {
        "ray_actor_options": {"num_cpus": s.llm_num_cpus, "num_gpus": s.llm_num_gpus},
        "max_ongoing_requests": s.llm_max_ongoing_requests,
        "max_queued_requests": s.llm_max_queued_requests}
    if s.autoscaling_max_replicas and s.autoscaling_max_replicas > s.llm_replicas:
        llm_options["autoscaling_config"] = {
            "min_replicas": s.llm_replicas, "max_replicas": s.autoscaling_max_replicas,
            "target_ongoing_requests": min(2, s.llm_max_ongoing_requests)}
    else:
        llm_options["num_replicas"] = s.llm_replicas
    llm = LLMDeployment.options(**llm_options).bind(data)
    rag = RAGDeployment.options(num_replicas=s.rag_replicas,
                                ray_actor_options={"num_cpus": s.rag_num_cpus}).bind(
        data, tokenizer_path, window, llm)
    return Gateway.options(ray_actor_options={"num_cpus": 0.1},
                           max_ongoing_requests=s.max_ongoing_requests,
                           max_queued_requests=s.max_queued_requests).bind(
        llm, rag, data, tokenizer_path)
