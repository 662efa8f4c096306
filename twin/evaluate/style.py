"""Style measures that need no external service: stylometric features compared with the
author's held-out writing, embedding similarity to the reference answer and to the author's
centroid, and bootstrap confidence intervals."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from twin.markup import HASHTAG

EMOJI = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf\u2190-\u21ff\u2b00-\u2bff]")
SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")
WORD = re.compile(r"[A-Za-z\u00c0-\u024f']+")
FEATURES = ("words_per_sentence", "emoji_per_100w", "hashtags_per_100w", "breaks_per_100w",
            "questions_per_100w", "first_person_per_100w", "type_token_ratio")


def features(text: str) -> dict[str, float]:
    """Stylometric features of one text (rates per 100 words, so lengths compare)."""
    words = WORD.findall(text)
    n = max(len(words), 1)
    sentences = [s for s in SENTENCE.findall(text) if WORD.search(s)]
    first = sum(w.lower() in {"i", "we", "my", "our", "me", "us"} for w in words)
    head = [w.lower() for w in words[:100]]
    return {
        "words_per_sentence": len(words) / max(len(sentences), 1),
        "emoji_per_100w": 100 * len(EMOJI.findall(text)) / n,
        "hashtags_per_100w": 100 * len(HASHTAG.findall(text)) / n,
        "breaks_per_100w": 100 * text.count("\n") / n,
        "questions_per_100w": 100 * text.count("?") / n,
        "first_person_per_100w": 100 * first / n,
        "type_token_ratio": len(set(head)) / max(len(head), 1),
    }


@dataclass
class StyleProfile:
    """The author's habits: mean and spread of each feature over their held-out texts."""

    mean: dict[str, float]
    std: dict[str, float]

    @classmethod
    def of(cls, texts: list[str]) -> StyleProfile:
        """The profile of a set of texts."""
        rows = [features(t) for t in texts]
        mean = {f: float(np.mean([r[f] for r in rows])) for f in FEATURES}
        # A floor on the spread: one habit the author never varies must not dominate.
        std = {f: max(float(np.std([r[f] for r in rows])), 0.1 * abs(mean[f]) + 1e-3)
               for f in FEATURES}
        return cls(mean, std)

    def distance(self, text: str) -> float:
        """Mean absolute z-score of ``text``'s features: 0 = the author's typical habits."""
        row = features(text)
        return float(np.mean([abs(row[f] - self.mean[f]) / self.std[f] for f in FEATURES]))


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two equally long sets of vectors."""
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return np.sum(a * b, axis=1)


def centroid_similarity(outputs: np.ndarray, centroid: np.ndarray) -> np.ndarray:
    """Cosine similarity of each output vector to a centroid."""
    c = centroid / max(float(np.linalg.norm(centroid)), 1e-12)
    o = outputs / np.maximum(np.linalg.norm(outputs, axis=1, keepdims=True), 1e-12)
    return o @ c


def bootstrap_ci(values: list[float] | np.ndarray, n: int = 2000, level: float = 0.95,
                 seed: int = 0) -> dict[str, float]:
    """Mean with a percentile bootstrap confidence interval."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return {"mean": float("nan"), "low": float("nan"), "high": float("nan"), "n": 0}
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, (n, data.size))].mean(axis=1)
    tail = (1 - level) / 2
    return {"mean": round(float(data.mean()), 4),
            "low": round(float(np.quantile(means, tail)), 4),
            "high": round(float(np.quantile(means, 1 - tail)), 4), "n": int(data.size)}
