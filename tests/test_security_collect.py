"""Attacks on collection, kept as tests: the address policy in every spelling, malformed links,
a GitHub token that must stay with its host, a crawl whose parent is killed."""

from __future__ import annotations

import contextlib
import gzip
import ipaddress
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import psutil
import pytest
from scrapy.http import Request, Response

from tests.helpers import collect_one
from twin.collect.crawl import run_crawl
from twin.collect.scrapy_support import TwinSpider
from twin.demo.content import AUTHOR_HANDLE as H
from twin.demo.site import DemoSite
from twin.domain import Platform
from twin.net import UnsafeURLError, check_url
from twin.settings import Settings


@pytest.mark.parametrize("url", [
    "http://[::127.0.0.1]/",             # IPv4-compatible
    "http://[::ffff:127.0.0.1]/",        # IPv4-mapped
    "http://[::ffff:7f00:1]/",           # IPv4-mapped, hex
    "http://[::ffff:0:7f00:1]/",         # IPv4-translated (SIIT)
    "http://[::ffff:169.254.169.254]/",  # the metadata address, mapped
    "http://[::10.0.0.1]/",              # IPv4-compatible, private
    "http://[64:ff9b::7f00:1]/",         # NAT64 well-known prefix
    "http://[64:ff9b::a9fe:a9fe]/",      # NAT64 of 169.254.169.254
    "http://[64:ff9b:1::808:808]/",      # local-use NAT64 (RFC 8215)
    "http://[2002:7f00:1::]/",           # 6to4 of 127.0.0.1
    "http://[2002:c0a8:1::1]/",          # 6to4 of 192.168.0.1
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",  # Teredo
    "http://192.0.0.192/",               # IETF protocol assignments
    "http://192.0.0.9/",
    "http://[fe80::1%25eth0]/",          # link-local with a zone
    "http://[fc00::1]/", "http://100.64.0.1/", "http://198.18.0.1/", "http://240.0.0.1/",
])
def test_every_spelling_of_a_non_public_address_is_refused(url: str) -> None:
    with pytest.raises(UnsafeURLError, match="non-public address"):
        check_url(url)


@pytest.mark.parametrize("url", [
    "http://[::ffff:8.8.8.8]/", "http://[64:ff9b::808:808]/", "http://[2002:808:808::]/",
    "http://[2606:4700:4700::1111]/", "https://93.184.216.34/",
])
def test_public_addresses_in_any_spelling_pass(url: str) -> None:
    check_url(url)


@pytest.mark.parametrize(("url", "problem"), [
    ("http://a..b/", "malformed host name"),
    ("http://[::1/", "malformed link"),
    (f"http://{'x' * 64}.example.com/", "malformed host name"),
    ("http://[::1::2]/", "malformed"),
    ("https://example.com:99999/post", "invalid port"),
])
def test_malformed_links_are_a_clear_url_error(url: str, problem: str) -> None:
    with pytest.raises(UnsafeURLError, match=problem) as caught:
        check_url(url)
    assert url in str(caught.value)


@pytest.mark.parametrize("url", ["http://a..b/", "http://[::1/",
                                 f"http://{'x' * 64}.example.com/"])
def test_a_malformed_link_is_one_failed_source_naming_it(url: str, tmp_path) -> None:
    result = collect_one(url, Settings(home=tmp_path))
    assert result.failure and url in result.failure and "malformed" in result.failure
    assert "\n" not in result.failure


def test_a_malformed_link_in_a_request_is_one_link_error(tmp_path) -> None:
    from twin.rag.links import fetch_links

    material = fetch_links(["http://a..b/", "http://[::1/"], "maya-okafor",
                           Settings(home=tmp_path))
    assert set(material.errors) == {"http://a..b/", "http://[::1/"}
    assert all("malformed" in e for e in material.errors.values())


# A GitHub token stays with its host ---------------------------------------------------------

SECRET = "ghp_test-secret-0123456789"


class Recorder:
    """A real HTTP server on 127.0.0.1 that records every request's method, path and headers
    and answers through ``route(method, path, query, headers, body)``."""

    def __init__(self, route: Callable[..., tuple[int, dict[str, str], bytes]]) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                headers = dict(self.headers)
                recorder.requests.append((method, self.path, headers))
                parts = urlsplit(self.path)
                status, extra, payload = route(method, parts.path, parts.query, headers, body)
                self.send_response(status)
                for key, value in extra.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                self._answer("GET")

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                self._answer("POST")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def hostport(self) -> str:
        return self.url.removeprefix("http://")

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def saw_token(self) -> bool:
        """Whether any request carried an Authorization header or the secret anywhere."""
        return any(k.lower() == "authorization" or SECRET in v
                   for _, _, headers in self.requests for k, v in headers.items())


