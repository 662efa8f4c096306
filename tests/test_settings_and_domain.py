"""Settings, the data model's keys and the URL policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from twin.domain import Document, Kind, Platform, Source, SourceKind, canonical_url, slugify
from twin.net import UnsafeURLError, check_url
from twin.settings import Settings


def test_env_vars_override_nested_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWIN_RAY__PORT", "7001")
    monkeypatch.setenv("TWIN_COLLECT__USER_AGENT", "TestBot/1")
    monkeypatch.setenv("TWIN_PLATFORMS__SUBSTACK_DOMAINS", '["news.example.org"]')
    s = Settings()
    assert s.ray.port == 7001
    assert s.collect.user_agent == "TestBot/1"
    assert s.platforms.substack_domains == ["news.example.org"]


def test_config_file_is_read_and_env_wins(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "twin.toml"
    config.write_text('log_level = "DEBUG"\n[ray]\nport = 7100\ndashboard_port = 8300\n')
    monkeypatch.setenv("TWIN_CONFIG", str(config))
    monkeypatch.setenv("TWIN_RAY__DASHBOARD_PORT", "8400")
    s = Settings()
    assert (s.log_level, s.ray.port, s.ray.dashboard_port) == ("DEBUG", 7100, 8400)


def test_to_env_rebuilds_the_same_settings(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    original = Settings(home=tmp_path, collect={"allowed_hosts": ["127.0.0.1:9"]},
                        platforms={"medium_url": "http://127.0.0.1:9"})
    for key, value in original.to_env().items():
        monkeypatch.setenv(key, value)
    rebuilt = Settings()
    assert rebuilt.model_dump() == original.model_dump()
    assert rebuilt.home_dir == tmp_path.resolve()


def test_canonical_url_drops_tracking_and_fragments() -> None:
    a = canonical_url("HTTPS://Medium.com/@maya/post-abc123def456?source=rss-1------2#x")
    b = canonical_url("https://medium.com/@maya/post-abc123def456/")
    assert a == b == "https://medium.com/@maya/post-abc123def456"
    assert canonical_url("http://example.org:80/a?utm_source=x&page=2") == \
        "http://example.org/a?page=2"
    # A Hakyll site's feed links its posts as https://brianbuccola.com//./<slug>/.
    assert canonical_url("https://brianbuccola.com//./surcharge-vs-discount/") == \
        canonical_url("https://brianbuccola.com/surcharge-vs-discount") == \
        "https://brianbuccola.com/surcharge-vs-discount"
    assert canonical_url("https://x.org/a/b/../c/./") == "https://x.org/a/c"
    assert canonical_url("https://x.org") == canonical_url("https://x.org//") == "https://x.org/"


def test_document_keys_are_stable_and_content_hash_tracks_edits() -> None:
    first = Document.build(author_id="a", platform=Platform.MEDIUM, kind=Kind.ARTICLE,
                           url="https://medium.com/@a/x?source=rss", title="T", text="Body")
    again = Document.build(author_id="a", platform="medium", kind="article",
                           url="https://medium.com/@a/x", title="T", text="Body")
    edited = Document.build(author_id="a", platform="medium", kind="article",
                            url="https://medium.com/@a/x", title="T", text="Body, edited")
    assert first.id == again.id == edited.id
    assert first.content_hash == again.content_hash != edited.content_hash
    by_item = Document.build(author_id="a", platform="substack", kind="article",
                             item_id="123.slug", text="x")
    assert by_item.id != first.id and len(by_item.id) == 32


def test_source_platform_hint() -> None:
    hinted = Source.parse("substack=https://news.example.org", SourceKind.LINK)
    assert hinted.platform_hint is Platform.SUBSTACK
    assert hinted.value == "https://news.example.org"
    plain = Source.parse("https://example.org/?a=b", SourceKind.LINK)
    assert plain.platform_hint is None and plain.value == "https://example.org/?a=b"
    assert slugify("  Maya Okafor ") == "maya-okafor"


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8000/x", "http://localhost/", "http://10.1.2.3/", "http://192.168.0.1/",
    "http://169.254.169.254/latest/meta-data/", "http://[::1]/", "http://0.0.0.0/",
    "ftp://example.org/file", "file:///etc/passwd", "http:///nohost",
])
def test_url_policy_refuses_non_public_addresses(url: str) -> None:
    with pytest.raises(UnsafeURLError):
        check_url(url)


def test_url_policy_allows_public_and_explicitly_allowed_hosts() -> None:
    check_url("https://93.184.216.34/article")
    check_url("http://127.0.0.1:8000/x", ["127.0.0.1:8000"])
    with pytest.raises(UnsafeURLError):
        check_url("http://127.0.0.1:8001/x", ["127.0.0.1:8000"])


def test_service_addresses_are_settings_properties() -> None:
    """Every address is read from the settings: the local stack's by default, the configured
    one when set; the process that starts a service reports the same address."""
    from twin.services import SERVICES, RayHead

    local = Settings(ray={"port": 7001, "dashboard_port": 7002}, serve={"host": "0.0.0.0"},
                     ui={"port": 7003})
    assert local.ray_gcs_address == "127.0.0.1:7001" and not local.ray_is_external
    assert local.ray_dashboard_url == "http://127.0.0.1:7002"
    assert local.serve_url == "http://127.0.0.1:8000"  # a wildcard bind is reached on loopback
    assert local.ui_url == "http://127.0.0.1:7003"
    external = Settings(ray={"address": "ray://head:10001", "dashboard_url": "http://head:8265"},
                        prefect={"api_url": "http://orchestrator:4200/api"},
                        milvus={"uri": "http://milvus:19530"})
    assert external.ray_is_external and external.ray_gcs_address == "ray://head:10001"
    assert external.ray_dashboard_url == "http://head:8265"
    head = RayHead()
    assert head.gcs_address(local) == local.ray_gcs_address and head.is_external(external)
    by_name = {service.name: service for service in SERVICES}
    assert by_name["ui"].address(local) == local.ui_url
    assert by_name["prefect"].address(external) == "http://orchestrator:4200/api"
    assert by_name["milvus"].address(external) == "http://milvus:19530"


def test_stage_data_types_live_in_the_domain() -> None:
    """The registry, the vector store and the stages share one definition of each type, and
    the stages' old names still import."""
    import twin.domain as domain
    from twin.datasets.build import DatasetResult
    from twin.ingest import IngestSummary, chunk_id
    from twin.registry import ModelVersion
    from twin.train.common import TrainResult
    from twin.vectorstore import Hit

    assert (TrainResult, ModelVersion, Hit, IngestSummary, DatasetResult) == (
        domain.TrainResult, domain.ModelVersion, domain.Hit, domain.IngestSummary,
        domain.DatasetResult)
    assert chunk_id("doc", 0, "text") == domain.chunk_id("doc", 0, "text")
    assert chunk_id("doc", 0, "text") != chunk_id("doc", 1, "text")
