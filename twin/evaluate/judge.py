"""LLM-as-judge through any OpenAI-compatible endpoint, temperature 0; skipped, with a notice,
when no endpoint is configured.

Two judges: the rubric (accuracy and style on a 1-3 scale, JSON out) and the blind forced
choice: the author's real text and a model's finished post for the same held-out prompt, shown
as "A" and "B" in an order drawn per prompt, no labels, no model names, no request; "Which of
these two did the author write?". The measure, ``judge_fooled``, is 1 when the judge took the
model's post for the author's, 0 when it found the author's text: a model that reads like the
author scores 0.5 (the judge cannot tell them apart); with ``evaluate.judge_swap`` each pair
is asked in both orders and a pair judged differently in the two (the judge went by position)
counts 0.5.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from twin.datasets.build import load_split
from twin.datasets.sentences import sentence_spans
from twin.markup import HEADING
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

FORCED_CHOICE = """{examples}Two texts follow. One of them is the author's own writing; the other \
is not.

Text A:
{a}

Text B:
{b}

Which of these two did the author write? Answer with A or B."""
"""The blind question. The request both texts answer is not shown: it is worded from the
author's text (its title, opening and point), so it would point at hers."""

EXAMPLES = """Some of the author's other writing, for reference:

{texts}

"""

CHOICE_TOKENS = 16
"""Answer length asked of the forced-choice judge: a letter, or a small JSON object."""


def judge_available(settings: Settings) -> bool:
    """Whether a judge endpoint is configured."""
    return bool(settings.evaluate.judge_base_url)


def _client(settings: Settings) -> httpx.Client:
    e = settings.evaluate
    headers = {"Authorization": f"Bearer {e.judge_api_key}"} if e.judge_api_key else {}
    return httpx.Client(base_url=(e.judge_base_url or "").rstrip("/"), headers=headers,
                        timeout=e.judge_timeout_s)


def _ask(client: httpx.Client, settings: Settings, prompt: str, max_tokens: int) -> str:
    """The judge's answer to one user turn, at temperature 0."""
    body = {"model": settings.evaluate.judge_model, "temperature": 0.0,
            "max_tokens": max_tokens, "messages": [{"role": "user", "content": prompt}]}
    answer = client.post("/chat/completions", json=body)
    answer.raise_for_status()
    return str(answer.json()["choices"][0]["message"]["content"])


def judge(settings: Settings, items: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Scores for ``{instruction, reference, output}`` items; an unreadable answer is None."""
    scores: list[dict[str, Any]] = []
    with _client(settings) as client:
        for item in items:
            try:
                scores.append(parse_scores(_ask(client, settings, RUBRIC.format(**item), 64)))
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


# --- the blind forced choice ---

_ONLY_LETTER = re.compile(r"^\W*([AB])\W*$", re.I)
"""The whole answer is the letter: "A", "**B**", "(A).", "'b'"."""
_LEADING_LETTER = re.compile(r"^\W*([AB])(?:[.),:\]]|\s*\n)")
"""The answer opens with the letter and then explains: "A. The rhythm...", "B)\\n..."."""
_NAMED_LETTER = re.compile(r"(?i:\b(?:answer|text|option|choice|wrote))\s*(?:is|:|=)?"
                           r"[\s\"'*(]*([AB])\b")
"""The letter named in a sentence: "Answer: A", "Text B", "the author wrote A"."""
_JSON_KEYS = ("answer", "choice", "author", "pick")


def parse_choice(text: str | None) -> str | None:
    """The judge's pick, "A" or "B", from a bare letter or a JSON object (``{"answer": "A"}``);
    None for anything else (no letter, both letters, an article "A post..."): not guessed."""
    if not text:
        return None
    obj = re.search(r"\{.*?\}", text, re.S)
    if obj:
        try:
            data = json.loads(obj.group(0))
        except ValueError:
            data = None
        if isinstance(data, dict):
            # {"answer": "a"} and {"answer": "Text A"} are the letter too.
            picks = {_letter(str(data[k]).strip().upper() if len(str(data[k]).strip()) == 1
                             else str(data[k])) for k in _JSON_KEYS if k in data}
            return picks.pop() if len(picks) == 1 else None
    return _letter(text)


def _letter(text: str) -> str | None:
    text = text.strip()
    for pattern in (_ONLY_LETTER, _LEADING_LETTER):
        match = pattern.match(text)
        if match:
            return match.group(1).upper()
    named = {m.group(1) for m in _NAMED_LETTER.finditer(text)}
    return named.pop() if len(named) == 1 else None


def author_first(seed: int, item_id: str) -> bool:
    """Whether the author's text is shown as "A" for this item: a coin from an RNG seeded with
    ``evaluate.seed`` and the item's id, so the order is fixed per prompt (the same for every
    model and every run) and the author's text is "A" for about half of the prompts."""
    digest = hashlib.sha256(f"{seed}:{item_id}".encode()).digest()
    return bool(np.random.default_rng(int.from_bytes(digest[:8], "big")).integers(2))


def cut_to_words(text: str, words: int) -> str:
    """The opening whole sentences of ``text`` within ``words`` words (at least the first
    sentence), verbatim; a heading left last (its section cut away) goes too."""
    spans = sentence_spans(text)
    kept: list[tuple[int, int]] = []
    count = 0
    for start, stop in spans:
        count += len(text[start:stop].split())
        if count > words and kept:
            break
        kept.append((start, stop))
    while len(kept) > 1 and text[kept[-1][0]] == "#":
        kept.pop()
    return text[:kept[-1][1]] if kept else text.strip()


