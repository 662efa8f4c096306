"""A local copy of the demo author's corner of the web, served on 127.0.0.1.

Each platform gets its own HTTP server (its own port), so URL paths have exactly the real
sites' shapes; each platform's pages, feeds, API and export archive are built by its module in
:mod:`twin.demo.sites` (one per collector, as in :mod:`twin.collect`): Medium, a Substack
publication on a custom domain, LinkedIn, a GitHub Enterprise-style host (REST API under
``/api/v3``, git over smart HTTP) and a personal blog with an RSS feed. Pages carry ETags, so
the crawlers' HTTP cache revalidates instead of refetching, and :meth:`DemoSite.edit` changes
a page in place.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from twin.demo.content import REPOSITORIES, Piece, load_pieces
from twin.demo.sites.common import H, Handler, e, etag, render_markdown
from twin.demo.sites.github import GIT_DATE, GITHUB_PAGE_SIZE, GitHubSite
from twin.demo.sites.linkedin import LinkedInSite, text_of
from twin.demo.sites.medium import MediumSite, medium_body
from twin.demo.sites.substack import SubstackSite
from twin.demo.sites.web import BlogSite

# Kept importable from here (tests and older callers use these names).
_text_of = text_of
__all__ = ["GIT_DATE", "GITHUB_PAGE_SIZE", "H", "DemoSite", "Handler", "e", "medium_body",
           "render_markdown"]

log = logging.getLogger(__name__)


class DemoSite:
    """Builds the demo's assets (git repositories, export archives) and serves the sites."""

    def __init__(self, workdir: Path, base_port: int = 0) -> None:
        self.workdir = Path(workdir)
        self.base_port = base_port
        self.pieces = load_pieces()
        self.overrides: dict[tuple[str, str], str] = {}
        self.servers: dict[str, ThreadingHTTPServer] = {}
        self.threads: list[threading.Thread] = []
        self.request_log: list[tuple[str, str]] = []
        self.archive_api_enabled = True  # tests switch it off to exercise the /feed fallback
        self.medium, self.substack = MediumSite(self), SubstackSite(self)
        self.linkedin, self.github, self.blog = LinkedInSite(self), GitHubSite(self), BlogSite(self)

    # Lifecycle ----------------------------------------------------------------------------
    def start(self) -> DemoSite:
        """Build assets and start one server per site on ephemeral 127.0.0.1 ports."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        routes: dict[str, Handler] = {site.name: site.route for site in self.sites()}
        for offset, (name, handler) in enumerate(routes.items()):
            port = self.base_port + offset if self.base_port else 0
            try:
                server = ThreadingHTTPServer(("127.0.0.1", port),
                                             _make_handler(self, name, handler))
            except OSError as exc:
                self.stop()
                raise RuntimeError(f"cannot serve the demo {name} site on 127.0.0.1:{port} "
                                   f"({exc.strerror}); set TWIN_DEMO_BASE_PORT to free ports"
                                   ) from exc
            server.daemon_threads = True
            self.servers[name] = server
            thread = threading.Thread(target=server.serve_forever, name=f"demo-{name}",
                                      daemon=True)
            thread.start()
            self.threads.append(thread)
        self.build_git_repositories()
        self.build_exports()
        return self

    def stop(self) -> None:
        """Stop every server."""
        for server in self.servers.values():
            server.shutdown()
            server.server_close()
        self.servers.clear()

    def __enter__(self) -> DemoSite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def url(self, site: str) -> str:
        """Base URL of one site, e.g. ``http://127.0.0.1:41234``."""
        host, port = self.servers[site].server_address[:2]
        return f"http://{host}:{port}"

    def hostport(self, site: str) -> str:
        """``127.0.0.1:PORT`` of one site."""
        return self.url(site).removeprefix("http://")

    def sites(self) -> list[Any]:
        """The five sites, in port order: Medium, Substack, LinkedIn, GitHub, the blog."""
        return [self.medium, self.substack, self.linkedin, self.github, self.blog]

    # What the demo collects ---------------------------------------------------------------
    def settings_overrides(self) -> dict[str, Any]:
        """Settings that point the platforms at this site and allow its loopback hosts."""
        return {
            "platforms": {
                "medium_url": self.url("medium"),
                "linkedin_url": self.url("linkedin"),
                "github_url": self.url("github"),
                "github_api_url": self.url("github") + "/api/v3",
                "substack_domains": [self.hostport("substack")],
            },
            "collect": {
                "allowed_hosts": [self.hostport(s) for s in self.servers],
                "download_delay_s": 0.0,
                "retry_backoff_s": 0.2,
            },
        }

    def links(self) -> list[str]:
        """Every link a person would give for the demo author."""
        links = [f"{self.url('medium')}/@{H}"]
        links += [self.medium_url(p) for p in self._pieces("medium", "direct")]
        links.append(self.url("substack"))
        links += [self.linkedin_url(p) for p in self._pieces("linkedin", "page")]
        links.append(f"{self.url('github')}/{H}")
        links.append(f"{self.url('blog')}/")
        return links

    def exports(self) -> list[Path]:
        """The three export archives."""
        return [self.workdir / "exports" / name for name in
                ("Basic_LinkedInDataExport_11-01-2026.zip", "medium-export-5c1f0e2a.zip",
                 "mise-en-data-export.zip")]

    def expected_documents(self) -> int:
        """How many documents collecting every link and export yields."""
        return len(self.pieces) + len(REPOSITORIES)

    def edit(self, platform: str, slug: str, new_body: str) -> None:
        """Change one piece's text as served from now on (an author editing a post)."""
        self.overrides[(platform, slug)] = new_body

    # Helpers ------------------------------------------------------------------------------
    def _pieces(self, platform: str, *channels: str, kind: str | None = None) -> list[Piece]:
        chosen = [p for p in self.pieces if p.platform == platform
                  and p.channel in (channels or ("page",))
                  and (kind is None or p.kind == kind)]
        return sorted(chosen, key=lambda p: p.date, reverse=True)

    def body(self, piece: Piece) -> str:
        """A piece's current markdown (after any edit)."""
        return self.overrides.get((piece.platform, piece.slug), piece.body)

    def medium_url(self, piece: Piece) -> str:
        """Article URL in Medium's ``/@user/slug-<id>`` shape."""
        return self.medium.article_url(piece)

    def linkedin_url(self, piece: Piece) -> str:
        """Post or Pulse URL in LinkedIn's shapes."""
        return self.linkedin.post_url(piece)

    def _find(self, platform: str, predicate: Callable[[Piece], bool]) -> Piece | None:
        return next((p for p in self.pieces if p.platform == platform and p.channel != "export"
                     and predicate(p)), None)

    def _repos(self) -> list[dict[str, Any]]:
        return self.github.repos()

    def git_http_backend(self, method: str, path: str, query: str, headers: dict[str, str],
                         body: bytes) -> tuple[int, dict[str, str], bytes] | None:
        """Git's smart HTTP protocol (what github.com speaks), through `git http-backend`."""
        return self.github.git_http_backend(method, path, query, headers, body)

    def build_git_repositories(self) -> None:
        """Real git repositories of the demo author, bare, served over smart HTTP."""
        self.github.build_git_repositories()

    def build_exports(self) -> None:
        """One export ZIP per platform, shaped like the real ones."""
        folder = self.workdir / "exports"
        folder.mkdir(parents=True, exist_ok=True)
        linkedin, medium, substack = self.exports()
        self.linkedin.build_export(linkedin)
        self.medium.build_export(medium)
        self.substack.build_export(substack)


