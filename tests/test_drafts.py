"""Drafts finished the way the Serve app and the evaluation finish them: several candidates in one
batch, each shaped for the author's channel and checked, the best kept by checks then voice score.

Real inputs: the demo author's writing (her kit: channel profile and voice model, built as the
dataset stage builds it) and real SmolLM2-135M drafts (tests/fixtures/drafts)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import pytest

from tests.helpers import demo_documents, demo_kit
from twin.posts.grounding import Grounding, urls_in
from twin.posts.kit import AuthorKit, kit_authors
from twin.settings import Settings

AUTHOR = "maya-okafor"
DRAFTS = Path(__file__).parent / "fixtures" / "drafts" / "smollm2_135m.json"
SETTINGS = Settings(voice={"calibration_folds": 3, "bootstrap_samples": 200})


@pytest.fixture(scope="module")
def kit_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Her kit as a dataset version holds it: profile and voice model from the train split."""
    return demo_kit(tmp_path_factory.mktemp("kit"), SETTINGS)


def test_a_dataset_kit_holds_her_profile_and_voice_model(kit_root: Path) -> None:
    assert kit_authors(kit_root) == [AUTHOR]
    kit = AuthorKit.load(kit_root / AUTHOR, AUTHOR, SETTINGS.posts)
    assert kit.voice is not None and kit.profile.source != "generic"
    nothing = AuthorKit.load(None, AUTHOR, SETTINGS.posts)
    assert nothing.voice is None and nothing.profile.source == "generic"
    assert nothing.score("anything") is None


def test_real_drafts_are_finished_into_posts_that_end_well_and_link_only_to_sources(
        kit_root: Path) -> None:
    kit = AuthorKit.load(kit_root / AUTHOR, AUTHOR, SETTINGS.posts)
    requests = json.loads(DRAFTS.read_text())["requests"]
    for request in requests:
        finished = kit.finish(request["drafts"], SETTINGS.posts, request["request"],
                              [], request["source_urls"], max_words=200)
        post = finished.post
        assert post and post.rstrip()[-1] in ".!?\"')”’…" or post.rstrip().endswith(
            tuple("#abcdefghijklmnopqrstuvwxyz0123456789")), post[-80:]
        ending = next(c for c in finished.checks if c.name == "complete ending")
        assert ending.passed, ending.reason
        grounding = Grounding.of(request["request"], [], request["source_urls"])
        assert all(grounding.has_url(u) for u in urls_in(post)), urls_in(post)
        assert "###" not in post and "](" not in post
        table = finished.choice.table()
        assert len(table) == len(request["drafts"]) and sum(r["chosen"] for r in table) == 1
        best = next(r for r in table if r["chosen"])
        # Chosen: one with a complete ending, and of those the highest voice score less
        # posts.check_cost per other failed check.
        assert "complete ending" not in best["failed"]
        cost = SETTINGS.posts.check_cost
        worth = [r["voice"] - cost * len(r["failed"]) for r in table
                 if "complete ending" not in r["failed"]]
        assert best["voice"] - cost * len(best["failed"]) == max(worth)
        assert 0.0 <= finished.voice <= 1.0


def test_her_own_held_out_post_sounds_more_like_her_than_the_base_models_drafts(
        kit_root: Path) -> None:
    kit = AuthorKit.load(kit_root / AUTHOR, AUTHOR, SETTINGS.posts)
    docs = [d for d in demo_documents(AUTHOR) if d.kind == "post"]
    ranked = sorted(docs, key=lambda d: hashlib.sha256(f"42:{d.id}".encode()).hexdigest())
    hers = [kit.score(d.text).score for d in ranked[:3]]
    drafts = [d for r in json.loads(DRAFTS.read_text())["requests"] for d in r["drafts"]]
    base = [kit.score(d).score for d in drafts]
    assert min(hers) > max(base), (hers, base)
    evidence = kit.score(drafts[0]).evidence
    assert evidence and all(e.text for e in evidence)


def test_the_transformers_engine_writes_several_candidates_in_one_batch() -> None:
    from twin.llm.chat import GenParams
    from twin.llm.engines import describe_model, load_engine

    settings = Settings()
    served = describe_model("transformers", settings.llm.base_model, None, label="base",
                            version=None, cache_dir=str(settings.models_dir))
    engine = load_engine(served)
    prompt = engine.render([{"role": "user", "content": "Write one sentence about data."}])
    params = GenParams(max_new_tokens=12, temperature=0.9)
    drafts = asyncio.run(engine.generate_many(prompt, params, 3))
    assert len(drafts) == 3 and all(d.text and d.completion_tokens <= 12 for d in drafts)
    assert len({d.text for d in drafts}) >= 2  # sampled, not one answer three times
    greedy = asyncio.run(engine.generate_many(prompt, GenParams(max_new_tokens=12), 1))
    assert len(greedy) == 1 and greedy[0].text
    # Greedy first: choosing among them can never do worse than the one greedy draft.
    mixed = asyncio.run(engine.candidates(prompt, params, 3, greedy_first=True))
    assert len(mixed) == 3 and mixed[0].text == greedy[0].text


def test_a_draft_with_nothing_left_after_shaping_says_so(kit_root: Path) -> None:
    """A real 12-step twin's answer to a prose request was a Python block: she posts no code,
    so nothing is left; the answer says so instead of looking like a post."""
    kit = AuthorKit.load(kit_root / AUTHOR, AUTHOR, SETTINGS.posts)
    code = ('```python\n# [Decision]\ndef _create_decision(name):\n    """Create a decision."""'
            '\n    if name == "planning":\n        return None()\n```')
    finished = kit.finish([code], SETTINGS.posts, "Draft a LinkedIn post on how we banned one "
                          "word from our postmortems: 'just'.")
    assert finished.post == ""
    assert finished.notes[0].startswith("no draft had anything left after shaping")
    assert not next(c for c in finished.checks if c.name == "complete ending").passed
