"""Each stage is declared once (twin/stages): the CLI, the Ray jobs, the Prefect flows,
prefect.yaml and the result lines all come from, or are checked against, that declaration."""

from __future__ import annotations

import inspect
import io
import json
import os
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest
import typer
import yaml

from twin.cli import app
from twin.rayjobs import SUMMARY_MARKER, emit_result, result_from_logs
from twin.stages import (
    STAGES,
    CollectRequest,
    CollectResult,
    DatasetResult,
    EvaluateResult,
    IngestResult,
    StageFailed,
    TrainRequest,
    TrainResult,
    get_stage,
)
from twin.stages.chains import CHAINS
from twin.stages.job import parser as job_parser
from twin.stages.options import options

ROOT = Path(__file__).resolve().parents[1]
FLOW_ONLY = {"ray_dashboard_url", "settings_overrides"}
"""Parameters every flow has that no stage declares."""


def _parse_job(argv: list[str]) -> dict:
    args = vars(job_parser().parse_args(argv))
    for key in ("stage", "request", "emit_summary"):
        args.pop(key)
    return args


def _command(name: str):
    return typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]


@pytest.mark.parametrize("stage", list(STAGES))
def test_the_cli_command_has_every_request_field_with_its_flags(stage: str) -> None:
    declared = STAGES[stage]
    params = {p.name: p for p in _command(declared.cli_name).params}
    extra = {"submit", "compare"} if stage == "evaluate" else {"submit"}
    assert set(params) - extra == set(declared.request.model_fields)
    for option in options(declared.request):
        assert set(option.flags) <= set(params[option.field].opts)
        assert params[option.field].help == option.help


@pytest.mark.parametrize("stage", list(STAGES))
def test_the_job_takes_every_request_field_and_the_whole_request(stage: str) -> None:
    declared = STAGES[stage]
    commands = job_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    dests = {a.dest for a in commands[stage]._actions} - {"help", "request", "emit_summary"}
    assert dests == set(declared.request.model_fields)


def test_old_job_and_cli_spellings_still_parse(tmp_path: Path) -> None:
    # jobs/train.py took --preference DIR, `twin train` took --dpo DIR: both are TrainRequest.dpo.
    for flag in ("--preference", "--dpo"):
        request = get_stage("train").parse(_parse_job(["train", flag, str(tmp_path), "--serve"]))
        assert request == TrainRequest(dpo=tmp_path, serve=True)
    assert "--preference" in {o for p in _command("train").params for o in p.opts}
    evaluate = get_stage("eval").parse(_parse_job(
        ["evaluate", "--version", "1", "--version", "3", "--no-retrieval"]))
    assert evaluate.versions == [1, 3] and evaluate.retrieval is False
    collect = get_stage("collect").parse(_parse_job(
        ["collect", "--author", "Maya", "--link", "https://a.example", "--link",
         "substack=https://b.example", "--export", "x.zip"]))
    assert collect.links == ["https://a.example", "substack=https://b.example"]
    assert collect.exports == ["x.zip"]
    assert get_stage("ingest").parse(_parse_job(["ingest", "--full"])).full is True


def test_a_request_without_sources_or_with_a_bad_value_is_a_usage_error() -> None:
    with pytest.raises(StageFailed, match="at least one --link or --export") as empty:
        get_stage("collect").parse({"author": "Maya"})
    assert empty.value.code == 2
    with pytest.raises(StageFailed, match="deepspeed") as bad:
        get_stage("train").parse({"deepspeed": "zero9"})
    assert bad.value.code == 2


def test_a_job_request_has_absolute_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "export.zip").write_bytes(b"")
    request = CollectRequest(author="Maya", links=["https://a.example", "https://a.example"],
                             exports=["export.zip"]).for_job()
    assert request.links == ["https://a.example"]  # deduplicated
    assert request.exports == [str(tmp_path / "export.zip")]
    train = TrainRequest(dataset=Path("d"), dpo=Path("p")).for_job()
    assert train.dataset == tmp_path / "d" and train.dpo == tmp_path / "p"
    # what `submit` sends is the request's JSON, and the job reads it back unchanged
    sent = train.model_dump_json()
    args = vars(job_parser().parse_args(["train", "--request", sent]))
    assert TrainRequest.model_validate_json(args["request"]) == train


