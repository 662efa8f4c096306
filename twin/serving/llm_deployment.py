"""The LLM deployment: one engine per replica, loaded for the served model it is given."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any

from ray import serve

from twin.llm.chat import GenParams
from twin.llm.engines import EngineOptions
from twin.llm.served import ServedModel
from twin.settings import LLMSettings


@serve.deployment
class LLMDeployment:
    """Loads ``served`` once per replica (a restarted or added replica loads the same one) and
    streams generations for chat messages, rendered with the served template."""

    def __init__(self, served: ServedModel, llm: LLMSettings, options: EngineOptions,
                 log_level: str = "INFO") -> None:
        from twin.llm.engines import load_engine
        from twin.logs import setup_logging

        setup_logging(log_level)
        self.served = served
        self.llm = llm
        self.engine = load_engine(served, options)

    def __del__(self) -> None:
        engine = getattr(self, "engine", None)
        if engine is not None:
            engine.close()

    def info(self) -> dict[str, Any]:
        """What this replica serves."""
        return {**self.served.info(), "window": self.engine.window}

    def _params(self, max_new_tokens: int, temperature: float,
                budget_s: float | None) -> GenParams:
        return GenParams(max_new_tokens=max_new_tokens, temperature=temperature,
                         top_p=self.llm.top_p, repetition_penalty=self.llm.repetition_penalty,
                         deadline=time.monotonic() + budget_s if budget_s else None)

    async def stream(self, messages: list[dict[str, str]], max_new_tokens: int,
                     temperature: float, budget_s: float | None = None) -> AsyncIterator[str]:
        """Text pieces as they are generated; generation stops when the request is cancelled
        or ``budget_s`` after it arrived (the Gateway's deadline, should no cancel come)."""
        params = self._params(max_new_tokens, temperature, budget_s)
        async for piece in self.engine.stream(self.engine.render(messages), params):
            yield piece

    async def generate(self, messages: list[dict[str, str]], max_new_tokens: int,
                       temperature: float, budget_s: float | None = None) -> dict[str, Any]:
        """The whole answer, with token counts, time to first token and the version that
        wrote it."""
        params = self._params(max_new_tokens, temperature, budget_s)
        result = await self.engine.generate(self.engine.render(messages), params)
        return {**asdict(result), "model_version": self.served.label}

    async def generate_many(self, messages: list[dict[str, str]], max_new_tokens: int,
                            temperature: float, n: int,
                            budget_s: float | None = None) -> dict[str, Any]:
        """``n`` candidate answers (the greedy one first with ``llm.greedy_first``, the others
        in one batch of the engine's), with the version that wrote them."""
        params = self._params(max_new_tokens, temperature, budget_s)
        results = await self.engine.candidates(self.engine.render(messages), params, n,
                                               self.llm.greedy_first)
        return {"candidates": [asdict(r) for r in results],
                "model_version": self.served.label}
