"""The demo's Medium: a profile, its RSS feed, article pages in Medium's markup, and the
export archive (mirrors :mod:`twin.collect.medium`)."""

from __future__ import annotations

import re
import zipfile
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import TYPE_CHECKING

from lxml import html as lxml_html

from twin.demo.content import AUTHOR_NAME, Piece
from twin.demo.sites.common import (
    H,
    Response,
    e,
    html_page,
    html_response,
    ld_json,
    not_found,
    render_markdown,
    text_response,
)

if TYPE_CHECKING:
    from twin.demo.site import DemoSite


def medium_body(body_md: str) -> str:
    """Medium's article markup: every block carries ``data-selectable-paragraph``."""
    fragment = lxml_html.fragment_fromstring(render_markdown(body_md), create_parent="div")
    for node in fragment:
        if node.tag == "p" or node.tag in ("h2", "h3", "h4"):
            node.set("class", "pw-post-body-paragraph")
            node.set("data-selectable-paragraph", "")
        elif node.tag in ("ul", "ol"):
            for li in node.findall("li"):
                li.set("data-selectable-paragraph", "")
        elif node.tag == "blockquote":
            for p in node.findall("p"):
                p.set("data-selectable-paragraph", "")
        elif node.tag == "pre":
            code = node.find("code")
            text = code.text_content() if code is not None else node.text_content()
            node.clear()
            span = lxml_html.Element("span")
            span.set("data-selectable-paragraph", "")
            span.text = text
            node.append(span)
    return "".join(lxml_html.tostring(child, encoding="unicode") for child in fragment)


