"""The settings an evaluation report chooses, per model and author: retrieval (the best hit@1,
ties: the default), candidates (best-of-N when it beat one greedy draft on the voice score, else
one), the temperature that goes with them and the context budget the prompts used.

Each evaluated version's choices go to the registry with the version; the base model's to
``<home>/evals/<run>/choices.json``. Only measured choices are recorded: a report that compared
nothing for a model (the gate's, which sweeps no retrieval and draws no single draft) leaves
the model's earlier choices, or the settings, in place; one that compared only part keeps the
rest of the earlier choices on the same dataset."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from twin.domain.choices import CandidatesChoice, Choices, RetrievalChoice
from twin.evaluate.style import bootstrap_ci
from twin.settings import RAGSettings, Settings

log = logging.getLogger(__name__)
CHOICES_FILE = "choices.json"
"""The base model's choices, beside the evaluation's ``report.json``."""
VOICE = "voice_score"
TIE = 1e-9


def choose_retrieval(rows: list[dict[str, Any]], rag: RAGSettings) -> RetrievalChoice | None:
    """The row of ``rows`` (:func:`twin.evaluate.retrieval.evaluate_retrieval`'s) with the best
    hit@1; among equals the configured default, else the best MRR. None when nothing was
    searched."""
    rows = [r for r in rows if r.get("queries")]
    if not rows:
        return None
    default = (rag.search_mode, rag.expansion, rag.reranker)

    def key(row: dict[str, Any]) -> tuple[str, str, str]:
        return row["search_mode"], row["expansion"], row["reranker"]

    best = max(r["hit@1"] for r in rows)
    tied = [r for r in rows if r["hit@1"] >= best - TIE]
    current = next((r for r in rows if key(r) == default), None)
    if current is not None and current in tied:
        row = current
        reason = (f"the default ties the best hit@1 {best:.2f}" if len(tied) > 1
                  else f"the default has the best hit@1 {best:.2f}")
    else:
        row = max(tied, key=lambda r: (r["mrr"], r.get("hit@5", 0.0)))
        reason = (f"hit@1 {best:.2f} against the default's {current['hit@1']:.2f}"
                  if current is not None else f"the best hit@1 {best:.2f} (the default "
                  f"{'/'.join(default)} was not compared)")
    return RetrievalChoice(search_mode=row["search_mode"], expansion=row["expansion"],
                           reranker=row["reranker"], hit_at_1=float(row["hit@1"]),
                           mrr=float(row["mrr"]), queries=int(row["queries"]),
                           default_hit_at_1=None if current is None
                           else float(current["hit@1"]), reason=reason)


def choose_candidates(report: dict[str, Any], label: str, single_label: str,
                      settings: Settings) -> tuple[CandidatesChoice, bool]:
    """How many drafts ``label`` should choose from, and whether that was measured (its
    best-of-N against ``single_label``, the same model's one greedy draft, on the same
    prompts)."""
    decoding = report.get("decoding", {})
    n = int(decoding.get("candidates", 1))
    temperature = float(decoding.get("temperature", settings.evaluate.temperature))
    per_prompt = report.get("per_prompt", {})
    many = per_prompt.get(label, {}).get(VOICE, [])
    single = per_prompt.get(single_label, {}).get(VOICE, [])
    if n <= 1:
        return CandidatesChoice(candidates=1, temperature=0.0,
                                single=_mean(many), reason="the evaluation wrote one draft per "
                                "prompt"), False
    if not many or len(single) != len(many):
        return CandidatesChoice(candidates=n, temperature=temperature, best_of_n=_mean(many),
                                reason=f"one draft not measured for {label}: the evaluated "
                                f"best of {n}"), False
    e = settings.evaluate
    gain = bootstrap_ci(np.subtract(many, single), e.bootstrap, seed=e.seed)
    a, b = _mean(many), _mean(single)
    if a is not None and b is not None and a > b:
        return CandidatesChoice(candidates=n, temperature=temperature, best_of_n=a, single=b,
                                gain=gain, reason=f"best of {n} scored {a:.2f} on the voice "
                                f"score, one greedy draft {b:.2f}"), True
    return CandidatesChoice(candidates=1, temperature=0.0, best_of_n=a, single=b, gain=gain,
                            reason=f"one greedy draft scored {b:.2f} on the voice score, "
                            f"best of {n} {a:.2f}"), True


def choices_for(report: dict[str, Any], label: str, settings: Settings, *,
                single_suffix: str, version: int | None = None,
                author_id: str | None = None) -> tuple[Choices, bool]:
    """``label``'s choices from ``report`` (``label + single_suffix``: its one greedy draft,
    when evaluated), and whether any of them was measured."""
    retrieval = choose_retrieval(report.get("retrieval") or [], settings.rag)
    decoding, measured = choose_candidates(report, label, label + single_suffix, settings)
    context = report.get("decoding", {}).get("context_tokens", settings.rag.context_tokens)
    choices = Choices(source=str(report.get("path", "")), model=label, version=version,
                      author_id=author_id, dataset=Path(report.get("dataset", "")).name,
                      created_at=str(report.get("created_at", "")), retrieval=retrieval,
                      decoding=decoding, context_tokens=context)
    return choices, measured or retrieval is not None


def record_choices(settings: Settings, report: dict[str, Any], registry: Any,
                   versions: list[int], authors: set[str], single_suffix: str
                   ) -> dict[str, dict[str, Any]]:
    """Each model's measured choices (``authors``: whose held-out prompts): the versions' into
    ``registry``, the base model's into ``<report path>/choices.json``; ``{label: choices}``
    of those recorded."""
    author = next(iter(authors)) if len(authors) == 1 else None
    recorded: dict[str, dict[str, Any]] = {}
    for label, version in [("base", None)] + [(f"twin-v{v}", v) for v in versions]:
        if label not in report.get("per_prompt", {}):
            continue
        choices, measured = choices_for(report, label, settings, single_suffix=single_suffix,
                                        version=version, author_id=author)
        if not measured:
            continue
        earlier = registry.get(version).choices if version is not None else \
            base_choices(settings, Path(report.get("dataset", "")))
        choices = kept_measured(choices, earlier)
        if version is None:
            (Path(report["path"]) / CHOICES_FILE).write_text(choices.model_dump_json(indent=2))
        else:
            registry.record_choices(version, choices)
        recorded[label] = choices.model_dump(mode="json")
        log.info("%s chose: %s", label, "; ".join(choices.lines()))
    return recorded


def kept_measured(choices: Choices, earlier: Choices | None) -> Choices:
    """``choices`` with what it did not measure taken from ``earlier`` (the same model's,
    on the same dataset) where that was measured: a later report comparing only retrieval
    keeps the candidates chosen before, and the other way round."""
    if earlier is None or earlier.dataset != choices.dataset:
        return choices
    update: dict[str, Any] = {}
    if choices.retrieval is None and earlier.retrieval is not None:
        update["retrieval"] = earlier.retrieval
    if choices.decoding.gain is None and earlier.decoding.gain is not None:  # compared then
        decoding = earlier.decoding
        if "(in " not in decoding.reason:  # say which report measured it, once
            decoding = decoding.model_copy(
                update={"reason": f"{decoding.reason} (in {earlier.source})"})
        update["decoding"] = decoding
    return choices.model_copy(update=update) if update else choices


def base_choices(settings: Settings, dataset_dir: Path) -> Choices | None:
    """The newest choices recorded for the base model on ``dataset_dir``'s held-out prompts
    (what the Serve app uses while no version is served)."""
    folder = settings.home_dir / "evals"
    for path in sorted(folder.glob(f"*/{CHOICES_FILE}"), reverse=True) if folder.is_dir() \
            else []:
        try:
            choices = Choices.model_validate_json(path.read_text())
        except ValueError as exc:
            log.warning("unreadable %s: %s", path, exc)
            continue
        if choices.dataset == dataset_dir.name:
            return choices
    return None


def _mean(values: list[float]) -> float | None:
    return round(float(np.mean(values)), 4) if len(values) else None


def load_report(path: Path) -> dict[str, Any]:
    """A saved ``report.json`` with its folder as ``path`` (as :func:`run_evaluation` returns
    it)."""
    report = json.loads(Path(path).read_text())
    report.setdefault("path", str(Path(path).parent))
    return report
