"""The settings the evaluation chooses per model, recorded with the version and used by the
served app as a request's defaults.

No Ray or Serve here: the report is a real one (the demo's gate evaluation,
tests/fixtures/evals/), the registry a real MLflow store in a temporary home, the deployments'
classes are built directly as a replica builds them (fake engine). The live app is tested in
tests/test_serve.py."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from twin.domain.choices import Choices
from twin.evaluate.choices import (
    CHOICES_FILE,
    base_choices,
    choices_for,
    choose_candidates,
    choose_retrieval,
    load_report,
    record_choices,
)
from twin.evaluate.retrieval import CUTS, retrieval_grid
from twin.evaluate.runner import SINGLE
from twin.evaluate.style import bootstrap_ci
from twin.serving.defaults import chosen_settings, request_decoding
from twin.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures" / "evals"
REPORT = FIXTURES / "demo-gate-report.json"
DATASET = "v1-60454e9a"  # the demo run's dataset version (the report's)


@pytest.fixture
def report() -> dict:
    return load_report(REPORT)


def _rows(settings: Settings, hit_at_1: dict[tuple[str, str, str], float],
          other: float = 0.5, queries: int = 12) -> list[dict]:
    """A retrieval table in evaluate_retrieval's shape over the settings' grid, sorted the way
    it sorts (MRR, then hit@5)."""
    rows = []
    for combo in retrieval_grid(settings):
        key = (combo["search_mode"], combo["expansion"], combo["reranker"])
        h1 = hit_at_1.get(key, other)
        row = {**combo, "queries": queries, **{f"hit@{c}": min(1.0, h1 + 0.02 * c) for c in CUTS},
               "hit@1": h1, "mrr": round(min(1.0, h1 + 0.05), 4)}
        rows.append(row)
    rows.sort(key=lambda r: (-r["mrr"], -r["hit@5"]))
    return rows


def _with_single(report: dict, single: list[float]) -> dict:
    """The report as if twin-v1 had also been evaluated with one greedy draft scoring
    ``single`` per prompt (the runner's twin-v1@1)."""
    out = copy.deepcopy(report)
    out["per_prompt"]["twin-v1" + SINGLE] = {"voice_score": single}
    return out


# --- choosing -------------------------------------------------------------------------------

def test_the_demo_gate_report_measures_no_choice(report: dict) -> None:
    """The gate's evaluation sweeps no retrieval and draws no single draft: nothing is chosen,
    so nothing would be recorded (earlier choices, or the settings, stay)."""
    settings = Settings()
    assert report["retrieval"] == [] and report["decoding"]["candidates"] == 3
    for label in ("base", "twin-v1"):
        choices, measured = choices_for(report, label, settings, single_suffix=SINGLE)
        assert not measured
        assert choices.retrieval is None
        assert (choices.candidates, choices.temperature) == (3, 0.7)
        assert "not measured" in choices.decoding.reason
        assert choices.dataset == DATASET and choices.source == str(REPORT.parent)
    # The report predates recording rag.context_tokens: the settings' value is what it used.
    assert choices.context_tokens is None


def test_retrieval_is_the_best_hit_at_1_and_ties_keep_the_default() -> None:
    settings = Settings()
    default = (settings.rag.search_mode, settings.rag.expansion, settings.rag.reranker)
    assert default == ("hybrid", "keywords", "mmr")

    # The real blog: the default found the source first for 0.83, text + RRF for 0.96.
    rows = _rows(settings, {default: 0.83, ("text", "keywords", "rrf"): 0.96})
    chosen = choose_retrieval(rows, settings.rag)
    assert chosen is not None
    assert chosen.rag_values() == {"search_mode": "text", "expansion": "keywords",
                                   "reranker": "rrf"}
    assert (chosen.hit_at_1, chosen.default_hit_at_1, chosen.queries) == (0.96, 0.83, 12)
    assert "0.96" in chosen.reason and "0.83" in chosen.reason

    # Every setting found every source first (the end-to-end run's 4 prompts): the default.
    tie = _rows(settings, {}, other=1.0, queries=4)
    chosen = choose_retrieval(tie, settings.rag)
    assert chosen is not None and chosen.rag_values() == dict(zip(
        ("search_mode", "expansion", "reranker"), default, strict=True))
    assert "ties" in chosen.reason

    # Ties without the default: the better MRR of the tied.
    rows = _rows(settings, {("dense", "off", "none"): 0.9, ("text", "off", "mmr"): 0.9})
    for row in rows:
        if (row["search_mode"], row["reranker"]) == ("text", "mmr") and row["expansion"] == "off":
            row["mrr"] = 0.99
    chosen = choose_retrieval(rows, settings.rag)
    assert chosen is not None and (chosen.search_mode, chosen.reranker) == ("text", "mmr")

    # A default outside the grid is said so; nothing searched: no choice.
    dense_only = Settings(evaluate={"search_modes": ["dense"]})
    chosen = choose_retrieval(_rows(dense_only, {}), settings.rag)
    assert chosen is not None and chosen.default_hit_at_1 is None
    assert "not compared" in chosen.reason
    assert choose_retrieval(_rows(settings, {}, queries=0), settings.rag) is None
    assert choose_retrieval([], settings.rag) is None


def test_candidates_follow_best_of_n_against_one_greedy_draft(report: dict) -> None:
    """Real per-prompt voice scores of the demo run: twin-v1's best of 3 against the base
    model's scores standing in for a weaker single draft, then the other way round."""
    settings = Settings()
    twin = report["per_prompt"]["twin-v1"]["voice_score"]
    base = report["per_prompt"]["base"]["voice_score"]

    choice, measured = choose_candidates(_with_single(report, base), "twin-v1",
                                         "twin-v1" + SINGLE, settings)
    assert measured and (choice.candidates, choice.temperature) == (3, 0.7)
    assert choice.best_of_n == round(sum(twin) / len(twin), 4)
    assert choice.single == round(sum(base) / len(base), 4)
    e = settings.evaluate
    assert choice.gain == bootstrap_ci([a - b for a, b in zip(twin, base, strict=True)],
                                       e.bootstrap, seed=e.seed)
    assert choice.gain["low"] <= choice.gain["mean"] <= choice.gain["high"]

    # One greedy draft scoring higher: one draft, greedy.
    swapped = copy.deepcopy(report)
    swapped["per_prompt"]["twin-v1"]["voice_score"] = base
    choice, measured = choose_candidates(_with_single(swapped, twin), "twin-v1",
                                         "twin-v1" + SINGLE, settings)
    assert measured and (choice.candidates, choice.temperature) == (1, 0.0)
    assert "one greedy draft scored" in choice.reason

    # An evaluation of one draft per prompt chose nothing between N and 1.
    one = copy.deepcopy(report)
    one["decoding"].update(candidates=1, temperature=0.0)
    choice, measured = choose_candidates(one, "twin-v1", "twin-v1" + SINGLE, settings)
    assert not measured and (choice.candidates, choice.temperature) == (1, 0.0)


# --- recorded -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def registry_home(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A real (MLflow) registry with one version marked for serving, and the demo's dataset
    version folder (card only) as the newest dataset."""
    from twin.registry import Registry, hyperparameters
    from twin.train.common import TrainResult

    root = tmp_path_factory.mktemp("choices")
    settings = Settings(home=root / "home", serve={"engine": "fake"})
    registry = Registry(settings)
    adapter = root / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"r": 4}))
    result = TrainResult(adapter_dir=adapter, run="chosen", steps=0,
                         info={"stage": "sft", "base_model": settings.llm.base_model})
    version = registry.register(result, hyperparameters(settings, result, 1), "test").version
    assert registry.get(version).choices is None  # not evaluated yet: the settings apply
    dataset = settings.home_dir / "datasets" / "instruct" / DATASET
    dataset.mkdir(parents=True)
    (dataset / "card.json").write_text(json.dumps({"version": DATASET}))
    return {"settings": settings, "registry": registry, "version": version,
            "dataset": dataset, "root": root}


def _full_report(settings: Settings, root: Path) -> dict:
    """The demo report as a full `twin eval` writes it: a retrieval table and twin-v1's one
    greedy draft (the base model's per-prompt scores standing in), in a fresh report folder."""
    report = _with_single(load_report(REPORT), load_report(REPORT)["per_prompt"]["base"]
                          ["voice_score"])
    report["retrieval"] = _rows(settings, {("text", "keywords", "rrf"): 0.96,
                                           ("hybrid", "keywords", "mmr"): 0.83})
    report["decoding"]["context_tokens"] = 256
    folder = settings.home_dir / "evals" / "20261202T080000"
    folder.mkdir(parents=True, exist_ok=True)
    report["path"] = str(folder)
    return report


def test_choices_are_recorded_with_the_version_and_beside_the_report(registry_home: dict
                                                                     ) -> None:
    settings, registry = registry_home["settings"], registry_home["registry"]
    version = registry_home["version"]
    report = _full_report(settings, registry_home["root"])

    recorded = record_choices(settings, report, registry, [version], {"maya-lindqvist"}, SINGLE)
    assert set(recorded) == {"base", f"twin-v{version}"}

    back = registry.get(version).choices
    assert back is not None and back == Choices.model_validate(recorded[f"twin-v{version}"])
    assert (back.version, back.model, back.author_id) == (version, "twin-v1", "maya-lindqvist")
    assert back.retrieval is not None and back.retrieval.search_mode == "text"
    assert (back.candidates, back.temperature, back.context_tokens) == (3, 0.7, 256)
    assert back.summary() == "text/keywords/rrf (hit@1 0.96); 3 drafts at 0.7; context 256"
    # Every listing carries them, and the JSON form (the UI, `twin models --json`) too.
    assert registry.versions()[0].choices == back
    assert json.loads(json.dumps(registry.get(version).to_dict()))["choices"]["retrieval"][
        "reranker"] == "rrf"
    # The run holds choices.json, the same choices.
    run = registry.get(version).run_id
    text = registry.client.download_artifacts(run, "choices.json",
                                              str(registry_home["root"]))
    assert Choices.model_validate_json(Path(text).read_text()) == back

    # `twin models` lists them.
    listing = _cli(settings, ["models"])
    assert listing.exit_code == 0 and "text/keywords/rrf (hit@1 0.96)" in listing.output
    shown = json.loads(_cli(settings, ["models", "show", str(version)]).output)
    assert shown["choices"]["decoding"]["gain"]["n"] == 10

    # The stage's result (CLI, Prefect artifact) says what was chosen.
    from twin.stages.evaluate import EvaluateResult

    result = EvaluateResult.model_validate({**report, "choices": recorded})
    assert "chosen for twin-v1: retrieval: text/keywords/rrf (hit@1 0.96 against the " \
        "default's 0.83)" in result.markdown()
    assert "chosen for base: candidates: 3 at temperature 0.7" in result.markdown()

    base_file = Path(report["path"]) / CHOICES_FILE
    base = Choices.model_validate_json(base_file.read_text())
    assert base.version is None and base.model == "base"
    # The base model has no single draft: its candidates stay the evaluated best of 3, but
    # its retrieval was compared.
    assert "not measured" in base.decoding.reason and base.retrieval == back.retrieval
    assert base_choices(settings, registry_home["dataset"]) == base
    assert base_choices(settings, registry_home["dataset"].with_name("v2-other")) is None


def test_a_later_report_keeps_what_it_did_not_measure(registry_home: dict) -> None:
    """`twin eval` after a new version: the older version gets no single draft (only the
    newest does), so its candidates chosen before are kept; its retrieval is the new one."""
    settings, registry = registry_home["settings"], registry_home["registry"]
    version = registry_home["version"]
    first = _full_report(settings, registry_home["root"])
    record_choices(settings, first, registry, [version], {"maya-lindqvist"}, SINGLE)
    before = registry.get(version).choices
    assert before is not None and before.decoding.gain is not None

    later = copy.deepcopy(first)
    del later["per_prompt"]["twin-v1" + SINGLE]
    later["retrieval"] = _rows(settings, {("dense", "off", "none"): 1.0})
    folder = Path(first["path"]).with_name("20261202T090000")
    folder.mkdir()
    later["path"] = str(folder)
    record_choices(settings, later, registry, [version], {"maya-lindqvist"}, SINGLE)
    after = registry.get(version).choices
    assert after is not None and after.source == str(folder)
    assert after.retrieval is not None and after.retrieval.search_mode == "dense"
    assert after.decoding.gain == before.decoding.gain
    assert after.decoding.reason == f"{before.decoding.reason} (in {first['path']})"
    # A report that measured nothing leaves everything as it was.
    gate = copy.deepcopy(later)
    gate["retrieval"] = []
    assert record_choices(settings, gate, registry, [version], {"maya-lindqvist"}, SINGLE) == {}
    assert registry.get(version).choices == after


def _cli(settings: Settings, args: list[str]):
    from typer.testing import CliRunner

    from twin.cli import app
    from twin.settings import reset_settings_cache

    reset_settings_cache()
    try:
        return CliRunner().invoke(app, args, env={"TWIN_HOME": str(settings.home_dir),
                                                  "COLUMNS": "300"})
    finally:
        reset_settings_cache()


def test_several_authors_held_out_prompts_name_no_author(registry_home: dict) -> None:
    settings = registry_home["settings"]
    report = _full_report(settings, registry_home["root"])
    choices, measured = choices_for(report, "base", settings, single_suffix=SINGLE)
    assert measured and choices.author_id is None
    recorded = record_choices(settings, report, None, [], {"a", "b"}, SINGLE)
    assert recorded["base"]["author_id"] is None


# --- served ---------------------------------------------------------------------------------

def test_the_served_model_carries_its_versions_choices(registry_home: dict) -> None:
    from twin.serving.model import resolve_served_model

    settings, registry = registry_home["settings"], registry_home["registry"]
    version = registry_home["version"]
    report = _full_report(settings, registry_home["root"])
    record_choices(settings, report, registry, [version], {"maya-lindqvist"}, SINGLE)

    # Nothing marked for serving: the base model, with the newest dataset's base choices.
    served = resolve_served_model(settings)
    assert served.version is None and served.choices is not None
    assert served.choices.model == "base" and served.choices.dataset == DATASET
    registry.set_serving(version)
    served = resolve_served_model(settings)
    assert served.version == version and served.choices == registry.get(version).choices
    # The model description shows them.
    assert served.info()["choices"]["decoding"]["candidates"] == 3
    off = settings.model_copy(update={"serve": settings.serve.model_copy(
        update={"apply_choices": False})})
    assert resolve_served_model(off).choices is None


def _choices(report: dict, single: list[float] | None = None) -> Choices:
    settings = Settings()
    if single is not None:
        report = _with_single(report, single)
    report = copy.deepcopy(report)
    report["retrieval"] = _rows(settings, {("text", "off", "rrf"): 0.96})
    report["decoding"]["context_tokens"] = 300
    return choices_for(report, "twin-v1", settings, single_suffix=SINGLE)[0]


def test_the_rag_deployment_retrieves_with_the_chosen_settings(report: dict) -> None:
    from twin.serving.model import scoped_settings
    from twin.serving.rag_deployment import RAGDeployment

    choices = _choices(report)
    settings = scoped_settings(Settings(serve={"engine": "fake"}))
    served = _fake_served(settings, choices)
    replica = RAGDeployment.func_or_class(served, settings)
    rag = replica.settings.rag
    assert (rag.search_mode, rag.expansion, rag.reranker, rag.context_tokens) == \
        ("text", "off", "rrf", 300)
    assert replica.retriever.settings.rag.search_mode == "text"
    # The settings' defaults where nothing was chosen, and untouched other groups.
    assert rag.k == Settings().rag.k and replica.settings.milvus == settings.milvus
    plain = RAGDeployment.func_or_class(_fake_served(settings, None), settings)
    assert plain.settings.rag.search_mode == "hybrid"

    # rag values the operator set explicitly win over the choices.
    explicit = Settings(rag={"search_mode": "dense", "context_tokens": 128})
    applied = chosen_settings(explicit, choices).rag
    assert (applied.search_mode, applied.context_tokens, applied.reranker) == \
        ("dense", 128, "rrf")
    assert chosen_settings(chosen_settings(explicit, choices), choices).rag == applied
    # The serve config's overrides copy the settings through a full dump (every field "set"):
    # only values other than the defaults count as the operator's.
    from twin.settings import with_overrides

    dumped = with_overrides(Settings(), {"serve": {"port": 8001}})
    assert "search_mode" in dumped.rag.model_fields_set
    assert chosen_settings(dumped, choices).rag.search_mode == "text"
    pinned = with_overrides(Settings(rag={"reranker": "none"}), {"serve": {"port": 8001}})
    assert chosen_settings(pinned, choices).rag.reranker == "none"


def _fake_served(settings: Settings, choices: Choices | None):
    from twin.llm.engines import describe_model

    served = describe_model("fake", settings.llm.base_model, None, label="base", version=None,
                            cache_dir=str(settings.models_dir))
    return served.model_copy(update={"choices": choices})


@pytest.mark.parametrize(("temperature", "candidates", "expected"), [
    (None, None, (0.7, 3)),     # the choices: best of 3 at 0.7
    (0.2, None, (0.2, 3)),      # the request's temperature wins
    (None, 5, (0.7, 5)),        # the request's candidates win
    (0.0, None, (0.0, 1)),      # greedy writes one draft
    (0.9, 1, (0.9, 1)),
])
def test_a_requests_values_win_over_the_choices(report: dict, temperature: float | None,
                                                candidates: int | None,
                                                expected: tuple[float, int]) -> None:
    choices = _choices(report, report["per_prompt"]["base"]["voice_score"])
    assert (choices.candidates, choices.temperature) == (3, 0.7)
    assert request_decoding(temperature, candidates, choices, 2, 0.8) == expected


def test_one_greedy_draft_chosen_and_the_settings_without_choices(report: dict) -> None:
    swapped = copy.deepcopy(report)
    twin = report["per_prompt"]["twin-v1"]["voice_score"]
    swapped["per_prompt"]["twin-v1"]["voice_score"] = report["per_prompt"]["base"]["voice_score"]
    greedy = _choices(swapped, twin)
    assert (greedy.candidates, greedy.temperature) == (1, 0.0)
    assert request_decoding(None, None, greedy, 3, 0.8) == (0.0, 1)
    # Asking for several drafts samples them at llm.temperature.
    assert request_decoding(None, 4, greedy, 3, 0.8) == (0.8, 4)
    assert request_decoding(0.5, None, greedy, 3, 0.8) == (0.5, 1)
    # No choices recorded: serve.candidates at llm.temperature, as before.
    assert request_decoding(None, None, None, 3, 0.7) == (0.7, 3)
    assert request_decoding(0.0, 4, None, 3, 0.7) == (0.0, 1)


def test_the_gateway_takes_a_posts_defaults_from_the_served_choices(report: dict) -> None:
    from twin.serving.gateway import Gateway
    from twin.serving.schemas import PostRequest

    settings = Settings(serve={"engine": "fake", "candidates": 2})
    greedy_report = copy.deepcopy(report)
    greedy_report["per_prompt"]["twin-v1"]["voice_score"] = \
        report["per_prompt"]["base"]["voice_score"]
    greedy = _choices(greedy_report, report["per_prompt"]["twin-v1"]["voice_score"])
    # The class under Serve's ingress wrapper (whose __init__ also builds the ASGI app).
    gateway_class = Gateway.func_or_class.__mro__[1]
    assert gateway_class.__module__ == "twin.serving.gateway"
    gateway = gateway_class(None, None, _fake_served(settings, greedy), settings.serve,
                            settings.llm)
    assert gateway.decoding(PostRequest(prompt="a post about data contracts")) == (0.0, 1)
    # A temperature alone: the chosen one draft, sampled.
    assert gateway.decoding(PostRequest(prompt="x", temperature=0.9)) == (0.9, 1)
    plain = gateway_class(None, None, _fake_served(settings, None), settings.serve,
                          settings.llm)
    assert plain.decoding(PostRequest(prompt="x")) == (settings.llm.temperature, 2)
