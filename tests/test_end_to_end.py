"""End to end on real services: `twin up`, `ray job submit`, the Prefect flow, `twin down`."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from twin.demo.content import AUTHOR_NAME
from twin.demo.site import DemoSite
from twin.settings import Settings
from twin.warehouse import Warehouse

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RAY_PORT, DASHBOARD_PORT, MILVUS_PORT = 6391, 8267, 19591
PREFECT_PORT, UI_PORT, SERVE_PORT = 4291, 8091, 8001


def _twin(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "twin"), *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory,
            demo_site: DemoSite) -> Iterator[dict[str, str]]:
    """The real local stack started with `twin up`, stopped with `twin down`, from a fresh
    machine's home: an empty HOME (no ~/.ray token, no caches), as a new user has."""
    import ray

    ray.shutdown()  # no in-process Ray left over from other modules
    home = tmp_path_factory.mktemp("e2e") / "home"
    user_home = tmp_path_factory.mktemp("empty-user-home")
    env = {**os.environ, "HOME": str(user_home), "TWIN_HOME": str(home),
           "TWIN_RAY__PORT": str(RAY_PORT),
           "TWIN_RAY__DASHBOARD_PORT": str(DASHBOARD_PORT), "TWIN_RAY__NUM_CPUS": "2",
           "TWIN_MILVUS__PORT": str(MILVUS_PORT), "TWIN_PREFECT__PORT": str(PREFECT_PORT),
           "TWIN_UI__PORT": str(UI_PORT), "TWIN_SERVE__PORT": str(SERVE_PORT)}
    for name in ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        env.pop(name, None)
    started = _twin("up", env=env)
    assert started.returncode == 0, started.stdout + started.stderr
    # The Ray head, Milvus Lite, the Prefect server and worker, the web UI.
    assert started.stdout.count("running") == 5, started.stdout
    # The local stack made its own token, in the project's home, not the user's.
    token = home / "ray" / "auth_token"
    assert token.is_file() and len(token.read_text().strip()) == 64
    assert oct(token.stat().st_mode & 0o777) == "0o600"
    assert not (user_home / ".ray").exists()
    status = _twin("status", env=env)
    assert status.returncode == 0 and status.stdout.count("running") == 5, status.stdout
    secret = token.read_text()
    again = _twin("up", env=env)  # idempotent, and the token is kept
    assert again.returncode == 0 and "running" in again.stdout
    assert token.read_text() == secret
    yield env
    stopped = _twin("down", env=env)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    status = _twin("status", env=env)
    assert status.stdout.count("stopped") == 5, status.stdout
    assert not (user_home / ".ray").exists()


def _ray_cli_env(env: dict[str, str]) -> dict[str, str]:
    """What `eval "$(twin env)"` exports, for Ray's and Prefect's own CLIs."""
    printed = _twin("env", env=env)
    assert printed.returncode == 0, printed.stdout + printed.stderr
    exports = dict(shlex.split(line.removeprefix("export "))[0].split("=", 1)
                   for line in printed.stdout.splitlines() if line.startswith("export "))
    assert exports["RAY_AUTH_TOKEN_PATH"] == str(Path(env["TWIN_HOME"]) / "ray" / "auth_token")
    return {**env, **exports}


def _job_env(env: dict[str, str], site: DemoSite) -> dict[str, str]:
    overrides = site.settings_overrides()
    return {"TWIN_HOME": env["TWIN_HOME"],
            "TWIN_PLATFORMS": json.dumps(overrides["platforms"]),
            "TWIN_COLLECT": json.dumps(overrides["collect"]),
            "TWIN_MILVUS__PORT": str(MILVUS_PORT)}


