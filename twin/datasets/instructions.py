"""Instructions for answers (back-translation): a teacher LLM when configured, else offline.

The offline generator is deterministic and writes the request a person would type for the
answer: the piece's topic and point in words (``twin.datasets.topics``: from the title, the
answer's opening and its key claim), for its platform (a LinkedIn post, a section of a Medium
article, a newsletter issue, a README), in one of several phrasings chosen by the sample's id.
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
from collections import Counter
from typing import Any

import httpx

from twin.datasets.samples import words
from twin.datasets.topics import Topic, plain, topic_of
from twin.markup import HEADING
from twin.settings import TeacherSettings

log = logging.getLogger(__name__)

# What a post and an article are called on each platform, as a person asks for one.
POST_NOUNS = {"linkedin": "LinkedIn post", "medium": "Medium post", "substack": "Substack note",
              "web": "blog post"}
ARTICLE_NOUNS = {"linkedin": "LinkedIn article", "medium": "Medium article",
                 "substack": "newsletter issue", "web": "blog post"}
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
_DEFINES = re.compile(r"^(?:async\s+)?(?:def|class)\s+([A-Za-z_]\w*)", re.M)

TEACHER_PROMPT = (
    "Here is a piece of writing by one author. Write the single request the author would type "
    "to an assistant so that this text is the answer, e.g. 'Write a LinkedIn post about why we "
    "banned the word \"just\" from our postmortems'. Name the topic and the main point in "
    "plain words; do not quote the text and do not list keywords. Reply with the request only."
    "\n\nPlatform: {platform}\nTitle: {title}\n\nText:\n{answer}")


def key_phrases(text: str, n: int) -> list[str]:
    """The ``n`` most frequent content words (ties alphabetical): search terms of a text."""
    counts = Counter(w for w in words(text) if w not in STOPWORDS and len(w) > 2
                     and not w.isdigit())
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [w for w, _ in ranked[:n]]


def _rng(sample: dict[str, Any]) -> random.Random:
    """A generator seeded by the sample's id: the same sample always gets the same phrasing."""
    key = str(sample.get("id") or sample.get("answer", ""))
    return random.Random(int(hashlib.sha256(key.encode()).hexdigest()[:16], 16))


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _sentence(text: str) -> str:
    """``text`` with a capital first letter and a full stop (unless it asks a question)."""
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "?")) else text + "."


def _post_phrasings(topic: Topic, noun: str) -> list[str]:
    s, p, we = topic.subject, topic.point, topic.narrator
    out: list[str] = []
    if s:
        out += [f"Write a {noun} about {s}.", f"Draft a {noun} on {s}.",
                f"Can you write a {noun} about {s}?", f"Help me write a {noun} about {s}."]
        if p:
            out += [f"Write a {noun} about {s}. Make the point that {p}.",
                    f"Draft a {noun} about {s}, making the point that {p}."]
    if p:
        out.append(f"Write a {noun} arguing that {p}.")
    if topic.story:
        out += [f"Share what {we} learned when {topic.story} in a {noun}.",
                f"Write a {noun} sharing what {we} learned when {topic.story}."]
    return out


def _article_phrasings(topic: Topic, noun: str, opening: bool) -> list[str]:
    s, p = topic.subject, topic.point
    mine = f'my {noun} "{topic.title}"' if topic.title else f"my {noun}"
    out: list[str] = []
    if opening:
        out.append(f"Write the opening of {mine}.")
        if s and not topic.title:
            out.append(f"Draft the introduction to my {noun} about {s}.")
        if p:
            out.append(f"Write the opening of {mine}, making the point that {p}.")
        return out
    if topic.section:
        out += [f'Write the section "{topic.section}" of {mine}.',
                f'Draft the "{topic.section}" part of {mine}.']
        if p:
            out.append(f'For {mine}, write the section "{topic.section}" and make the point '
                       f"that {p}.")
    if s:
        out += [f"Write a section of {mine} about {s}.",
                f"Draft the part of {mine} that covers {s}."]
    if p:
        out.append(f"For {mine}, write a section making the point that {p}.")
    return out


def _code_instruction(sample: dict[str, Any]) -> str:
    """The request for a file of a repository (or one part of a long file)."""
    path, repo, answer = sample["path"], plain(sample.get("title") or ""), sample["answer"]
    desc = plain(sample.get("description") or "").rstrip(".")
    about = f" ({desc})" if desc else ""
    first = int(sample.get("part") or 0) == 0
    if path.rsplit("/", 1)[-1].lower().startswith("readme"):
        if first:
            return f"Write the README of my repository {repo}{about}."
        heading = HEADING.search(answer)
        part = f' on "{plain(heading.group(1))}"' if heading else ""
        return f"Write the next part of the README of my repository {repo}{part}."
    names = list(dict.fromkeys(_DEFINES.findall(answer)))[:4]
    defines = f" It defines {_join(names)}." if names else ""
    if first:
        return f"Write the file {path} for the repository {repo}{about}.{defines}"
    if names:
        return (f"Continue the file {path} of the repository {repo}: write the part that "
                f"defines {_join(names)}.")
    return f"Continue the file {path} of the repository {repo}."


def offline_instruction(sample: dict[str, Any]) -> str:
    """A deterministic request for ``sample``'s answer, in words a person would type.

    The phrasing is chosen among those the topic allows by a generator seeded with the sample's
    id; a piece whose topic cannot be put in words falls back to its title, then to its two
    most frequent content words.
    """
    if sample["style"] == "code":
        return _code_instruction(sample)
    platform = sample["platform"]
    opening = int(sample.get("part") or 0) == 0
    # A post is asked for whole; a later piece of a post cut at max_words, like a section.
    whole_post = sample["style"] == "post" and opening
    topic = topic_of(sample["answer"], sample.get("title") or "", sample.get("section") or "",
                     whole=opening)
    if sample["style"] == "post":
        noun = POST_NOUNS.get(platform, "post")
        options = (_post_phrasings(topic, noun) if whole_post
                   else _article_phrasings(topic, noun, opening=False))
    else:
        noun = ARTICLE_NOUNS.get(platform, "article")
        options = _article_phrasings(topic, noun, opening)
    if not options and (whole_post or sample["style"] != "post") and opening:
        fallback = (f'titled "{topic.title}"' if topic.title
                    else "about " + _join(key_phrases(sample["answer"], 2)))
        options = [f"Write a {noun} {fallback}."]
    elif not options:
        mine = f'my {noun} "{topic.title}"' if topic.title else f"my {noun}"
        options = [f"Write the next part of {mine}."]
    return _sentence(_rng(sample).choice(options))


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


def add_instructions(batch: Any, teacher: dict[str, Any] | None) -> Any:
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
        instructions = [offline_instruction(s) for s in samples]
        source = "offline"
    batch["instruction"] = instructions
    batch["instruction_source"] = source
    return batch
