"""Serve a built static site (a blog's repository checkout) on 127.0.0.1 at its own paths.

The way ``jekyll serve`` or ``hakyll watch`` preview a site: every page, feed and asset is
served from the folder, with the site's public origin (``--origin https://example.com``)
rewritten to the local address in HTML, XML and JSON answers, so that its feed's and pages'
links lead to the local copy. Used to collect a real author's published blog on a machine that
reaches no website::

    python -m scripts.serve_site ~/blog --origin https://brianbuccola.com --port 18800
    twin collect --author "Brian Buccola" http://127.0.0.1:18800/
"""

from __future__ import annotations

import argparse
import contextlib
import mimetypes
import re
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

REWRITTEN = (".html", ".htm", ".xml", ".json", ".txt", "")


def rewrite(body: bytes, origin: str, local: str) -> bytes:
    """``body`` with the site's origin (http or https, any trailing slashes) made local."""
    host = urlsplit(origin).netloc
    pattern = re.compile(rb"https?://(?:www\.)?" + re.escape(host.encode()) + rb"/*")
    return pattern.sub(local.rstrip("/").encode() + b"/", body)


def file_for(root: Path, path: str) -> Path | None:
    """The file a URL path names inside ``root`` (a folder means its index.html)."""
    target = (root / unquote(urlsplit(path).path).lstrip("/")).resolve()
    if root.resolve() not in (target, *target.parents):
        return None
    if target.is_dir():
        target = target / "index.html"
    if not target.is_file() and target.with_suffix(".html").is_file():
        target = target.with_suffix(".html")
    return target if target.is_file() else None


def make_handler(root: Path, origin: str, local: str) -> type[BaseHTTPRequestHandler]:
    """A request handler serving ``root`` with ``origin`` rewritten to ``local``."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            target = file_for(root, self.path)
            if target is None:
                self.send_error(404)
                return
            body = target.read_bytes()
            if target.suffix.lower() in REWRITTEN:
                body = rewrite(body, origin, local)
            kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
            if target.name in ("atom.xml", "rss.xml", "feed.xml"):
                kind = "application/atom+xml" if "atom" in target.name else \
                    "application/rss+xml"
            self.send_response(200)
            self.send_header("Content-Type", kind + ("; charset=utf-8"
                                                     if kind.startswith("text/") else ""))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def main() -> int:
    """Parse the arguments and serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="The built site (a checkout of its pages).")
    parser.add_argument("--origin", required=True,
                        help="The site's public address, e.g. https://brianbuccola.com.")
    parser.add_argument("--port", type=int, default=18800, help="Port on 127.0.0.1.")
    args = parser.parse_args()
    local = f"http://127.0.0.1:{args.port}"
    server = ThreadingHTTPServer(("127.0.0.1", args.port),
                                 make_handler(args.folder, args.origin, local))
    print(f"serving {args.folder} as {args.origin} at {local}/", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
