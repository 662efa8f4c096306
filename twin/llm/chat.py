"""What every engine shares: the generation parameters, ``generate`` built on ``stream``, and
the prompt formats (rendering a chat with the model's template, counting and cutting tokens,
the window check).

The formats live in :mod:`twin.prompting` beside the one prompt builder (training and the
dataset stage count with them too); they are imported here for the engines. The Gateway and the
RAG deployment use the same formats without loading any weights, so a prompt is counted the
way the engine that runs it counts it.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

from twin.prompting import PromptFormatBase, TokenizerFormat, WordFormat, window_problem

__all__ = ["GenParams", "Generation", "PromptFormatBase", "StreamingEngine", "TokenizerFormat",
           "WordFormat", "past", "window_problem"]


@dataclass(frozen=True)
class GenParams:
    """How to generate: the answer's budget, sampling, and a monotonic deadline (None: none)."""

    max_new_tokens: int
    temperature: float = 0.0
    top_p: float = 0.9
    repetition_penalty: float = 1.1
    deadline: float | None = None


@dataclass(frozen=True)
class Generation:
    """A whole answer, with token counts and time to first token."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    ttft_s: float
    generate_s: float


def past(deadline: float | None) -> bool:
    """Whether the monotonic ``deadline`` (None: none) has passed."""
    return deadline is not None and time.monotonic() >= deadline


class StreamingEngine(ABC):
    """``generate`` for an engine that can ``stream``; ``close`` that does nothing."""

    @abstractmethod
    def stream(self, prompt: str, params: GenParams) -> AsyncIterator[str]:
        """The answer's pieces as they are generated."""

    count_tokens: Any  # the prompt format's (a base class beside this one)

    async def generate(self, prompt: str, params: GenParams) -> Generation:
        """The whole answer, with token counts and time to first token."""
        start = time.monotonic()
        first: float | None = None
        parts: list[str] = []
        async for piece in self.stream(prompt, params):
            first = first or time.monotonic()
            parts.append(piece)
        text = "".join(parts).strip()
        return Generation(text=text, prompt_tokens=self.count_tokens(prompt),
                          completion_tokens=self.count_tokens(text),
                          ttft_s=round((first or time.monotonic()) - start, 3),
                          generate_s=round(time.monotonic() - start, 3))

    async def generate_many(self, prompt: str, params: GenParams, n: int) -> list[Generation]:
        """``n`` answers to one prompt (sampled when ``params.temperature`` > 0). This default
        runs them side by side; engines that batch (transformers, vLLM) do it in one batch."""
        import asyncio

        return list(await asyncio.gather(*(self.generate(prompt, params) for _ in range(n))))

    async def candidates(self, prompt: str, params: GenParams, n: int,
                         greedy_first: bool) -> list[Generation]:
        """``n`` candidate drafts of one prompt: with ``greedy_first`` (and sampling), the
        greedy answer and ``n - 1`` sampled ones; else ``n`` sampled (:meth:`generate_many`)."""
        if not greedy_first or n <= 1 or params.temperature <= 0:
            return await self.generate_many(prompt, params, n)
        greedy = await self.generate(prompt, replace(params, temperature=0.0))
        return [greedy, *await self.generate_many(prompt, params, n - 1)]

    def close(self) -> None:  # noqa: B027 - a default: most engines hold nothing to release
        """Release what the engine holds (nothing by default)."""