def _repo(base: str, name: str) -> dict[str, Any]:
    return {"name": name, "full_name": f"{H}/{name}", "html_url": f"{base}/{H}/{name}",
            "clone_url": f"{base}/{H}/{name}.git", "description": name, "fork": False,
            "private": False, "default_branch": "main", "pushed_at": "2026-09-01T10:00:00Z"}


@pytest.fixture
def origins(demo_site: DemoSite) -> Iterator[dict[str, Recorder]]:
    """Two GitHub-like hosts on two ports: ``github`` (the configured one, web, git and API)
    and ``other`` (another origin, which serves the API and git too, and must never see the
    token). Both serve the demo's real git repositories."""
    servers: dict[str, Recorder] = {}

    def route(name: str) -> Callable[..., tuple[int, dict[str, str], bytes]]:
        def answer(method: str, path: str, query: str, headers: dict[str, str],
                   body: bytes) -> tuple[int, dict[str, str], bytes]:
            git = demo_site.git_http_backend(method, path, query, headers, body)
            if git is not None:
                return git
            github, other = servers["github"].url, servers["other"].url
            api = "/api/v3/users/"
            json_type = {"Content-Type": "application/json"}
            pages = {
                # Page 2 of the list is on another origin (a hostile Link header).
                ("github", "paged"): ([_repo(github, "parquet-drift")], {
                    "Link": f'<{other}{api}paged/repos?page=2>; rel="next"'}),
                ("other", "paged"): ([_repo(github, "oncall-cookbook")], {}),
                ("other", "moved"): ([_repo(github, "parquet-drift")], {}),
                # One repository's clone_url is on another host.
                ("github", "crosshost"): ([_repo(github, "parquet-drift"),
                                           _repo(other, "oncall-cookbook")], {}),
            }
            user = path.removeprefix(api).removesuffix("/repos")
            if (name, user) == ("github", "moved"):
                return 302, {"Location": f"{other}{api}moved/repos"}, b""
            if (name, user) in pages:
                repos, extra = pages[(name, user)]
                return 200, {**json_type, **extra}, json.dumps(repos).encode()
            return 404, json_type, b'{"message": "Not Found"}'
        return answer

    servers["github"] = Recorder(route("github"))
    servers["other"] = Recorder(route("other"))
    yield servers
    for server in servers.values():
        server.stop()


def _token_settings(tmp_path: Path, origins: dict[str, Recorder]) -> Settings:
    github = origins["github"].url
    return Settings(home=tmp_path / "home", platforms={
        "github_url": github, "github_api_url": f"{github}/api/v3", "github_token": SECRET,
    }, collect={"allowed_hosts": [s.hostport for s in origins.values()],
                "download_delay_s": 0.0, "retry_backoff_s": 0.05, "http_cache": False})


def test_the_github_token_never_follows_pagination_or_redirects_to_another_origin(
        origins: dict[str, Recorder], tmp_path: Path) -> None:
    settings = _token_settings(tmp_path, origins)
    github, other = origins["github"], origins["other"]
    paged = collect_one(f"{github.url}/paged", settings)
    moved = collect_one(f"{github.url}/moved", settings)
    # Both were followed, without the token: page 2 and the redirect target gave their repos.
    assert sorted(d.title for d in paged.documents) == [f"{H}/oncall-cookbook",
                                                        f"{H}/parquet-drift"]
    assert [d.title for d in moved.documents] == [f"{H}/parquet-drift"]
    assert any("/api/v3/users/" in path for _, path, _ in other.requests)
    assert not other.saw_token()
    # The configured API still gets it.
    api_headers = [h for _, path, h in github.requests if path.startswith("/api/v3/")]
    assert api_headers and all(h.get("Authorization") == f"Bearer {SECRET}"
                               for h in api_headers)


def test_git_gets_the_token_only_for_the_configured_github_host(
        origins: dict[str, Recorder], tmp_path: Path) -> None:
    settings = _token_settings(tmp_path, origins)
    github, other = origins["github"], origins["other"]
    result = collect_one(f"{github.url}/crosshost", settings)
    # The repository on another host is cloned too, without the token.
    assert sorted(d.title for d in result.documents) == [f"{H}/oncall-cookbook",
                                                         f"{H}/parquet-drift"], result
    assert any(".git/" in path for _, path, _ in other.requests)
    assert not other.saw_token()
    git_headers = [h for _, path, h in github.requests if ".git/" in path]
    assert git_headers and all(h.get("Authorization") == f"Bearer {SECRET}"
                               for h in git_headers)


# A crawl whose parent is killed -------------------------------------------------------------

