"""What every engine shares: rendering a chat with the model's template, counting and cutting
tokens, the window check, the generation parameters, and ``generate`` built on ``stream``.

The Gateway and the RAG deployment use the same prompt formats without loading any weights, so
a prompt is counted the way the engine that runs it counts it.
"""

from __future__ import annotations

import re
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any


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


def window_problem(prompt_tokens: int, max_new_tokens: int, window: int) -> str | None:
    """Why a prompt of ``prompt_tokens`` and an answer of up to ``max_new_tokens`` do not fit
    the model's ``window`` (None: they do)."""
    room = window - max_new_tokens
    if prompt_tokens <= room:
        return None
    return (f"the prompt is {prompt_tokens} tokens, over the {max(room, 0)} tokens the model's "
            f"window of {window} tokens leaves beside an answer of up to {max_new_tokens} "
            "tokens: shorten the chat or ask for fewer tokens (max_tokens)")


class PromptFormatBase(ABC):
    """Counting helpers on top of ``render``/``count_tokens`` (subclasses give those)."""

    window: int

    @abstractmethod
    def render(self, messages: list[dict[str, str]]) -> str:
        """The prompt the engine prefills for a chat."""

    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` for this engine."""

    def rendered_tokens(self, messages: list[dict[str, str]]) -> int:
        """Tokens the engine prefills for ``messages`` (the template's own turns included)."""
        return self.count_tokens(self.render(messages))

    def check_fits(self, prompt_tokens: int, max_new_tokens: int) -> None:
        """Raise ``ValueError`` unless the prompt and the answer's budget fit the window: a
        longer prefill is never started (it cannot be interrupted once it runs)."""
        if (problem := window_problem(prompt_tokens, max_new_tokens, self.window)) is not None:
            raise ValueError(problem)


class TokenizerFormat(PromptFormatBase):
    """A Hugging Face tokenizer with the served chat template."""

    def __init__(self, tokenizer: Any, window: int, chat_template: str | None = None) -> None:
        if chat_template:
            tokenizer.chat_template = chat_template
        self.tokenizer = tokenizer
        self.window = window

    @classmethod
    def for_served(cls, served: Any) -> TokenizerFormat:
        """The served model's tokenizer and template (no weights loaded)."""
        from transformers import AutoTokenizer

        return cls(AutoTokenizer.from_pretrained(served.tokenizer_source()), served.window,
                   served.chat_template)

    def render(self, messages: list[dict[str, str]]) -> str:
        """The chat template applied, ready for generation."""
        return self.tokenizer.apply_chat_template(messages, tokenize=False,
                                                  add_generation_prompt=True)

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` (no special tokens)."""
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def truncate(self, text: str, tokens: int) -> str:
        """The first ``tokens`` tokens of ``text``, as text."""
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"][:max(tokens, 0)]
        return self.tokenizer.decode(ids)


_WORD = re.compile(r"\s*\S+")


class WordFormat(PromptFormatBase):
    """A model-free format for the fake engine: a token is a run of non-space characters with
    the spaces before it; the template marks each turn. Deterministic and fast."""

    def __init__(self, window: int) -> None:
        self.window = window

    def render(self, messages: list[dict[str, str]]) -> str:
        """Each turn as ``<|role|>`` and its content, then the assistant's turn."""
        return "".join(f"<|{m['role']}|>\n{m['content']}\n" for m in messages) + "<|assistant|>\n"

    def count_tokens(self, text: str) -> int:
        """Runs of non-space characters."""
        return len(_WORD.findall(text))

    def truncate(self, text: str, tokens: int) -> str:
        """The first ``tokens`` runs of ``text``."""
        return "".join(_WORD.findall(text)[:max(tokens, 0)])


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

    def close(self) -> None:  # noqa: B027 - a default: most engines hold nothing to release
        """Release what the engine holds (nothing by default)."""
