"""Retrieval evaluation: held-out instructions whose source document is known, searched under
each retrieval setting; hit rate at k and mean reciprocal rank decide the Serve app's defaults."""

from __future__ import annotations

import itertools
import logging
from typing import Any

from twin.settings import Settings
from twin.warehouse import Warehouse

log = logging.getLogger(__name__)
CUTS = (1, 3, 5, 10)


def retrieval_grid(settings: Settings) -> list[dict[str, str]]:
    """The settings compared: every search mode x expansion x reranker in ``evaluate``."""
    e = settings.evaluate
    return [{"search_mode": m, "expansion": x, "reranker": r}
            for m, x, r in itertools.product(e.search_modes, e.expansions, e.rerankers)]


def evaluate_retrieval(settings: Settings, samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Hit rate at 1/3/5/10 and MRR per setting; a hit is a chunk of the sample's document."""
    from twin.rag.retriever import Retriever

    urls = _document_urls(settings, {s["document_id"] for s in samples})
    queries = [(s["instruction"], s["author_id"], urls[s["document_id"]]) for s in samples
               if s["document_id"] in urls]
    rows = []
    for combo in retrieval_grid(settings):
        local = settings.model_copy(deep=True)
        for key, value in combo.items():
            setattr(local.rag, key, value)
        local.rag.k = local.rag.context_chunks = max(CUTS)
        retriever = Retriever(local)
        ranks: list[int | None] = []
        try:
            for prompt, author, url in queries:
                found = retriever.retrieve(prompt, author=author)
                ranked = [c.url for c in found.chunks]
                ranks.append(ranked.index(url) + 1 if url in ranked else None)
        finally:
            retriever.close()
        n = max(len(ranks), 1)
        row: dict[str, Any] = {**combo, "queries": len(ranks)}
        for cut in CUTS:
            row[f"hit@{cut}"] = round(sum(r is not None and r <= cut for r in ranks) / n, 4)
        row["mrr"] = round(sum(1 / r for r in ranks if r is not None) / n, 4)
        rows.append(row)
        log.info("retrieval %s: hit@5 %.3f, MRR %.3f", combo, row["hit@5"], row["mrr"])
    rows.sort(key=lambda r: (-r["mrr"], -r["hit@5"]))
    return rows


def _document_urls(settings: Settings, ids: set[str]) -> dict[str, str]:
    table = Warehouse.from_settings(settings).read_table(columns=["id", "url"])
    return {i: u for i, u in zip(table.column("id").to_pylist(),
                                 table.column("url").to_pylist(), strict=True) if i in ids}
