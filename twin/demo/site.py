"""A local copy of the demo author's corner of the web, served on 127.0.0.1.

Each platform gets its own HTTP server (its own port), so URL paths have exactly the real
sites' shapes: Medium (``/@user``, ``/feed/@user``, ``/@user/slug-<id>``), a Substack
publication on a custom domain (``/api/v1/archive``, ``/feed``, ``/p/<slug>``), LinkedIn
(``/posts/<user>_<slug>-activity-<id>-<x>``, ``/pulse/<slug>-<user>``), a GitHub Enterprise-
style host (REST API under ``/api/v3``, git over dumb HTTP at ``/<user>/<repo>.git``) and a
personal blog with an RSS feed. Pages reproduce the real sites' HTML structure (the selectors,
meta tags and JSON-LD the spiders read). Pages carry ETags, so the crawlers' HTTP cache
revalidates instead of refetching, and :meth:`DemoSite.edit` changes a page in place.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import logging
import os
import re
import shutil
import subprocess
import threading
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import markdown as md
from lxml import html as lxml_html

from twin.demo.content import (
    AUTHOR_HANDLE,
    AUTHOR_NAME,
    BLOG_NAME,
    PUBLICATION,
    REPOSITORIES,
    Piece,
    data_dir,
    load_pieces,
)

log = logging.getLogger(__name__)
H = AUTHOR_HANDLE
GIT_DATE = "2026-09-01T10:00:00+00:00"
GITHUB_PAGE_SIZE = 2  # the demo API pages its repository list to exercise Link headers

Handler = Callable[[str, dict[str, list[str]], dict[str, str]],
                   tuple[int, str, bytes, dict[str, str]]]


def render_markdown(text: str) -> str:
    """Markdown to HTML (fenced code, tables)."""
    return md.markdown(text, extensions=["fenced_code", "tables", "sane_lists"])


def e(text: str) -> str:
    """HTML-escape."""
    return html.escape(text, quote=True)


def _ld(data: dict[str, Any]) -> str:
    # Real pages escape '/' as \u002F inside JSON-LD; do the same so parsers meet it.
    return json.dumps(data, ensure_ascii=False).replace("/", "\\u002F")


def _text_of(body: str) -> str:
    """A LinkedIn post as the platform stores it: plain text, markdown markers removed."""
    return re.sub(r"\*\*(.+?)\*\*", r"\1", body)


def _page(title: str, head: str, body: str) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{e(title)}</title>{head}</head><body>{body}</body></html>")


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

    # Lifecycle ----------------------------------------------------------------------------
    def start(self) -> DemoSite:
        """Build assets and start one server per site on ephemeral 127.0.0.1 ports."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        routes: dict[str, Handler] = {
            "medium": self._medium, "substack": self._substack, "linkedin": self._linkedin,
            "github": self._github, "blog": self._blog,
        }
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
        return f"{self.url('medium')}/@{H}/{piece.slug}-{piece.hex_id}"

    def linkedin_url(self, piece: Piece) -> str:
        """Post or Pulse URL in LinkedIn's shapes."""
        if piece.kind == "post":
            return (f"{self.url('linkedin')}/posts/{H}_{piece.slug[:40]}-activity-"
                    f"{piece.numeric_id}-{piece.hex_id[:4]}")
        return f"{self.url('linkedin')}/pulse/{piece.slug}-{H}"

    def _find(self, platform: str, predicate: Callable[[Piece], bool]) -> Piece | None:
        return next((p for p in self.pieces if p.platform == platform and p.channel != "export"
                     and predicate(p)), None)

    # Medium -------------------------------------------------------------------------------
    def _medium(self, path: str, query: dict[str, list[str]],
                headers: dict[str, str]) -> tuple[int, str, bytes, dict[str, str]]:
        if path == "/robots.txt":
            return _text("User-agent: *\nDisallow: /m/\nDisallow: /me/\n")
        if path in (f"/feed/@{H}", f"/@{H}/feed"):
            return 200, "text/xml; charset=UTF-8", self._medium_feed().encode(), {}
        if path == f"/@{H}":
            return _html(_page(f"{AUTHOR_NAME} – Medium", "", f"<h2>{AUTHOR_NAME}</h2>"))
        match = re.fullmatch(rf"/@{H}/([a-z0-9-]+)-([0-9a-f]{{12}})", path)
        if match:
            piece = self._find("medium", lambda p: p.hex_id == match.group(2))
            if piece:
                return _html(self._medium_article(piece))
        return _not_found()

    def _medium_feed(self) -> str:
        items = []
        for piece in self._pieces("medium")[:10]:
            link = f"{self.medium_url(piece)}?source=rss-a1b2c3d4e5f6------2"
            content = medium_body(self.body(piece)) + (
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
            f"<link>{self.url('medium')}/@{H}?source=rss-a1b2c3d4e5f6------2</link>"
            "<generator>Medium</generator>"
            f"<lastBuildDate>{format_datetime(datetime.now(UTC), usegmt=True)}</lastBuildDate>"
            f'<atom:link href="{self.url("medium")}/@{H}/feed" rel="self" '
            'type="application/rss+xml"/>'
            + "".join(items) + "</channel></rss>")

    def _medium_article(self, piece: Piece) -> str:
        url = self.medium_url(piece)
        iso = piece.date.isoformat().replace("+00:00", ".000Z")
        ld = {"@context": "http://schema.org", "@type": "NewsArticle", "url": url,
              "datePublished": iso, "dateModified": iso, "headline": piece.title,
              "name": piece.title, "description": piece.subtitle, "identifier": piece.hex_id,
              "author": {"@type": "Person", "name": AUTHOR_NAME,
                         "url": f"{self.url('medium')}/@{H}"},
              "creator": [AUTHOR_NAME],
              "publisher": {"@type": "Organization", "name": "Medium",
                            "url": self.url("medium")}}
        minutes = max(1, len(self.body(piece).split()) // 230)
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
            f'<script data-rh="true" type="application/ld+json">{_ld(ld)}</script>')
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
            f"{medium_body(self.body(piece))}</div></section></div></article>"
            f'<div class="clap-bar"><button aria-label="clap">Clap</button>'
            f'<button aria-label="responses">Responses</button></div>'
            f"<footer><h2>More from {AUTHOR_NAME}</h2><p>Recommended from Medium</p>"
            "</footer></main></div>")
        return _page(f"{piece.title} | by {AUTHOR_NAME} | Medium", head, body)

    # Substack -----------------------------------------------------------------------------
    def _substack(self, path: str, query: dict[str, list[str]],
                  headers: dict[str, str]) -> tuple[int, str, bytes, dict[str, str]]:
        root = self.url("substack")
        posts = self._pieces("substack")
        if path == "/robots.txt":
            return _text("User-agent: *\nDisallow: /action/\nDisallow: /publish\n"
                         "Disallow: /sign-in\n")
        if path == "/api/v1/archive" and not self.archive_api_enabled:
            return 403, "application/json", b'{"error":"forbidden"}', {}
        if path == "/api/v1/archive":
            offset = int((query.get("offset") or ["0"])[0])
            limit = min(int((query.get("limit") or ["12"])[0]), 50)
            rows = [self._substack_listing(p) for p in posts[offset:offset + limit]]
            return 200, "application/json; charset=utf-8", json.dumps(rows).encode(), {}
        if path == "/feed":
            return 200, "application/rss+xml; charset=utf-8", self._substack_feed().encode(), {}
        if path in ("", "/"):
            items = "".join(f'<div class="post-preview"><a href="{root}/p/{p.slug}">'
                            f"{e(p.title)}</a></div>" for p in posts)
            # As Substack's own home pages: its CDN and the publication object it embeds.
            preloads = json.dumps(json.dumps({"base_url": root,
                                              "pub": {"name": PUBLICATION,
                                                      "subdomain": "miseendata"}}))
            return _html(_page(PUBLICATION, '<link rel="preconnect" href="https://substackcdn.com">'
                                            '<link rel="alternate" type="application/rss+xml" '
                                            'href="/feed">',
                               items + f"<script>window._preloads = JSON.parse({preloads})"
                               "</script>"))
        match = re.fullmatch(r"/p/([a-z0-9-]+)", path)
        if match:
            piece = self._find("substack", lambda p: p.slug == match.group(1))
            if piece:
                return _html(self._substack_post(piece))
        return _not_found()

    def _substack_listing(self, piece: Piece) -> dict[str, Any]:
        words = self.body(piece).split()
        return {
            "id": piece.numeric_id % 10_000_000, "publication_id": 2_718_281,
            "title": piece.title, "subtitle": piece.subtitle, "slug": piece.slug,
            "post_date": piece.date.isoformat().replace("+00:00", ".000Z"),
            "canonical_url": f"{self.url('substack')}/p/{piece.slug}",
            "type": "newsletter", "audience": "everyone", "description": piece.subtitle,
            "truncated_body_text": " ".join(words[:40]), "wordcount": len(words),
            "body_html": None, "cover_image": None, "podcast_url": None, "reaction_count": 12,
            "comment_count": 3, "postTags": [{"name": t, "slug": t} for t in piece.tags],
            "publishedBylines": [{"name": AUTHOR_NAME, "handle": H}],
        }

    def _substack_feed(self) -> str:
        items = "".join(
            f"<item><title><![CDATA[{p.title}]]></title><description><![CDATA[{p.subtitle}]]>"
            f"</description><link>{self.url('substack')}/p/{p.slug}</link>"
            f'<guid isPermaLink="false">{self.url("substack")}/p/{p.slug}</guid>'
            f"<dc:creator><![CDATA[{AUTHOR_NAME}]]></dc:creator>"
            f"<pubDate>{format_datetime(p.date, usegmt=True)}</pubDate>"
            f"<content:encoded><![CDATA[{render_markdown(self.body(p))}]]></content:encoded>"
            "</item>" for p in self._pieces("substack"))
        return ('<?xml version="1.0" encoding="UTF-8"?><rss xmlns:dc="http://purl.org/dc/'
                'elements/1.1/" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
                'version="2.0"><channel>'
                f"<title><![CDATA[{PUBLICATION}]]></title><link>{self.url('substack')}</link>"
                f"<generator>Substack</generator>{items}</channel></rss>")

    def _substack_post(self, piece: Piece) -> str:
        url = f"{self.url('substack')}/p/{piece.slug}"
        iso = piece.date.isoformat().replace("+00:00", ".000Z")
        ld = {"@context": "https://schema.org", "@type": "NewsArticle", "url": url,
              "mainEntityOfPage": url, "headline": piece.title, "description": piece.subtitle,
              "datePublished": iso, "dateModified": iso, "isAccessibleForFree": True,
              "author": [{"@type": "Person", "name": AUTHOR_NAME,
                          "url": f"https://substack.com/@{H}"}],
              "publisher": {"@type": "Organization", "name": PUBLICATION,
                            "url": self.url("substack")}}
        preloads = json.dumps(json.dumps({"base_url": self.url("substack"),
                                          "pub": {"name": PUBLICATION, "subdomain": "miseendata",
                                                  "custom_domain": self.hostport("substack")},
                                          "post": {"slug": piece.slug, "title": piece.title}}))
        head = ('<link rel="preconnect" href="https://substackcdn.com">'
                f'<meta property="og:title" content="{e(piece.title)}">'
                f'<meta name="author" content="{AUTHOR_NAME}">'
                f'<link rel="canonical" href="{url}">'
                '<link rel="alternate" type="application/rss+xml" href="/feed" '
                f'title="{PUBLICATION}">'
                f'<script type="application/ld+json">{_ld(ld)}</script>')
        body = (
            f'<div id="entry"><div class="main-menu"><a href="/">{PUBLICATION}</a>'
            '<a href="/subscribe">Subscribe</a><a href="/sign-in">Sign in</a></div>'
            '<article class="typography newsletter-post post"><div class="post-header">'
            f'<h1 class="post-title published" dir="auto">{e(piece.title)}</h1>'
            f'<h3 class="subtitle" dir="auto">{e(piece.subtitle)}</h3>'
            f'<div class="post-meta-item post-date"><time datetime="{iso}">'
            f"{piece.date:%b %d, %Y}</time></div></div>"
            f'<div class="available-content"><div dir="auto" class="body markup">'
            f"{render_markdown(self.body(piece))}</div></div>"
            '<div class="subscription-widget-wrap"><p>Thanks for reading Mise en Data! '
            "Subscribe for free to receive new posts.</p></div></article></div>"
            f"<script>window._preloads = JSON.parse({preloads})</script>")
        return _page(f"{piece.title} - {PUBLICATION}", head, body)

    # LinkedIn -----------------------------------------------------------------------------
    def _linkedin(self, path: str, query: dict[str, list[str]],
                  headers: dict[str, str]) -> tuple[int, str, bytes, dict[str, str]]:
        if path == "/robots.txt":
            # The real file disallows every crawler it has not whitelisted; the demo plays a
            # LinkedIn that whitelisted this bot for public posts and articles.
            return _text("User-agent: LLMTwinBot\nAllow: /posts/\nAllow: /pulse/\n"
                         "Disallow: /\n\nUser-agent: *\nDisallow: /\n")
        if path.startswith("/in/") or "-activity-999-" in path:
            return 999, "text/html", b"Request denied", {}
        if path.startswith("/posts/") and "-activity-302-" in path:
            return 302, "text/html", b"", {"Location": "/authwall?trk=public_post"}
        if path == "/authwall":
            return _html(_page("Sign Up | LinkedIn", "", "<h1>Join LinkedIn</h1>"))
        for piece in self.pieces:
            if piece.platform == "linkedin" and piece.channel != "export" and \
                    urlsplit(self.linkedin_url(piece)).path == path:
                page = self._linkedin_post(piece) if piece.kind == "post" else \
                    self._linkedin_pulse(piece)
                return _html(page)
        return _not_found()

    def _linkedin_post(self, piece: Piece) -> str:
        text = _text_of(self.body(piece))
        iso = piece.date.isoformat().replace("+00:00", ".000Z")
        url = self.linkedin_url(piece)
        ld = {"@context": "http://schema.org", "@type": "SocialMediaPosting", "@id": url,
              "articleBody": text, "datePublished": iso,
              "author": {"@type": "Person", "name": AUTHOR_NAME,
                         "url": f"{self.url('linkedin')}/in/{H}"},
              "interactionStatistic": [{"@type": "InteractionCounter",
                                        "interactionType": "http://schema.org/LikeAction",
                                        "userInteractionCount": 81}],
              "hasPart": {"@type": "WebPageElement", "isAccessibleForFree": False,
                          "cssSelector": ".details"}}
        paragraphs = "<br>".join(e(line) for line in text.split("\n"))
        first = text.split("\n", 1)[0]
        head = (f'<meta property="og:title" content="{e(first[:80])}">'
                f'<link rel="canonical" href="{url}">'
                f'<script type="application/ld+json">{_ld(ld)}</script>')
        body = (
            '<header class="nav"><a href="/">LinkedIn</a><a href="/signup">Join now</a>'
            '<a href="/login">Sign in</a></header><main class="main"><section class="core-rail">'
            '<article class="main-feed-activity-card">'
            f'<h1 class="section-title">{AUTHOR_NAME}’s Post</h1>'
            '<p class="attributed-text-segment-list__content text-color-text" dir="ltr" '
            f'data-test-id="main-feed-activity-card__commentary">{paragraphs}</p>'
            '<time>3w</time><span data-test-id="social-actions__reaction-count">81</span>'
            '</article></section><section class="right-rail"><h2>More Relevant Posts</h2>'
            "</section></main>")
        return _page(f"{first[:60]} | {AUTHOR_NAME}", head, body)

    def _linkedin_pulse(self, piece: Piece) -> str:
        iso = piece.date.isoformat().replace("+00:00", ".000Z")
        ld = {"@context": "http://schema.org", "@type": "Article", "name": piece.title,
              "headline": piece.title, "datePublished": iso, "isAccessibleForFree": True,
              "author": {"@type": "Person", "name": AUTHOR_NAME,
                         "url": f"{self.url('linkedin')}/in/{H}"},
              "publisher": {"@type": "Organization", "name": "LinkedIn"}}
        head = (f'<meta property="og:title" content="{e(piece.title)}">'
                f'<meta property="article:published_time" content="{iso}">'
                f'<script type="application/ld+json">{_ld(ld)}</script>')
        body = (
            '<header class="nav"><a href="/">LinkedIn</a><a href="/login">Sign in</a></header>'
            '<main><article class="article-main">'
            f'<h1 class="pulse-title">{e(piece.title)}</h1>'
            f'<div class="publisher-author-card"><h3>{AUTHOR_NAME}</h3><p>Data platform '
            f'engineer</p></div><div data-test-id="article-content-blocks">'
            f'<div class="article-main__content">{render_markdown(self.body(piece))}</div>'
            '</div></article><aside><h2>Others also viewed</h2></aside></main>')
        return _page(f"{piece.title}", head, body)

    # GitHub -------------------------------------------------------------------------------
    def _github(self, path: str, query: dict[str, list[str]],
                headers: dict[str, str]) -> tuple[int, str, bytes, dict[str, str]]:
        api = "/api/v3"
        rate = {"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "59",
                "X-RateLimit-Resource": "core"}
        if path == f"{api}/users/{H}/repos":
            repos = self._repos()
            page = int((query.get("page") or ["1"])[0])
            chunk = repos[(page - 1) * GITHUB_PAGE_SIZE: page * GITHUB_PAGE_SIZE]
            extra = dict(rate)
            if page * GITHUB_PAGE_SIZE < len(repos):
                extra["Link"] = (f'<{self.url("github")}{api}/user/4242/repos?type=owner&'
                                 f'per_page={GITHUB_PAGE_SIZE}&page={page + 1}>; rel="next"')
            return 200, "application/json; charset=utf-8", json.dumps(chunk).encode(), extra
        match = re.fullmatch(rf"{api}/user/4242/repos", path)
        if match:
            return self._github(f"{api}/users/{H}/repos", query, headers)
        match = re.fullmatch(rf"{api}/repos/{H}/([\w.-]+)", path)
        if match:
            repo = next((r for r in self._repos() if r["name"] == match.group(1)), None)
            if repo:
                return 200, "application/json", json.dumps(repo).encode(), rate
        if path.startswith(api):
            body = {"message": "Not Found",
                    "documentation_url": "https://docs.github.com/rest", "status": "404"}
            return 404, "application/json", json.dumps(body).encode(), rate
        return _not_found()

    def git_http_backend(self, method: str, path: str, query: str, headers: dict[str, str],
                         body: bytes) -> tuple[int, dict[str, str], bytes] | None:
        """Git's smart HTTP protocol (what github.com speaks), through `git http-backend`."""
        match = re.fullmatch(rf"/{H}/([\w-]+\.git)(/.*)", path)
        if not match:
            return None
        env = {**os.environ, "GIT_PROJECT_ROOT": str(self.workdir / "git"),
               "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": f"/{match.group(1)}{match.group(2)}",
               "QUERY_STRING": query, "REQUEST_METHOD": method,
               "CONTENT_TYPE": headers.get("Content-Type", ""),
               "CONTENT_LENGTH": str(len(body)), "REMOTE_ADDR": "127.0.0.1",
               "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
        if headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = headers["Git-Protocol"]
        proc = subprocess.run(["git", "http-backend"], input=body, env=env,
                              capture_output=True, timeout=60, check=False)
        head, _, payload = proc.stdout.partition(b"\r\n\r\n")
        status, out_headers = 200, {}
        for line in head.decode("latin-1").split("\r\n"):
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.strip().split()[0])
            elif key:
                out_headers[key.strip()] = value.strip()
        return status, out_headers, payload

    def _repos(self) -> list[dict[str, Any]]:
        base = self.url("github")
        descriptions = {
            "parquet-drift": "Detect schema drift between Parquet files before it pages you.",
            "oncall-cookbook": "Recipes for the data on-call: backfills, drift, late data.",
        }
        repos = []
        for index, name in enumerate([*REPOSITORIES, "dbt-utils"]):
            repos.append({
                "id": 1000 + index, "name": name, "full_name": f"{H}/{name}",
                "html_url": f"{base}/{H}/{name}", "clone_url": f"{base}/{H}/{name}.git",
                "description": descriptions.get(name, "Fork of a community package"),
                "fork": name == "dbt-utils", "archived": False, "private": False,
                "visibility": "public", "default_branch": "main",
                "language": "Python" if name == "parquet-drift" else None,
                "topics": ["data-engineering"], "pushed_at": "2026-09-01T10:00:00Z",
                "created_at": "2025-02-11T09:00:00Z", "updated_at": "2026-09-01T10:00:00Z",
                "size": 42, "stargazers_count": 17 - index,
            })
        return repos

    def build_git_repositories(self) -> None:
        """Real git repositories of the demo author, bare, served over dumb HTTP."""
        git_root = self.workdir / "git"
        shutil.rmtree(git_root, ignore_errors=True)
        git_root.mkdir(parents=True)
        env = {**os.environ, "GIT_AUTHOR_NAME": AUTHOR_NAME, "GIT_COMMITTER_NAME": AUTHOR_NAME,
               "GIT_AUTHOR_EMAIL": "maya@okafor.dev", "GIT_COMMITTER_EMAIL": "maya@okafor.dev",
               "GIT_AUTHOR_DATE": GIT_DATE, "GIT_COMMITTER_DATE": GIT_DATE,
               "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
        for name in REPOSITORIES:
            work = self.workdir / "git-work" / name
            shutil.rmtree(work, ignore_errors=True)
            shutil.copytree(data_dir() / "github" / name, work, ignore=shutil.ignore_patterns(
                ".ruff_cache", "__pycache__", ".pytest_cache"))
            _add_files_to_skip(work)
            for command in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"],
                            ["git", "commit", "-q", "-m", "Initial public release"]):
                subprocess.run(command, cwd=work, env=env, check=True, capture_output=True)
            bare = git_root / f"{name}.git"
            subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], env=env,
                           check=True, capture_output=True)
            subprocess.run(["git", "update-server-info"], cwd=bare, env=env, check=True,
                           capture_output=True)
            shutil.rmtree(work)

    # Blog ---------------------------------------------------------------------------------
    def _blog(self, path: str, query: dict[str, list[str]],
              headers: dict[str, str]) -> tuple[int, str, bytes, dict[str, str]]:
        posts = self._pieces("blog")
        if path == "/robots.txt":
            return _text("User-agent: *\nDisallow: /private/\n")
        if path == "/feed.xml":
            items = "".join(
                f"<item><title>{e(p.title)}</title><link>{self.url('blog')}/posts/{p.slug}/"
                f"</link><guid>{self.url('blog')}/posts/{p.slug}/</guid>"
                f"<pubDate>{format_datetime(p.date, usegmt=True)}</pubDate>"
                f"<description>{e(p.subtitle)}</description></item>" for p in posts)
            feed = ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
                    f"<title>{BLOG_NAME}</title><link>{self.url('blog')}/</link>"
                    f"<description>Notes by {AUTHOR_NAME}</description>"
                    f"<generator>Hugo</generator>{items}</channel></rss>")
            return 200, "application/rss+xml; charset=utf-8", feed.encode(), {}
        if path in ("", "/"):
            listing = "".join(f'<li><a href="/posts/{p.slug}/">{e(p.title)}</a> '
                              f"<time>{p.date:%Y-%m-%d}</time></li>" for p in posts)
            return _html(self._blog_page(BLOG_NAME, f"<h1>Notes</h1><ul>{listing}</ul>"))
        if path == "/posts/coming-soon/":
            return _html(self._blog_page("Coming soon", ""))
        if path == "/private/drafts/":
            return _html(self._blog_page("Drafts", "<article><p>Not for robots.</p></article>"))
        if path == "/flaky/":
            self._flaky_hits = getattr(self, "_flaky_hits", 0) + 1
            if self._flaky_hits % 3 != 0:
                return 503, "text/plain", b"Service Unavailable", {"Retry-After": "0"}
            piece = posts[0]
            return _html(self._blog_article(piece))
        match = re.fullmatch(r"/posts/([a-z0-9-]+)/", path)
        if match:
            piece = self._find("blog", lambda p: p.slug == match.group(1))
            if piece:
                return _html(self._blog_article(piece))
        return _not_found()

    def _blog_page(self, title: str, main: str, head: str = "") -> str:
        head = ('<link rel="alternate" type="application/rss+xml" href="/feed.xml" '
                f'title="{BLOG_NAME}">' + head)
        body = (f'<header class="site-header"><a class="site-title" href="/">{BLOG_NAME}</a>'
                '<nav><a href="/">Home</a><a href="/about/">About</a><a href="/feed.xml">RSS'
                f"</a></nav></header><main>{main}</main><footer><p>© 2026 {AUTHOR_NAME} · "
                "Built with Hugo</p></footer>")
        return _page(f"{title} · {BLOG_NAME}", head, body)

    def _blog_article(self, piece: Piece) -> str:
        url = f"{self.url('blog')}/posts/{piece.slug}/"
        iso = piece.date.isoformat()
        head = (f'<meta name="description" content="{e(piece.subtitle)}">'
                f'<meta property="og:title" content="{e(piece.title)}">'
                f'<meta property="article:published_time" content="{iso}">'
                f'<meta name="author" content="{AUTHOR_NAME}">'
                f'<link rel="canonical" href="{url}">')
        main = (f'<article class="post"><h1 class="post-title">{e(piece.title)}</h1>'
                f'<p class="post-meta"><time datetime="{iso}">{piece.date:%B %d, %Y}</time> · '
                f'{AUTHOR_NAME}</p><div class="post-content">{render_markdown(self.body(piece))}'
                '</div></article><nav class="pagination"><a href="/">← All notes</a></nav>')
        return self._blog_page(piece.title, main, head)

    # Export archives ----------------------------------------------------------------------
    def build_exports(self) -> None:
        """One export ZIP per platform, shaped like the real ones."""
        folder = self.workdir / "exports"
        folder.mkdir(parents=True, exist_ok=True)
        linkedin, medium, substack = self.exports()
        self._linkedin_export(linkedin)
        self._medium_export(medium)
        self._substack_export(substack)

    def _linkedin_export(self, path: Path) -> None:
        shares = io.StringIO()
        writer = csv.writer(shares, lineterminator="\n")
        writer.writerow(["Date", "ShareLink", "ShareCommentary", "SharedUrl", "MediaUrl",
                         "Visibility"])
        for piece in self._pieces("linkedin", "export", kind="post"):
            link = ("https://www.linkedin.com/feed/update/urn%3Ali%3Ashare%3A"
                    f"{piece.numeric_id}")
            writer.writerow([f"{piece.date:%Y-%m-%d %H:%M:%S}", link,
                             _text_of(piece.body), "", "", "PUBLIC"])
        writer.writerow(["2024-02-02 09:00:00", "https://www.linkedin.com/feed/update/urn%3Ali"
                         "%3Ashare%3A7000000000000000001", "",
                         "https://example.org/some-article", "", "MEMBER_NETWORK"])
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("Shares.csv", shares.getvalue())
            archive.writestr("Connections.csv", "Notes:\n\"When exporting your connection "
                             "data, you may notice...\"\n\nFirst Name,Last Name,URL\n")
            archive.writestr("Profile.csv", "First Name,Last Name,Headline\nMaya,Okafor,"
                             "Data platform engineer\n")
            for piece in self._pieces("linkedin", "export", kind="article"):
                name = f"Articles/Articles/{piece.date:%Y-%m-%d %H:%M:%S}.0-{piece.slug}.html"
                page = (f"<html><head><title>{e(piece.title)}</title></head><body>"
                        f'<h1><a href="https://www.linkedin.com/pulse/{piece.slug}-{H}">'
                        f"{e(piece.title)}</a></h1>"
                        f'<p class="created">Created on {piece.date:%Y-%m-%d %H:%M}</p>'
                        f'<p class="published">Published on {piece.date:%Y-%m-%d %H:%M}</p>'
                        f"<div>{render_markdown(piece.body)}</div></body></html>")
                archive.writestr(name, page)
            archive.writestr("Articles/Articles/2026-10-30 08:00:00.0-unfinished-draft.html",
                             "<html><body><h1>Unfinished draft</h1><p class=\"created\">"
                             "Created on 2026-10-30 08:00</p><div><p>Half a thought."
                             "</p></div></body></html>")

    def _medium_export(self, path: Path) -> None:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("README.html", "<html><body><h1>Your Medium data</h1></body></html>")
            archive.writestr("profile/profile.html",
                             f"<html><body><h3>{AUTHOR_NAME}</h3><p>@{H}</p></body></html>")
            for piece in self._pieces("medium", "export"):
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

    def _substack_export(self, path: Path) -> None:
        rows = io.StringIO()
        writer = csv.writer(rows, lineterminator="\n")
        writer.writerow(["post_id", "post_date", "is_published", "email_sent_at",
                         "inbox_sent_at", "type", "audience", "title", "subtitle", "podcast_url"])
        pieces = self._pieces("substack", "export")
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
                                 render_markdown(piece.body) + _substack_widgets(piece.slug))
            archive.writestr("posts/9999999.half-baked-ideas.html", "<p>Not ready.</p>")
            archive.writestr("email_list.miseendata.csv", "email,active_subscription\n")


