"""The one prompt: how the twin is asked, in training, serving and evaluation alike.

A prompt is the request (with its word limit and tone), then, under :data:`MATERIAL_HEADER`,
retrieved material with numbered labels, as much as fits. Serving builds it from a user's
request and the retriever's chunks; training and evaluation build it from a dataset sample
(its instruction, its word limit and the material retrieved for it at dataset time) with the
same :func:`build_messages`, so the model learns the prompt it is served.

There is no system message of our own: the tokenizer's chat template renders the one user
turn. Context goes in rank order (the request's own links first) until the token budget — the
window minus the chat so far, the answer and a margin — is spent; the last chunk that does not
fit whole is cut at a token boundary if enough room is left. Counting uses a prompt format
(render, count, truncate) as the engine that runs the prompt does.

This module sits in the core layer (it imports nothing of twin's) so that the dataset stage,
training, evaluation and serving all reach it.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ANSWER_END_TOKENS", "MATERIAL_HEADER", "ContextChunk", "PromptFormatBase",
           "TokenizerFormat", "WordFormat", "as_format", "build_messages", "chunks_of",
           "rendered_tokens", "sample_messages", "window_problem", "word_limit",
           "words_to_tokens"]

MATERIAL_HEADER = ("\n\nDraw on this material (my own earlier writing and anything I shared); "
                   "use its facts and my voice, do not copy it:")
MARGIN_TOKENS = 32
MIN_PARTIAL_TOKENS = 48
# A training answer's turn ends with the template's own tokens (SmolLM2: "<|im_end|>" and a
# newline): room for them beside the answer, with some to spare.
ANSWER_END_TOKENS = 4
# A training sample asks for "under N words" with N its answer's length rounded up to this
# step, the way a person asks (serving's default request is "under 300 words").
WORD_LIMIT_STEP = 50


@dataclass
class ContextChunk:
    """One piece of context: where it came from and its text."""

    text: str
    title: str
    url: str
    platform: str
    score: float
    origin: str = "knowledge base"  # or "link"

    def as_dict(self) -> dict[str, Any]:
        """Plain data, as a dataset sample stores its context."""
        return {"title": self.title, "url": self.url, "platform": self.platform,
                "text": self.text, "score": self.score, "origin": self.origin}


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


def words_to_tokens(max_words: int) -> int:
    """Generation budget for about ``max_words`` words (English is ~1.3 tokens a word)."""
    return int(max_words * 1.5) + 16


def word_limit(answer: str) -> int:
    """The word limit a request for ``answer`` would name: its length rounded up to the next
    step (an answer of 120 words was asked for "under 150 words")."""
    words = len(answer.split())
    return (words // WORD_LIMIT_STEP + 1) * WORD_LIMIT_STEP


def rendered_tokens(tokenizer: Any, messages: list[dict[str, str]]) -> int:
    """Tokens the engine prefills for ``messages``: the chat template applied (its own default
    system turn included) and ready for the answer, as the engines render it. ``tokenizer``
    is a prompt format (:mod:`twin.llm.engines`) or a Hugging Face tokenizer."""
    fmt = as_format(tokenizer)
    return fmt.count_tokens(fmt.render(messages))


def as_format(tokenizer: Any, window: int = 0) -> Any:
    """A prompt format (render, count_tokens, truncate) for a format or an HF tokenizer."""
    if all(hasattr(tokenizer, name) for name in ("render", "count_tokens", "truncate")):
        return tokenizer
    return TokenizerFormat(tokenizer, window)


def build_messages(prompt: str, chunks: list[ContextChunk], tokenizer: Any, window: int,
                   max_new_tokens: int, max_words: int | None = None,
                   context_tokens: int | None = None, tone: str | None = None,
                   history: list[dict[str, str]] | None = None,
                   ) -> tuple[list[dict[str, str]], list[ContextChunk]]:
    """(the new user message, the chunks that fit) for ``prompt``.

    ``tokenizer`` is the model's prompt format (or an HF tokenizer) and ``window`` the tokens
    the prompt and the answer share (the engine's window when serving, ``train.max_length``
    when training): the chat as rendered (``history``, the earlier turns, then this message)
    leaves room for ``max_new_tokens``, whatever the chunks are. ``context_tokens`` caps the
    material's tokens below that.
    """
    fmt = as_format(tokenizer, window)
    earlier = list(history or [])
    request = prompt.strip()
    if max_words:
        request += f"\n\nKeep it under {max_words} words."
    if tone:
        request += f" Make the tone {tone}."

    def chat(content: str) -> list[dict[str, str]]:
        return [*earlier, {"role": "user", "content": content}]

    def content(parts: list[str]) -> str:
        return request + (MATERIAL_HEADER + "".join(parts) if parts else "")

    count = fmt.count_tokens
    base = count(fmt.render(chat(request)))
    budget = window - base - max_new_tokens - MARGIN_TOKENS - count(MATERIAL_HEADER)
    if context_tokens is not None:
        budget = min(budget, context_tokens)
    used: list[ContextChunk] = []
    parts: list[str] = []
    for chunk in chunks:
        label = f"\n\n[{len(used) + 1}] {chunk.title or chunk.url} ({chunk.platform})\n"
        cost = count(label + chunk.text)
        if cost <= budget:
            parts.append(label + chunk.text)
            used.append(chunk)
            budget -= cost
            continue
        room = budget - count(label)
        if room >= MIN_PARTIAL_TOKENS:
            parts.append(label + fmt.truncate(chunk.text, room) + " …")
            used.append(chunk)
        break
    # The parts were counted one by one; the engine counts the rendered whole, which can come
    # out a few tokens longer (merges at the joins): drop context until the whole fits.
    while parts and count(fmt.render(chat(content(parts)))) > window - max_new_tokens:
        parts.pop()
        used.pop()
    return [{"role": "user", "content": content(parts)}], used


def chunks_of(sample: Mapping[str, Any]) -> list[ContextChunk]:
    """The material a dataset sample carries (``sample["context"]``), as context chunks."""
    return [ContextChunk(text=str(c["text"]), title=str(c.get("title") or ""),
                         url=str(c.get("url") or ""), platform=str(c.get("platform") or ""),
                         score=float(c.get("score") or 0.0),
                         origin=str(c.get("origin") or "knowledge base"))
            for c in sample.get("context") or []]


def sample_messages(sample: Mapping[str, Any], tokenizer: Any, window: int,
                    max_new_tokens: int, context_tokens: int | None = None,
                    ) -> tuple[list[dict[str, str]], list[ContextChunk]]:
    """The prompt of a dataset sample, exactly as serving would build it for a user who typed
    the sample's instruction with its word limit and got its material back from retrieval.

    Training passes the answer's tokens as ``max_new_tokens`` (prompt and answer share
    ``train.max_length``); evaluation passes its generation budget and the engine's window.
    """
    return build_messages(str(sample["instruction"]), chunks_of(sample), tokenizer, window,
                          max_new_tokens, max_words=sample.get("max_words") or None,
                          context_tokens=context_tokens)
