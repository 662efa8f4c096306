"""The real-pages fixture set is complete, well formed and servable at its original URLs."""

from __future__ import annotations

import gzip
import re
import urllib.error
import urllib.request
from collections import Counter
from urllib.parse import urlsplit

import pytest
from lxml import html as lxml_html

from tests.realpages import FIXTURES, load_manifest, load_resources, serve_real_pages

PAGES = load_manifest()
RESOURCES = load_resources()
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u00a0", " ")).strip()


def _page_text(markup: str) -> str:
    tree = lxml_html.fromstring(markup)
    for node in tree.xpath("//script|//style|//noscript|//template"):
        node.drop_tree()
    return _norm(tree.text_content())


def test_manifest_is_well_formed() -> None:
    ids = [p.id for p in PAGES]
    assert len(ids) == len(set(ids))
    assert len({p.url for p in PAGES}) == len(PAGES)
    counts = Counter(p.platform for p in PAGES)
    assert set(counts) <= {"medium", "substack", "linkedin", "web"}
    assert counts["substack"] >= 8 and counts["medium"] >= 6
    assert counts["linkedin"] >= 2 and counts["web"] >= 7
    for page in PAGES:
        parts = urlsplit(page.url)
        assert parts.scheme in ("http", "https") and parts.netloc, page.id
        assert page.file.startswith(f"pages/{page.platform}/") and page.file.endswith(".html.gz")
        e = page.expected
        assert e.author is None or e.author.strip() == e.author != "", page.id
        assert e.published is None or DATE.fullmatch(e.published), page.id
        assert e.title and e.first_sentence and e.last_sentence, page.id
        assert e.paid in (True, False, None) and e.custom_domain in (True, False)
        assert {"repo", "path", "commit", "licence"} <= set(page.origin), page.id
        assert re.fullmatch(r"[0-9a-f]{40}", page.origin["commit"]), page.id
        assert page.notes, page.id
    assert (FIXTURES / "README.md").is_file()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.id)
def test_page_holds_its_expected_text(page) -> None:
    markup = page.html()
    assert "<html" in markup[:5000].lower()
    text = _page_text(markup)
    first_words = " ".join(page.expected.first_sentence.split()[:6])
    assert _norm(first_words) in text
    for value in (page.expected.first_sentence, page.expected.last_sentence,
                  page.expected.title):
        assert _norm(value) in text, value
    reference = page.reference_text()
    if reference is not None:
        assert _norm(page.expected.first_sentence) in _norm(reference)
        assert _norm(page.expected.last_sentence) in _norm(reference)


def test_resources_are_well_formed() -> None:
    assert Counter(r.kind for r in RESOURCES) == {"feed": 2, "github-api": 3}
    for resource in RESOURCES:
        body = gzip.decompress(resource.path.read_bytes())
        if resource.kind == "feed":
            assert body.lstrip().startswith(b"<?xml") and b"<generator>Medium</generator>" in body
            assert body.count(b"<item>") == resource.expected["items"]
        else:
            import json

            data = json.loads(body)
            repos = data if isinstance(data, list) else [data]
            assert all(r["html_url"].startswith("https://github.com/") for r in repos)


def test_pages_and_feeds_are_served_at_their_original_paths() -> None:
    page = next(p for p in PAGES if p.id == "substack-slowboring")
    feed = next(r for r in RESOURCES if r.id == "feed-medium-hodlhodl")
    medium = next(p for p in PAGES if p.url.startswith("https://medium.com/"))
    with serve_real_pages([page, medium], [feed]) as served:
        assert set(served.origins) == {"https://www.slowboring.com", "https://medium.com"}
        local = served.local_url(page)
        assert local.startswith(served.origins["https://www.slowboring.com"])
        assert urlsplit(local).path == urlsplit(page.url).path
        with urllib.request.urlopen(local, timeout=10) as answer:
            assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
            assert answer.read().decode("utf-8") == page.html()
        # A tracking query on a page's URL reaches the same page, as on the real site.
        with urllib.request.urlopen(local + "?utm_source=x", timeout=10) as answer:
            assert answer.read().decode("utf-8") == page.html()
        with urllib.request.urlopen(served.local_url(feed), timeout=10) as answer:
            assert answer.headers["Content-Type"].startswith("application/rss+xml")
            assert b"Stories by Hodl Hodl on Medium" in answer.read()
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(served.origins["https://www.slowboring.com"] + "/p/nothing",
                                   timeout=10)
        assert missing.value.code == 404
        assert ("https://www.slowboring.com", urlsplit(page.url).path) in served.requests