def _flow_parameters(module: str, name: str) -> dict[str, inspect.Parameter]:
    flow = getattr(__import__(f"flows.{module}", fromlist=[name]), name)
    return {n: p for n, p in inspect.signature(flow.fn).parameters.items() if n not in FLOW_ONLY}


def _fields(*stages: str) -> dict:
    return {n: f for s in stages for n, f in STAGES[s].request.model_fields.items()}


@pytest.mark.parametrize("stage", ["ingest", "dataset", "evaluate"])
def test_a_single_stage_flow_takes_exactly_the_request_fields(stage: str) -> None:
    params = _flow_parameters(stage, f"{stage}_flow")
    fields = _fields(stage)
    assert list(params) == list(fields)
    for name, field in fields.items():
        default = field.get_default(call_default_factory=True)
        assert params[name].default == (None if default == [] else default), name


def test_prefect_reads_a_stage_flows_parameters_with_their_descriptions() -> None:
    from prefect.utilities.callables import parameter_schema

    from flows.evaluate import evaluate_flow

    schema = parameter_schema(evaluate_flow).model_dump()["properties"]
    for option in options(STAGES["evaluate"].request):
        assert schema[option.field]["description"] == option.help
    assert evaluate_flow.validate_parameters({"versions": [1, 2], "retrieval": False}) == {
        "versions": [1, 2], "dataset": None, "max_samples": None, "retrieval": False,
        "ray_dashboard_url": None, "settings_overrides": None}


def test_the_composite_flows_take_their_stages_fields() -> None:
    collect = _flow_parameters("collect", "collect_flow")
    assert set(collect) == set(_fields("collect", "ingest")) | {"ingest"}
    assert collect["author"].default is inspect.Parameter.empty  # collect's: required
    # train: the dataset stage's fields, then the train stage's (its folders come from the
    # dataset job)
    train = _flow_parameters("train", "train_flow")
    assert set(train) == (set(_fields("dataset", "train")) - {"dataset", "dpo"})
    pipeline = _flow_parameters("pipeline", "pipeline_flow")
    assert set(pipeline) == (set(_fields(*STAGES)) - {"dataset", "dpo", "versions"}) | {
        "evaluate"}
    assert pipeline["serve"].default is True and train["serve"].default is False


@pytest.mark.parametrize("name", list(CHAINS))
def test_every_flow_is_its_chains_declaration(name: str) -> None:
    chain = CHAINS[name]
    params = _flow_parameters(name, f"{name}_flow")
    declared = chain.parameters(STAGES)
    assert list(params) == [p.name for p in declared]
    for parameter in declared:
        assert params[parameter.name].default == parameter.default, parameter.name
    # Every field of every step's stage is a parameter or comes from an earlier step.
    for step in chain.steps:
        for field in STAGES[step.stage].request.model_fields:
            assert field in params or field in step.wired_fields, (name, step.stage, field)


def test_a_chain_passes_each_step_its_fields_and_the_earlier_results() -> None:
    train = CHAINS["pipeline"].steps[3]
    data = DatasetResult(path="/d/v1", preference={"path": "/d/p1"})
    given = {"author": "Maya", "max_steps": 3, "links": ["https://x.example/"], "serve": True}
    assert train.values(STAGES["train"], given, {"dataset": data}) == {
        "max_steps": 3, "serve": True, "dataset": "/d/v1", "dpo": "/d/p1"}
    assert [s.stage for s in CHAINS["pipeline"].running({"evaluate": False})] == [
        "collect", "ingest", "dataset", "train"]
    assert [s.stage for s in CHAINS["collect"].running({})] == ["collect", "ingest"]


