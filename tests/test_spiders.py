"""The real spiders, in their own processes, against the demo sites on 127.0.0.1."""

from __future__ import annotations

import pytest

from tests.helpers import collect_one, source_words, words
from twin.demo.content import AUTHOR_HANDLE as H
from twin.demo.content import AUTHOR_NAME
from twin.demo.site import DemoSite
from twin.domain import Kind, Platform
from twin.settings import Settings


def _piece(site: DemoSite, platform: str, channel: str = "page", kind: str | None = None):
    return site._pieces(platform, channel, kind=kind)[0]


def test_medium_profile_reads_the_rss_feed_verbatim(demo_site: DemoSite,
                                                    settings: Settings) -> None:
    result = collect_one(f"{demo_site.url('medium')}/@{H}", settings)
    assert result.ok and result.collector == "medium" and not result.errors
    expected = demo_site._pieces("medium")
    assert {d.title for d in result.documents} == {p.title for p in expected}
    for piece in expected:
        doc = next(d for d in result.documents if d.title == piece.title)
        assert words(doc.text) == source_words(piece.body)
        assert doc.published_at == piece.date
        assert doc.url == demo_site.medium_url(piece)  # ?source=rss... dropped
        assert doc.platform is Platform.MEDIUM and doc.kind is Kind.ARTICLE
        assert doc.metadata["medium_id"] == piece.hex_id


def test_medium_article_page(demo_site: DemoSite, settings: Settings) -> None:
    piece = _piece(demo_site, "medium", "direct")
    result = collect_one(demo_site.medium_url(piece), settings)
    (doc,) = result.documents
    assert doc.title == piece.title and doc.metadata["subtitle"] == piece.subtitle
    assert words(doc.text) == source_words(piece.body)
    assert "Follow" not in doc.text and "min read" not in doc.text  # page chrome is left out
    assert doc.published_at == piece.date


def test_substack_publication_via_archive_api(demo_site: DemoSite, settings: Settings) -> None:
    result = collect_one(demo_site.url("substack"), settings)
    expected = demo_site._pieces("substack")
    assert result.ok and len(result.documents) == len(expected) == 5
    for piece in expected:
        doc = next(d for d in result.documents if d.title == piece.title)
        assert words(doc.text) == source_words(piece.body)
        assert doc.metadata["subtitle"] == piece.subtitle
        assert doc.url.endswith(f"/p/{piece.slug}")
    archive_calls = [p for s, p in demo_site.request_log if s == "substack" and "archive" in p]
    assert any("offset=0" in p for p in archive_calls)


def test_substack_falls_back_to_the_feed(demo_site: DemoSite, settings: Settings) -> None:
    demo_site.archive_api_enabled = False
    try:
        result = collect_one(demo_site.url("substack"), settings)
    finally:
        demo_site.archive_api_enabled = True
    assert result.ok and len(result.documents) == 5
    assert any("used the RSS feed" in e for e in result.errors)
    assert {d.metadata["source"] for d in result.documents} == {"rss"}


def test_substack_post_page_with_hint(demo_site: DemoSite, settings: Settings) -> None:
    piece = _piece(demo_site, "substack")
    settings.platforms.substack_domains = []  # the prefix alone must route it
    result = collect_one(f"substack={demo_site.url('substack')}/p/{piece.slug}", settings)
    (doc,) = result.documents
    assert doc.platform is Platform.SUBSTACK and words(doc.text) == source_words(piece.body)


def test_an_unconfigured_substack_home_is_read_through_its_archive_api(
        demo_site: DemoSite, settings: Settings) -> None:
    settings.platforms.substack_domains = []  # a custom domain nobody listed
    result = collect_one(demo_site.url("substack"), settings)
    assert result.collector == "web>substack"
    assert result.ok and len(result.documents) == len(demo_site._pieces("substack"))
    assert {d.platform for d in result.documents} == {Platform.SUBSTACK}
    for doc in result.documents:
        assert doc.metadata["author"] == AUTHOR_NAME
        assert doc.metadata["provenance"]["author"] == "substack-api"
        assert doc.metadata["provenance"]["published_at"] == "substack-api"
        assert doc.metadata["paywalled"] is False
    assert any("/api/v1/archive" in p for s, p in demo_site.request_log if s == "substack")


def test_linkedin_post_and_pulse_pages(demo_site: DemoSite, settings: Settings) -> None:
    post = _piece(demo_site, "linkedin", kind="post")
    (doc,) = collect_one(demo_site.linkedin_url(post), settings).documents
    assert doc.kind is Kind.POST and doc.published_at == post.date
    assert doc.text == post.body.strip()  # posts are plain text: kept exactly, emoji included
    assert doc.title == post.body.splitlines()[0].strip()[:90]
    article = _piece(demo_site, "linkedin", kind="article")
    (doc,) = collect_one(demo_site.linkedin_url(article), settings).documents
    assert doc.kind is Kind.ARTICLE and doc.title == article.title
    assert words(doc.text) == source_words(article.body)


