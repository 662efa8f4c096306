"""The evaluation stage: the base model and each twin version on the held-out split (documents
the model never saw), style with confidence intervals, the judge when configured, retrieval per
setting; the report is written to disk and its headline numbers to each version in the registry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from twin.datasets.build import load_split
from twin.evaluate.choices import record_choices
from twin.evaluate.drafts import finish_answers, measures
from twin.evaluate.generation import generate_answers
from twin.evaluate.judge import ForcedChoices, forced_choice_by_model, judge, judge_available
from twin.evaluate.retrieval import evaluate_retrieval
from twin.evaluate.style import StyleProfile, bootstrap_ci, centroid_similarity, cosine_rows
from twin.settings import Settings

log = logging.getLogger(__name__)
BASE = "base"
SINGLE = "@1"
"""Suffix of a twin evaluated with one greedy draft (no best-of-N)."""


class EvaluationError(ValueError):
    """Nothing to evaluate (no held-out samples, an unknown version)."""


def held_out_samples(settings: Settings, dataset_dir: Path) -> list[dict[str, Any]]:
    """The test split's prose samples (code is not a LinkedIn post), a fixed seeded subset."""
    samples = [s for s in load_split(dataset_dir, "test") if s["style"] != "code"]
    if not samples:
        raise EvaluationError(f"{dataset_dir} has no held-out prose samples to evaluate on")
    e = settings.evaluate
    samples.sort(key=lambda s: hashlib.sha256(f"{e.seed}:{s['id']}".encode()).hexdigest())
    return samples[: e.max_samples] if e.max_samples else samples


def _other_authors_centroid(settings: Settings, author_id: str) -> np.ndarray | None:
    """Embedding centroid of other authors' writing in the warehouse, if there are any."""
    from twin.features.embed import encode
    from twin.warehouse import Warehouse

    table = Warehouse.from_settings(settings).read_table(columns=["author_id", "text"])
    texts = [t[:2000] for a, t in zip(table.column("author_id").to_pylist(),
                                      table.column("text").to_pylist(), strict=True)
             if a != author_id and t]
    if not texts:
        return None
    return encode(texts[:200], settings.embed.model, normalize=True).mean(axis=0)


def _scores(outputs: list[str], refs: list[str], ref_vectors: np.ndarray,
            profile: StyleProfile, others: np.ndarray | None,
            settings: Settings) -> dict[str, list[float]]:
    from twin.features.embed import encode

    vectors = encode(outputs, settings.embed.model, normalize=True)
    author = centroid_similarity(vectors, ref_vectors.mean(axis=0))
    scores = {"style_distance": [profile.distance(o) for o in outputs],
              "reference_similarity": cosine_rows(vectors, ref_vectors).tolist(),
              "author_similarity": author.tolist(),
              "words": [float(len(o.split())) for o in outputs]}
    if others is not None:
        scores["author_vs_others"] = (author - centroid_similarity(vectors, others)).tolist()
    return scores


