"""Shared fixtures: the demo sites on 127.0.0.1, settings pointed at them, a local Ray."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from twin.demo.site import DemoSite
from twin.settings import Settings, deep_merge

# Every test home shares one converted copy of the base model (a conversion takes ~20 s);
# jobs and subprocesses inherit it through the environment.
# It lives in the repo's ignored .twin folder: never in the (empty, in CI) home.
os.environ.setdefault("TWIN_LLM__CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".twin"
                                                 / "test-models"))


# One Ray token for every in-process Ray of this test session: Ray caches the token it loaded
# once per process, so modules that start and stop in-process clusters must all use the same
# one. (The fresh-machine path, the project's own <home>/ray/auth_token and an empty HOME, is
# what tests/test_end_to_end.py runs, in subprocesses without these variables.)
_SESSION_TOKEN = Path(tempfile.mkdtemp(prefix="twin-test-ray-")) / "auth_token"
_SESSION_TOKEN.write_text(secrets.token_hex(32))
os.environ.setdefault("RAY_AUTH_MODE", "token")
os.environ.setdefault("RAY_AUTH_TOKEN_PATH", str(_SESSION_TOKEN))


@pytest.fixture(autouse=True)
def _ray_token_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The CLI, called in this process, puts Ray's token variables into the environment (as a
    real `twin` process does for its one command); no test leaves them to the next."""
    for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        # setenv records the value to restore (or that there was none); delenv of an absent
        # variable would record nothing.
        absent = name not in os.environ
        monkeypatch.setenv(name, os.environ.get(name, ""))
        if absent:
            monkeypatch.delenv(name)
    yield


@pytest.fixture(scope="session")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoSite]:
    """The demo author's sites, served for the whole test session."""
    site = DemoSite(tmp_path_factory.mktemp("demo-site")).start()
    yield site
    site.stop()


@pytest.fixture
def settings(tmp_path: Path, demo_site: DemoSite) -> Settings:
    """Settings with a fresh home and the platforms pointed at the demo sites."""
    overrides = deep_merge(demo_site.settings_overrides(),
                           {"collect": {"retry_backoff_s": 0.05, "http_cache": True}})
    return Settings(home=tmp_path / "home", **overrides)


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """An in-process Ray for tests of the Ray-parallel stages."""
    import ray

    if not ray.is_initialized():
        # "local": a new instance, never the last `ray start` cluster Ray would otherwise join.
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    yield
    ray.shutdown()


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def milvus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A real local Milvus Lite server (started the way `twin up` starts it)."""
    from twin.services import MilvusLite

    settings = Settings(home=tmp_path_factory.mktemp("milvus-home"),
                        milvus={"port": _free_port()})
    service = MilvusLite()
    service.start(settings)
    yield {"port": settings.milvus.port, "data_dir": str(settings.milvus_data_dir)}
    service.stop(settings)
