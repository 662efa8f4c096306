"""What the UI lets through to a browser: links only to http(s) pages, redirects only within
its own origin, and rendered markdown only as an allow-list of plain HTML.

Document URLs come from the warehouse (feeds, exports, APIs: anyone's content), so a
``javascript:`` URL must never become an ``href``.
"""

from __future__ import annotations

import re
from html import escape
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote, urlsplit

_HTTP_START = re.compile(r"https?://[^/\\?#@]", re.IGNORECASE)
# Browsers drop tabs and newlines inside URLs and strip leading controls and spaces, so
# "java\tscript:" is "javascript:" to them: such characters make a URL plain text.
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def http_url(url: Any) -> str | None:
    """``url`` when a browser may follow it as a link (http or https, with a host), else None."""
    if not isinstance(url, str) or _CONTROL_OR_SPACE.search(url) or "\\" in url:
        return None
    if not _HTTP_START.match(url):
        return None
    try:
        host = urlsplit(url).hostname
    except ValueError:  # e.g. "http://[::1/": not a URL a link should point at
        return None
    return url if host else None


def link(text: str | None, url: Any, *, new_tab: bool = True) -> Any:
    """A link to ``url`` when it is http(s); anything else is shown as plain text, no href.

    Every place the UI turns a URL into a link goes through here.
    """
    from nicegui import ui

    shown = text or (url if isinstance(url, str) else "")
    target = http_url(url)
    if target is None:
        return ui.label(shown).classes("break-all")
    return ui.link(shown, target, new_tab=new_tab).props('rel="noopener noreferrer"')


def _plain_path(path: str, *, decoded: bool) -> bool:
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return False
    # Raw: no controls or spaces at all; decoded: a space is text, controls are not.
    if (_CONTROL.search(path) if decoded else _CONTROL_OR_SPACE.search(path)):
        return False
    try:
        parts = urlsplit(path)
    except ValueError:
        return False
    return not parts.scheme and not parts.netloc


def same_origin_path(target: Any, default: str = "/") -> str:
    """``target`` when it is a path on this origin (``/library?q=x``), else ``default``.

    Refused: other hosts (``//host``, ``/\\host``), schemes (``https:``, ``javascript:``),
    controls and spaces, and the same in percent-encoded forms (decoded up to three times).
    """
    if not isinstance(target, str) or not _plain_path(target, decoded=False):
        return default
    candidate = target
    for _ in range(3):
        decoded = unquote(candidate)
        if decoded == candidate:
            return target
        if not _plain_path(decoded, decoded=True):
            return default
        candidate = decoded
    return target if unquote(candidate) == candidate else default


_ALLOWED_TAGS = {"a", "b", "blockquote", "br", "code", "del", "div", "em", "h1", "h2", "h3",
                 "h4", "h5", "h6", "hr", "i", "li", "ol", "p", "pre", "s", "span", "strong",
                 "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul"}
_VOID_TAGS = {"br", "hr"}
# Whose contents are code or markup, never text to show.
_DROPPED_WITH_CONTENT = {"script", "style", "template", "iframe", "object", "embed", "noscript",
                         "svg", "math", "textarea", "select", "title"}
_CLASS = re.compile(r"[\w\- ]{1,200}")


class _Sanitizer(HTMLParser):
    """Re-emits HTML keeping allowed tags, http(s) hrefs and simple classes; text escaped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.dropping = 0  # depth inside a dropped-with-content element
        self.anchors: list[bool] = []  # per open <a>: whether it was kept

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROPPED_WITH_CONTENT:
            self.dropping += 1
            return
        if self.dropping or tag not in _ALLOWED_TAGS:
            return
        values = dict(attrs)
        kept = ""
        if tag == "a":
            href = http_url(values.get("href"))
            self.anchors.append(href is not None)
            if href is None:
                return
            kept = f' href="{escape(href)}" target="_blank" rel="noopener noreferrer"'
        css = values.get("class")
        if css and _CLASS.fullmatch(css):
            kept += f' class="{escape(css)}"'
        self.out.append(f"<{tag}{kept}>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID_TAGS and not self.dropping:
            self.out.append(f"<{tag}>")

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROPPED_WITH_CONTENT:
            self.dropping = max(0, self.dropping - 1)
            return
        if self.dropping or tag not in _ALLOWED_TAGS or tag in _VOID_TAGS:
            return
        if tag == "a" and not (self.anchors.pop() if self.anchors else False):
            return
        self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        if not self.dropping:
            self.out.append(escape(data, quote=False))


def sanitize_html(html: str) -> str:
    """Rendered markdown reduced to plain, inert HTML: no scripts, styles, event handlers or
    non-http(s) links (their text stays, as text)."""
    parser = _Sanitizer()
    parser.feed(html)
    parser.close()
    return "".join(parser.out)


def markdown(text: str) -> Any:
    """``ui.markdown`` whose HTML is sanitized on the server (see :func:`sanitize_html`)."""
    from nicegui import ui

    return ui.markdown(text, sanitize=sanitize_html)


__all__ = ["http_url", "link", "markdown", "same_origin_path", "sanitize_html"]
