"""The demo's Substack publication on a custom domain: the archive API, the feed, post
pages, and the export archive (mirrors :mod:`twin.collect.substack`)."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from email.utils import format_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twin.demo.content import AUTHOR_NAME, PUBLICATION, Piece
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


class SubstackSite:
    """A Substack publication: ``/api/v1/archive``, ``/feed``, ``/p/<slug>``."""

    name = "substack"

    def __init__(self, demo: DemoSite) -> None:
        self.demo = demo

    def route(self, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> Response:
        root = self.demo.url("substack")
        posts = self.demo._pieces("substack")
        if path == "/robots.txt":
            return text_response("User-agent: *\nDisallow: /action/\nDisallow: /publish\n"
                         "Disallow: /sign-in\n")
        if path == "/api/v1/archive" and not self.demo.archive_api_enabled:
            return 403, "application/json", b'{"error":"forbidden"}', {}
        if path == "/api/v1/archive":
            offset = int((query.get("offset") or ["0"])[0])
            limit = min(int((query.get("limit") or ["12"])[0]), 50)
            rows = [self.listing(p) for p in posts[offset:offset + limit]]
            return 200, "application/json; charset=utf-8", json.dumps(rows).encode(), {}
        if path == "/feed":
            return 200, "application/rss+xml; charset=utf-8", self.feed().encode(), {}
        if path in ("", "/"):
            items = "".join(f'<div class="post-preview"><a href="{root}/p/{p.slug}">'
                            f"{e(p.title)}</a></div>" for p in posts)
            # As Substack's own home pages: its CDN and the publication object it embeds.
            preloads = json.dumps(json.dumps({"base_url": root,
                                              "pub": {"name": PUBLICATION,
                                                      "subdomain": "miseendata"}}))
            return html_response(html_page(PUBLICATION, '<link rel="preconnect" href="https://substackcdn.com">'
                                            '<link rel="alternate" type="application/rss+xml" '
                                            'href="/feed">',
                               items + f"<script>window._preloads = JSON.parse({preloads})"
                               "</script>"))
        match = re.fullmatch(r"/p/([a-z0-9-]+)", path)
        if match:
            piece = self.demo._find("substack", lambda p: p.slug == match.group(1))
            if piece:
                return html_response(self.post(piece))
        return not_found()

    def listing(self, piece: Piece) -> dict[str, Any]:
        words = self.demo.body(piece).split()
        return {
            "id": piece.numeric_id % 10_000_000, "publication_id": 2_718_281,
            "title": piece.title, "subtitle": piece.subtitle, "slug": piece.slug,
            "post_date": piece.date.isoformat().replace("+00:00", ".000Z"),
            "canonical_url": f"{self.demo.url('substack')}/p/{piece.slug}",
            "type": "newsletter", "audience": "everyone", "description": piece.subtitle,
            "truncated_body_text": " ".join(words[:40]), "wordcount": len(words),
            "body_html": None, "cover_image": None, "podcast_url": None, "reaction_count": 12,
            "comment_count": 3, "postTags": [{"name": t, "slug": t} for t in piece.tags],
            "publishedBylines": [{"name": AUTHOR_NAME, "handle": H}],
        }

    def feed(self) -> str:
        items = "".join(
            f"<item><title><![CDATA[{p.title}]]></title><description><![CDATA[{p.subtitle}]]>"
            f"</description><link>{self.demo.url('substack')}/p/{p.slug}</link>"
            f'<guid isPermaLink="false">{self.demo.url("substack")}/p/{p.slug}</guid>'
            f"<dc:creator><![CDATA[{AUTHOR_NAME}]]></dc:creator>"
            f"<pubDate>{format_datetime(p.date, usegmt=True)}</pubDate>"
            f"<content:encoded><![CDATA[{render_markdown(self.demo.body(p))}]]></content:encoded>"
            "</item>" for p in self.demo._pieces("substack"))
        return ('<?xml version="1.0" encoding="UTF-8"?><rss xmlns:dc="http://purl.org/dc/'
                'elements/1.1/" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
                'version="2.0"><channel>'
                f"<title><![CDATA[{PUBLICATION}]]></title><link>{self.demo.url('substack')}</link>"
                f"<generator>Substack</generator>{items}</channel></rss>")

    def post(self, piece: Piece) -> str:
        url = f"{self.demo.url('substack')}/p/{piece.slug}"
        iso = piece.date.isoformat().replace("+00:00", ".000Z")
        ld = {"@context": "https://schema.org", "@type": "NewsArticle", "url": url,
              "mainEntityOfPage": url, "headline": piece.title, "description": piece.subtitle,
              "datePublished": iso, "dateModified": iso, "isAccessibleForFree": True,
              "author": [{"@type": "Person", "name": AUTHOR_NAME,
                          "url": f"https://substack.com/@{H}"}],
              "publisher": {"@type": "Organization", "name": PUBLICATION,
                            "url": self.demo.url("substack")}}
        preloads = json.dumps(json.dumps({"base_url": self.demo.url("substack"),
                                          "pub": {"name": PUBLICATION, "subdomain": "miseendata",
                                                  "custom_domain": self.demo.hostport("substack")},
                                          "post": {"slug": piece.slug, "title": piece.title}}))
        head = ('<link rel="preconnect" href="https://substackcdn.com">'
                f'<meta property="og:title" content="{e(piece.title)}">'
                f'<meta name="author" content="{AUTHOR_NAME}">'
                f'<link rel="canonical" href="{url}">'
                '<link rel="alternate" type="application/rss+xml" href="/feed" '
                f'title="{PUBLICATION}">'
                f'<script type="application/ld+json">{ld_json(ld)}</script>')
        body = (
            f'<div id="entry"><div class="main-menu"><a href="/">{PUBLICATION}</a>'
            '<a href="/subscribe">Subscribe</a><a href="/sign-in">Sign in</a></div>'
            '<article class="typography newsletter-post post"><div class="post-header">'
            f'<h1 class="post-title published" dir="auto">{e(piece.title)}</h1>'
            f'<h3 class="subtitle" dir="auto">{e(piece.subtitle)}</h3>'
            f'<div class="post-meta-item post-date"><time datetime="{iso}">'
            f"{piece.date:%b %d, %Y}</time></div></div>"
            f'<div class="available-content"><div dir="auto" class="body markup">'
            f"{render_markdown(self.demo.body(piece))}</div></div>"
            '<div class="subscription-widget-wrap"><p>Thanks for reading Mise en Data! '
            "Subscribe for free to receive new posts.</p></div></article></div>"
            f"<script>window._preloads = JSON.parse({preloads})</script>")
        return html_page(f"{piece.title} - {PUBLICATION}", head, body)

    def build_export(self, path: Path) -> None:
        rows = io.StringIO()
        writer = csv.writer(rows, lineterminator="\n")
        writer.writerow(["post_id", "post_date", "is_published", "email_sent_at",
                         "inbox_sent_at", "type", "audience", "title", "subtitle", "podcast_url"])
        pieces = self.demo._pieces("substack", "export")
        for piece in pieces:
            stamp = piece.date.isoformat().replace("+00:00", ".000Z")
            writer.writerow([f"{piece.numeric_id % 10_000_000}.{piece.slug}", stamp, "true",
                             stamp, stamp, "newsletter", "everyone", piece.title,
                             piece.subtitle, ""])
        writer.writerow(["9999999.half-baked-ideas", "", "false", "", "", "newsletter",
                         "everyone", "Half-baked ideas", "", ""])
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("posts.csv", rows.getvalue())
            for piece in pieces:
                archive.writestr(f"posts/{piece.numeric_id % 10_000_000}.{piece.slug}.html",
                                 render_markdown(piece.body) + substack_widgets(piece.slug))
            archive.writestr("posts/9999999.half-baked-ideas.html", "<p>Not ready.</p>")
            archive.writestr("email_list.miseendata.csv", "email,active_subscription\n")


def substack_widgets(slug: str) -> str:
    """What Substack's editor appends to a post body: a divider, share and comment buttons and
    the subscribe form (the importer removes them; none is the author's writing)."""
    base = "https://miseendata.substack.com"
    share = f"{base}/p/{slug}?utm_source=substack&amp;utm_medium=email&amp;action=share"
    return (
        '<div><hr></div><div class="captioned-button-wrap" data-component-name='
        '"CaptionedButtonToDOM"><div class="preamble"><p class="cta-caption">Thanks for reading '
        "Mise en Data! This post is public so feel free to share it.</p></div>"
        '<p class="button-wrapper" data-component-name="ButtonCreateButton">'
        f'<a class="button primary" href="{share}"><span>Share</span></a></p></div>'
        '<p class="button-wrapper" data-component-name="ButtonCreateButton"><a class="button '
        f'primary" href="{base}/p/{slug}/comments"><span>Leave a comment</span></a></p>'
        '<div class="subscription-widget-wrap-editor" data-component-name="SubscribeWidgetToDOM">'
        '<div class="subscription-widget show-subscribe"><div class="preamble"><p class="cta-'
        'caption">Thanks for reading Mise en Data! Subscribe for free to receive new posts and '
        'support my work.</p></div><form class="subscription-widget-subscribe"><input type="email"'
        ' class="email-input" name="email" placeholder="Type your email…"><input type="submit" '
        'class="button primary" value="Subscribe"></form></div></div>')
