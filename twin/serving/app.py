"""The Ray Serve application: an LLM deployment, a RAG deployment and a FastAPI ingress.

    serve run serve.app:build_app          # development (see serve/config.yaml for deploy)
    twin serve                             # the same on the local Ray head

Routes: ``POST /v1/posts`` (and ``/v1/posts/stream``, Server-Sent Events), OpenAI-compatible
``POST /v1/chat/completions`` and ``GET /v1/models``, ``GET /healthz``. An API key (settings)
guards every route but the health check; bodies are size-limited; a request that runs past
``serve.request_timeout_s`` answers 504.
"""

import asyncio
import contextlib
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
                     temperature: float) -> AsyncIterator[str]:
        """Text pieces as they are generated."""
        if self.kind in ("vllm", "vllm-server"):
            async for piece in self.engine.astream(messages, max_new_tokens, temperature):
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
                for piece in self.engine.stream(messages, max_new_tokens, temperature, stop):
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
                       temperature: float) -> dict[str, Any]:
        """The whole answer, with token counts and time to first token."""
        start = time.monotonic()
        first: float | None = None
        parts: list[str] = []
        async for piece in self.stream(messages, max_new_tokens, temperature):
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


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "status": status}}, status_code=status)


@api.exception_handler(Exception)
async def _failed(request: Request, exc: Exception) -> JSONResponse:
    """A failure inside a deployment: a readable JSON error, not a bare 500 page."""
    log.exception("request %s failed", request.url.path)
    cause = exc.cause if hasattr(exc, "cause") and exc.cause else exc  # RayTaskError wraps it
    return _error(503, f"the twin could not answer: {type(cause).__name__}: "
                  f"{str(cause).splitlines()[0] if str(cause) else ''}"[:500])


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


# Everything the Gateway's methods use must be defined above it: Serve serialises the class
# when it is decorated, with the module globals that exist at that moment.
@api.exception_handler(RequestValidationError)
async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        problems.append(f"{where or 'body'}: {error.get('msg')}")
    return _error(422, "invalid request: " + "; ".join(problems))


@api.middleware("http")
async def _guard(request: Request, call_next: Any) -> Any:
    """The API key (all routes but health and docs) and the body size limit."""
    s = getattr(request.app.state, "serve_settings", None)
    if s is None:
        return await call_next(request)
    if s.api_key and request.url.path not in OPEN_PATHS \
            and request.headers.get("authorization", "") != f"Bearer {s.api_key}":
        return _error(401, "missing or wrong API key: send 'Authorization: Bearer <key>'")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > s.max_body_bytes:
        return _error(413, f"request body over {s.max_body_bytes} bytes")
    return await call_next(request)