def match_form(reference: str, post: str) -> str:
    """The author's text shown beside ``post``: its heading lines dropped when the post has
    none (a section's title comes from the request, and shaping removes the model's), then cut
    to about the post's length at whole sentences."""
    lines = reference.splitlines()
    if not any(HEADING.match(line) for line in post.splitlines()):
        kept = [line for line in lines if not HEADING.match(line)]
        reference = "\n".join(kept).strip() if any(line.strip() for line in kept) else reference
    return cut_to_words(reference, max(len(post.split()), 1))


def combine(votes: list[float | None]) -> float | None:
    """One pair's ``judge_fooled`` from its votes (one per order asked, 1 = the model's post
    picked): the vote when all agree, 0.5 when the orders disagree (the judge went by
    position), None when any answer was unreadable (the pair is not counted)."""
    if not votes or any(v is None for v in votes):
        return None
    return votes[0] if all(v == votes[0] for v in votes) else 0.5


def choice_prompt(item: dict[str, Any], author_as_a: bool, examples: list[str]) -> str:
    """The blind question for one item, the author's text shown as "A" or as "B"."""
    author, post = item["reference"], item["output"].strip() or "(no text)"
    shown = "\n\n---\n\n".join(examples)
    return FORCED_CHOICE.format(examples=EXAMPLES.format(texts=shown) if examples else "",
                                a=author if author_as_a else post,
                                b=post if author_as_a else author)


def forced_choice(settings: Settings, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The blind forced choice for ``{id, reference, output[, examples]}`` items
    (``reference``: the author's real text; ``output``: the model's finished post;
    ``examples``: the author's other writing). Per item: what was asked (``asked``: where the
    author's text stood, the judge's answer and its pick) and ``fooled`` (see
    :func:`combine`)."""
    e = settings.evaluate
    out: list[dict[str, Any]] = []
    with _client(settings) as client:
        for item in items:
            shown = {**item, "reference": match_form(item["reference"], item["output"])
                     if e.judge_match_length else item["reference"]}
            first = author_first(e.seed, str(item["id"]))
            asked, votes = [], []
            for author_as_a in ([first, not first] if e.judge_swap else [first]):
                try:
                    answer: str | None = _ask(client, settings,
                                              choice_prompt(shown, author_as_a,
                                                            item.get("examples") or []),
                                              CHOICE_TOKENS)
                except (httpx.HTTPError, KeyError, ValueError, IndexError) as exc:
                    log.warning("forced-choice judge failed on %s: %s", item["id"], exc)
                    answer = None
                pick = parse_choice(answer)
                if answer is not None and pick is None:
                    log.warning("forced-choice judge answered neither A nor B on %s: %r",
                                item["id"], answer[:100])
                model_letter = "B" if author_as_a else "A"
                votes.append(None if pick is None else float(pick == model_letter))
                asked.append({"author": "A" if author_as_a else "B", "answer": answer,
                              "pick": pick})
            out.append({"id": item["id"], "asked": asked, "fooled": combine(votes)})
    return out


def author_examples(settings: Settings, train: list[dict[str, Any]], author_id: str) -> list[str]:
    """``evaluate.judge_examples`` of the author's training answers (prose, from different
    documents, a seeded choice), each cut to ``evaluate.judge_example_words`` words."""
    e = settings.evaluate
    prose = [s for s in train if s["author_id"] == author_id and s.get("style") != "code"
             and s["answer"].strip()]
    prose.sort(key=lambda s: hashlib.sha256(f"{e.seed}:{s['id']}".encode()).hexdigest())
    chosen: list[str] = []
    documents: set[str] = set()
    for sample in prose:
        if len(chosen) == e.judge_examples:
            break
        if sample.get("document_id") in documents:
            continue
        documents.add(sample.get("document_id"))
        chosen.append(cut_to_words(sample["answer"], e.judge_example_words))
    return chosen


@dataclass
class ForcedChoices:
    """The blind forced choice of every evaluated model on the held-out prompts."""

    fooled: dict[str, list[float]] = field(default_factory=dict)
    """Per model, ``judge_fooled`` on the prompts counted for every model (the same prompts,
    in the same order, so the paired comparisons hold)."""
    details: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Per model, what was asked and answered, one entry per held-out prompt."""
    notes: list[str] = field(default_factory=list)


def forced_choice_by_model(settings: Settings, dataset_dir: Path, samples: list[dict[str, Any]],
                           answers: dict[str, list[str]]) -> ForcedChoices:
    """The blind forced choice for each model's finished posts (``answers``: label -> one post
    per held-out sample) against the author's held-out text, with the author's training
    answers as their other writing."""
    train = load_split(Path(dataset_dir), "train")
    examples = {a: author_examples(settings, train, a) for a in {s["author_id"] for s in samples}}
    result = ForcedChoices()
    for label, posts in answers.items():
        result.details[label] = forced_choice(settings, [
            {"id": s["id"], "reference": s["answer"], "output": post,
             "examples": examples[s["author_id"]]}
            for s, post in zip(samples, posts, strict=True)])
    counted = [i for i in range(len(samples))
               if all(d[i]["fooled"] is not None for d in result.details.values())]
    if counted:
        result.fooled = {label: [float(d[i]["fooled"]) for i in counted]
                         for label, d in result.details.items()}
    if len(counted) < len(samples):
        result.notes.append(f"blind forced choice: {len(samples) - len(counted)} of "
                            f"{len(samples)} prompts not counted (the judge's answer was "
                            "neither A nor B for at least one model)")
    return result
