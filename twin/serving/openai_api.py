"""The OpenAI-compatible routes, ``GET /v1/models`` and ``POST /v1/chat/completions``, with
their request and response bodies (the fields this server uses and answers)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field, field_serializer, field_validator

from twin.serving.http import GatewayDep, error, left, until
from twin.serving.schemas import MAX_PROMPT_CHARS

MODELS = ("twin", "twin-rag")
router = APIRouter()


class ChatMessage(BaseModel):
    """One OpenAI-style chat message."""

    role: Literal["system", "user", "assistant"]
    content: str = Field(max_length=MAX_PROMPT_CHARS * 4)


class ChatRequest(BaseModel):
    """OpenAI-compatible chat completion request (the fields this server uses)."""

    model: str = "twin"
    messages: list[ChatMessage] = Field(min_length=1, max_length=64)
    max_tokens: int | None = Field(default=None, ge=1, le=4096)
    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    stream: bool = False

    @field_validator("messages")
    @classmethod
    def _roles_in_order(cls, value: list[ChatMessage]) -> list[ChatMessage]:
        problem = role_order_problem([m.role for m in value])
        if problem:
            raise ValueError(problem)
        return value


def role_order_problem(roles: list[str]) -> str | None:
    """Why these roles are not a chat the model was trained on (None: they are): an optional
    system message first, then user and assistant turns in turn, the last one the user's."""
    if "system" in roles[1:]:
        return f"role 'system' may only come first, not at message {roles.index('system', 1)}"
    start = 1 if roles[:1] == ["system"] else 0
    for i, role in enumerate(roles[start:], start):
        expected = "user" if (i - start) % 2 == 0 else "assistant"
        if role != expected:
            return (f"message {i} has role {role!r} where {expected!r} is expected: after an "
                    "optional system message, user and assistant turns alternate, from user")
    if roles[-1:] != ["user"]:
        return "the last message must have role 'user'"
    return None


class ModelCard(BaseModel):
    """One entry of the model list; ``root`` is the served version."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "llm-twin"
    root: str


class ModelList(BaseModel):
    """``GET /v1/models``."""

    object: Literal["list"] = "list"
    data: list[ModelCard]


class AssistantMessage(BaseModel):
    """The answer."""

    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    """The one answer of a completion."""

    index: int = 0
    finish_reason: str = "stop"
    message: AssistantMessage


class Usage(BaseModel):
    """Tokens of the prompt (rendered) and of the answer."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    """A whole chat completion; ``system_fingerprint`` names the version that wrote it."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    system_fingerprint: str
    choices: list[Choice]
    usage: Usage


class Delta(BaseModel):
    """What a streamed chunk adds."""

    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    """The one choice of a streamed chunk."""

    index: int = 0
    delta: Delta
    finish_reason: str | None = None

    @field_serializer("delta")
    def _only_given(self, delta: Delta) -> dict[str, Any]:
        return delta.model_dump(exclude_none=True)


class ChatCompletionChunk(BaseModel):
    """One streamed piece of a chat completion."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    system_fingerprint: str
    choices: list[ChunkChoice]


@router.get("/v1/models", response_model=ModelList)
async def models(gw: GatewayDep) -> ModelList:
    """OpenAI-compatible model list: ``twin`` (plain chat) and ``twin-rag``."""
    info = await gw.model_info()
    now = int(time.time())
    return ModelList(data=[ModelCard(id=name, created=now, root=info["model_version"])
                           for name in MODELS])


@router.post("/v1/chat/completions", response_model=ChatCompletion)
async def chat(body: ChatRequest, gw: GatewayDep) -> Any:
    """OpenAI-compatible chat; model ``twin-rag`` adds retrieval to the last user turn.
    Sizes and the rendered prompt's tokens are checked before anything is generated."""
    if body.model not in MODELS:
        return error(404, f"unknown model {body.model!r}: use twin or twin-rag")
    messages = [m.model_dump() for m in body.messages]
    if (problem := gw.check_chat(messages)) is not None:
        return problem
    max_new = body.max_tokens or gw.max_new_tokens
    if (problem := await gw.check_window(await gw.tokens(messages), max_new)) is not None:
        return problem
    timeout = gw.timeout()
    deadline = time.monotonic() + timeout
    if body.model == "twin-rag":
        # The retrieved context is fitted beside the earlier turns and the answer.
        call = gw.rag.prepare.remote(messages[-1]["content"], None, [], None, max_new, None,
                                     None, messages[:-1])
        prepared = await gw.timed(call, timeout, [call])
        if isinstance(prepared, JSONResponse):
            return prepared
        messages = messages[:-1] + prepared["messages"]
        if (problem := await gw.check_window(await gw.tokens(messages), max_new)) is not None:
            return problem
    completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    created = int(time.time())
    if not body.stream:
        call = gw.llm.generate.remote(messages, max_new, body.temperature, left(deadline))
        result = await gw.timed(call, left(deadline), [call])
        if isinstance(result, JSONResponse):
            return result
        return ChatCompletion(
            id=completion_id, created=created, model=body.model,
            system_fingerprint=result["model_version"],
            choices=[Choice(message=AssistantMessage(content=result["text"]))],
            usage=Usage(prompt_tokens=result["prompt_tokens"],
                        completion_tokens=result["completion_tokens"],
                        total_tokens=result["prompt_tokens"] + result["completion_tokens"]))
    version = (await gw.model_info())["model_version"]

    def chunk(delta: Delta, finish: str | None = None) -> str:
        piece = ChatCompletionChunk(id=completion_id, created=created, model=body.model,
                                    system_fingerprint=version,
                                    choices=[ChunkChoice(delta=delta, finish_reason=finish)])
        return "data: " + piece.model_dump_json() + "\n\n"

    async def chunks() -> AsyncIterator[str]:
        yield chunk(Delta(role="assistant", content=""))
        stream = gw.llm.options(stream=True).stream.remote(messages, max_new, body.temperature,
                                                           left(deadline))
        try:
            async for piece in until(stream, deadline):
                yield chunk(Delta(content=piece))
        except TimeoutError:  # OpenAI's clients raise on an error object in the stream
            yield "data: " + json.dumps({"error": {"message": f"no answer within {timeout:g}s",
                                                   "status": 504}}) + "\n\n"
            return
        yield chunk(Delta(), "stop")
        yield "data: [DONE]\n\n"

    return StreamingResponse(chunks(), media_type="text/event-stream")