@serve.deployment
@serve.ingress(api)
class Gateway:
    """The HTTP API; RAG and LLM work happen in their own deployments."""

    def __init__(self, llm: DeploymentHandle, rag: DeploymentHandle,
                 settings_data: dict[str, Any]) -> None:
        self.llm, self.rag = llm, rag
        self.settings = Settings.model_validate(settings_data)
        self._info: dict[str, Any] | None = None
        api.state.serve_settings = self.settings.serve

    async def _model_info(self) -> dict[str, Any]:
        if self._info is None:
            self._info = await self.llm.info.remote()
        return self._info

    async def _timed(self, work: Any, limit: float | None = None,
                     calls: list[Any] | None = None) -> Any:
        timeout = min(limit or self.settings.serve.request_timeout_s,
                      self.settings.serve.request_timeout_s)
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

    @api.get("/healthz")
    async def healthz(self) -> dict[str, Any]:
        """Liveness: the model version and engine once the model has loaded."""
        return {"status": "ok", **(await self._model_info())}

    @api.post("/v1/posts", response_model=PostResponse)
    async def posts(self, body: PostRequest) -> Any:
        """A LinkedIn post in the author's voice, with the sources it drew on."""
        if (problem := self._check_prompt(body.prompt)) is not None:
            return problem
        calls: list[Any] = []
        return await self._timed(self._post(body, calls), body.timeout_s, calls)

    async def _prepare(self, body: PostRequest,
                       calls: list[Any] | None = None) -> tuple[dict[str, Any], int]:
        from twin.rag.prompt import words_to_tokens

        max_new = min(words_to_tokens(body.max_words), self.settings.llm.max_new_tokens * 2)
        call = self.rag.prepare.remote(body.prompt, body.author_id, body.links,
                                       body.max_words, max_new, body.save_links, body.tone)
        if calls is not None:
            calls.append(call)
        return await call, max_new

    async def _post(self, body: PostRequest, calls: list[Any]) -> Any:
        start = time.monotonic()
        prepared, max_new = await self._prepare(body, calls)
        call = self.llm.generate.remote(prepared["messages"], max_new, body.temperature)
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
        """The same post as Server-Sent Events: ``sources``, then ``token``s, then ``done``."""
        if (problem := self._check_prompt(body.prompt)) is not None:
            return problem
        try:
            prepared, max_new = await asyncio.wait_for(
                self._prepare(body), self.settings.serve.request_timeout_s)
        except TimeoutError:
            return _error(504, "retrieval took too long")
        info = await self._model_info()
        sse, clock = _sse, time.monotonic

        async def events() -> AsyncIterator[str]:
            start = clock()
            yield sse("sources", {"sources": prepared["sources"],
                                   "link_errors": prepared["link_errors"],
                                   "notes": prepared["notes"],
                                   "model_version": info["model_version"]})
            stream = self.llm.options(stream=True).stream.remote(
                prepared["messages"], max_new, body.temperature)
            async for piece in stream:
                yield sse("token", {"text": piece})
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
        """Registered model versions with their metrics; which is marked and which is served."""
        info = await self._model_info()
        return {"served": info["model_version"], "engine": info["engine"],
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
        """OpenAI-compatible chat; model ``twin-rag`` adds retrieval to the last user turn."""
        if body.model not in ("twin", "twin-rag"):
            return _error(404, f"unknown model {body.model!r}: use twin or twin-rag")
        messages = [m.model_dump() for m in body.messages]
        if (problem := self._check_prompt(messages[-1]["content"])) is not None:
            return problem
        max_new = body.max_tokens or self.settings.llm.max_new_tokens
        if body.model == "twin-rag" and messages[-1]["role"] == "user":
            prepared = await self.rag.prepare.remote(messages[-1]["content"], None, [], None,
                                                     max_new)
            messages = messages[:-1] + prepared["messages"]
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        dumps = json.dumps
        if not body.stream:
            call = self.llm.generate.remote(messages, max_new, body.temperature)
            result = await self._timed(call, None, [call])
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

        async def chunks() -> AsyncIterator[str]:
            def chunk(delta: dict[str, str], finish: str | None) -> str:
                return "data: " + dumps({
                    "id": completion_id, "object": "chat.completion.chunk", "created": created,
                    "model": body.model, "choices": [{"index": 0, "delta": delta,
                                                      "finish_reason": finish}]}) + "\n\n"
            yield chunk({"role": "assistant", "content": ""}, None)
            stream = self.llm.options(stream=True).stream.remote(messages, max_new,
                                                                 body.temperature)
            async for piece in stream:
                yield chunk({"content": piece}, None)
            yield chunk({}, "stop")
            yield "data: [DONE]\n\n"

        return StreamingResponse(chunks(), media_type="text/event-stream")


def build_app(args: dict[str, Any] | None = None) -> Any:
    """The Serve application; ``args`` may carry ``settings`` overrides (serve config YAML)."""
    from twin.settings import get_settings, with_overrides

    return app_for(with_overrides(get_settings(), (args or {}).get("settings")))


def app_for(settings: Settings) -> Any:
    """The Serve application for ``settings``: replicas, resources and autoscaling included."""
    from twin.serving.model import served_model, tokenizer_and_window

    data = settings.model_dump(mode="json")
    s = settings.serve
    spec = served_model(settings)
    tokenizer_path, window = tokenizer_and_window(spec)
    llm_options: dict[str, Any] = {
        "ray_actor_options": {"num_cpus": s.llm_num_cpus, "num_gpus": s.llm_num_gpus}}
    if s.autoscaling_max_replicas and s.autoscaling_max_replicas > s.llm_replicas:
        llm_options["autoscaling_config"] = {"min_replicas": s.llm_replicas,
                                             "max_replicas": s.autoscaling_max_replicas,
                                             "target_ongoing_requests": 2}
    else:
        llm_options["num_replicas"] = s.llm_replicas
    llm = LLMDeployment.options(**llm_options).bind(data)
    rag = RAGDeployment.options(num_replicas=s.rag_replicas,
                                ray_actor_options={"num_cpus": s.rag_num_cpus}).bind(
        data, tokenizer_path, window, llm)
    return Gateway.options(ray_actor_options={"num_cpus": 0.1}).bind(llm, rag, data)