def test_ray_job_submit_collects_the_demo_author(cluster: dict[str, str],
                                                 demo_site: DemoSite) -> None:
    runtime_env = {"env_vars": _job_env(cluster, demo_site),
                   "excludes": [".venv", ".twin", ".git"]}
    args = ["--author", AUTHOR_NAME]
    for link in demo_site.links():
        args += ["--link", link]
    for export in demo_site.exports():
        args += ["--export", str(export)]
    # As the README says: `eval "$(twin env)"` gives Ray's CLI the address and the token.
    proc = subprocess.run(
        [str(BIN / "ray"), "job", "submit", "--address", f"http://127.0.0.1:{DASHBOARD_PORT}",
         "--working-dir", ".", "--runtime-env-json", json.dumps(runtime_env), "--",
         "python", "jobs/collect.py", *args],
        cwd=ROOT, env=_ray_cli_env(cluster), capture_output=True, text=True,
        timeout=500, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert "34 found, 34 new, 0 updated" in output
    assert "::twin-summary::" not in output  # machine-readable lines are for the flows only
    assert "succeeded" in output.lower()
    store = Warehouse(str(Path(cluster["TWIN_HOME"]) / "warehouse"))
    assert store.read_table().num_rows == 34
    listing = _twin("warehouse", "--author", AUTHOR_NAME, env=cluster)
    assert listing.returncode == 0 and "linkedin" in listing.stdout and "34" in listing.stdout


def test_ray_job_submit_ingests_and_search_finds(cluster: dict[str, str],
                                                 demo_site: DemoSite) -> None:
    runtime_env = {"env_vars": _job_env(cluster, demo_site),
                   "excludes": [".venv", ".twin", ".git"]}
    proc = subprocess.run(
        [str(BIN / "ray"), "job", "submit", "--address", f"http://127.0.0.1:{DASHBOARD_PORT}",
         "--working-dir", ".", "--runtime-env-json", json.dumps(runtime_env), "--",
         "python", "jobs/ingest.py"],
        cwd=ROOT, env=_ray_cli_env(cluster), capture_output=True, text=True,
        timeout=500, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert "34 documents ingested" in output
    found = _twin("search", "the partner's int64 column became a timestamp", "--author",
                  AUTHOR_NAME, "-k", "3", "--json", env=cluster)
    assert found.returncode == 0, found.stdout + found.stderr
    hits = json.loads(found.stdout)
    assert len(hits) == 3 and hits[0]["url"].startswith("http")
    assert any("Parquet" in h["title"] for h in hits)


def test_prefect_deployment_run_collects_and_ingests(cluster: dict[str, str],
                                                     demo_site: DemoSite) -> None:
    """`prefect deployment run` of the collect deployment that `twin up` registered: the
    worker runs the flow, which submits the collect and ingest jobs and follows them."""
    env = {**cluster, "PREFECT_API_URL": f"http://127.0.0.1:{PREFECT_PORT}/api",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    overrides = demo_site.settings_overrides()

    def run(*params: str) -> subprocess.CompletedProcess[str]:
        args = [str(BIN / "prefect"), "deployment", "run", "collect/collect", "--watch",
                "--param", f"author={AUTHOR_NAME}",
                "--param", f"settings_overrides={json.dumps(overrides)}"]
        for param in params:
            args += ["--param", param]
        return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=500, check=False)

    proc = run(f"links={json.dumps(demo_site.links())}",
               f"exports={json.dumps([str(e) for e in demo_site.exports()])}")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert "COMPLETED" in output.upper()
    # The run tells its story through Prefect's API: logs and the stages' artifacts.
    from twin.deployments import PrefectAPI

    api = PrefectAPI(env["PREFECT_API_URL"])
    latest = api.runs("collect", limit=1)[0]
    assert latest.state == "COMPLETED"
    logs = " ".join(line["message"] for line in api.all_logs(latest.id))
    # The job above stored everything: this run finds it all unchanged.
    assert "34 found, 0 new, 0 updated, 34 unchanged, 0 failed" in logs
    assert "everything is up to date" in logs  # the chained ingest found nothing new
    markdown = [a["data"] for a in api.artifacts(latest.id) if a["type"] == "markdown"]
    assert any("Collection for maya-okafor" in m and "**34** unchanged" in m for m in markdown)
    assert any("### Ingestion" in m for m in markdown)
    progress = [a["data"] for a in api.artifacts(latest.id) if a["type"] == "progress"]
    assert progress and float(progress[-1]) == 100.0

    failing = run('links=["not-a-link"]')
    assert failing.returncode != 0
    failed = api.runs("collect", limit=1)[0]
    assert failed.state == "FAILED" and "not a valid http(s) link" in failed.state_message
    assert [t["state"] for t in api.task_runs(failed.id)] == ["FAILED"]  # not retried
    store = Warehouse(Settings(home=Path(cluster["TWIN_HOME"])).warehouse_uri)
    assert store.read_table().num_rows == 34


def test_prefect_train_flow_builds_the_dataset_trains_and_registers(
        cluster: dict[str, str], demo_site: DemoSite, tmp_path: Path) -> None:
    env = {**cluster, **_job_env(cluster, demo_site), "PREFECT_HOME": str(tmp_path / "prefect"),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "TWIN_RAY__DASHBOARD_URL": f"http://127.0.0.1:{DASHBOARD_PORT}",
           # A cluster named by URL gets only the token settings name for it (never ours).
           "TWIN_RAY__AUTH_TOKEN_FILE": str(Path(cluster["TWIN_HOME"]) / "ray" / "auth_token"),
           # A short run: the flow passes these settings on to both Ray jobs.
           "TWIN_TRAIN__MAX_LENGTH": "128", "TWIN_TRAIN__BATCH_SIZE": "2"}
    env.pop("PREFECT_API_URL", None)
    proc = subprocess.run([sys.executable, "-m", "flows", "train", "-p", f"author={AUTHOR_NAME}",
                           "-p", "max_steps=3"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert "Finished in state Completed" in output
    listed = _twin("models", "--json", env=cluster)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    versions = json.loads(listed.stdout)
    assert len(versions) == 1
    version = versions[0]
    # Trained without --serve: registered, not served (only the gate or --force moves it).
    assert version["aliases"] == [] and version["stage"] == "sft" and not version["gate"]
    assert version["dataset"].startswith("v1-") and version["metrics"]["steps"] == 3
    assert version["git_commit"] not in ("", "unknown")  # passed into the job's environment
    assert version["params"]["max_length"] == "128"
    adapter = Path(version["source"].removeprefix("file://"))
    assert (adapter / "adapter_model.safetensors").exists()
    assert (adapter / "chat_template.jinja").exists()


def test_evaluate_deployment_compares_base_and_twin_and_stores_metrics(
        cluster: dict[str, str]) -> None:
    """`twin run evaluate` (the Prefect deployment, a Ray job) on the version the train flow
    registered: style with CIs for both models, retrieval per setting, metrics in the registry."""
    overrides = {"evaluate": {"max_samples": 4, "max_new_tokens": 48, "candidates": 2,
                              "search_modes": ["hybrid", "dense"], "expansions": ["keywords"],
                              "rerankers": ["mmr", "none"]},
                 "milvus": {"port": MILVUS_PORT}}
    proc = _twin("run", "evaluate", "-p", f"settings_overrides={json.dumps(overrides)}",
                 env=cluster)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert "Held-out evaluation (4 samples, best of 2 drafts" in output
    assert "LLM-as-judge skipped" in output
    compared = _twin("eval", "--compare", env=cluster)
    assert compared.returncode == 0, compared.stdout + compared.stderr
    assert "twin-v1" in compared.stdout and "style_distance" in compared.stdout
    report = json.loads(sorted((Path(cluster["TWIN_HOME"]) / "evals").glob(
        "*/report.json"))[-1].read_text())
    assert report["models"] == ["base", "twin-v1", "twin-v1@1"] and report["samples"] == 4
    # Every model's posts went through the serving machinery: the voice score and the checks.
    for label in report["models"]:
        assert 0 <= report["summary"][label]["voice_score"]["mean"] <= 1
        assert len(report["per_prompt"][label]["checks_passed"]) == 4
    for label in report["models"]:
        ci = report["summary"][label]["style_distance"]
        assert ci["low"] <= ci["mean"] <= ci["high"]
    assert len(report["retrieval"]) == 4
    assert max(row["hit@10"] for row in report["retrieval"]) > 0.5  # finds the source doc
    versions = json.loads(_twin("models", "--json", env=cluster).stdout)
    metrics = versions[0]["metrics"]
    assert {"eval_style_distance", "eval_reference_similarity",
            "eval_gain_style_distance"} <= set(metrics)
