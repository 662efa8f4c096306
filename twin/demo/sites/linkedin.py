"""The demo's LinkedIn: public post and Pulse article pages, the login wall and refusals,
and the data export (mirrors :mod:`twin.collect.linkedin`)."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

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


def text_of(body: str) -> str:
    """A LinkedIn post as the platform stores it: plain text, markdown markers removed."""
    return re.sub(r"\*\*(.+?)\*\*", r"\1", body)


class LinkedInSite:
    """LinkedIn: ``/posts/<user>_<slug>-activity-<id>-<x>``, ``/pulse/<slug>-<user>``."""

    name = "linkedin"

    def __init__(self, demo: DemoSite) -> None:
        self.demo = demo

    def route(self, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> Response:
        if path == "/robots.txt":
            # The real file disallows every crawler it has not whitelisted; the demo plays a
            # LinkedIn that whitelisted this bot for public posts and articles.
            return text_response("User-agent: LLMTwinBot\nAllow: /posts/\nAllow: /pulse/\n"
                         "Disallow: /\n\nUser-agent: *\nDisallow: /\n")
        if path.startswith("/in/") or "-activity-999-" in path:
            return 999, "text/html", b"Request denied", {}
        if path.startswith("/posts/") and "-activity-302-" in path:
            return 302, "text/html", b"", {"Location": "/authwall?trk=public_post"}
        if path == "/authwall":
            return html_response(html_page("Sign Up | LinkedIn", "", "<h1>Join LinkedIn</h1>"))
        for piece in self.demo.pieces:
            if piece.platform == "linkedin" and piece.channel != "export" and \
                    urlsplit(self.post_url(piece)).path == path:
                page = self.post(piece) if piece.kind == "post" else \
                    self.pulse(piece)
                return html_response(page)
        return not_found()

    def post(self, piece: Piece) -> str:
        text = text_of(self.demo.body(piece))
        iso = piece.date.isoformat().replace("+00:00", ".000Z")
        url = self.post_url(piece)
        ld = {"@context": "http://schema.org", "@type": "SocialMediaPosting", "@id": url,
              "articleBody": text, "datePublished": iso,
              "author": {"@type": "Person", "name": AUTHOR_NAME,
                         "url": f"{self.demo.url('linkedin')}/in/{H}"},
              "interactionStatistic": [{"@type": "InteractionCounter",
                                        "interactionType": "http://schema.org/LikeAction",
                                        "userInteractionCount": 81}],
              "hasPart": {"@type": "WebPageElement", "isAccessibleForFree": False,
                          "cssSelector": ".details"}}
        paragraphs = "<br>".join(e(line) for line in text.split("\n"))
        first = text.split("\n", 1)[0]
        head = (f'<meta property="og:title" content="{e(first[:80])}">'
                f'<link rel="canonical" href="{url}">'
                f'<script type="application/ld+json">{ld_json(ld)}</script>')
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
        return html_page(f"{first[:60]} | {AUTHOR_NAME}", head, body)

    def pulse(self, piece: Piece) -> str:
        iso = piece.date.isoformat().replace("+00:00", ".000Z")
        ld = {"@context": "http://schema.org", "@type": "Article", "name": piece.title,
              "headline": piece.title, "datePublished": iso, "isAccessibleForFree": True,
              "author": {"@type": "Person", "name": AUTHOR_NAME,
                         "url": f"{self.demo.url('linkedin')}/in/{H}"},
              "publisher": {"@type": "Organization", "name": "LinkedIn"}}
        head = (f'<meta property="og:title" content="{e(piece.title)}">'
                f'<meta property="article:published_time" content="{iso}">'
                f'<script type="application/ld+json">{ld_json(ld)}</script>')
        body = (
            '<header class="nav"><a href="/">LinkedIn</a><a href="/login">Sign in</a></header>'
            '<main><article class="article-main">'
            f'<h1 class="pulse-title">{e(piece.title)}</h1>'
            f'<div class="publisher-author-card"><h3>{AUTHOR_NAME}</h3><p>Data platform '
            f'engineer</p></div><div data-test-id="article-content-blocks">'
            f'<div class="article-main__content">{render_markdown(self.demo.body(piece))}</div>'
            '</div></article><aside><h2>Others also viewed</h2></aside></main>')
        return html_page(f"{piece.title}", head, body)

    def post_url(self, piece: Piece) -> str:
        """Post or Pulse URL in LinkedIn's shapes."""
        if piece.kind == "post":
            return (f"{self.demo.url('linkedin')}/posts/{H}_{piece.slug[:40]}-activity-"
                    f"{piece.numeric_id}-{piece.hex_id[:4]}")
        return f"{self.demo.url('linkedin')}/pulse/{piece.slug}-{H}"

    def build_export(self, path: Path) -> None:
        shares = io.StringIO()
        writer = csv.writer(shares, lineterminator="\n")
        writer.writerow(["Date", "ShareLink", "ShareCommentary", "SharedUrl", "MediaUrl",
                         "Visibility"])
        for piece in self.demo._pieces("linkedin", "export", kind="post"):
            link = ("https://www.linkedin.com/feed/update/urn%3Ali%3Ashare%3A"
                    f"{piece.numeric_id}")
            writer.writerow([f"{piece.date:%Y-%m-%d %H:%M:%S}", link,
                             text_of(piece.body), "", "", "PUBLIC"])
        writer.writerow(["2024-02-02 09:00:00", "https://www.linkedin.com/feed/update/urn%3Ali"
                         "%3Ashare%3A7000000000000000001", "",
                         "https://example.org/some-article", "", "MEMBER_NETWORK"])
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("Shares.csv", shares.getvalue())
            archive.writestr("Connections.csv", "Notes:\n\"When exporting your connection "
                             "data, you may notice...\"\n\nFirst Name,Last Name,URL\n")
            archive.writestr("Profile.csv", "First Name,Last Name,Headline\nMaya,Okafor,"
                             "Data platform engineer\n")
            for piece in self.demo._pieces("linkedin", "export", kind="article"):
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