class MediumSite:
    """Medium on one port: ``/@user``, ``/feed/@user``, ``/@user/slug-<id>``."""

    name = "medium"

    def __init__(self, demo: DemoSite) -> None:
        self.demo = demo

    def route(self, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> Response:
        if path == "/robots.txt":
            return text_response("User-agent: *\nDisallow: /m/\nDisallow: /me/\n")
        if path in (f"/feed/@{H}", f"/@{H}/feed"):
            return 200, "text/xml; charset=UTF-8", self.feed().encode(), {}
        if path == f"/@{H}":
            return html_response(html_page(f"{AUTHOR_NAME} – Medium", "",
                                           f"<h2>{AUTHOR_NAME}</h2>"))
        match = re.fullmatch(rf"/@{H}/([a-z0-9-]+)-([0-9a-f]{{12}})", path)
        if match:
            piece = self.demo._find("medium", lambda p: p.hex_id == match.group(2))
            if piece:
                return html_response(self.article(piece))
        return not_found()

    def feed(self) -> str:
        items = []
        for piece in self.demo._pieces("medium")[:10]:
            link = f"{self.article_url(piece)}?source=rss-a1b2c3d4e5f6------2"
            content = medium_body(self.demo.body(piece)) + (
                f'<img src="https://medium.com/_/stat?event=post.clientViewed&amp;referrerSource='
                f'full_rss&amp;postId={piece.hex_id}" width="1" height="1" alt="">')
            categories = "".join(f"<category><![CDATA[{t}]]></category>" for t in piece.tags)
            items.append(
                f"<item><title><![CDATA[{piece.title}]]></title><link>{link}</link>"
                f'<guid isPermaLink="false">https://medium.com/p/{piece.hex_id}</guid>'
                f"{categories}<dc:creator><![CDATA[{AUTHOR_NAME}]]></dc:creator>"
                f"<pubDate>{format_datetime(piece.date, usegmt=True)}</pubDate>"
                f"<atom:updated>{piece.date.isoformat().replace('+00:00', '.000Z')}"
                f"</atom:updated><content:encoded><![CDATA[{content}]]></content:encoded></item>")
        return (
            '<?xml version="1.0" encoding="UTF-8"?><rss xmlns:dc="http://purl.org/dc/elements/1.1/"'
            ' xmlns:content="http://purl.org/rss/1.0/modules/content/" '
            'xmlns:atom="http://www.w3.org/2005/Atom" version="2.0"><channel>'
            f"<title><![CDATA[Stories by {AUTHOR_NAME} on Medium]]></title>"
            f"<description><![CDATA[Stories by {AUTHOR_NAME} on Medium]]></description>"
            f"<link>{self.demo.url('medium')}/@{H}?source=rss-a1b2c3d4e5f6------2</link>"
            "<generator>Medium</generator>"
            f"<lastBuildDate>{format_datetime(datetime.now(UTC), usegmt=True)}</lastBuildDate>"
            f'<atom:link href="{self.demo.url("medium")}/@{H}/feed" rel="self" '
            'type="application/rss+xml"/>'
            + "".join(items) + "</channel></rss>")

    def article(self, piece: Piece) -> str:
        url = self.article_url(piece)
        iso = piece.date.isoformat().replace("+00:00", ".000Z")
        ld = {"@context": "http://schema.org", "@type": "NewsArticle", "url": url,
              "datePublished": iso, "dateModified": iso, "headline": piece.title,
              "name": piece.title, "description": piece.subtitle, "identifier": piece.hex_id,
              "author": {"@type": "Person", "name": AUTHOR_NAME,
                         "url": f"{self.demo.url('medium')}/@{H}"},
              "creator": [AUTHOR_NAME],
              "publisher": {"@type": "Organization", "name": "Medium",
                            "url": self.demo.url("medium")}}
        minutes = max(1, len(self.demo.body(piece).split()) // 230)
        head = (
            '<meta data-rh="true" property="al:android:package" content="com.medium.reader"/>'
            '<meta data-rh="true" property="og:site_name" content="Medium"/>'
            '<meta data-rh="true" property="og:type" content="article"/>'
            f'<meta data-rh="true" property="article:published_time" content="{iso}"/>'
            f'<meta data-rh="true" property="og:title" content="{e(piece.title)}"/>'
            f'<meta data-rh="true" property="al:android:url" content="medium://p/{piece.hex_id}"/>'
            f'<meta data-rh="true" name="author" content="{AUTHOR_NAME}"/>'
            f'<meta data-rh="true" name="twitter:data1" content="{minutes} min read"/>'
            f'<link data-rh="true" rel="canonical" href="{url}"/>'
            f'<script data-rh="true" type="application/ld+json">{ld_json(ld)}</script>')
        subtitle = (f'<h2 class="pw-subtitle-paragraph" data-selectable-paragraph="">'
                    f"{e(piece.subtitle)}</h2>") if piece.subtitle else ""
        body = (
            '<div id="root"><nav class="metabar"><a href="/">Medium</a><a href="/m/signin">'
            'Sign in</a><a href="/new-story">Write</a></nav><main><article><div><section>'
            '<div class="section-inner">'
            f'<h1 class="pw-post-title" data-testid="storyTitle" data-selectable-paragraph="">'
            f"{e(piece.title)}</h1>{subtitle}"
            f'<div class="pw-author"><a data-testid="authorName" href="/@{H}">{AUTHOR_NAME}</a>'
            f'<button>Follow</button><span data-testid="storyReadTime">{minutes} min read</span>'
            f'<span data-testid="storyPublishDate">{piece.date:%b %d, %Y}</span></div>'
            f"{medium_body(self.demo.body(piece))}</div></section></div></article>"
            f'<div class="clap-bar"><button aria-label="clap">Clap</button>'
            f'<button aria-label="responses">Responses</button></div>'
            f"<footer><h2>More from {AUTHOR_NAME}</h2><p>Recommended from Medium</p>"
            "</footer></main></div>")
        return html_page(f"{piece.title} | by {AUTHOR_NAME} | Medium", head, body)

    def article_url(self, piece: Piece) -> str:
        """Article URL in Medium's ``/@user/slug-<id>`` shape."""
        return f"{self.demo.url('medium')}/@{H}/{piece.slug}-{piece.hex_id}"

    def build_export(self, path: Path) -> None:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("README.html", "<html><body><h1>Your Medium data</h1></body></html>")
            archive.writestr("profile/profile.html",
                             f"<html><body><h3>{AUTHOR_NAME}</h3><p>@{H}</p></body></html>")
            for piece in self.demo._pieces("medium", "export"):
                slug = "-".join(w.capitalize() for w in piece.slug.split("-"))
                canonical = f"https://medium.com/@{H}/{piece.slug}-{piece.hex_id}"
                page = (
                    f"<!DOCTYPE html><html><head><title>{e(piece.title)}</title></head><body>"
                    '<article class="h-entry"><header>'
                    f'<h1 class="p-name">{e(piece.title)}</h1></header>'
                    f'<section data-field="subtitle" class="p-summary">{e(piece.subtitle)}'
                    '</section><section data-field="body" class="e-content">'
                    '<section name="a1" class="section section--body section--first">'
                    '<div class="section-divider"><hr class="section-divider"></div>'
                    '<div class="section-content"><div class="section-inner">'
                    f'<h3 class="graf graf--h3 graf--title">{e(piece.title)}</h3>'
                    f"{render_markdown(piece.body)}</div></div></section></section><footer>"
                    f'<p>By <a href="https://medium.com/@{H}" class="p-author h-card">'
                    f'{AUTHOR_NAME}</a> on <a href="https://medium.com/p/{piece.hex_id}">'
                    f'<time class="dt-published" datetime="{piece.date.isoformat()}">'
                    f"{piece.date:%B %d, %Y}</time></a>.</p>"
                    f'<p><a href="{canonical}" class="p-canonical">Canonical link</a></p>'
                    "<p>Exported from <a href=\"https://medium.com\">Medium</a> on November 1,"
                    " 2026.</p></footer></article></body></html>")
                archive.writestr(f"posts/{piece.date:%Y-%m-%d}_{slug}-{piece.hex_id}.html",
                                 page)
            archive.writestr("posts/draft_Thoughts-On-Dashboards-0a1b2c3d4e5f.html",
                             '<html><body><article class="h-entry"><h1 class="p-name">Thoughts'
                             '</h1><section data-field="body" class="e-content"><p>Draft.</p>'
                             "</section><footer><p>View original.</p></footer></article>"
                             "</body></html>")
