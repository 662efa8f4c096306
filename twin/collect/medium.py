"""Medium: profiles and publications through their RSS feeds, and article pages.

Shapes handled: ``medium.com/@user`` (feed ``medium.com/feed/@user``), ``user.medium.com``
(feed ``user.medium.com/feed``), ``medium.com/<publication>`` (feed ``medium.com/feed/<pub>``),
articles ``medium.com/@user/slug-<hex id>``, ``user.medium.com/slug-<id>``,
``medium.com/<pub>/slug-<id>``, ``medium.com/p/<id>``, and custom domains (settings or the
``medium=`` prefix).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar
from urllib.parse import SplitResult, urljoin, urlsplit

from lxml import etree
from scrapy.http import Request, Response

from twin.collect.base import ScrapyCollector, host_of, register, relative_path, under_base
from twin.collect.feeds import FeedEntry, looks_like_feed, parse_feed
from twin.collect.html import (
    DEFAULT_MAX_DEPTH,
    drop_leading_title,
    extract_article,
    html_to_markdown,
)
from twin.collect.metadata import Claim, feed_metadata, resolve_metadata
from twin.collect.scrapy_support import TwinSpider
from twin.domain import Kind, Platform, Source
from twin.settings import Settings

_MEDIUM_ID = re.compile(r"-([0-9a-f]{10,12})$")
FEED_LIMIT = 10  # Medium's RSS feeds carry the 10 latest stories
_ORIGINALLY = re.compile(r"<p>\s*<a [^>]*>.*?</a>\s*was originally published in .*?</p>\s*$",
                         re.S | re.I)


def medium_id(url: str) -> str | None:
    """The hex post id at the end of a Medium article slug (or of /p/<id>)."""
    path = urlsplit(url).path.rstrip("/")
    if "/p/" in path:
        return path.rsplit("/", 1)[-1]
    match = _MEDIUM_ID.search(path)
    return match.group(1) if match else None


def feed_url_for(url: str, settings: Settings) -> str | None:
    """The RSS feed for a profile/publication link, or None for an article link."""
    parts = urlsplit(url)
    base = settings.platforms.medium_url
    root = f"{parts.scheme}://{host_of(parts)}"
    if under_base(parts, base):
        segments = [s for s in relative_path(parts, base).split("/") if s]
        if segments and segments[0] == "feed":
            return url
        if len(segments) == 1 and segments[0] != "p":
            return f"{base.rstrip('/')}/feed/{segments[0]}"
        return None
    segments = [s for s in parts.path.split("/") if s]
    if not segments:
        return f"{root}/feed"
    if segments == ["feed"]:
        return url
    return None


@register
class MediumCollector(ScrapyCollector):
    """Medium profiles, publications and articles."""

    name = "medium"
    platform = Platform.MEDIUM
    priority = 10
    spider = "twin.collect.medium:MediumSpider"

    @classmethod
    def matches(cls, url: SplitResult, settings: Settings) -> bool:
        host = host_of(url)
        return (under_base(url, settings.platforms.medium_url)
                or host.endswith(".medium.com") or host == "medium.com"
                or host in {d.lower() for d in settings.platforms.medium_domains})

    def spider_options(self, source: Source) -> dict[str, Any]:
        return {"feed_url": feed_url_for(source.value, self.settings),
                "min_chars": self.settings.collect.min_text_chars}


class MediumSpider(TwinSpider):
    """Reads a Medium feed (full text from content:encoded) or an article page."""

    name = "medium"
    platform: ClassVar[Platform] = Platform.MEDIUM

    def first_requests(self) -> list[Request]:
        feed = self.options.get("feed_url")
        if feed:
            return [Request(feed, callback=self.parse_feed, errback=self.fail_source)]
        return [Request(self.url, callback=self.parse_article, errback=self.fail_source,
                        cb_kwargs={"entry": True})]

    def parse_feed(self, response: Response) -> Any:
        if not looks_like_feed(response.text):
            self.source_failed(f"not an RSS feed: {response.url}")
            return
        _generator, entries = parse_feed(response.text)
        if not entries:
            self.source_failed(f"the feed at {response.url} has no stories")
            return
        if len(entries) >= FEED_LIMIT:
            self.item_failed(f"Medium's feed lists only the {FEED_LIMIT} latest stories: link "
                             "older ones directly or import your Medium export")
        yield from self.each_entry(entries, self._feed_entry, "story")

    def _feed_entry(self, entry: FeedEntry) -> Any:
        """A feed story as an item, or the request for its page (a member-only preview)."""
        html = _ORIGINALLY.sub("", entry.html)
        text = drop_leading_title(self.markdown(html), entry.title)
        if len(text) < self.options.get("min_chars", 40):
            return Request(entry.link, callback=self.parse_article, errback=self.fail_item)
        return {
            "platform": Platform.MEDIUM.value,
            "kind": Kind.ARTICLE.value,
            "url": entry.link,
            "fallback_url": entry.guid,  # Medium's guid is the story's /p/<id> link
            "title": entry.title,
            "text": text,
            "published_at": entry.published,
            "metadata": {"medium_id": medium_id(entry.guid or entry.link),
                         "tags": entry.categories, "source": "rss",
                         **feed_metadata(entry)},
        }

    def parse_article(self, response: Response, entry: bool = False) -> Any:
        headline = (response.css('h1[data-testid="storyTitle"]').xpath("string()").get()
                    or response.css("h1.pw-post-title").xpath("string()").get() or "").strip()
        subtitle = response.css("h2.pw-subtitle-paragraph").xpath("string()").get()
        body = _medium_body(response, self.max_html_depth)
        extracted = None
        if not body:
            extracted = extract_article(response.text, response.url)
            body = extracted["text"]
        # JSON-LD's datePublished is the first publication; article:published_time is
        # Medium's latest re-publish, so the resolver's order (JSON-LD first) is the right one.
        shown = response.css(".pw-published-date").xpath("string()").get(default="").strip()
        found = resolve_metadata(
            response.text, response.url,
            preferred={"title": Claim(headline, "medium:h1") if headline else None,
                       # The date Medium shows under the byline is the first publication.
                       "published_at": Claim(shown, "medium:published-date") if shown
                       else None},
            trafilatura_meta=extracted["meta"] if extracted else None)
        canonical = response.css('link[rel="canonical"]::attr(href)').get()
        url = response.url if not canonical else urljoin(response.url, canonical)
        if not body.strip():
            message = f"no article text found at {response.url}"
            self.source_failed(message) if entry else self.item_failed(message)
            return
        yield {
            "platform": Platform.MEDIUM.value,
            "kind": Kind.ARTICLE.value,
            "url": url,
            "fallback_url": response.url,
            "title": found.title or "",
            "text": drop_leading_title(body, found.title or ""),
            "published_at": found.published_at,
            "metadata": {"medium_id": medium_id(url) or medium_id(response.url),
                         "subtitle": (subtitle or "").strip() or None, "source": "page",
                         # A member-only story says so (isAccessibleForFree: false).
                         "paywalled": found.accessible_for_free is False,
                         **found.as_metadata()},
        }


def _medium_body(response: Response, max_depth: int = DEFAULT_MAX_DEPTH) -> str:
    """Body of a Medium article: the paragraphs Medium marks ``data-selectable-paragraph``."""
    parts: list[tuple[str, Any]] = []  # (markdown, the list it belongs to or None)
    seen_pre: list[Any] = []  # lxml elements: compared by identity, kept alive here
    nodes = response.xpath("//article//*[@data-selectable-paragraph]")
    for node in nodes:
        root = node.root
        classes = root.get("class") or ""
        if root.get("data-testid") == "storyTitle" or "pw-subtitle-paragraph" in classes:
            continue
        pre = next((a for a in root.iterancestors() if a.tag == "pre"), None)
        if pre is not None:
            if any(pre is seen for seen in seen_pre):
                continue
            seen_pre.append(pre)
            parts.append((f"```\n{_pre_text(pre).rstrip()}\n```", None))
            continue
        html = node.get()
        if root.tag == "li":
            html = "".join(node.xpath("node()").getall())  # the item's content, not the <li>
            parent = root.getparent()
            if parent is not None and parent.tag == "ol":
                marker = f"{[c for c in parent if c.tag == 'li'].index(root) + 1}."
            else:
                marker = "-"
            parts.append((f"{marker} {html_to_markdown(html, max_depth)}", parent))
        elif any(a.tag == "blockquote" for a in root.iterancestors()):
            parts.append(("> " + html_to_markdown(html, max_depth), None))
        else:
            parts.append((html_to_markdown(html, max_depth), None))
    # Items of the same list are joined with single newlines.
    out: list[str] = []
    previous: Any = None
    for part, group in parts:
        if out and group is not None and group is previous:
            out[-1] += "\n" + part
        else:
            out.append(part)
        previous = group
    return "\n\n".join(p for p in out if p.strip())


def _pre_text(pre: Any) -> str:
    """Text of a code block: Medium puts lines in spans and separates them with <br>."""

    out: list[str] = []
    # Walked iteratively: a code block nested thousands of spans deep is still one block.
    for event, element in etree.iterwalk(pre, events=("start", "end")):
        if event == "start":
            out.append("\n" if element.tag == "br" else element.text or "")
        elif element is not pre:
            out.append(element.tail or "")
    text = "".join(out)
    spans = [c for c in pre if c.tag == "span"]
    if len(spans) > 1 and "\n" not in text:  # one span per line, no <br>
        text = "\n".join(s.text_content() for s in spans)
    return text
