"""Substack: a publication through ``/api/v1/archive`` (``/feed`` as fallback) and post pages.

Shapes handled: ``name.substack.com`` (and ``/archive``), ``/p/<slug>`` posts, ``/feed``, on
``*.substack.com`` or on custom domains (settings or the ``substack=`` prefix).
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar
from urllib.parse import SplitResult, urlsplit

from scrapy.http import Request, Response

from twin.collect.base import CollectError, ScrapyCollector, host_of, register
from twin.collect.feeds import FeedEntry, looks_like_feed, parse_feed
from twin.collect.html import extract_article
from twin.collect.metadata import (
    Claim,
    feed_metadata,
    resolve_metadata,
    substack_claims,
    substack_post_json,
)
from twin.collect.scrapy_support import TwinSpider
from twin.domain import Kind, Platform, Source, SourceResult
from twin.settings import Settings

POST_TYPES = {"newsletter"}


@register
class SubstackCollector(ScrapyCollector):
    """Substack publications and posts."""

    name = "substack"
    platform = Platform.SUBSTACK
    priority = 10
    spider = "twin.collect.substack:SubstackSpider"

    @classmethod
    def matches(cls, url: SplitResult, settings: Settings) -> bool:
        host = host_of(url)
        return (host.endswith(".substack.com") or host == "substack.com"
                or host in {d.lower() for d in settings.platforms.substack_domains})

    def run(self, source: Source, author_id: str, payload: bytes | None = None) -> SourceResult:
        if host_of(urlsplit(source.value)) == "substack.com":
            raise CollectError("substack.com profile pages are not crawled: give the "
                               "publication's address (name.substack.com or its own domain)")
        return super().run(source, author_id, payload)

    def spider_options(self, source: Source) -> dict[str, Any]:
        return {"page_size": self.settings.collect.substack_page_size,
                "max_items": self.settings.collect.max_items_per_source}


class SubstackSpider(TwinSpider):
    """Enumerates a publication's posts and reads each post page."""

    name = "substack"
    platform: ClassVar[Platform] = Platform.SUBSTACK

    @property
    def root(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    def first_requests(self) -> list[Request]:
        parts = urlsplit(self.url)
        match = re.fullmatch(r"/pub/([\w-]+)(/p/[\w-]+)?/?", parts.path)
        if parts.hostname == "open.substack.com" and match:
            # Share links from Substack's app: open.substack.com/pub/<name>/p/<slug>
            self.url = f"https://{match.group(1)}.substack.com{match.group(2) or ''}"
            parts = urlsplit(self.url)
        path = parts.path.rstrip("/")
        if path.startswith("/p/"):
            return [Request(self.url, callback=self.parse_post, errback=self.fail_source,
                            cb_kwargs={"entry": True})]
        if path == "/feed":
            return [Request(self.url, callback=self.parse_feed, errback=self.fail_source)]
        if path in ("", "/archive"):
            return [self._archive_request(0)]
        self.source_failed(f"not a Substack publication or post link: {self.url} "
                           "(expected the publication's address or /p/<slug>)")
        return []

    def _archive_request(self, offset: int) -> Request:
        size = self.options.get("page_size", 12)
        url = f"{self.root}/api/v1/archive?sort=new&search=&offset={offset}&limit={size}"
        return Request(url, callback=self.parse_archive, errback=self.archive_failed,
                       cb_kwargs={"offset": offset}, headers={"Accept": "application/json"})

    def archive_failed(self, failure: Any) -> Any:
        """The archive API is not always open (custom setups, blocks): fall back to /feed."""
        self.item_failed(f"archive API unavailable ({failure.value.__class__.__name__}); "
                         "used the RSS feed instead")
        yield Request(f"{self.root}/feed", callback=self.parse_feed, errback=self.fail_source)

    def parse_archive(self, response: Response, offset: int) -> Any:
        try:
            posts = json.loads(response.text)
        except json.JSONDecodeError:
            yield from self.archive_failed(_Failure(ValueError("not JSON")))
            return
        if not isinstance(posts, list):
            yield from self.archive_failed(_Failure(ValueError("unexpected JSON")))
            return
        if offset == 0 and not posts:
            self.source_failed(f"the publication at {self.root} has no posts")
            return
        for post in posts:
            if post.get("type", "newsletter") not in POST_TYPES:
                continue
            url = post.get("canonical_url") or f"{self.root}/p/{post.get('slug')}"
            yield Request(url, callback=self.parse_post, errback=self.fail_item,
                          cb_kwargs={"listing": post})
        size = self.options.get("page_size", 12)
        next_offset = offset + len(posts)
        if len(posts) >= size and next_offset < self.options.get("max_items", 500):
            yield self._archive_request(next_offset)

    def parse_feed(self, response: Response) -> Any:
        if not looks_like_feed(response.text):
            self.source_failed(f"not an RSS feed: {response.url}")
            return
        _generator, entries = parse_feed(response.text)
        yield from self.each_entry(entries, self._feed_entry, "post")

    def _feed_entry(self, entry: FeedEntry) -> Any:
        """A feed post as an item, or the request for its page when the feed has no body."""
        text = self.markdown(entry.html)
        if not text:
            return Request(entry.link, callback=self.parse_post, errback=self.fail_item)
        return {
            "platform": Platform.SUBSTACK.value,
            "kind": Kind.ARTICLE.value,
            "url": entry.link,
            "fallback_url": entry.guid,
            "title": entry.title,
            "text": text,
            "published_at": entry.published,
            "metadata": {"subtitle": entry.summary or None, "source": "rss",
                         **feed_metadata(entry)},
        }

    def parse_post(self, response: Response, listing: dict[str, Any] | None = None,
                   entry: bool = False) -> Any:
        # The archive API's listing, else the post object the page embeds, is Substack's own
        # word on author, date, title and audience; the page's other markup comes after it.
        page_post = substack_post_json(response.text)
        post = listing or page_post
        source = "substack-api" if listing else "substack-page-json"
        headline = response.css("h1.post-title").xpath("string()").get(default="").strip()
        preferred = substack_claims(post, source)
        if headline:
            preferred["title"] = Claim(headline, "substack:h1")
        subtitle = (response.css("h3.subtitle").xpath("string()").get()
                    or post.get("subtitle") or "").strip()
        body_html = response.css("div.available-content div.body.markup").get()
        text = self.markdown(body_html) if body_html else ""
        extracted = None
        if not text:
            extracted = extract_article(response.text, response.url)
            text = extracted["text"]
        if not text:
            message = f"no post text found at {response.url}"
            self.source_failed(message) if entry else self.item_failed(message)
            return
        found = resolve_metadata(response.text, response.url, preferred=preferred,
                                 trafilatura_meta=extracted["meta"] if extracted else None)
        canonical = response.urljoin(response.css('link[rel="canonical"]::attr(href)').get()
                                     or response.url)
        audience = (listing or {}).get("audience") or page_post.get("audience")
        free = found.accessible_for_free if audience is None else audience == "everyone"
        if free is None:  # the page states nothing: only then trust its paywall markup
            free = not response.css(".paywall, .paywall-jump")
        if not free:
            self.item_failed(f"only the free preview of {canonical} is public (paid post)")
        yield {
            "platform": Platform.SUBSTACK.value,
            "kind": Kind.ARTICLE.value,
            "url": canonical,
            "fallback_url": response.url,
            "title": found.title or "",
            "text": text,
            "published_at": found.published_at,
            "metadata": {"subtitle": subtitle or None,
                         "audience": audience or ("everyone" if free else "only_paid"),
                         "paywalled": not free, "substack_id": post.get("id"),
                         "source": "page", **found.as_metadata()},
        }


class _Failure:
    """Stands in for a Twisted failure when the archive answered something unusable."""

    def __init__(self, value: Exception) -> None:
        self.value = value