@pytest.mark.parametrize(("path", "reason"), [
    (f"/in/{H}", "LinkedIn profile pages need a login"),
    (f"/posts/{H}_blocked-activity-999-abcd", "HTTP 999"),
    (f"/posts/{H}_walled-activity-302-abcd", "authwall"),
    ("/jobs/view/123", "not a LinkedIn post or article link"),
])
def test_linkedin_refusals_are_one_clear_line(demo_site: DemoSite, settings: Settings,
                                              path: str, reason: str) -> None:
    result = collect_one(demo_site.url("linkedin") + path, settings)
    assert not result.documents and reason in (result.failure or "")
    assert "Traceback" not in result.failure and "\n" not in result.failure


def test_github_user_repositories_are_cloned_and_filtered(demo_site: DemoSite,
                                                          settings: Settings) -> None:
    result = collect_one(f"{demo_site.url('github')}/{H}", settings)
    assert result.ok and not result.errors
    docs = {d.title: d for d in result.documents}
    assert set(docs) == {f"{H}/parquet-drift", f"{H}/oncall-cookbook"}  # the fork is skipped
    drift = docs[f"{H}/parquet-drift"]
    assert drift.kind is Kind.REPOSITORY and drift.platform is Platform.GITHUB
    files = drift.metadata["files"]
    assert files[0] == "README.md"
    assert "parquet_drift/compare.py" in files and "docs/design.md" in files
    for skipped in ("assets/logo.png", "node_modules/left-pad/index.js", "package-lock.json",
                    "generated_schema.py", "fixtures/huge_sample.sql"):
        assert skipped not in files
    assert "LICENSE" not in files  # licence boilerplate is not the author's writing
    assert drift.metadata["skipped"] == {"not source or docs": 2, "vendored": 1,
                                         "generated": 2, "too large": 1}
    assert "def " in drift.text and "```python" in drift.text
    # Page 2 of the API's repository list was followed through its Link header.
    assert any("page=2" in p for s, p in demo_site.request_log if s == "github")


def test_github_private_or_missing_repository(demo_site: DemoSite, settings: Settings) -> None:
    result = collect_one(f"{demo_site.url('github')}/{H}/secret-notes", settings)
    assert result.failure == f"GitHub repository {H}/secret-notes not found or private"
    single = collect_one(f"{demo_site.url('github')}/{H}/parquet-drift", settings)
    assert [d.title for d in single.documents] == [f"{H}/parquet-drift"]


def test_blog_home_follows_its_feed(demo_site: DemoSite, settings: Settings) -> None:
    result = collect_one(f"{demo_site.url('blog')}/", settings)
    expected = demo_site._pieces("blog")
    assert result.collector == "web" and len(result.documents) == len(expected) == 4
    for piece in expected:
        doc = next(d for d in result.documents if d.title == piece.title)
        assert words(doc.text) == source_words(piece.body)
        assert doc.published_at == piece.date
        assert "Built with Hugo" not in doc.text


@pytest.mark.parametrize(("path", "reason"), [
    ("/private/drafts/", "blocked by robots.txt"),
    ("/missing-page/", "HTTP 404"),
    ("/posts/coming-soon/", "no article text found"),
])
def test_blog_bad_pages(demo_site: DemoSite, settings: Settings, path: str, reason: str) -> None:
    result = collect_one(demo_site.url("blog") + path, settings)
    assert not result.documents and reason in (result.failure or "")


def test_retries_with_backoff_recover_from_503(demo_site: DemoSite, settings: Settings) -> None:
    demo_site._flaky_hits = 0
    result = collect_one(f"{demo_site.url('blog')}/flaky/", settings)
    assert result.ok and len(result.documents) == 1
    assert demo_site._flaky_hits == 3  # two 503s, then the page


def test_loopback_links_are_refused_unless_allowed(demo_site: DemoSite,
                                                   settings: Settings) -> None:
    settings.collect.allowed_hosts = []
    result = collect_one(f"{demo_site.url('blog')}/", settings)
    assert "refusing to fetch a non-public address" in result.failure
    metadata = collect_one("http://169.254.169.254/latest/meta-data/", settings)
    assert "non-public address" in metadata.failure


def test_unresolvable_host(settings: Settings) -> None:
    result = collect_one("https://no-such-host.invalid/post", settings)
    assert "cannot resolve host" in result.failure
