"""What the demo's sites share: HTML helpers and the shape of a route's answer."""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Callable
from typing import Any

import markdown as md

from twin.demo.content import AUTHOR_HANDLE

H = AUTHOR_HANDLE
# A route's answer: status, content type, body, extra headers.
Response = tuple[int, str, bytes, dict[str, str]]
Handler = Callable[[str, dict[str, list[str]], dict[str, str]], Response]


def render_markdown(text: str) -> str:
    """Markdown to HTML (fenced code, tables)."""
    return md.markdown(text, extensions=["fenced_code", "tables", "sane_lists"])


def e(text: str) -> str:
    """HTML-escape."""
    return html.escape(text, quote=True)


def ld_json(data: dict[str, Any]) -> str:
    # Real pages escape '/' as \u002F inside JSON-LD; do the same so parsers meet it.
    return json.dumps(data, ensure_ascii=False).replace("/", "\\u002F")


def html_page(title: str, head: str, body: str) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{e(title)}</title>{head}</head><body>{body}</body></html>")


def etag(body: bytes) -> str:
    return '"' + hashlib.sha1(body).hexdigest()[:16] + '"'


def html_response(page: str) -> Response:
    return 200, "text/html; charset=utf-8", page.encode(), {}


def text_response(body: str) -> Response:
    return 200, "text/plain; charset=utf-8", body.encode(), {}


def not_found() -> Response:
    return 404, "text/html; charset=utf-8", b"<html><body><h1>404 Not Found</h1></body></html>", {}
