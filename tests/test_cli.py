"""The `twin` command line: help everywhere, readable output, clean errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from twin.cli import app
from twin.settings import reset_settings_cache

runner = CliRunner()
COMMANDS = ["up", "down", "status", "collect", "ingest", "search", "dataset", "train",
            "warehouse", "demo", "demo-site", "settings", "models", "serve", "post", "eval",
            "ui", "deploy", "run", "migrate-milvus"]


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TWIN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TWIN_RAY__PORT", "6499")  # nothing listens there
    reset_settings_cache()
    yield
    reset_settings_cache()


def test_top_level_help_lists_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in COMMANDS:
        assert command in result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


def test_status_and_empty_warehouse(tmp_path: Path) -> None:
    status = runner.invoke(app, ["status"])
    assert status.exit_code == 0 and "stopped" in status.output
    empty = runner.invoke(app, ["warehouse"])
    assert empty.exit_code == 0 and "holds no documents" in empty.output


def test_collect_without_sources_is_a_usage_error() -> None:
    result = runner.invoke(app, ["collect", "--author", "Maya"])
    assert result.exit_code == 2 and "at least one --link or --export" in result.output


def test_settings_masks_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWIN_PLATFORMS__GITHUB_TOKEN", "ghp_secret")
    reset_settings_cache()
    result = runner.invoke(app, ["settings"])
    assert result.exit_code == 0 and "ghp_secret" not in result.output and "***" in result.output


def test_search_errors_are_readable(monkeypatch: pytest.MonkeyPatch) -> None:
    empty = runner.invoke(app, ["search", "  "])
    assert empty.exit_code == 2 and "the query is empty" in empty.output
    monkeypatch.setenv("TWIN_MILVUS__PORT", "6498")  # nothing listens there
    reset_settings_cache()
    down = runner.invoke(app, ["search", "parquet"])
    assert down.exit_code == 1 and "cannot reach Milvus" in down.output


def test_unknown_service_is_refused() -> None:
    result = runner.invoke(app, ["up", "--service", "mongodb"])
    assert result.exit_code == 1 and "unknown service" in result.output


def test_train_without_a_dataset_says_what_to_run() -> None:
    result = runner.invoke(app, ["train"])
    assert result.exit_code == 1
    assert "no instruct dataset yet" in result.output and "twin dataset" in result.output


def test_train_refuses_a_folder_that_is_not_a_dataset(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--dataset", str(tmp_path)])
    assert result.exit_code == 1 and "no train.jsonl" in result.output


def test_train_refuses_an_unknown_deepspeed_mode() -> None:
    result = runner.invoke(app, ["train", "--deepspeed", "zero9"])
    assert result.exit_code == 2 and "zero9" in result.output


def test_models_on_an_empty_registry() -> None:
    listing = runner.invoke(app, ["models"])
    assert listing.exit_code == 0 and "no model versions yet" in listing.output
    missing = runner.invoke(app, ["models", "serve", "3"])
    assert missing.exit_code == 1 and "no version 3" in missing.output
    assert runner.invoke(app, ["models", "--json"]).output.strip() == "[]"


def test_the_cli_joins_a_token_cluster_with_its_token(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from twin.raycluster import use_cluster_token
    from twin.settings import Settings

    for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(name, raising=False)
    use_cluster_token(Settings(ray={"auth_token_file": tmp_path / "none"}))
    assert "RAY_AUTH_MODE" not in os.environ  # no token anywhere: leave Ray's default
    token = tmp_path / "auth_token"
    token.write_text("abc")
    use_cluster_token(Settings(ray={"auth_token_file": token}))
    assert os.environ["RAY_AUTH_MODE"] == "token"
    assert os.environ["RAY_AUTH_TOKEN_PATH"] == str(token)


def test_eval_compare_without_a_report_says_what_to_do() -> None:
    result = runner.invoke(app, ["eval", "--compare"])
    assert result.exit_code == 1
    assert "no evaluation yet: run `twin eval`" in result.output


def test_eval_without_a_dataset_says_to_build_one() -> None:
    result = runner.invoke(app, ["eval", "--no-retrieval"])
    assert result.exit_code == 1
    assert "run `twin dataset` first" in result.output


def test_run_rejects_a_malformed_param_and_reports_an_absent_prefect() -> None:
    bad = runner.invoke(app, ["run", "collect", "--param", "no-equals-sign"])
    assert bad.exit_code == 2 and "--param wants KEY=VALUE" in bad.output
    os.environ["TWIN_PREFECT__PORT"] = "6498"  # nothing listens there
    reset_settings_cache()
    try:
        absent = runner.invoke(app, ["run", "collect", "-p", "author=Maya"])
    finally:
        del os.environ["TWIN_PREFECT__PORT"]
    assert absent.exit_code == 1 and "did not answer" in absent.output


def test_migrate_milvus_refuses_the_source_as_target() -> None:
    result = runner.invoke(app, ["migrate-milvus", "--to", "http://127.0.0.1:19530"])
    assert result.exit_code == 1 and "the target is the source" in result.output
