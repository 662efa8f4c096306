"""Secrets in settings, whatever their shape, never reach a listing, a log or a job's env."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from twin.cli import app
from twin.settings import Settings, masked, reset_settings_cache

# One credential in every URL-like setting, in each shape a URL carries one.
URL_SECRETS = {
    "registry": {"tracking_uri": "http://user:pw-S3CRET1@mlflow:5000"},
    "milvus": {"uri": "https://root:pw-S3CRET2@milvus.internal:19530"},
    "prefect": {"api_url": "https://admin:pw-S3CRET3@prefect.internal/api"},
    "warehouse": {"uri": "s3://AKIA:pw-S3CRET4@bucket/warehouse"},
    "teacher": {"base_url": "http://teacher.internal:8000/v1?api_key=pw-S3CRET5"},
    "evaluate": {"judge_base_url": "https://ghp_pwS3CRET6@judge.internal/v1"},
    "ray": {"dashboard_url": "http://ops:pw-S3CRET7@head:8265"},
    "train": {"storage_path": "s3://k:pw-S3CRET8@bucket/train"},
}


def test_settings_command_masks_passwords_in_urls(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """`twin settings` shows a URL setting without the password it holds."""
    monkeypatch.setenv("TWIN_HOME", str(tmp_path))
    monkeypatch.setenv("TWIN_REGISTRY__TRACKING_URI", "http://user:secret-1@mlflow:5000")
    monkeypatch.setenv("TWIN_MILVUS__URI", "http://root:secret-2@milvus:19530")
    reset_settings_cache()
    try:
        result = CliRunner().invoke(app, ["settings"])
    finally:
        reset_settings_cache()
    assert result.exit_code == 0 and "secret-" not in result.output, result.output
    assert "http://user:***@mlflow:5000" in result.output


def test_url_credentials_are_masked_in_every_setting() -> None:
    """Passwords in URL userinfo, a token as the URL's user, a key in its query: all masked,
    whichever setting holds them."""
    shown = masked(Settings(**URL_SECRETS))
    assert "S3CRET" not in json.dumps(shown), shown
    assert shown["registry"]["tracking_uri"] == "http://user:***@mlflow:5000"
    assert shown["teacher"]["base_url"] == "http://teacher.internal:8000/v1?api_key=***"
    assert shown["evaluate"]["judge_base_url"] == "https://***@judge.internal/v1"


def test_url_credentials_stay_out_of_job_environments(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ray job environments (shown by the dashboard) leave such settings out, like the other
    secrets: the cluster's own environment supplies them. Local child processes get them."""
    s = Settings(**URL_SECRETS)
    job_env = s.to_env(include_secrets=False)
    assert "S3CRET" not in str(job_env)
    for name, value in job_env.items():  # what a job rebuilds from its environment
        monkeypatch.setenv(name, value)
    rebuilt = Settings()
    assert rebuilt.registry.tracking_uri is None and rebuilt.milvus.uri is None
    assert rebuilt.registry.experiment == s.registry.experiment  # the rest still travels
    assert all(f"pw-S3CRET{i}" in str(s.to_env()) for i in range(1, 6))


def test_secret_named_settings_are_masked_by_name() -> None:
    """Every field named like a secret is masked; paths and token counts are not secrets."""
    s = Settings(serve={"api_key": "key-S3CRET"}, ui={"storage_secret": "ui-S3CRET"},
                 milvus={"token": "root:S3CRET"}, evaluate={"judge_api_key": "j-S3CRET"},
                 warehouse={"storage_options": {"AWS_SECRET_ACCESS_KEY": "k-S3CRET"}})
    shown = masked(s)
    assert "S3CRET" not in json.dumps(shown)
    assert shown["ray"]["auth_token_file"] is None
    assert shown["llm"]["max_new_tokens"] == s.llm.max_new_tokens
    assert "S3CRET" not in str(s.to_env(include_secrets=False))


def test_log_lines_never_show_url_credentials(caplog: pytest.LogCaptureFixture) -> None:
    """The project's log setup masks URL credentials in every line, whoever logs it."""
    from twin.logs import setup_logging
    from twin.settings import redact

    assert redact("at http://u:pw-S3CRET@milvus:19530 and postgresql://a:b@db/x") == \
        "at http://u:***@milvus:19530 and postgresql://a:***@db/x"
    assert redact("mail me: someone@example.org, see https://example.org/@maya") == \
        "mail me: someone@example.org, see https://example.org/@maya"
    setup_logging("INFO")
    with caplog.at_level(logging.INFO):
        logging.getLogger("twin.test").info("connecting to %s", URL_SECRETS["milvus"]["uri"])
    assert "pw-S3CRET2" not in caplog.text and "root:***@milvus.internal" in caplog.text


def test_status_never_shows_url_credentials(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """`twin status` names external services by their URL, without the password in it."""
    monkeypatch.setenv("TWIN_HOME", str(tmp_path))
    monkeypatch.setenv("TWIN_RAY__PORT", "6499")  # nothing listens there
    monkeypatch.setenv("TWIN_MILVUS__URI", "http://root:pw-S3CRET@127.0.0.1:9")
    reset_settings_cache()
    try:
        result = CliRunner().invoke(app, ["status"], env={"COLUMNS": "200"})
    finally:
        reset_settings_cache()
    assert result.exit_code == 0 and "external" in result.output, result.output
    assert "S3CRET" not in result.output and "root:***@127.0.0.1:9" in result.output


def test_prefect_with_basic_auth_in_its_url(tmp_path: Path) -> None:
    """A Prefect server with basic auth is configured as https://user:pass@host/api: the health
    check (open on Prefect) still answers, and Prefect's own processes get the credentials as
    PREFECT_API_AUTH_STRING, not inside the URL they print."""
    import http.server
    import threading

    from twin.services import prefect_environment, prefect_healthy

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            self.send_response(200 if self.path == "/api/health" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://maya:pw-S3CRET@127.0.0.1:{server.server_address[1]}/api"
        assert prefect_healthy(url)
    finally:
        server.shutdown()
        server.server_close()
    env = prefect_environment(Settings(home=tmp_path, prefect={"api_url": url}))
    assert env["PREFECT_API_URL"] == url.replace("maya:pw-S3CRET@", "")
    assert env["PREFECT_API_AUTH_STRING"] == "maya:pw-S3CRET"
