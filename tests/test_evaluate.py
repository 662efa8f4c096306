"""Evaluation pieces without a cluster: stylometry, confidence intervals, the judge's JSON,
the retrieval grid. (The whole stage runs in tests/test_end_to_end.py on a real cluster.)"""

from __future__ import annotations

import pytest

from twin.evaluate.judge import parse_scores
from twin.evaluate.retrieval import retrieval_grid
from twin.evaluate.style import StyleProfile, bootstrap_ci, features
from twin.settings import Settings

MAYA = [
    "We banned one word from our postmortems: \"just\".\n\nEvery \"just\" hides a judgement.\n\n"
    "Which word would you ban? ☕\n\n#IncidentResponse #SRE",
    "On 3 June our invoice export ran twice.\n\nNothing was wrong with the code.\n\n"
    "What would you have done? 🔁\n\n#DataEngineering",
    "I deleted 63 dashboards.\n\nNobody noticed for a month.\n\nWhat do you keep? 📊\n\n"
    "#Analytics #DataTeams",
]


def test_features_measure_habits_per_100_words() -> None:
    f = features(MAYA[0])
    assert f["emoji_per_100w"] > 0 and f["hashtags_per_100w"] > 0
    assert f["breaks_per_100w"] > 10 and f["questions_per_100w"] > 0
    plain = features("This is a plain sentence without any of those habits at all. " * 4)
    assert plain["emoji_per_100w"] == plain["hashtags_per_100w"] == plain["breaks_per_100w"] == 0
    assert plain["words_per_sentence"] == pytest.approx(12.0)


def test_style_distance_is_small_for_the_author_and_large_for_others() -> None:
    profile = StyleProfile.of(MAYA)
    mine = "We moved the alert to the owner.\n\nNobody got paged twice.\n\nWould you? 🚨\n\n#SRE"
    other = ("In this comprehensive overview we shall examine, in considerable detail and "
             "with appropriate rigour, the multifaceted considerations that inform the design "
             "of contemporary enterprise data platforms and their governance frameworks.")
    assert profile.distance(mine) < profile.distance(other)
    assert profile.distance(MAYA[1]) < 1.5


def test_bootstrap_interval_brackets_the_mean_and_is_repeatable() -> None:
    values = [0.1, 0.4, 0.35, 0.2, 0.5, 0.3, 0.25, 0.45]
    ci = bootstrap_ci(values, seed=3)
    assert ci["low"] < ci["mean"] < ci["high"] and ci["n"] == 8
    assert ci == bootstrap_ci(values, seed=3)
    assert bootstrap_ci([])["n"] == 0


def test_judge_answers_are_parsed_and_clamped() -> None:
    assert parse_scores('Sure! {"accuracy": 3, "style": 2} hope it helps') == {
        "accuracy": 3, "style": 2}
    assert parse_scores('{"accuracy": 7, "style": 0}') == {"accuracy": 3, "style": 1}
    assert parse_scores('{"accuracy": "good"}') == {"accuracy": None, "style": None}
    with pytest.raises(ValueError, match="no JSON"):
        parse_scores("I would give it a three.")


def test_retrieval_grid_comes_from_settings() -> None:
    grid = retrieval_grid(Settings(evaluate={"search_modes": ["dense"], "expansions": ["off"],
                                             "rerankers": ["mmr", "rrf"]}))
    assert grid == [{"search_mode": "dense", "expansion": "off", "reranker": "mmr"},
                    {"search_mode": "dense", "expansion": "off", "reranker": "rrf"}]
    assert len(retrieval_grid(Settings())) == 3 * 2 * 3


def test_the_same_prompts_get_the_same_sampled_drafts(tmp_path) -> None:
    """The gate and `twin eval` read the same candidates of the same version: sampling is
    seeded by `evaluate.seed` and the batch, and a different seed draws other drafts."""
    import numpy as np

    from twin.evaluate.generation import AnswerWriter
    from twin.settings import Settings

    settings = Settings(home=tmp_path / "home")
    batch = {"index": np.array([3, 4]),
             "prompt": np.array(["Write a post about data contracts.",
                                 "Write a post about on-call handoffs."], dtype=object)}

    def drafts(seed: int) -> list[str]:
        writer = AnswerWriter(settings.llm.base_model, str(settings.models_dir), None, 16, 0.9,
                              1.1, candidates=3, temperature=0.9, greedy_first=True, seed=seed)
        return writer(dict(batch))["output"].tolist()

    first = drafts(42)
    assert drafts(42) == first
    assert drafts(7) != first
