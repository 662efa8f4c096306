"""The prompt the twin answers: the request, plus as much retrieved context as fits.

There is no system message of our own: training used the tokenizer's chat template with the
request as the only user turn, so serving keeps that shape and appends the material below the
request. Context goes in rank order (the request's own links first) until the token budget —
the engine's window (``ServedModel.window``) minus the chat so far, the answer and a margin — is
spent; the last chunk that does not fit whole is cut at a token boundary if enough room is left.
Counting uses the served model's prompt format, so the engine's own count decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twin.llm.chat import TokenizerFormat, window_problem

__all__ = ["MATERIAL_HEADER", "ContextChunk", "build_messages", "rendered_tokens",
           "window_problem", "words_to_tokens"]

MATERIAL_HEADER = ("\n\nDraw on this material (my own earlier writing and anything I shared); "
                   "use its facts and my voice, do not copy it:")
MARGIN_TOKENS = 32
MIN_PARTIAL_TOKENS = 48


@dataclass
class ContextChunk:
    """One piece of context: where it came from and its text."""

    text: str
    title: str
    url: str
    platform: str
    score: float
    origin: str = "knowledge base"  # or "link"


def words_to_tokens(max_words: int) -> int:
    """Generation budget for about ``max_words`` words (English is ~1.3 tokens a word)."""
    return int(max_words * 1.5) + 16


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

    ``tokenizer`` is the served model's prompt format (or an HF tokenizer) and ``window`` the
    engine's own: the chat as the engine renders it (``history``, the earlier turns, then this
    message) leaves room for ``max_new_tokens``, whatever the chunks are.
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
