"""Query expansion: a few rewordings of the request, so retrieval does not hinge on one phrasing.

``keywords`` needs no model: the request stripped of its instruction words ("write a LinkedIn
post about ..."), then its content words. ``llm`` asks the serving model for rewordings
(one per line) through a callable, and falls back to keywords if it returns nothing usable.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from twin.datasets.instructions import STOPWORDS, key_phrases

_INSTRUCTION = re.compile(
    r"^\s*(?:please\s+)?(?:write|draft|create|compose|give me|make)\s+(?:me\s+)?(?:a|an|the)?\s*"
    r"(?:short\s+|long\s+|new\s+)?(?:linkedin|medium|substack|blog|twitter|x)?\s*"
    r"(?:post|article|story|thread|piece|newsletter|note)?\s*(?:about|on|that covers|covering)?"
    r"\s*", re.I)

EXPANSION_PROMPT = ("Rewrite this request as {n} short search queries, one per line, no "
                    "numbering:\n{prompt}")


def topic_of(prompt: str) -> str:
    """The request without its instruction words: what it is about."""
    topic = _INSTRUCTION.sub("", prompt, count=1).strip(" .!?")
    return topic or prompt.strip()


def keyword_variants(prompt: str, n: int) -> list[str]:
    """``n`` variants without a model: the prompt, its topic, its content words."""
    topic = topic_of(prompt)
    content = [w for w in re.findall(r"[\w'-]+", topic.lower()) if w not in STOPWORDS]
    candidates = [prompt.strip(), topic, " ".join(content),
                  " ".join(key_phrases(topic, 4))]
    return _unique(candidates, n)


def expand_query(prompt: str, n: int, mode: str,
                 ask_llm: Callable[[str], str] | None = None) -> list[str]:
    """Up to ``n`` query variants, the prompt itself first."""
    if n <= 1 or mode == "off":
        return [prompt.strip()]
    if mode == "llm" and ask_llm is not None:
        answer = ask_llm(EXPANSION_PROMPT.format(n=n - 1, prompt=prompt))
        lines = [re.sub(r"^\s*(?:[-*•]|\d+[.)])\s*", "", line).strip()
                 for line in answer.splitlines()]
        variants = _unique([prompt.strip(), *[x for x in lines if 3 <= len(x) <= 300]], n)
        if len(variants) > 1:
            return variants
    return keyword_variants(prompt, n)


def _unique(items: list[str], n: int) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for item in items:
        key = " ".join(item.lower().split())
        if key and key not in seen:
            seen.add(key)
            out.append(item)
    return out[:n]