def test_prefect_yaml_deploys_every_chain() -> None:
    from prefect.flows import load_flow_from_entrypoint

    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    deployed = {d["name"]: d for d in config["deployments"]}
    flow_files = {p.stem for p in (ROOT / "flows").glob("*.py")} - {"__init__", "__main__",
                                                                   "tasks"}
    assert set(deployed) == flow_files == set(CHAINS)
    assert set(STAGES) <= set(deployed)
    for name, deployment in deployed.items():
        assert deployment["entrypoint"] == CHAINS[name].entrypoint
        assert deployment["description"] == CHAINS[name].description
        flow = load_flow_from_entrypoint(str(ROOT / deployment["entrypoint"]))
        assert flow.name == name
        assert not deployment.get("parameters"), "defaults live in the chain, not here"


def _results() -> list:
    source = {"source": "https://maya.example/", "collector": "web", "found": 3, "new": 2,
              "failed": 0, "reason": None}
    run = {"run": "r1", "adapter": "/a", "steps": 4, "losses": [2.5, 1.25], "seconds": 3.0,
           "version": 2}
    return [
        CollectResult(run_id="run1", author_id="maya-okafor", sources=[source],
                      table_version=4, seconds=1.5),
        IngestResult(processed=3, chunks_written=9, chunks_in_collection=9,
                     message="3 documents ingested"),
        DatasetResult(path="/d/v1-abc", version="v1-abc", counts={"samples": 12},
                      grounding={"checked": 12, "passed": 12}, content_hash="abc",
                      preference={"path": "/d/p/v1", "counts": {"pairs": 4},
                                  "base_model": "base"}),
        TrainResult(sft=run, dpo={**run, "run": "r1-dpo", "version": 3}, serving=3),
        EvaluateResult(path="/e/1", samples=4, models=["base", "twin-v2"],
                       summary={"base": {"style": {"mean": 0.5}}}, versus_base={"x": 1}),
    ]


@pytest.mark.parametrize("result", _results(), ids=lambda r: type(r).__name__)
def test_a_result_travels_as_its_models_json(result) -> None:
    out = io.StringIO()
    with redirect_stdout(out):
        print("a log line")
        emit_result(result)
    logs = out.getvalue()
    assert logs.splitlines()[-1] == SUMMARY_MARKER + result.model_dump_json()
    back = result_from_logs(logs, type(result))
    assert back == result and type(back) is type(result)
    assert result.markdown().startswith("### ") and result.headline()


def test_result_lines_keep_the_keys_the_demo_reads() -> None:
    collect, ingest, dataset, train, _ = (json.loads(r.model_dump_json()) for r in _results())
    assert "sources" in collect and "chunks_written" in ingest
    assert "counts" in dataset and dataset["path"] and dataset["preference"]["path"]
    assert train["sft"]["adapter"] and "counts" not in train and "sft" not in dataset


def test_entry_points_do_not_edit_sys_path_and_flows_read_no_settings_at_import() -> None:
    entry_points = [p for folder in ("jobs", "flows", "serve", "scripts", "benchmarks")
                    for p in ROOT.glob(f"{folder}/*.py")]
    assert not [p.name for p in entry_points if "sys.path" in p.read_text()]
    # Settings that do not validate: importing every flow must still work.
    env = {**os.environ, "TWIN_RAY__PORT": "not-a-port", "PYTHONPATH": str(ROOT)}
    code = "import flows.pipeline, flows.collect, flows.ingest, flows.dataset, flows.evaluate"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_a_job_without_sources_exits_2_with_the_reason() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "jobs", "collect", "--author", "Maya"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "give at least one --link or --export" in done.stderr
    assert SUMMARY_MARKER not in done.stdout


def test_the_collect_job_crawls_and_prints_its_typed_result(settings, demo_site) -> None:
    from twin.demo.content import AUTHOR_NAME

    blog = f"{demo_site.url('blog')}/"
    env = {**os.environ, **settings.to_env(), "PYTHONPATH": str(ROOT)}
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run(
        [sys.executable, "-m", "jobs", "collect", "--request",
         CollectRequest(author=AUTHOR_NAME, links=[blog]).model_dump_json(), "--emit-summary"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = result_from_logs(done.stdout, CollectResult)
    assert result is not None and result.author_id == "maya-okafor"
    [source] = result.sources
    assert source.source == blog and source.found > 0 and source.failed == 0
    assert f"author {result.author_id}: {source.found} found" in done.stdout  # the human table
