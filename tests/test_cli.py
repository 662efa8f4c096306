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


def test_the_local_stack_owns_its_ray_token(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """No ~/.ray needed: the project's <home>/ray/auth_token is made when missing and handed to
    Ray; a token in settings, a token file in settings or the user's own Ray variables win."""
    from twin.raycluster import cluster_token, token_environment, use_cluster_token
    from twin.settings import Settings

    for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "empty-home"))
    settings = Settings(home=tmp_path / "home")
    own = tmp_path / "home" / "ray" / "auth_token"
    assert token_environment(settings) == {"RAY_AUTH_MODE": "token",
                                           "RAY_AUTH_TOKEN_PATH": str(own)}
    assert not own.exists() and cluster_token(settings) is None  # nothing made on a read
    use_cluster_token(settings, create=True)
    assert os.environ["RAY_AUTH_TOKEN_PATH"] == str(own) and os.environ["RAY_AUTH_MODE"] == "token"
    secret = own.read_text()
    assert len(secret) == 64 and int(secret, 16) and oct(own.stat().st_mode & 0o777) == "0o600"
    assert cluster_token(settings) == secret
    use_cluster_token(settings, create=True)  # kept, not regenerated
    assert own.read_text() == secret and not (tmp_path / "empty-home" / ".ray").exists()
    # The variable we set is ours, not the user's: the project's file still answers.
    assert token_environment(settings)["RAY_AUTH_TOKEN_PATH"] == str(own)

    theirs = tmp_path / "their-token"
    theirs.write_text("0123")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(theirs))  # the user's own Ray token wins
    assert token_environment(settings)["RAY_AUTH_TOKEN_PATH"] == str(theirs)
    assert cluster_token(settings) == "0123"
    configured = Settings(home=tmp_path / "home", ray={"auth_token_file": own})
    assert token_environment(configured)["RAY_AUTH_TOKEN_PATH"] == str(own)  # settings win
    assert token_environment(Settings(ray={"auth_token": "t0k"})) == {
        "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "t0k"}
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH")
    # An external cluster with no token configured: Ray's own defaults, no local token.
    assert token_environment(Settings(ray={"address": "ray://head:10001"})) == {}


def test_errors_print_as_readable_text_not_markup(tmp_path: Path) -> None:
    """A message with brackets is shown as it is; no raw `[red]...[/]` markup either."""
    result = runner.invoke(app, ["warehouse", "--show", "[bold]nope[/]"])
    assert result.exit_code == 1
    assert "error: no single document with id '[bold]nope[/]'" in result.output
    assert "[red]" not in result.output and "[/]" not in result.output.replace("[bold]nope[/]", "")


def test_quiet_terminal_sends_library_chatter_to_the_log(tmp_path: Path) -> None:
    """Everything written to the process's descriptors (C libraries, child processes, logging)
    lands in the log; only the story reaches the terminal."""
    import subprocess
    import sys

    log = tmp_path / "logs" / "demo.log"
    script = f"""
import logging, os, subprocess, sys
from pathlib import Path
from twin.terminal import quiet_terminal
logging.basicConfig()
with quiet_terminal(Path({str(log)!r})) as terminal:
    terminal.print("1/8 the story line")
    os.write(1, b"raw fd chatter\\n")
    os.write(2, b"grpc GOAWAY too_many_pings\\n")
    print("print chatter")
    logging.getLogger("ray").warning("a warning from a library")
    subprocess.run([sys.executable, "-c", "print('child chatter')"], check=True)
print("after the demo")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.splitlines() == ["1/8 the story line", "after the demo"]
    assert done.stderr == ""
    text = log.read_text()
    for chatter in ("raw fd chatter", "GOAWAY", "print chatter", "a warning from a library",
                    "child chatter"):
        assert chatter in text
    assert "the story line" not in text


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


def test_train_refuses_negative_pretraining_steps() -> None:
    result = runner.invoke(app, ["train", "--pretrain-steps", "-1"])
    assert result.exit_code == 2 and "pretrain" in result.output.lower()
