"""Instructions for answers (back-translation): a teacher LLM when configured, else offline.

The offline generator is deterministic: it writes the instruction from the platform, the title
and the answer's key phrases, so the pipeline always runs and says which source it used.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from typing import Any

import httpx

from twin.datasets.samples import words
from twin.settings import TeacherSettings

log = logging.getLogger(__name__)

PLATFORM_NAMES = {"linkedin": "LinkedIn", "medium": "Medium", "substack": "Substack newsletter",
                  "web": "blog", "github": "GitHub"}
_STOPWORDS_TEXT = """
a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had
has have having he her here hers herself him himself his how i if in into is it its itself just
let me more most my myself no nor not now of off on once only or other our ours ourselves out
over own same she should so some such than that the their theirs them themselves then there
these they this those through to too under until up very was we were what when where which while
who whom why will with would you your yours yourself yourselves one two also get got like really
still even much many every thing things way ve ll re don didn isn wasn s t d m
"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())

TEACHER_PROMPT = (
    "Here is a piece of writing by one author. Write the single instruction a person would give "
    "an assistant so that this text is the answer, e.g. 'Write a LinkedIn post about ...'. "
    "Name the topic and the key points; do not quote the text. Reply with the instruction only."
    "\n\nPlatform: {platform}\nTitle: {title}\n\nText:\n{answer}")


def key_phrases(text: str, n: int) -> list[str]:
    """The ``n`` most frequent content words (ties alphabetical): the answer's topic."""
    counts = Counter(w for w in words(text) if w not in STOPWORDS and len(w) > 2
                     and not w.isdigit())
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [w for w, _ in ranked[:n]]


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def offline_instruction(sample: dict[str, Any], n_phrases: int = 3) -> str:
    """A deterministic instruction from platform, title and key phrases."""
    phrases = _join(key_phrases(sample["answer"], n_phrases))
    platform = PLATFORM_NAMES.get(sample["platform"], sample["platform"])
    title = re.sub(r"\s+", " ", sample.get("title") or "").strip()
    if sample["style"] == "code":
        what = f" ({sample['description']})" if sample.get("description") else ""
        return (f"Write the file {sample['path']} for the repository {title}{what}. "
                f"It deals with {phrases}.")
    if sample["style"] == "post":
        return f"Write a {platform} post about {phrases}."
    return f"Write a section of the {platform} article \"{title}\" that covers {phrases}."


def teacher_instructions(samples: list[dict[str, Any]], teacher: TeacherSettings) -> list[str]:
    """Instructions from an OpenAI-compatible chat endpoint (one request per sample)."""
    headers = {"Authorization": f"Bearer {teacher.api_key}"} if teacher.api_key else {}
    out: list[str] = []
    with httpx.Client(base_url=str(teacher.base_url).rstrip("/"), headers=headers,
                      timeout=teacher.timeout_s) as client:
        for sample in samples:
            prompt = TEACHER_PROMPT.format(platform=sample["platform"], title=sample["title"],
                                           answer=sample["answer"])
            response = client.post("/chat/completions", json={
                "model": teacher.model, "temperature": 0.0, "max_tokens": 96,
                "messages": [{"role": "user", "content": prompt}]})
            response.raise_for_status()
            text = response.json()["choices"][0]["message"]["content"].strip()
            out.append(text.split("\n")[0].strip().strip('"'))
    return out


def add_instructions(batch: Any, teacher: dict[str, Any] | None, n_phrases: int) -> Any:
    """Ray Data step: an ``instruction`` and ``instruction_source`` for every sample."""
    samples = batch.to_dict("records")
    instructions: list[str] | None = None
    source = "offline"
    if teacher and teacher.get("base_url"):
        settings = TeacherSettings(**teacher)
        try:
            instructions = teacher_instructions(samples, settings)
            source = f"teacher:{settings.model}"
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            log.warning("teacher at %s failed (%s): offline instructions for this batch",
                        settings.base_url, exc)
    if instructions is None or any(not i for i in instructions):
        instructions = [offline_instruction(s, n_phrases) for s in samples]
        source = "offline"
    batch["instruction"] = instructions
    batch["instruction_source"] = source
    return batch