def _make_handler(site: DemoSite, name: str, route: Handler) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        server_version = f"demo-{name}/1.0"

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            parts = urlsplit(self.path)
            site.request_log.append((name, self.path))
            if self._git("GET"):
                return
            try:
                status, ctype, body, extra = route(parts.path, parse_qs(parts.query),
                                                   dict(self.headers))
            except Exception:  # the demo server must never hang a crawler
                log.exception("demo %s failed on %s", name, self.path)
                status, ctype, body, extra = 500, "text/plain", b"demo server error", {}
            etag_value = etag(body)
            if status == 200 and self.headers.get("If-None-Match") == etag_value:
                self.send_response(304)
                self.send_header("ETag", etag_value)
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                return
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            if status == 200:
                self.send_header("ETag", etag_value)
                self.send_header("Cache-Control", "no-cache")
            for key, value in extra.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def _git(self, method: str, body: bytes = b"") -> bool:
            parts = urlsplit(self.path)
            answer = site.git_http_backend(method, parts.path, parts.query, dict(self.headers),
                                           body) if name == "github" else None
            if answer is None:
                return False
            status, headers, payload = answer
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return True

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.headers.get("Content-Encoding") == "gzip":
                import gzip

                body = gzip.decompress(body)
            if not self._git("POST", body):
                self.send_error(405)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("demo %s: " + format, name, *args)

    return _Handler
