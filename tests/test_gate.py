"""The gate's decision rule: better on the voice score with confidence, worse on nothing."""

from __future__ import annotations

import numpy as np
import pytest

from twin.evaluate.gate import decide


def _scores(voice: float, checks: float, distance: float, n: int = 30, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {"voice_score": list(np.clip(voice + rng.normal(0, 0.05, n), 0, 1)),
            "checks_passed": list((rng.random(n) < checks).astype(float)),
            "style_distance": list(distance + rng.normal(0, 0.05, n))}


def test_a_clearly_better_version_is_promoted_with_its_numbers() -> None:
    scores = {"base": _scores(0.2, 0.6, 1.0, seed=1), "twin-v1": _scores(0.5, 0.9, 0.8, seed=2),
              "twin-v2": _scores(0.7, 0.9, 0.7, seed=3)}
    decision = decide(scores, "twin-v2", "twin-v1")
    assert decision.promote and not decision.forced
    primary = [c for c in decision.comparisons if c.metric == "voice_score"]
    assert {c.against for c in primary} == {"twin-v1", "base"}
    assert all(c.better and c.low > 0 for c in primary)
    assert "promoted" in decision.headline() and "| voice_score | twin-v1 |" in \
        decision.markdown()


def test_a_worse_version_is_kept_out_and_force_says_so() -> None:
    scores = {"base": _scores(0.2, 0.6, 1.0, seed=1), "twin-v1": _scores(0.6, 0.9, 0.8, seed=2),
              "twin-v2": _scores(0.3, 0.9, 0.8, seed=3)}
    decision = decide(scores, "twin-v2", "twin-v1")
    assert not decision.promote and "kept twin-v1" in decision.headline()
    assert "not better with confidence" in decision.reasons[0]
    forced = decide(scores, "twin-v2", "twin-v1", force=True)
    assert forced.promote and forced.forced and "--force" in forced.headline()


def test_winning_on_voice_but_losing_on_checks_is_not_enough() -> None:
    scores = {"base": _scores(0.2, 0.9, 1.0, seed=1),
              "twin-v2": _scores(0.6, 0.2, 0.8, seed=3)}
    decision = decide(scores, "twin-v2", "base")
    assert not decision.promote
    assert any("checks_passed" in r for r in decision.reasons)


def test_models_must_answer_the_same_prompts() -> None:
    with pytest.raises(ValueError, match="same prompts"):
        decide({"base": _scores(0.2, 0.9, 1, n=10), "twin-v1": _scores(0.5, 0.9, 1, n=12)},
               "twin-v1", "base")


@pytest.mark.slow
def test_the_gate_keeps_the_served_version_when_a_worse_one_is_trained(
        tmp_path, local_ray) -> None:
    """Real training and evaluation on the demo author: a twin is put live (``--force``, its
    numbers recorded), then a deliberately worse version (a learning rate that leaves it the
    base model) goes through the gate, which keeps the served one and records why."""
    from tests.helpers import demo_documents
    from twin.datasets.build import build_instruction_dataset
    from twin.registry import Registry
    from twin.settings import Settings
    from twin.stages import TrainRequest
    from twin.stages.train import run_train
    from twin.warehouse import Warehouse

    settings = Settings(
        home=tmp_path / "home", dataset={"context_source": "warehouse"},
        train={"max_length": 256, "batch_size": 4, "learning_rate": 2e-3},
        evaluate={"max_samples": 6, "max_new_tokens": 48, "candidates": 2, "bootstrap": 500},
        serve={"vllm_max_model_len": 1024}, rag={"context_tokens": 256})
    Warehouse.from_settings(settings).merge(demo_documents())
    dataset = build_instruction_dataset(settings, show_progress=False).path
    good = run_train(TrainRequest(dataset=dataset, max_steps=12, run="good", force=True),
                     settings)
    assert good.gate is not None and good.gate.promote and good.serving == good.sft.version
    assert good.gate.served == "base" and any(c.metric == "voice_score"
                                              for c in good.gate.comparisons)

    worse_settings = settings.model_copy(update={"train": settings.train.model_copy(
        update={"learning_rate": 1e-9})})
    worse = run_train(TrainRequest(dataset=dataset, max_steps=2, run="worse", serve=True),
                      worse_settings)
    assert worse.gate is not None and not worse.gate.promote and not worse.gate.forced
    assert worse.gate.served == f"twin-v{good.sft.version}"
    assert worse.serving == good.sft.version  # the alias did not move
    registry = Registry(settings)
    assert registry.serving().version == good.sft.version
    recorded = registry.get(worse.sft.version)
    assert recorded.gate.startswith("gate: ") and "kept" in recorded.gate
    assert recorded.metrics["gate_promoted"] == 0.0
    assert "--force" in registry.get(good.sft.version).gate or \
        "promoted" in registry.get(good.sft.version).gate
