"""Real saved web pages (and feeds, GitHub API answers) with reviewed expected metadata.

The fixture set lives in ``tests/fixtures/realpages`` (see its README for where every file
came from). :func:`load_manifest` reads the pages, :func:`load_resources` the feeds and API
responses, and :func:`serve_real_pages` serves them on 127.0.0.1 at their original paths, one
HTTP server per original origin, so a crawler sees each site's real URL shapes.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "realpages"
PAGE_TYPE = "text/html; charset=utf-8"


@dataclass(frozen=True)
class Expected:
    """What a careful reader sees on a page (see the fixture README for the rules)."""

    author: str | None
    published: str | None  # YYYY-MM-DD, the original publication date
    title: str
    first_sentence: str
    last_sentence: str
    paid: bool | None
    custom_domain: bool


@dataclass(frozen=True)
class RealPage:
    """One saved page, its original URL and its reviewed expected values."""

    id: str
    platform: str
    file: str
    url: str
    expected: Expected
    reference_text_file: str | None
    origin: dict[str, str]
    notes: str

    @property
    def path(self) -> Path:
        """The gzipped HTML file."""
        return FIXTURES / self.file

    def html(self) -> str:
        """The page's HTML as it was saved."""
        return gzip.decompress(self.path.read_bytes()).decode("utf-8")

    def reference_text(self) -> str | None:
        """The source suite's reviewed plain-text body, where it has one."""
        if self.reference_text_file is None:
            return None
        return gzip.decompress((FIXTURES / self.reference_text_file).read_bytes()).decode("utf-8")

    @property
    def content_type(self) -> str:
        return PAGE_TYPE

    def body(self) -> bytes:
        """The bytes served for this page."""
        return gzip.decompress(self.path.read_bytes())


@dataclass(frozen=True)
class RealResource:
    """A saved feed or API response: ``kind`` is ``feed`` or ``github-api``."""

    id: str
    kind: str
    file: str
    url: str
    content_type: str
    expected: dict[str, Any]
    origin: dict[str, str]
    notes: str
    status: int = 200
    recorded_headers: dict[str, str] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        """The gzipped file."""
        return FIXTURES / self.file

    def body(self) -> bytes:
        """The bytes served for this resource."""
        return gzip.decompress(self.path.read_bytes())

    def text(self) -> str:
        """The resource as text."""
        return self.body().decode("utf-8")


def load_manifest() -> list[RealPage]:
    """Every page of ``manifest.json``, in file order."""
    raw = json.loads((FIXTURES / "manifest.json").read_text(encoding="utf-8"))
    return [RealPage(**{**entry, "expected": Expected(**entry["expected"])}) for entry in raw]


def load_resources() -> list[RealResource]:
    """Every feed and API response of ``resources.json``, in file order."""
    raw = json.loads((FIXTURES / "resources.json").read_text(encoding="utf-8"))
    return [RealResource(**entry) for entry in raw]


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _target(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


Servable = RealPage | RealResource


class _Site:
    """The pages of one original origin, keyed by path and query."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.items: dict[str, Servable] = {}

    def add(self, item: Servable) -> None:
        target = _target(item.url)
        if target in self.items and self.items[target] is not item:
            raise ValueError(f"{self.items[target].id} and {item.id} share {item.url}")
        self.items[target] = item

    def find(self, target: str) -> Servable | None:
        """The item at this exact path and query, else the one stored at this path without
        a query (as a real site answers ``?utm_source=...`` with the same page)."""
        if target in self.items:
            return self.items[target]
        path = target.split("?", 1)[0]
        if path in self.items:
            return self.items[path]
        # An API answer recorded with other query parameters (sort order, page size).
        return next((item for key, item in self.items.items()
                     if key.split("?", 1)[0] == path), None)


class Served:
    """Running servers: one per original origin of the served pages."""

    def __init__(self) -> None:
        self.servers: dict[str, ThreadingHTTPServer] = {}
        self.requests: list[tuple[str, str]] = []  # (original origin, path?query) per request
        self._sites: dict[str, _Site] = {}

    @cached_property
    def origins(self) -> dict[str, str]:
        """Original origin -> local base URL (``http://127.0.0.1:PORT``)."""
        return {origin: f"http://127.0.0.1:{server.server_address[1]}"
                for origin, server in self.servers.items()}

    @property
    def hostports(self) -> list[str]:
        """``127.0.0.1:PORT`` of every server (for ``settings.collect.allowed_hosts``)."""
        return [base.removeprefix("http://") for base in self.origins.values()]

    def local_url(self, item: Servable | str) -> str:
        """Where a page (or an original URL) is served here."""
        url = item if isinstance(item, str) else item.url
        return self.origins[origin_of(url)] + _target(url)

    def _start(self, items: Iterable[Servable]) -> None:
        for item in items:
            self._sites.setdefault(origin_of(item.url), _Site(origin_of(item.url))).add(item)
        for origin, site in self._sites.items():
            server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(site, self.requests))
            server.daemon_threads = True
            self.servers[origin] = server
            threading.Thread(target=server.serve_forever, name=f"realpages-{origin}",
                             daemon=True).start()

    def stop(self) -> None:
        """Stop every server."""
        for server in self.servers.values():
            server.shutdown()
            server.server_close()


def _handler(site: _Site, log: list[tuple[str, str]]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self, send_body: bool) -> None:
            log.append((site.origin, self.path))
            item = site.find(self.path)
            if item is None:
                status, ctype, body = 404, "text/plain; charset=utf-8", b"not found\n"
            else:
                status = getattr(item, "status", 200)
                ctype, body = item.content_type, item.body()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if send_body:
                self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self._answer(True)

        def do_HEAD(self) -> None:  # noqa: N802
            self._answer(False)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # requests are recorded in Served.requests instead

    return Handler


@contextmanager
def serve_real_pages(pages: Iterable[RealPage] | None = None,
                     resources: Iterable[RealResource] = ()) -> Iterator[Served]:
    """Serve pages (default: all of them) and any feeds/API responses on 127.0.0.1.

    One threaded server per original origin (``https://medium.com``,
    ``https://www.slowboring.com`` ...), each answering at the items' original paths and
    queries with 404 for anything else.
    """
    served = Served()
    try:
        served._start([*(load_manifest() if pages is None else pages), *resources])
        yield served
    finally:
        served.stop()
