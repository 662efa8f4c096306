"""Hostile content: only http(s) URLs and plain text are stored, one bad item never costs the
others, and archives and CSVs are bounded before they cost memory or time.

Each attack is built here (feeds and API answers served on 127.0.0.1, archives written in the
test) and goes through the real collectors."""

from __future__ import annotations

import io
import json
import os
import struct
import threading
import tracemalloc
import zipfile
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import collect_one
from twin.collect.html import html_to_markdown, text_to_markdown
from twin.collect.pipeline import _summaries
from twin.demo.site import DemoSite
from twin.domain import Document, canonical_url
from twin.settings import Settings

ACTIVE = ("javascript:", "vbscript:", "data:")
STORY = "A story long enough to keep, about backfills that ran twice and what we learned. "


class PageServer:
    """Serves ``pages`` (path -> (content type, body)) on an ephemeral 127.0.0.1 port."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[str, bytes]] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                ctype, body = pages.get(self.path.split("?", 1)[0], ("text/plain", b""))
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def hostile() -> Iterator[PageServer]:
    server = PageServer()
    yield server
    server.stop()


def _crawl_settings(tmp_path: Path, server: PageServer, **platforms: Any) -> Settings:
    hosts = [server.url.removeprefix("http://"), *platforms.pop("extra_hosts", [])]
    return Settings(home=tmp_path / "home", platforms=platforms, collect={
        "allowed_hosts": hosts, "download_delay_s": 0.0, "autothrottle": False,
        "retry_times": 0, "http_cache": False})


def _rss(*items: str) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>Maya</title>'
            f'<generator>Medium</generator>{"".join(items)}</channel></rss>').encode()


def _item(title: str, link: str, guid: str, html: str) -> str:
    return (f"<item><title>{title}</title><link>{link}</link><guid>{guid}</guid>"
            "<dc:creator>Maya Okafor</dc:creator><pubDate>Mon, 05 Jan 2026 10:00:00 GMT"
            f"</pubDate><content:encoded><![CDATA[{html}]]></content:encoded></item>")


def _assert_only_http(docs: list[Document]) -> None:
    for doc in docs:
        assert doc.url == "" or doc.url.startswith(("http://", "https://")), doc.url
        assert not any(scheme in doc.text.lower() for scheme in ACTIVE), doc.text


def _zip(files: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _collect_zip(tmp_path: Path, payload: bytes, settings: Settings | None = None,
                 name: str = "export.zip", hint: str = ""):
    path = tmp_path / name
    path.write_bytes(payload)
    return collect_one(f"{hint}{path}", settings or Settings(home=tmp_path / "home"),
                       export=True)


def _medium_post(title: str, body: str, canonical: str = "") -> str:
    link = f'<p><a href="{canonical}" class="p-canonical">Canonical link</a></p>' \
        if canonical else ""
    return (f'<html><body><article><header><h1 class="p-name">{title}</h1></header>'
            f'<section data-field="body" class="e-content">{body}</section><footer>'
            '<time class="dt-published" datetime="2026-01-05T10:00:00.000Z">Jan 5</time>'
            f"{link}</footer></article></body></html>")


# Finding 1: only http(s) URLs are ever stored as a document's URL -----------------------------

def test_a_feed_items_javascript_link_is_never_stored(hostile: PageServer,
                                                      tmp_path: Path) -> None:
    hostile.pages["/feed/@maya"] = ("text/xml", _rss(
        _item("One", "javascript:alert(document.domain)", "https://medium.com/p/1a2b3c4d5e6f",
              f"<p>{STORY}</p>"),
        _item("Two", " JaVa\tScript:alert(2)", "not-a-link", f"<p>{STORY} two</p>")))
    settings = _crawl_settings(tmp_path, hostile, medium_url=hostile.url)
    result = collect_one(f"{hostile.url}/@maya", settings)
    assert result.ok and len(result.documents) == 2
    _assert_only_http(result.documents)
    by_title = {d.title: d for d in result.documents}
    assert by_title["One"].url == "https://medium.com/p/1a2b3c4d5e6f"  # the guid, a real link
    assert by_title["Two"].url == ""
    assert any("not http(s)" in e for e in result.errors), result.errors
    assert not any("url_dropped" in d.metadata for d in result.documents)


def test_a_medium_exports_javascript_canonical_link_is_never_stored(tmp_path: Path) -> None:
    payload = _zip({"posts/2026-01-05_story-1a2b3c4d5e6f.html": _medium_post(
        "Story", f"<p>{STORY}</p>", canonical="javascript:alert(document.cookie)")})
    result = _collect_zip(tmp_path, payload)
    (doc,) = result.documents
    assert doc.url == "" and doc.id == Document.build(
        author_id="x", platform="medium", kind="article", text="t",
        item_id="2026-01-05_story-1a2b3c4d5e6f").id  # keyed by its file, stable across runs
    assert any("not http(s)" in e and "javascript" in e for e in result.errors)


def test_a_linkedin_shares_javascript_sharelink_is_never_stored(tmp_path: Path) -> None:
    csv_text = ("Date,ShareLink,ShareCommentary,SharedUrl,MediaUrl,Visibility\n"
                f'2026-01-02 10:00:00,javascript:alert(1),"{STORY} [see](javascript:alert(2)) '
                '![x](data:text/html,<script>alert(3)</script>) [home](https://okafor.dev/)",'
                "javascript:alert(4),,PUBLIC\n")
    result = _collect_zip(tmp_path, _zip({"Shares.csv": csv_text}))
    (doc,) = result.documents
    assert doc.url == "" and doc.metadata["shared_url"] is None
    _assert_only_http(result.documents)
    assert "see" in doc.text and "[home](https://okafor.dev/)" in doc.text  # text kept
    assert any("not http(s)" in e for e in result.errors)


def test_a_github_repositorys_javascript_html_url_is_never_stored(
        hostile: PageServer, demo_site: DemoSite, tmp_path: Path) -> None:
    repo = next(r for r in demo_site._repos() if r["name"] == "parquet-drift")
    hostile.pages["/api/v3/repos/maya-okafor/parquet-drift"] = ("application/json", json.dumps(
        {**repo, "html_url": "javascript:alert(document.domain)"}).encode())
    settings = _crawl_settings(tmp_path, hostile, github_url=hostile.url,
                               github_api_url=f"{hostile.url}/api/v3",
                               extra_hosts=[demo_site.hostport("github")])
    result = collect_one(f"{hostile.url}/maya-okafor/parquet-drift", settings)
    (doc,) = result.documents
    assert doc.url == canonical_url(f"{hostile.url}/maya-okafor/parquet-drift")


@pytest.mark.parametrize("url", ["javascript:alert(1)", " JAVASCRIPT:alert(1)",
                                 "java\nscript:alert(1)", "data:text/html,<b>x</b>",
                                 "vbscript:msgbox(1)", "file:///etc/passwd", "http://[::1/",
                                 "https://example.com:99999/x", "http:no-host"])
def test_a_document_never_holds_a_non_http_url(url: str) -> None:
    doc = Document.build(author_id="maya", platform="web", kind="article", text="t", url=url)
    again = Document.build(author_id="maya", platform="web", kind="article", text="t", url=url)
    assert doc.url == "" and doc.id == again.id and doc.metadata["url_dropped"]
    fallback = Document.build(author_id="maya", platform="web", kind="article", text="t",
                              url=url, fallback_url="https://okafor.dev/post")
    assert fallback.url == "https://okafor.dev/post"
    direct = Document(id="x", author_id="maya", platform="web", kind="article", text="t",
                      url=url)
    assert direct.url == ""  # also when read back from the warehouse


# Finding 2: only plain text: script bodies removed, active links dropped ---------------------

@pytest.mark.parametrize(("html", "kept", "gone"), [
    ('<p>Hi</p><script>alert("pwned")</script>', "Hi", "alert"),
    ("<p>Hi</p><style>body{color:red}</style><noscript>enable js</noscript>", "Hi", "color"),
    ("<p>Hi</p><template><p>tpl</p></template><iframe>frame</iframe>", "Hi", "tpl"),
    ("<p>Hi</p><object>obj</object><embed src=x><svg><text>svgtext</text></svg>", "Hi", "obj"),
    ("<form><p>Hi</p><button>Press</button><select><option>opt</option></select>"
     "<textarea>area</textarea></form>", "Hi", "Press"),
    ('<p><a href="javascript:alert(1)">click</a></p>', "click", "javascript"),
    ('<p><a href=" JaVa&#x09;Script&colon;alert(1)">click</a></p>', "click", "alert"),
    ('<p><a href="data:text/html,x">d</a> <a href="vbscript:x">v</a></p>', "d v", "data:"),
    ('<p>x <img src="javascript:alert(1)" alt="pic"></p>', "x", "javascript"),
    ("<p>[click](javascript:alert(document.cookie)) and ![i](data:image/png;base64,AA)</p>",
     "click", "javascript"),
    ("<p>[click](&#106;avascript:alert(1))</p>", "click", "avascript"),
    ("<p>see <a href=\"https://okafor.dev/a\">a</a>, <a href=\"/b\">b</a>, "
     "<a href=\"mailto:m@okafor.dev\">m</a></p>",
     "see [a](https://okafor.dev/a), [b](/b), [m](mailto:m@okafor.dev)", "javascript"),
])
def test_html_becomes_plain_text_without_active_content(html: str, kept: str,
                                                        gone: str) -> None:
    text = html_to_markdown(html)
    assert kept in text and gone.lower() not in text.lower(), text


def test_plain_text_drops_active_markdown_links() -> None:
    text = text_to_markdown("Read [this](javascript:alert(1)) and <vbscript:msgbox(1)>\n"
                            "[ref]: javascript:alert(2)\nand [ok](https://okafor.dev)")
    assert "javascript" not in text and "vbscript" not in text
    assert "Read this and" in text and "[ok](https://okafor.dev)" in text


def test_export_bodies_lose_script_bodies_and_active_links(tmp_path: Path) -> None:
    body = (f"<p>{STORY}</p><script>alert(\"pwned\")</script>"
            '<p><a href="javascript:alert(1)">click here</a></p>')
    payload = _zip({"posts/2026-01-05_story-1a2b3c4d5e6f.html": _medium_post("Story", body)})
    (doc,) = _collect_zip(tmp_path, payload).documents
    assert "click here" in doc.text and "alert" not in doc.text


# Findings 3 and 4: one bad item never costs the others; depth is bounded ----------------------

def test_deeply_nested_html_is_converted_without_recursion() -> None:
    text = html_to_markdown("<p>top</p>" + "<div><span>" * 3000 + "deep words"
                            + "</span></div>" * 3000 + "<p>after</p>")
    assert "top" in text and "deep words" in text and "after" in text


def test_a_deeply_nested_export_post_costs_only_itself(tmp_path: Path) -> None:
    deep = "<div>" * 800 + STORY + " deep" + "</div>" * 800
    payload = _zip({
        "posts/2026-01-05_first-1a2b3c4d5e6f.html": _medium_post("First", f"<p>{STORY}</p>"),
        "posts/2026-01-06_deep-2a2b3c4d5e6f.html": _medium_post("Deep", deep),
        "posts/2026-01-07_last-3a2b3c4d5e6f.html": _medium_post("Last", f"<p>{STORY}</p>"),
    })
    result = _collect_zip(tmp_path, payload)
    assert result.ok and sorted(d.title for d in result.documents) == ["Deep", "First", "Last"]


def test_a_corrupt_export_entry_is_one_error_the_others_are_kept(tmp_path: Path) -> None:
    payload = bytearray(_zip({
        "posts/2026-01-05_first-1a2b3c4d5e6f.html": _medium_post("First", f"<p>{STORY}</p>"),
        "posts/2026-01-06_bad-2a2b3c4d5e6f.html": _medium_post("Bad", f"<p>{STORY} bad</p>"),
    }))
    info = zipfile.ZipFile(io.BytesIO(bytes(payload))).getinfo(
        "posts/2026-01-06_bad-2a2b3c4d5e6f.html")
    start = info.header_offset + 30 + len(info.filename) + 8
    payload[start:start + 16] = b"\xff" * 16  # the member's deflate stream is damaged
    result = _collect_zip(tmp_path, bytes(payload))
    assert result.ok and [d.title for d in result.documents] == ["First"]
    assert any("2026-01-06_bad" in e for e in result.errors), result.errors


def test_a_feeds_deeply_nested_story_costs_only_itself(hostile: PageServer,
                                                       tmp_path: Path) -> None:
    deep = "<div>" * 800 + f"<p>{STORY} deep</p>" + "</div>" * 800
    hostile.pages["/feed/@deep"] = ("text/xml", _rss(
        _item("One", f"{hostile.url}/@deep/one-1a2b3c4d5e6f", "g1", f"<p>{STORY}</p>"),
        _item("Two", f"{hostile.url}/@deep/two-2a2b3c4d5e6f", "g2", deep),
        # A member-only preview is read from its page: this one's link is not a link.
        _item("Preview", "javascript:alert(1)", "g3", "<p>Short preview.</p>"),
        _item("Four", f"{hostile.url}/@deep/four-4a2b3c4d5e6f", "g4", f"<p>{STORY}</p>")))
    settings = _crawl_settings(tmp_path, hostile, medium_url=hostile.url)
    result = collect_one(f"{hostile.url}/@deep", settings)
    assert sorted(d.title for d in result.documents) == ["Four", "One", "Two"], result.errors
    (problem,) = result.errors
    assert "javascript:alert(1)" in problem and "ValueError" in problem


def test_a_page_whose_parsing_raises_is_one_failed_item() -> None:
    from scrapy.http import HtmlResponse

    from twin.collect.scrapy_support import PageErrorMiddleware
    from twin.collect.web import WebSpider

    spider = WebSpider(url="https://okafor.dev/")
    response = HtmlResponse("https://okafor.dev/deep", body=b"<html></html>")
    answer = PageErrorMiddleware(crawler=None).process_spider_exception(
        response, RecursionError("maximum recursion depth exceeded"), spider)
    assert answer == [] and spider.errors == [
        "could not read https://okafor.dev/deep: nested too deeply to read"]


# Finding 5: archives and CSVs are bounded ----------------------------------------------------

def _shared_member_zip(entries: int, member: bytes, deflate: bool = True) -> bytes:
    """One stored member and ``entries`` central-directory records that all point at it
    (under its own name: zipfile checks that a record's name matches the member's)."""
    packer = zlib.compressobj(1, zlib.DEFLATED, -15)  # raw deflate, as in a ZIP
    data = packer.compress(member) + packer.flush() if deflate else member
    method = 8 if deflate else 0
    crc = zlib.crc32(member)
    name = b"posts/2026-01-05_bomb-1a2b3c4d5e6f.html"
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0, crc, len(data),
                        len(member), len(name), 0) + name + data
    central = b""
    for _ in range(entries):
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 0, crc,
                               len(data), len(member), len(name), 0, 0, 0, 0, 0, 0) + name
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, entries, entries, len(central),
                      len(local), 0)
    return local + central + end


def _collect_measured(tmp_path: Path, payload: bytes, settings: Settings | None = None):
    """Collect an archive; also return the peak of Python memory it allocated."""
    _collect_zip(tmp_path, b"not a zip", name="warm-up.zip")  # imports are not the archive's
    tracemalloc.start()
    try:
        result = _collect_zip(tmp_path, payload, settings)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return result, peak


def test_a_zip_bomb_of_entries_sharing_one_member_is_refused_unread(tmp_path: Path) -> None:
    payload = _shared_member_zip(21, b" " * 45_000_000)  # 21 x 45 MB declared, ~45 kB on disk
    assert len(payload) < 200_000
    result, peak = _collect_measured(tmp_path, payload)
    assert "collect.max_export_uncompressed_bytes" in result.failure
    assert peak < 5_000_000  # no member was inflated


def test_entries_sharing_their_data_are_refused(tmp_path: Path) -> None:
    payload = _shared_member_zip(3, os.urandom(200_000), deflate=False)
    result, peak = _collect_measured(tmp_path, payload)
    assert "overlapping entries" in result.failure and peak < 5_000_000


def test_a_highly_compressed_entry_is_refused_unread(tmp_path: Path) -> None:
    payload = _shared_member_zip(1, b"<p>" + b" " * 30_000_000 + b"</p>")
    result, peak = _collect_measured(tmp_path, payload)
    assert "collect.max_export_ratio" in result.failure and peak < 5_000_000


def test_an_archive_with_too_many_entries_is_refused(tmp_path: Path) -> None:
    payload = _zip({f"posts/2026-01-05_p{n}-1a2b3c4d5e6f.html": "x" for n in range(30)})
    settings = Settings(home=tmp_path / "home", collect={"max_export_entries": 20})
    result = _collect_zip(tmp_path, payload, settings)
    assert "collect.max_export_entries" in result.failure and "30" in result.failure


def test_csv_rows_are_bounded_and_errors_capped(tmp_path: Path) -> None:
    rows = "".join(f"2026-01-02 10:00:00,https://www.linkedin.com/feed/update/urn:li:share:{n},"
                   "too short,,,PUBLIC\n" for n in range(20_000))
    csv_text = "Date,ShareLink,ShareCommentary,SharedUrl,MediaUrl,Visibility\n" + rows
    settings = Settings(home=tmp_path / "home", collect={"max_csv_rows": 5_000})
    result = _collect_zip(tmp_path, _zip({"Shares.csv": csv_text}), settings)
    assert any("collect.max_csv_rows" in e and "5000" in e for e in result.errors)
    assert len(result.errors) <= 12  # a few examples and a count, not 300,000 strings
    (summary,) = _summaries([result], frozenset(), frozenset())
    assert summary.failed == 5_001 and "more" in summary.reason
