"""A deterministic engine with no model, for fast tests of everything around generation: it
renders and counts with :class:`~twin.llm.chat.WordFormat` and answers with the served label
and the prompt's last words, one word per token."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from twin.llm.chat import GenParams, StreamingEngine, WordFormat, past
from twin.llm.engines import EngineOptions
from twin.llm.served import ServedModel


class FakeEngine(StreamingEngine, WordFormat):
    """Same prompt, same answer; honours the window, the answer's budget and the deadline."""

    name = "fake"

    def __init__(self, served: ServedModel, options: EngineOptions | None = None) -> None:
        self.served = served
        WordFormat.__init__(self, served.window)

    @classmethod
    def describe(cls, base_model: str, adapter: str | None, cache_dir: str,
                 options: EngineOptions) -> tuple[int, str | None]:
        """The window is ``max_model_len``; no template (the format has its own)."""
        return options.max_model_len, None

    @classmethod
    def prompt_format(cls, served: ServedModel) -> WordFormat:
        """Word counting at the served window."""
        return WordFormat(served.window)

    async def stream(self, prompt: str, params: GenParams) -> AsyncIterator[str]:
        """``[label]`` and then the prompt's words from the end, up to the answer's budget."""
        self.check_fits(self.count_tokens(prompt), params.max_new_tokens)
        words = [f"[{self.served.label}]"] + prompt.split()[::-1]
        for i, word in enumerate(words[: params.max_new_tokens]):
            if past(params.deadline):
                return
            await asyncio.sleep(0)  # a cancelled request stops here
            yield word if i == 0 else " " + word
