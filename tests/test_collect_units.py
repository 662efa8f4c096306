"""Unit tests of collector details that the demo sites do not exercise."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from scrapy.http import HtmlResponse

from tests.helpers import collect_one
from twin.collect.base import CollectError, _drop_other_authors
from twin.collect.github import file_verdict, parse_github_link
from twin.collect.medium import _medium_body
from twin.collect.substack import SubstackSpider
from twin.collect.web import _site
from twin.domain import Document
from twin.settings import Settings, masked


def test_medium_lists_and_code_blocks_become_clean_markdown() -> None:
    html = """<html><body><article><section>
      <p data-selectable-paragraph="">Intro with <strong>bold</strong>.</p>
      <ol><li data-selectable-paragraph="">first</li>
          <li data-selectable-paragraph="">second</li></ol>
      <ul><li data-selectable-paragraph="">a</li><li data-selectable-paragraph="">b</li></ul>
      <pre><span data-selectable-paragraph="">import os<br>def f():<br>    return 1</span></pre>
    </section></article></body></html>"""
    response = HtmlResponse("https://medium.com/@m/x-0123456789ab", body=html.encode(),
                            encoding="utf-8")
    assert _medium_body(response) == (
        "Intro with **bold**.\n\n1. first\n2. second\n\n- a\n- b\n\n"
        "```\nimport os\ndef f():\n    return 1\n```")


@pytest.mark.parametrize("link", ["http://[::1", "https://example.com:99999/post",
                                  "https://x.com:abc/"])
def test_malformed_links_fail_in_one_line(link: str, tmp_path: Path) -> None:
    result = collect_one(link, Settings(home=tmp_path))
    assert result.failure and "\n" not in result.failure and "Traceback" not in result.failure


def test_github_links_and_file_rules(tmp_path: Path) -> None:
    s = Settings()
    assert parse_github_link("https://github.com/orgs/acme/repositories", s) == ("acme", None)
    assert parse_github_link("https://github.com/maya/repo.git", s) == ("maya", "repo")
    with pytest.raises(CollectError):
        parse_github_link("https://github.com/settings/profile", s)
    readme = tmp_path / "README.md"
    readme.write_bytes(("a" + "é" * 5000).encode())  # a character split at the 8 KB mark
    assert file_verdict(readme, "README.md", 1_000_000) is None
    binary = tmp_path / "data.py"
    binary.write_bytes(b"\x00\x01\x02" * 10)
    assert file_verdict(binary, "data.py", 1_000_000) == "binary"
    assert file_verdict(readme, "node_modules/x/README.md", 1_000_000) == "vendored"


def test_substack_share_links_are_rewritten() -> None:
    spider = SubstackSpider(url="https://open.substack.com/pub/miseendata/p/stock-and-sauce")
    (request,) = spider.first_requests()
    assert request.url == "https://miseendata.substack.com/p/stock-and-sauce"


def test_substack_profile_pages_are_refused(tmp_path: Path) -> None:
    result = collect_one("https://substack.com/@maya", Settings(home=tmp_path))
    assert "profile pages are not crawled" in result.failure


def test_same_site_ignores_www() -> None:
    assert _site("https://www.okafor.dev/posts/a") == _site("https://okafor.dev/") == "okafor.dev"


def test_other_authors_of_a_publication_are_dropped() -> None:
    def doc(n: int, byline: str) -> Document:
        return Document.build(author_id="maya-okafor", platform="medium", kind="article",
                              url=f"https://pub.example/{n}", text="x" * 50,
                              metadata={"bylines": [byline]})

    problems: list[str] = []
    mixed = [doc(1, "Maya Okafor"), doc(2, "Someone Else"), doc(3, "Maya Okafor")]
    assert len(_drop_other_authors(mixed, "maya-okafor", problems)) == 2
    assert problems == ["skipped 1 pieces by other authors of this publication"]
    pen_name = [doc(1, "M. O."), doc(2, "M. O.")]
    assert len(_drop_other_authors(pen_name, "maya-okafor", [])) == 2  # nobody matches: keep


def test_secrets_stay_out_of_job_environments_and_listings() -> None:
    s = Settings(platforms={"github_token": "ghp_x"}, ray={"auth_token": "tok-S3CRET"},
                 warehouse={"storage_options": {"AWS_SECRET_ACCESS_KEY": "k-S3CRET"}})
    env = s.to_env(include_secrets=False)
    for secret in ("ghp_x", "tok-S3CRET", "k-S3CRET"):
        assert secret not in str(env)
    assert "ghp_x" in s.to_env()["TWIN_PLATFORMS"]  # local child processes still get it
    shown = masked(s)
    assert shown["platforms"]["github_token"] == shown["ray"]["auth_token"] == "***"
    assert shown["warehouse"]["storage_options"] == "***"


def test_substack_hint_on_another_archive(tmp_path: Path) -> None:
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("Shares.csv", "Date,ShareLink,ShareCommentary\n")
    result = collect_one(f"substack={archive}", Settings(home=tmp_path), export=True)
    assert result.failure == "no posts.csv in the archive: not a Substack export"


def test_demo_sites_use_fixed_ports_so_reruns_find_the_same_urls(tmp_path: Path) -> None:
    import socket

    from twin.demo.site import DemoSite

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        base = probe.getsockname()[1] + 1000
    with DemoSite(tmp_path / "a", base) as site:
        assert site.url("medium") == f"http://127.0.0.1:{base}"
        links = site.links()
        with pytest.raises(RuntimeError, match="TWIN_DEMO_BASE_PORT"):
            DemoSite(tmp_path / "b", base).start()
    with DemoSite(tmp_path / "c", base) as again:
        assert again.links() == links