def run_evaluation(settings: Settings, *, dataset: Path | None = None,
                   versions: list[int] | None = None, retrieval: bool = True) -> dict[str, Any]:
    """Evaluate, write the report under ``<home>/evals/``, log metrics to the registry."""
    from twin.evaluate.recipes import recipes
    from twin.features.embed import encode
    from twin.registry import Registry, RegistryError
    from twin.train.runner import latest_dataset

    start = time.monotonic()
    dataset_dir = Path(dataset) if dataset else latest_dataset(settings)
    samples = held_out_samples(settings, dataset_dir)
    registry = Registry(settings)
    try:
        chosen = [registry.get(v) for v in versions] if versions else registry.versions()
    except RegistryError as exc:
        raise EvaluationError(str(exc)) from exc
    e = settings.evaluate
    n = e.candidates or settings.serve.candidates
    models: dict[str, tuple[str | None, int]] = {BASE: (None, n)}
    for v in sorted(chosen, key=lambda v: v.version):
        models[f"twin-v{v.version}"] = (str(registry.adapter_path(v)), n)
    if e.single_draft and chosen and n > 1:
        newest = max(chosen, key=lambda v: v.version)
        models[f"twin-v{newest.version}{SINGLE}"] = (str(registry.adapter_path(newest)), 1)
    log.info("evaluating %s on %d held-out samples of %s (%d drafts each)", ", ".join(models),
             len(samples), dataset_dir.name, n)
    drafts = generate_answers(settings, samples, models)
    finished = {label: finish_answers(settings, dataset_dir, samples, candidates)
                for label, candidates in drafts.items()}
    answers = {label: [f["post"] for f in rows] for label, rows in finished.items()}

    refs = [s["answer"] for s in samples]
    ref_vectors = encode(refs, settings.embed.model, normalize=True)
    profile = StyleProfile.of(refs)
    others = _other_authors_centroid(settings, samples[0]["author_id"])
    per_model = {label: {**measures(finished[label]),
                         **_scores(outputs, refs, ref_vectors, profile, others, settings)}
                 for label, outputs in answers.items()}
    notes = [] if others is not None else [
        "no other authors in the warehouse: author_vs_others (similarity to this author "
        "minus to others) is not measured"]
    judged: dict[str, list[dict[str, Any]]] = {}
    forced = ForcedChoices()
    if judge_available(settings):
        forced = forced_choice_by_model(settings, dataset_dir, samples, answers)
        for label, values in forced.fooled.items():
            per_model[label]["judge_fooled"] = values
        notes += forced.notes
        for label, outputs in answers.items():
            judged[label] = judge(settings, [{"instruction": s["instruction"], "reference": r,
                                              "output": o}
                                             for s, r, o in zip(samples, refs, outputs,
                                                                strict=True)])
            for key in ("accuracy", "style"):
                per_model[label][f"judge_{key}"] = [float(j[key]) for j in judged[label]
                                                    if j[key] is not None]
    else:
        notes.append("LLM-as-judge skipped: set evaluate.judge_base_url to an "
                     "OpenAI-compatible endpoint")
    summary = {label: {metric: bootstrap_ci(values, e.bootstrap, seed=e.seed)
                       for metric, values in scores.items()}
               for label, scores in per_model.items()}
    versus_base = {}
    for label in models:
        if label == BASE:
            continue
        versus_base[label] = {
            metric: bootstrap_ci(np.subtract(values, per_model[BASE][metric]), e.bootstrap,
                                 seed=e.seed)
            for metric, values in per_model[label].items()
            if len(values) == len(per_model[BASE].get(metric, []))}
    report = {
        "created_at": datetime.now(UTC).isoformat(),
        "dataset": str(dataset_dir), "samples": len(samples), "models": list(models),
        "decoding": {"candidates": n, "temperature": e.temperature if n > 1 else 0.0,
                     "max_new_tokens": e.max_new_tokens,
                     "top_p": settings.llm.top_p,
                     "repetition_penalty": settings.llm.repetition_penalty,
                     "context_tokens": settings.rag.context_tokens,
                     "chat_template": "the adapter's tokenizer (the one training used)"},
        "summary": summary, "versus_base": versus_base, "notes": notes,
        # Per held-out prompt, the same prompts in the same order for every model (the gate's).
        "per_prompt": per_model,
        "retrieval": evaluate_retrieval(settings, samples) if retrieval else [],
        "recipes": recipes(chosen),  # how each version was trained: which recipe won
    }
    report["seconds"] = round(time.monotonic() - start, 1)
    folder = settings.home_dir / "evals" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(json.dumps(report, indent=2))
    with (folder / "outputs.jsonl").open("w") as out:
        for i, sample in enumerate(samples):
            out.write(json.dumps({"id": sample["id"], "instruction": sample["instruction"],
                                  "reference": sample["answer"],
                                  **{label: answers[label][i] for label in models},
                                  **{f"finished_{label}": {k: v for k, v in
                                                           finished[label][i].items()
                                                           if k != "post"}
                                     for label in models},
                                  **{f"judge_{label}": judged[label][i] for label in judged},
                                  **{f"forced_choice_{label}": forced.details[label][i]
                                     for label in forced.details}})
                      + "\n")
    report["path"] = str(folder)
    report["choices"] = record_choices(settings, report, registry, [v.version for v in chosen],
                                       {s["author_id"] for s in samples}, SINGLE)
    for v in chosen:
        label = f"twin-v{v.version}"
        metrics = {f"eval_{m}": c["mean"] for m, c in summary[label].items()}
        metrics.update({f"eval_gain_{m}": c["mean"] for m, c in versus_base[label].items()})
        registry.log_metrics(v.version, {k: x for k, x in metrics.items() if x == x})
    log.info("evaluation written to %s in %.0fs", folder, report["seconds"])
    return report


def latest_report(settings: Settings) -> dict[str, Any] | None:
    """The newest evaluation report, if any."""
    folder = settings.home_dir / "evals"
    reports = sorted(folder.glob("*/report.json")) if folder.exists() else []
    return json.loads(reports[-1].read_text()) if reports else None
