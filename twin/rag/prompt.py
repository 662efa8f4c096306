"""The prompt the twin answers: the request, plus as much retrieved context as fits.

There is no system message of our own: training used the tokenizer's chat template with the
request as the only user turn, so serving keeps that shape and appends the material below the
request. Context goes in rank order (the request's own links first) until the token budget —
the model's window minus the request, the answer and a margin — is spent; the last chunk that
does not fit whole is cut at a token boundary if enough room is left.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
    system turn included) and ready for the answer, as the engines render it."""
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def window_problem(prompt_tokens: int, max_new_tokens: int, window: int) -> str | None:
    """Why a prompt of ``prompt_tokens`` and an answer of up to ``max_new_tokens`` do not fit
    the model's ``window`` (None: they do)."""
    room = window - max_new_tokens
    if prompt_tokens <= room:
        return None
    return (f"the prompt is {prompt_tokens} tokens, over the {max(room, 0)} tokens the model's "
            f"window of {window} tokens leaves beside an answer of up to {max_new_tokens} "
            "tokens: shorten the chat or ask for fewer tokens (max_tokens)")


def build_messages(prompt: str, chunks: list[ContextChunk], tokenizer: Any, window: int,
                   max_new_tokens: int, max_words: int | None = None,
                   context_tokens: int | None = None,
                   tone: str | None = None) -> tuple[list[dict[str, str]], list[ContextChunk]]:
    """(chat messages, the chunks that fit) for ``prompt``."""
    request = prompt.strip()
    if max_words:
        request += f"\n\nKeep it under {max_words} words."
    if tone:
        request += f" Make the tone {tone}."

    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    base = count(tokenizer.apply_chat_template([{"role": "user", "content": request}],
                                               tokenize=False, add_generation_prompt=True))
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
            ids = tokenizer(chunk.text, add_special_tokens=False)["input_ids"][:room]
            parts.append(label + tokenizer.decode(ids) + " …")
            used.append(chunk)
        break
    content = request + (MATERIAL_HEADER + "".join(parts) if parts else "")
    return [{"role": "user", "content": content}], used
