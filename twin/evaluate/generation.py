"""Answers to the held-out instructions from the base model and each twin version, batched with
Ray Data (an actor loads one model once), with the same chat template and decoding for all. The
models' pipelines run at the same time, one actor each, so every CPU the cluster has free works:
on two cores the base model and the twin answer side by side instead of one after the other.

Each held-out sample is asked the way serving asks: the one prompt builder
(:func:`twin.prompting.sample_messages`) renders its instruction, word limit and the material
retrieved for it at dataset time, within the served window and ``rag.context_tokens``."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from twin.prompting import TokenizerFormat, sample_messages
from twin.settings import Settings


class AnswerWriter:
    """Ray Data actor: one model's answers to a batch of prompts (one user turn each)."""

    def __init__(self, model: str, cache_dir: str, adapter: str | None, max_new_tokens: int,
                 top_p: float, repetition_penalty: float, candidates: int = 1,
                 temperature: float = 0.0, greedy_first: bool = False,
                 threads: int = 1, seed: int = 0) -> None:
        import torch

        from twin.llm.models import load_causal_lm

        torch.set_num_threads(max(1, threads))
        load_causal_lm(model, cache_dir, adapter=adapter)  # once per actor
        self.args = {"name": model, "cache_dir": cache_dir, "adapter": adapter,
                     "max_new_tokens": max_new_tokens, "top_p": top_p,
                     "repetition_penalty": repetition_penalty, "candidates": candidates,
                     "temperature": temperature, "greedy_first": greedy_first}
        self.seed = seed

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import json

        import torch

        from twin.llm.models import generate

        n = self.args["candidates"]
        # Seeded by the batch's first prompt: the same version asked the same prompts samples
        # the same drafts, so the gate and `twin eval` read the same candidates.
        torch.manual_seed(self.seed + int(batch["index"][0]))
        answers = generate([str(p) for p in batch["prompt"]], **self.args)
        # n candidates per prompt, in prompt order; one JSON list per row.
        batch["output"] = np.asarray([json.dumps(answers[i * n:(i + 1) * n])
                                      for i in range(len(batch["prompt"]))], dtype=object)
        return batch


def evaluation_prompts(settings: Settings, samples: list[dict[str, Any]],
                       tokenizer: Any) -> list[str]:
    """The user turn each sample is asked with: the serving prompt for its instruction and
    material, sized for the served window beside an ``evaluate.max_new_tokens`` answer."""
    fmt = TokenizerFormat(tokenizer, settings.serve.vllm_max_model_len)
    return [sample_messages(s, fmt, fmt.window, settings.evaluate.max_new_tokens,
                            settings.rag.context_tokens)[0][-1]["content"] for s in samples]


def generate_answers(settings: Settings, samples: list[dict[str, Any]],
                     models: dict[str, tuple[str | None, int]],
                     parallel: bool = True) -> dict[str, list[list[str]]]:
    """``{label: candidates per sample}`` for each model (``label -> (adapter folder or None
    for the base, candidates)``), ``evaluate.max_new_tokens`` long, in the samples' order.

    One candidate is greedy; of several, the first is greedy (``llm.greedy_first``) and the
    others are sampled at ``evaluate.temperature`` in one batch per prompt, as the Serve app
    writes them. The models' pipelines run side by side on the free CPUs (``parallel``;
    False: one after the other, the benchmark's baseline)."""
    import json

    import ray
    from transformers import AutoTokenizer

    from twin.llm.models import resolve_base_model
    from twin.raycluster import connect

    connect(settings)
    ray.data.DataContext.get_current().enable_progress_bars = False
    base = resolve_base_model(settings.llm.base_model, settings.models_dir)  # convert once
    prompts = evaluation_prompts(settings, samples, AutoTokenizer.from_pretrained(base))
    frame = pd.DataFrame({"index": range(len(samples)), "prompt": prompts})
    cpus = settings.evaluate.actor_num_cpus

    def answer(adapter: str | None, candidates: int) -> list[list[str]]:
        rows = ray.data.from_pandas(frame).map_batches(
            AnswerWriter, fn_constructor_kwargs={
                "model": settings.llm.base_model, "cache_dir": str(settings.models_dir),
                "adapter": adapter, "max_new_tokens": settings.evaluate.max_new_tokens,
                "top_p": settings.llm.top_p,
                "repetition_penalty": settings.llm.repetition_penalty,
                "candidates": candidates,
                "temperature": settings.evaluate.temperature if candidates > 1 else 0.0,
                "greedy_first": settings.llm.greedy_first, "threads": round(cpus),
                "seed": settings.evaluate.seed},
            compute=ray.data.ActorPoolStrategy(size=1), batch_size=settings.evaluate.batch_size,
            batch_format="numpy", num_cpus=cpus).take_all()
        rows.sort(key=lambda r: int(r["index"]))
        return [json.loads(str(r["output"])) for r in rows]

    # One pipeline per model, as many at once as the free CPUs hold an actor each (a pipeline
    # whose actor finds no CPU would wait, and Ray Data warns that it may hang); each thread
    # only waits on its own pipeline.
    free = ray.available_resources().get("CPU", cpus)
    at_once = max(1, min(len(models), int(free // cpus))) if parallel else 1
    with ThreadPoolExecutor(max_workers=at_once) as pool:
        futures = {label: pool.submit(answer, adapter, candidates)
                   for label, (adapter, candidates) in models.items()}
        return {label: future.result() for label, future in futures.items()}
