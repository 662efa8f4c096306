"""LLM-as-judge through any OpenAI-compatible endpoint: accuracy and style on a 1-3 scale,
temperature 0, JSON out. Skipped, with a notice, when no endpoint is configured."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import httpx

from twin.settings import Settings

log = logging.getLogger(__name__)
RUBRIC = """You grade a LinkedIn post written to imitate an author.

Instruction: {instruction}

The author's own text for this instruction:
{reference}

The candidate:
{output}

Score two things from 1 (poor) to 3 (excellent):
- accuracy: does the candidate answer the instruction with facts consistent with the author's?
- style: does it sound like the author (tone, sentence length, formatting habits)?
Answer with JSON only: {{"accuracy": <1-3>, "style": <1-3>}}"""


def judge_available(settings: Settings) -> bool:
    """Whether a judge endpoint is configured."""
    return bool(settings.evaluate.judge_base_url)


def judge(settings: Settings, items: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Scores for ``{instruction, reference, output}`` items; an unreadable answer is None."""
    e = settings.evaluate
    headers = {"Authorization": f"Bearer {e.judge_api_key}"} if e.judge_api_key else {}
    scores: list[dict[str, Any]] = []
    with httpx.Client(base_url=(e.judge_base_url or "").rstrip("/"), headers=headers,
                      timeout=e.judge_timeout_s) as client:
        for item in items:
            body = {"model": e.judge_model, "temperature": 0.0, "max_tokens": 64,
                    "messages": [{"role": "user", "content": RUBRIC.format(**item)}]}
            try:
                answer = client.post("/chat/completions", json=body)
                answer.raise_for_status()
                text = answer.json()["choices"][0]["message"]["content"]
                scores.append(parse_scores(text))
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                log.warning("judge failed on one item: %s", exc)
                scores.append({"accuracy": None, "style": None})
    return scores


def parse_scores(text: str) -> dict[str, Any]:
    """The judge's JSON (the first object in its answer), scores clamped to 1-3."""
    match = re.search(r"\{.*?\}", text, re.S)
    if not match:
        raise ValueError(f"no JSON in the judge's answer: {text[:100]!r}")
    data = json.loads(match.group(0))
    out: dict[str, Any] = {}
    for key in ("accuracy", "style"):
        value = data.get(key)
        out[key] = min(3, max(1, int(value))) if isinstance(value, int | float) else None
    return out
