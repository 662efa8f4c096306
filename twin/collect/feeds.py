"""RSS and Atom feed parsing shared by the Medium, Substack and blog spiders."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from parsel import Selector

from twin.collect.html import parse_date

NAMESPACES = {
    "content": "http://purl.org/rss/1.0/modules/content/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "atom": "http://www.w3.org/2005/Atom",
}


@dataclass
class FeedEntry:
    """One item of a feed."""

    title: str
    link: str
    guid: str
    published: datetime | None
    html: str
    summary: str
    author: str
    categories: list[str] = field(default_factory=list)


def looks_like_feed(body: str) -> bool:
    """Whether a response body is an RSS or Atom document."""
    head = body.lstrip()[:500].lower()
    return head.startswith("<?xml") and ("<rss" in head or "<feed" in head) or \
        head.startswith("<rss") or head.startswith("<feed")


def parse_feed(body: str) -> tuple[str, list[FeedEntry]]:
    """Parse RSS 2.0 or Atom; returns the feed's generator (e.g. 'Medium') and its entries."""
    sel = Selector(text=body, type="xml")
    for prefix, uri in NAMESPACES.items():
        sel.register_namespace(prefix, uri)
    generator = (sel.xpath("//channel/generator/text()").get() or "").strip()
    entries: list[FeedEntry] = []
    for item in sel.xpath("//channel/item"):
        entries.append(FeedEntry(
            title=(item.xpath("title/text()").get() or "").strip(),
            link=(item.xpath("link/text()").get() or "").strip(),
            guid=(item.xpath("guid/text()").get() or "").strip(),
            published=parse_date(item.xpath("pubDate/text()").get()
                                 or item.xpath("atom:updated/text()").get()),
            html=item.xpath("content:encoded/text()").get() or "",
            summary=item.xpath("description/text()").get() or "",
            author=(item.xpath("dc:creator/text()").get() or "").strip(),
            categories=[c.strip() for c in item.xpath("category/text()").getall()],
        ))
    for entry in sel.xpath("//atom:feed/atom:entry"):
        link = entry.xpath("atom:link[@rel='alternate' or not(@rel)]/@href").get() or ""
        entries.append(FeedEntry(
            title=(entry.xpath("atom:title/text()").get() or "").strip(),
            link=link.strip(),
            guid=(entry.xpath("atom:id/text()").get() or "").strip(),
            published=parse_date(entry.xpath("atom:published/text()").get()
                                 or entry.xpath("atom:updated/text()").get()),
            html=entry.xpath("atom:content/text()").get() or "",
            summary=entry.xpath("atom:summary/text()").get() or "",
            author=(entry.xpath("atom:author/atom:name/text()").get() or "").strip(),
            categories=entry.xpath("atom:category/@term").getall(),
        ))
    if not generator:
        generator = (sel.xpath("//atom:feed/atom:generator/text()").get() or "").strip()
    return generator, entries
