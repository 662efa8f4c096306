"""The demo author's own blog (any other site): pages, an RSS feed, a robots.txt rule, a
page that fails twice before it answers (mirrors :mod:`twin.collect.web`)."""

from __future__ import annotations

import re
from email.utils import format_datetime
from typing import TYPE_CHECKING

from twin.demo.content import AUTHOR_NAME, BLOG_NAME, Piece
from twin.demo.sites.common import (
    Response,
    e,
    html_page,
    html_response,
    not_found,
    render_markdown,
    text_response,
)

if TYPE_CHECKING:
    from twin.demo.site import DemoSite


class BlogSite:
    """A personal blog (Hugo-like): ``/``, ``/posts/<slug>/``, ``/feed.xml``."""

    name = "blog"

    def __init__(self, demo: DemoSite) -> None:
        self.demo = demo

    def route(self, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> Response:
        posts = self.demo._pieces("blog")
        if path == "/robots.txt":
            return text_response("User-agent: *\nDisallow: /private/\n")
        if path == "/feed.xml":
            items = "".join(
                f"<item><title>{e(p.title)}</title><link>{self.demo.url('blog')}/posts/{p.slug}/"
                f"</link><guid>{self.demo.url('blog')}/posts/{p.slug}/</guid>"
                f"<pubDate>{format_datetime(p.date, usegmt=True)}</pubDate>"
                f"<description>{e(p.subtitle)}</description></item>" for p in posts)
            feed = ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
                    f"<title>{BLOG_NAME}</title><link>{self.demo.url('blog')}/</link>"
                    f"<description>Notes by {AUTHOR_NAME}</description>"
                    f"<generator>Hugo</generator>{items}</channel></rss>")
            return 200, "application/rss+xml; charset=utf-8", feed.encode(), {}
        if path in ("", "/"):
            listing = "".join(f'<li><a href="/posts/{p.slug}/">{e(p.title)}</a> '
                              f"<time>{p.date:%Y-%m-%d}</time></li>" for p in posts)
            return html_response(self.page(BLOG_NAME, f"<h1>Notes</h1><ul>{listing}</ul>"))
        if path == "/posts/coming-soon/":
            return html_response(self.page("Coming soon", ""))
        if path == "/private/drafts/":
            return html_response(self.page("Drafts", "<article><p>Not for robots.</p></article>"))
        if path == "/flaky/":
            self.demo._flaky_hits = getattr(self.demo, "_flaky_hits", 0) + 1
            if self.demo._flaky_hits % 3 != 0:
                return 503, "text/plain", b"Service Unavailable", {"Retry-After": "0"}
            piece = posts[0]
            return html_response(self.article(piece))
        match = re.fullmatch(r"/posts/([a-z0-9-]+)/", path)
        if match:
            piece = self.demo._find("blog", lambda p: p.slug == match.group(1))
            if piece:
                return html_response(self.article(piece))
        return not_found()

    def page(self, title: str, main: str, head: str = "") -> str:
        head = ('<link rel="alternate" type="application/rss+xml" href="/feed.xml" '
                f'title="{BLOG_NAME}">' + head)
        body = (f'<header class="site-header"><a class="site-title" href="/">{BLOG_NAME}</a>'
                '<nav><a href="/">Home</a><a href="/about/">About</a><a href="/feed.xml">RSS'
                f"</a></nav></header><main>{main}</main><footer><p>© 2026 {AUTHOR_NAME} · "
                "Built with Hugo</p></footer>")
        return html_page(f"{title} · {BLOG_NAME}", head, body)

    def article(self, piece: Piece) -> str:
        url = f"{self.demo.url('blog')}/posts/{piece.slug}/"
        iso = piece.date.isoformat()
        head = (f'<meta name="description" content="{e(piece.subtitle)}">'
                f'<meta property="og:title" content="{e(piece.title)}">'
                f'<meta property="article:published_time" content="{iso}">'
                f'<meta name="author" content="{AUTHOR_NAME}">'
                f'<link rel="canonical" href="{url}">')
        main = (f'<article class="post"><h1 class="post-title">{e(piece.title)}</h1>'
                f'<p class="post-meta"><time datetime="{iso}">{piece.date:%B %d, %Y}</time> · '
                f'{AUTHOR_NAME}</p><div class="post-content">'
                f"{render_markdown(self.demo.body(piece))}"
                '</div></article><nav class="pagination"><a href="/">← All notes</a></nav>')
        return self.page(piece.title, main, head)
