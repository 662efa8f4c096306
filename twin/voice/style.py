"""Stylometric habits a reader notices, each with the words that explain it.

These are the voice model's non-lexical features: rhythm (sentence and paragraph length,
one-line paragraphs), punctuation (questions, dashes, parentheses, arrows), person (I, we,
you), emoji and hashtags, contractions and numbers. Rates are per 100 words, so texts of any
length compare. Every feature says in plain words what more or less of it looks like.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from twin.markup import HASHTAG

_WORD = re.compile(r"[A-Za-z\u00c0-\u024f0-9']+")
_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)|\n")
_PARAGRAPH = re.compile(r"\n\s*\n")
_EMOJI = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf\u2b00-\u2bff]")
_ARROW = re.compile("[\u2190-\u21ff]|->|=>")
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+", re.M)
_CONTRACTION = re.compile(r"\b\w+['\u2019](?:t|s|re|ve|ll|d|m)\b", re.I)
_NUMBER = re.compile(r"\b\d[\d,.:]*\b")
_DASH = re.compile("\u2014|\u2013| - | -- ")
_FIRST_SINGULAR = {"i", "me", "my", "mine", "i'm", "i've", "i'd", "i'll"}
_FIRST_PLURAL = {"we", "us", "our", "ours", "we're", "we've", "we'd", "we'll"}
_SECOND = {"you", "your", "yours", "you're", "you've", "you'd", "you'll"}


@dataclass(frozen=True)
class StyleFeature:
    """One habit: its key, the words for more and less of it, and the unit of its value."""

    key: str
    more: str  # "more one-line paragraphs": a text above the usual value
    less: str  # "fewer one-line paragraphs": below it
    unit: str


FEATURES: tuple[StyleFeature, ...] = (
    StyleFeature("words_per_sentence", "longer sentences", "shorter sentences",
                 "words per sentence"),
    StyleFeature("words_per_paragraph", "longer paragraphs", "shorter paragraphs",
                 "words per paragraph"),
    StyleFeature("one_line_paragraphs", "more one-line paragraphs", "fewer one-line paragraphs",
                 "% of paragraphs"),
    StyleFeature("questions", "more questions", "fewer questions", "per 100 words"),
    StyleFeature("exclamations", "more exclamation marks", "fewer exclamation marks",
                 "per 100 words"),
    StyleFeature("dashes", "more dashes", "fewer dashes", "per 100 words"),
    StyleFeature("parentheses", "more parentheses", "fewer parentheses", "per 100 words"),
    StyleFeature("quotes", "more quotation marks", "fewer quotation marks", "per 100 words"),
    StyleFeature("colons", "more colons", "fewer colons", "per 100 words"),
    StyleFeature("arrows", "more arrows (→)", "fewer arrows (→)", "per 100 words"),
    StyleFeature("bullets", "more bulleted or numbered lines", "fewer bulleted or numbered lines",
                 "per 100 words"),
    StyleFeature("emoji", "more emoji", "fewer emoji", "per 100 words"),
    StyleFeature("hashtags", "more hashtags", "fewer hashtags", "per 100 words"),
    StyleFeature("first_singular", "more 'I'", "less 'I'", "per 100 words"),
    StyleFeature("first_plural", "more 'we'", "less 'we'", "per 100 words"),
    StyleFeature("second_person", "more 'you' (talking to the reader)",
                 "less 'you' (talking to the reader)", "per 100 words"),
    StyleFeature("contractions", "more contractions (it's, don't)",
                 "fewer contractions (it's, don't)", "per 100 words"),
    StyleFeature("numbers", "more numbers", "fewer numbers", "per 100 words"),
    StyleFeature("word_length", "longer words", "shorter words", "letters per word"),
    StyleFeature("vocabulary", "more varied words", "more repeated words",
                 "% distinct words in a 25-word stretch"),
)
KEYS = tuple(f.key for f in FEATURES)


def measure(text: str) -> dict[str, float]:
    """The habits of one text (rates per 100 words; lengths in words or letters)."""
    words = _WORD.findall(text)
    lower = [w.lower().replace("\u2019", "'") for w in words]
    n = max(len(words), 1)
    per100 = 100.0 / n
    sentences = [s for s in _SENTENCE_END.split(text) if _WORD.search(s)]
    paragraphs = [p for p in _PARAGRAPH.split(text.strip()) if _WORD.search(p)]
    one_line = sum(1 for p in paragraphs if "\n" not in p.strip() and len(_WORD.findall(p)) <= 25)
    return {
        "words_per_sentence": len(words) / max(len(sentences), 1),
        "words_per_paragraph": len(words) / max(len(paragraphs), 1),
        "one_line_paragraphs": 100.0 * one_line / max(len(paragraphs), 1),
        "questions": text.count("?") * per100,
        "exclamations": text.count("!") * per100,
        "dashes": len(_DASH.findall(text)) * per100,
        "parentheses": text.count("(") * per100,
        "quotes": sum(text.count(q) for q in "\"\u201c\u201d") * per100 / 2,
        "colons": text.count(":") * per100,
        "arrows": len(_ARROW.findall(text)) * per100,
        "bullets": len(_BULLET.findall(text)) * per100,
        "emoji": len(_EMOJI.findall(text)) * per100,
        "hashtags": len(HASHTAG.findall(text)) * per100,
        "first_singular": sum(w in _FIRST_SINGULAR for w in lower) * per100,
        "first_plural": sum(w in _FIRST_PLURAL for w in lower) * per100,
        "second_person": sum(w in _SECOND for w in lower) * per100,
        "contractions": len(_CONTRACTION.findall(text)) * per100,
        "numbers": len(_NUMBER.findall(text)) * per100,
        "word_length": sum(len(w) for w in words) / n,
        "vocabulary": _moving_variety(lower),
    }


def _moving_variety(words: list[str], window: int = 25) -> float:
    """Share of distinct words in every stretch of ``window`` words, averaged (a moving
    type-token ratio: unlike a plain one, it does not rise just because a text is short)."""
    if len(words) <= window:
        return 100.0 * len(set(words)) / max(len(words), 1)
    counts: dict[str, int] = {}
    for w in words[:window]:
        counts[w] = counts.get(w, 0) + 1
    total = len(counts)
    for i in range(window, len(words)):
        out, new = words[i - window], words[i]
        counts[out] -= 1
        if not counts[out]:
            del counts[out]
        counts[new] = counts.get(new, 0) + 1
        total += len(counts)
    return 100.0 * total / ((len(words) - window + 1) * window)


def matrix(texts: list[str]) -> np.ndarray:
    """The habits of many texts, one row per text, columns in ``KEYS`` order."""
    return np.array([[row[k] for k in KEYS] for row in map(measure, texts)], dtype=float
                    ).reshape(len(texts), len(KEYS))