_PARENT = """
from twin.collect.crawl import run_crawl
from twin.settings import Settings

s = Settings()
run_crawl("twin.collect.github:GitHubApiSpider", s.platforms.github_api_url, s,
          {"user": "slow", "repo": None, "token": s.platforms.github_token, "max_repos": 5})
"""


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_crawl_dies_with_its_killed_parent_and_leaves_no_secret_behind(
        tmp_path: Path) -> None:
    """SIGKILL the process that started a crawl while the crawl waits on a slow page: the
    crawl process goes too, and no file anywhere holds the token."""
    arrived, release = threading.Event(), threading.Event()

    def slow(method: str, path: str, query: str, headers: dict[str, str],
             body: bytes) -> tuple[int, dict[str, str], bytes]:
        arrived.set()
        release.wait(60)
        return 200, {"Content-Type": "application/json"}, b"[]"

    server = Recorder(slow)
    temp = tmp_path / "tmp"
    temp.mkdir()
    settings = Settings(home=tmp_path / "home", platforms={
        "github_api_url": f"{server.url}/api/v3", "github_token": SECRET,
    }, collect={"allowed_hosts": [server.hostport], "http_cache": False})
    env = {**os.environ, **settings.to_env(), "TMPDIR": str(temp)}
    parent = subprocess.Popen([sys.executable, "-c", _PARENT], env=env)
    crawlers: list[psutil.Process] = []
    try:
        assert arrived.wait(60), "the crawl never reached the slow page"
        crawlers = psutil.Process(parent.pid).children(recursive=True)
        assert crawlers, "no crawl process"
        parent.kill()
        parent.wait(10)
        deadline = time.monotonic() + 10
        while any(_alive(c) for c in crawlers) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = {"orphaned crawl processes": [c.pid for c in crawlers if _alive(c)],
                "temporary files": [str(p) for p in temp.rglob("*")],
                "files holding the token": [str(p) for p in tmp_path.rglob("*") if p.is_file()
                                            and SECRET.encode() in p.read_bytes()]}
        assert left == {k: [] for k in left}
    finally:
        release.set()
        parent.kill()
        for crawler in crawlers:
            with contextlib.suppress(psutil.Error):
                crawler.kill()
        server.stop()


# The address is checked where the connection is made ---------------------------------------

class UncheckedSpider(TwinSpider):
    """A spider without the up-front URL check (as if a name had resolved to a public address
    then and to loopback now): only the check bound to the connection stands."""

    name = "unchecked"
    platform: ClassVar[Platform] = Platform.WEB
    custom_settings: ClassVar[dict[str, Any]] = {"DOWNLOADER_MIDDLEWARES": {
        "twin.collect.scrapy_support.UrlPolicyMiddleware": None}}

    def first_requests(self) -> list[Request]:
        return [Request(self.url, callback=self.parse, errback=self.fail_source,
                        meta={"dont_obey_robotstxt": True})]

    def parse(self, response: Response) -> Any:
        yield {"url": response.url, "text": response.text}


def test_the_address_connected_to_is_checked_by_the_resolver_that_connects(
        tmp_path: Path) -> None:
    page = Recorder(lambda *_: (200, {"Content-Type": "text/html"}, b"<p>internal</p>"))
    try:
        refused = Settings(home=tmp_path / "home", collect={"http_cache": False})
        output = run_crawl("tests.test_security_collect:UncheckedSpider", f"{page.url}/admin",
                           refused)
        assert not output.items and page.requests == []
        assert "non-public address (127.0.0.1)" in (output.failure or "")
        allowed = refused.model_copy(update={"collect": refused.collect.model_copy(
            update={"allowed_hosts": [page.hostport]})})
        output = run_crawl("tests.test_security_collect:UncheckedSpider", f"{page.url}/admin",
                           allowed)
        assert [i["text"] for i in output.items] == ["<p>internal</p>"]
    finally:
        page.stop()


def test_git_connects_to_the_address_that_was_checked(demo_site: DemoSite) -> None:
    """The clone URL's name is not resolved again by git: it connects to the checked address
    (a name that never resolves reaches the demo's git server through the pin alone)."""
    from twin.collect.github import pin_resolution

    port = demo_site.hostport("github").rsplit(":", 1)[1]
    url = f"http://twin-pinned.invalid:{port}/{H}/parquet-drift.git"
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    proc = subprocess.run(
        ["git", *pin_resolution(url, [ipaddress.ip_address("127.0.0.1")]), "ls-remote", url],
        env={**env, "GIT_TERMINAL_PROMPT": "0"}, capture_output=True, text=True, timeout=60,
        check=False)
    assert proc.returncode == 0 and "refs/heads/main" in proc.stdout, proc.stderr
    assert pin_resolution("http://127.0.0.1:80/x.git", []) == []