def _substack_widgets(slug: str) -> str:
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


def _add_files_to_skip(work: Path) -> None:
    """Files a real repository has that are not the author's writing (the collector skips)."""
    (work / "assets").mkdir(exist_ok=True)
    (work / "assets" / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    vendored = work / "node_modules" / "left-pad"
    vendored.mkdir(parents=True, exist_ok=True)
    (vendored / "index.js").write_text("module.exports = (s, n) => String(s).padStart(n);\n")
    (work / "package-lock.json").write_text('{"lockfileVersion": 3, "packages": {}}\n')
    (work / "generated_schema.py").write_text("# Code generated by schemagen. DO NOT EDIT.\n"
                                              "SCHEMA = {}\n")
    (work / "fixtures").mkdir(exist_ok=True)
    (work / "fixtures" / "huge_sample.sql").write_text("-- sample rows\n" + (
        "INSERT INTO scans VALUES (1, 'depot', 42);\n" * 8000))


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha1(body).hexdigest()[:16] + '"'


def _html(page: str) -> tuple[int, str, bytes, dict[str, str]]:
    return 200, "text/html; charset=utf-8", page.encode(), {}


def _text(body: str) -> tuple[int, str, bytes, dict[str, str]]:
    return 200, "text/plain; charset=utf-8", body.encode(), {}


def _not_found() -> tuple[int, str, bytes, dict[str, str]]:
    return 404, "text/html; charset=utf-8", b"<html><body><h1>404 Not Found</h1></body></html>", {}


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
            etag = _etag(body)
            if status == 200 and self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                return
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            if status == 200:
                self.send_header("ETag", etag)
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
