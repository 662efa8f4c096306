"""De-duplication and re-ranking of the chunks found for all query variants.

- ``rrf``: reciprocal-rank fusion of the per-variant result lists (no model);
- ``mmr``: maximal marginal relevance over the chunks' embeddings (no extra model): relevant
  to the request, and not repeating each other;
- ``cross-encoder``: a sentence-transformers CrossEncoder scores (request, chunk) pairs, when
  one is configured (none ships offline).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache
from typing import Any

import numpy as np

from twin.vectorstore import Hit


def dedupe(lists: Sequence[Sequence[Hit]]) -> list[Hit]:
    """Every distinct chunk once (by id, then by identical text), best score kept, in order."""
    best: dict[str, Hit] = {}
    texts: dict[str, str] = {}
    for hits in lists:
        for hit in hits:
            key = " ".join(hit.text.split())
            if hit.id not in best and key in texts:
                continue
            if hit.id not in best or hit.score > best[hit.id].score:
                best[hit.id] = hit
                texts[key] = hit.id
    return list(best.values())


def rrf(lists: Sequence[Sequence[Hit]], k: int, rrf_k: int = 60) -> list[Hit]:
    """Fuse ranked lists: score = sum of 1 / (rrf_k + rank)."""
    scores: dict[str, float] = {}
    chunks = {h.id: h for h in dedupe(lists)}
    for hits in lists:
        for rank, hit in enumerate(hits, start=1):
            if hit.id in chunks:
                scores[hit.id] = scores.get(hit.id, 0.0) + 1.0 / (rrf_k + rank)
    ranked = sorted(scores, key=lambda i: -scores[i])[:k]
    return [replace(chunks[i], score=round(scores[i], 6)) for i in ranked]


def mmr(query: np.ndarray, hits: Sequence[Hit], vectors: np.ndarray, k: int,
        lam: float = 0.7) -> list[Hit]:
    """Pick ``k`` hits greedily by lam * sim(query) - (1 - lam) * max sim(already picked).

    ``vectors`` are the hits' unit-norm embeddings, row by row; scores become sim(query).
    """
    if not hits:
        return []
    relevance = vectors @ query
    similarity = vectors @ vectors.T
    chosen: list[int] = []
    left = list(range(len(hits)))
    while left and len(chosen) < k:
        def value(i: int) -> float:
            redundancy = max((similarity[i, j] for j in chosen), default=0.0)
            return lam * relevance[i] - (1 - lam) * redundancy
        pick = max(left, key=value)
        chosen.append(pick)
        left.remove(pick)
    return [replace(hits[i], score=round(float(relevance[i]), 6)) for i in chosen]


@lru_cache(maxsize=1)
def _cross_encoder(model: str) -> Any:
    from sentence_transformers import CrossEncoder

    return CrossEncoder(model)


def cross_encode(query: str, hits: Sequence[Hit], k: int, model: str) -> list[Hit]:
    """The ``k`` hits a cross-encoder scores highest for ``query``."""
    if not hits:
        return []
    scores = _cross_encoder(model).predict([(query, h.text) for h in hits])
    order = np.argsort(-np.asarray(scores))[:k]
    return [replace(hits[int(i)], score=round(float(scores[int(i)]), 6)) for i in order]
