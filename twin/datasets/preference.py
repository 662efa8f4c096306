"""The preference dataset for DPO: chosen = the author's text, rejected = the base model's.

Rejected answers are generated in batch with Ray Data (an actor pool that loads the base model
once per actor), with the tokenizer's chat template. The prompt is the sample's serving prompt
(the one builder, :func:`twin.prompting.sample_messages`: instruction, word limit, material),
sized so that it and the longer answer fit ``train.max_length``. Every "chosen" goes through the
same grounding check as the instruction dataset.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from twin.datasets.build import DatasetResult, _write_version, check_grounding, load_split
from twin.prompting import ANSWER_END_TOKENS, TokenizerFormat, sample_messages
from twin.settings import Settings
from twin.warehouse import Warehouse

log = logging.getLogger(__name__)


class RejectedWriter:
    """Ray Data actor: the base model's answers to a batch of instructions."""

    def __init__(self, model: str, cache_dir: str, max_new_tokens: int) -> None:
        import torch

        torch.set_num_threads(1)
        from twin.llm.models import load_causal_lm

        load_causal_lm(model, cache_dir)
        self.model, self.cache_dir, self.max_new_tokens = model, cache_dir, max_new_tokens

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from twin.llm.models import generate

        answers = generate([str(p) for p in batch["prompt"]], self.model, self.cache_dir,
                           self.max_new_tokens, temperature=0.0)
        batch["rejected"] = np.asarray(answers, dtype=object)
        return batch


def preference_prompt(sample: dict[str, Any], fmt: TokenizerFormat, settings: Settings) -> str:
    """The user turn of a pair: the serving prompt of ``sample``, leaving room in
    ``fmt.window`` (``train.max_length``) for the author's answer or the base model's, whichever
    may be longer."""
    answer = max(fmt.count_tokens(sample["answer"]), settings.dataset.rejected_max_new_tokens)
    messages, _ = sample_messages(sample, fmt, fmt.window, answer + ANSWER_END_TOKENS,
                                  settings.dataset.context_tokens)
    return messages[-1]["content"]


def build_preference_dataset(settings: Settings, instruct: DatasetResult | Path) -> DatasetResult:
    """Preference pairs from an instruction dataset version (prose samples only)."""
    import ray

    from twin.raycluster import connect

    path = instruct.path if isinstance(instruct, DatasetResult) else Path(instruct)
    source_card = json.loads((path / "card.json").read_text())
    samples = [s for split in ("train", "test") for s in load_split(path, split)
               if s["style"] != "code"]
    limit = settings.dataset.preference_max_samples
    if limit is not None:
        samples = sorted(samples, key=lambda s: hashlib.sha256(
            f"{settings.dataset.seed}:{s['id']}".encode()).hexdigest())[:limit]
    connect(settings)
    ray.data.DataContext.get_current().enable_progress_bars = False
    model = settings.llm.base_model
    from transformers import AutoTokenizer

    from twin.llm.models import resolve_base_model

    base = resolve_base_model(model, settings.models_dir)  # convert once, before actors start
    fmt = TokenizerFormat(AutoTokenizer.from_pretrained(base), settings.train.max_length)
    pairs = [{"id": s["id"], "document_id": s["document_id"], "author_id": s["author_id"],
              "platform": s["platform"], "split": s["split"],
              "prompt": preference_prompt(s, fmt, settings), "chosen": s["answer"]}
             for s in samples]
    generated = ray.data.from_pandas(pd.DataFrame(pairs)).map_batches(
        RejectedWriter, fn_constructor_kwargs={
            "model": model, "cache_dir": str(settings.models_dir),
            "max_new_tokens": settings.dataset.rejected_max_new_tokens},
        compute=ray.data.ActorPoolStrategy(size=1), batch_size=settings.dataset.rejected_batch_size,
        batch_format="numpy", num_cpus=1).take_all()
    rows = [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
            for row in generated]
    for row in rows:
        row["answer"] = row["chosen"]  # the grounding check reads "answer"
    warehouse = Warehouse(source_card["source"]["warehouse"].rsplit("/documents", 1)[0],
                          settings.warehouse.storage_options)
    grounded = check_grounding(rows, warehouse, source_card["source"]["table_version"])
    for row in rows:
        del row["answer"]
        row["instruction"] = row["prompt"]  # for the content hash
    rows.sort(key=lambda r: (r["split"], r["id"]))
    digest = hashlib.sha256("".join(f"{r['id']}{r['split']}{r['rejected']}" for r in rows)
                            .encode()).hexdigest()
    card = {
        "name": "preference", "created_at": datetime.now(UTC).isoformat(),
        "content_hash": digest,
        "source": {**source_card["source"], "instruct_version": source_card.get("version")},
        "base_model": model,
        "counts": {"pairs": len(rows), "train": sum(r["split"] == "train" for r in rows),
                   "test": sum(r["split"] == "test" for r in rows),
                   "by_platform": dict(Counter(r["platform"] for r in rows))},
        "grounding": {"checked": grounded, "passed": grounded},
        "settings": {"rejected_max_new_tokens": settings.dataset.rejected_max_new_tokens,
                     "temperature": 0.0, "chat_template": "tokenizer"},
    }
    for row in rows:
        del row["instruction"]
    result = _write_version(settings.home_dir / "datasets" / "preference", rows, card)
    log.info("preference dataset %s: %d pairs", result.path.name, len(rows))
    return result


def load_pairs(path: Path, split: str) -> list[dict[str, Any]]:
    """The pairs of one split of a preference dataset version."""
    return load_split(path, split)
