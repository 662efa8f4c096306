"""Any blog: an article page (main text by trafilatura), or a blog's home page with a feed.

This is the fallback collector for links no platform collector claims.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar
from urllib.parse import SplitResult, urljoin, urlsplit

from scrapy.http import Request, Response

from twin.collect.base import ScrapyCollector, register
from twin.collect.feeds import looks_like_feed, parse_feed
from twin.collect.html import extract_article, ld_of_type, meta
from twin.collect.metadata import Claim, page_platform, resolve_metadata
from twin.collect.scrapy_support import TwinSpider
from twin.domain import Kind, Platform, Source
from twin.settings import Settings

_FEED_TYPES = ("application/rss+xml", "application/atom+xml")
_FEED_GENERATORS = {"substack": Platform.SUBSTACK, "medium": Platform.MEDIUM}


@register
class WebCollector(ScrapyCollector):
    """Blog articles anywhere on the web."""

    name = "web"
    platform = Platform.WEB
    priority = -100
    spider = "twin.collect.web:WebSpider"

    @classmethod
    def matches(cls, url: SplitResult, settings: Settings) -> bool:
        return url.scheme in {"http", "https"} and bool(url.hostname)

    def spider_options(self, source: Source) -> dict[str, Any]:
        return {"max_items": self.settings.collect.max_items_per_source}


class WebSpider(TwinSpider):
    """A single article, or every article a blog's feed lists (same site only)."""

    name = "web"
    platform: ClassVar[Platform] = Platform.WEB

    def first_requests(self) -> list[Request]:
        return [Request(self.url, callback=self.parse_entry, errback=self.fail_source)]

    def parse_entry(self, response: Response) -> Any:
        content_type = response.headers.get(b"Content-Type", b"text/html").decode().lower()
        if not any(t in content_type for t in ("html", "xml", "rss", "atom")):
            self.source_failed(f"not a web page ({content_type}) at {response.url}")
            return
        # After redirects (okafor.dev -> www.okafor.dev) the site is where we landed.
        self.site = _site(response.url)
        if looks_like_feed(response.text):
            generator, _entries = parse_feed(response.text)
            platform = _FEED_GENERATORS.get(generator.split(" ")[0].lower())
            if platform is not None:
                self.hand_off(platform, response.url)
                return
            yield from self._follow_feed(response)
            return
        platform = page_platform(response, response.text)
        if platform is not None:  # a Substack or Medium publication on its own domain
            self.hand_off(platform, response.url)
            return
        path = urlsplit(response.url).path
        feed = None
        for link_type in _FEED_TYPES:
            feed = feed or response.css(f'link[rel="alternate"][type="{link_type}"]::attr(href)'
                                        ).get()
        # A home or section page (/, /blog/) that lists posts: read every post its feed lists.
        # One path segment is a section only when it is a word (blog, posts, writing): a slug
        # (/the-semantics-of-unless/, /post.html) is one article, whether or not it is among
        # the feed's latest entries and whether or not its page says it is an article.
        segments = [s for s in path.split("/") if s]
        listing = not segments or (len(segments) == 1 and not _SLUG.search(segments[0])
                                   and not _looks_like_article(response))
        if feed and listing:
            yield Request(urljoin(response.url, feed), callback=self._follow_feed,
                          errback=self.fail_source)
            return
        item = self._article(response)
        if item is None:
            self.source_failed(f"no article text found at {response.url}")
            return
        yield item

    def _follow_feed(self, response: Response) -> Any:
        _generator, entries = parse_feed(response.text)
        if not entries:
            self.source_failed(f"the feed at {response.url} lists no articles")
            return
        site = getattr(self, "site", None) or _site(response.url)
        for entry in entries[: self.options.get("max_items", 500)]:
            link = urljoin(response.url, entry.link)
            if _site(link) != site:
                self.item_failed(f"skipped {link}: not on {site}")
                continue
            yield Request(link, callback=self.parse_article, errback=self.fail_item,
                          cb_kwargs={"published": entry.published})

    def parse_article(self, response: Response, published: Any = None) -> Any:
        item = self._article(response, published)
        if item is None:
            self.item_failed(f"no article text found at {response.url}")
            return
        yield item

    def _article(self, response: Response, published: Any = None) -> dict[str, Any] | None:
        if "html" not in response.headers.get(b"Content-Type", b"text/html").decode().lower():
            return None
        extracted = extract_article(response.text, response.url)
        if not extracted["text"]:
            return None
        found = resolve_metadata(
            response.text, response.url, trafilatura_meta=extracted["meta"],
            fallback={"published_at": Claim(published, "feed") if published else None})
        canonical = response.css('link[rel="canonical"]::attr(href)').get()
        return {
            "platform": Platform.WEB.value,
            "kind": Kind.ARTICLE.value,
            "url": urljoin(response.url, canonical) if canonical else response.url,
            "fallback_url": response.url,
            "title": found.title or "",
            "text": extracted["text"],
            "published_at": found.published_at,
            "metadata": {"site": found.site_name or extracted["sitename"],
                         "description": found.description or extracted["description"],
                         "source": "page", **found.as_metadata()},
        }


def _site(url: str) -> str:
    """A site's host[:port] without a leading ``www.``, for same-site checks."""
    return urlsplit(url).netloc.lower().removeprefix("www.")


_SLUG = re.compile(r"[-_.]")
"""What a path segment that names one page has and a section's name (``blog``, ``posts``, a
year's archive ``2019``) has not: a hyphen, underscore or dot (``the-semantics-of-unless``,
``post.html``)."""


def _looks_like_article(response: Response) -> bool:
    """Whether a page presents itself as one article (vs a listing of posts)."""
    if (meta(response, "og:type") or "").lower() == "article":
        return True
    if meta(response, "article:published_time"):
        return True
    return ld_of_type(response, "BlogPosting", "Article", "NewsArticle") is not None
