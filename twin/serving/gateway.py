"""The Gateway deployment: the HTTP ingress. Its FastAPI app is built by
:func:`twin.serving.api.create_api` in each replica; the routes use the checks and deadlines
here, and the LLM and RAG deployments through their handles."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from ray import serve
from ray.serve.handle import DeploymentHandle

from twin.llm.served import ServedModel
from twin.serving.http import error
from twin.serving.schemas import PostRequest
from twin.settings import LLMSettings, ServeSettings


@serve.deployment
@serve.ingress()
class Gateway:
    """Every request is bounded before it costs anything (sizes, the chat's shape, the
    prompt's tokens against the engine's window, counted with the served template) and has one
    deadline over queueing, retrieval and generation."""

    def __init__(self, llm: DeploymentHandle, rag: DeploymentHandle, served: ServedModel,
                 serve_settings: ServeSettings, llm_settings: LLMSettings) -> None:
        from twin.llm.engines import prompt_format

        self.llm, self.rag = llm, rag
        self.served = served
        self.serve = serve_settings
        self.max_new_tokens = llm_settings.max_new_tokens
        self.temperature = llm_settings.temperature
        self.format = prompt_format(served)  # counts chat prompts as the engine does
        self._info: dict[str, Any] | None = None

    def __serve_build_asgi_app__(self) -> FastAPI:
        from twin.serving.api import create_api

        return create_api(self.serve, self)

    async def model_info(self) -> dict[str, Any]:
        """What the LLM replicas serve (asked once: they all serve ``self.served``)."""
        if self._info is None:
            self._info = await self.llm.info.remote()
        return self._info

    def timeout(self, limit: float | None = None) -> float:
        """The request's own limit, never past the server's."""
        return min(limit or self.serve.request_timeout_s, self.serve.request_timeout_s)

    async def timed(self, work: Any, limit: float | None = None,
                    calls: list[Any] | None = None) -> Any:
        """``work``'s result, or a 504 once the request's limit has passed (its deployment
        calls cancelled too)."""
        timeout = self.timeout(limit)
        try:
            return await asyncio.wait_for(work, timeout)
        except TimeoutError:
            for call in calls or []:  # stop the replicas' work too, not only the waiting
                call.cancel()
            return error(504, f"no answer within {timeout:g}s")

    def check_prompt(self, prompt: str) -> JSONResponse | None:
        """413 for a prompt over ``serve.max_prompt_chars``."""
        limit = self.serve.max_prompt_chars
        if len(prompt) > limit:
            return error(413, f"the prompt has {len(prompt)} characters; the limit is {limit}")
        return None

    def check_chat(self, messages: list[dict[str, str]]) -> JSONResponse | None:
        """The chat's size: how many messages, each one's length, the last turn's."""
        s = self.serve
        if len(messages) > s.max_chat_messages:
            return error(413, f"the chat has {len(messages)} messages; the limit is "
                         f"{s.max_chat_messages}")
        for i, message in enumerate(messages):
            if len(message["content"]) > s.max_message_chars:
                return error(413, f"message {i} has {len(message['content'])} characters; "
                             f"the limit is {s.max_message_chars}")
        return self.check_prompt(messages[-1]["content"])

    async def tokens(self, messages: list[dict[str, str]]) -> int:
        """The rendered chat's tokens, as the engine will count them."""
        return await asyncio.to_thread(self.format.rendered_tokens, messages)

    async def check_window(self, tokens: int, max_new: int) -> JSONResponse | None:
        """413 when ``tokens`` and the answer's budget do not fit the engine's window."""
        from twin.llm.chat import window_problem

        problem = window_problem(tokens, max_new, self.served.window)
        return error(413, problem) if problem else None

    def decoding(self, body: PostRequest) -> tuple[float, int]:
        """The post's temperature and number of drafts: the request's, else the evaluation's
        choices for the served model, else the settings'."""
        from twin.serving.defaults import request_decoding

        return request_decoding(body.temperature, body.candidates, self.served.choices,
                                self.serve.candidates, self.temperature)

    async def prepare(self, body: PostRequest,
                      calls: list[Any] | None = None) -> tuple[dict[str, Any], int]:
        """The RAG deployment's messages and sources for a post, and the answer's budget."""
        from twin.rag.prompt import words_to_tokens

        max_new = min(words_to_tokens(body.max_words), self.max_new_tokens * 2)
        call = self.rag.prepare.remote(body.prompt, body.author_id, body.links,
                                       body.max_words, max_new, body.save_links, body.tone)
        if calls is not None:
            calls.append(call)
        return await call, max_new
