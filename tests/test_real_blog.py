"""A real personal blog (Hakyll, posts as root folders, no article metadata) collected by a real
Scrapy crawl from 127.0.0.1: a post's link gives that post, the home page gives its feed's."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from scripts.serve_site import make_handler
from twin.collect.pipeline import collect_source
from twin.domain import Source, SourceKind, SourceResult
from twin.settings import Settings

SITE = Path(__file__).parent / "fixtures" / "realblog" / "brianbuccola.com"
ORIGIN = "https://brianbuccola.com"
AUTHOR = "brian-buccola"


@pytest.fixture(scope="module")
def blog() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(SITE, ORIGIN, "http://x"))
    local = f"http://127.0.0.1:{server.server_address[1]}"
    server.RequestHandlerClass = make_handler(SITE, ORIGIN, local)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield local
    finally:
        server.shutdown()
        server.server_close()


def _collect(url: str, tmp_path: Path) -> SourceResult:
    host = url.split("/")[2]
    settings = Settings(home=tmp_path, collect={"allowed_hosts": [host], "download_delay_s": 0})
    return collect_source(Source(kind=SourceKind.LINK, value=url), AUTHOR,
                          settings.model_dump(mode="json"))


def test_a_post_folder_is_one_article_even_when_the_feed_does_not_list_it(
        blog: str, tmp_path: Path) -> None:
    result = _collect(f"{blog}/the-semantics-of-unless/", tmp_path)
    assert result.collector == "web" and not result.errors
    (doc,) = result.documents
    assert doc.title == 'The semantics of "unless"'
    assert doc.url.rstrip("/") == f"{blog}/the-semantics-of-unless"
    assert "Floyd will go buy beer unless it's snowing outside." in doc.text
    assert f"{doc.published_at:%Y-%m-%d}" == "2012-11-30"


def test_the_home_page_is_read_through_its_feed(blog: str, tmp_path: Path) -> None:
    result = _collect(f"{blog}/", tmp_path)
    # The feed lists 10 posts; the fixture holds one of their pages: the rest are a line each.
    assert [d.url.rstrip("/") for d in result.documents] == [f"{blog}/surcharge-vs-discount"]
    assert result.documents[0].title.startswith("Not paying a surcharge vs. getting a discount")
    assert result.error_count == 9
