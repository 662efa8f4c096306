"""LinkedIn: public post pages (``/posts/...``) and Pulse articles (``/pulse/...``).

Live LinkedIn mostly answers bots with HTTP 999 or a login wall, and its robots.txt disallows
crawlers that it has not whitelisted; each case is reported as one clear line. The data export
(:mod:`twin.collect.exports`) is the dependable way in.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import SplitResult, urlsplit

from scrapy.http import Request, Response

from twin.collect.base import CollectError, ScrapyCollector, host_of, register, relative_path
from twin.collect.html import extract_article, ld_of_type, text_to_markdown
from twin.collect.metadata import Claim, resolve_metadata
from twin.collect.scrapy_support import TwinSpider
from twin.domain import Kind, Platform, Source, SourceResult
from twin.settings import Settings

_LOGIN_MARKERS = ("/authwall", "/login", "/uas/login", "/checkpoint")
# Profile and company pages: LinkedIn shows them only after a login.
LOGIN_ONLY_PATHS = ("/in/", "/company/")


def needs_login(url: str, settings: Settings) -> bool:
    """Whether a LinkedIn link is a profile or company page, which no collector can read (the
    collector refuses it, the UI says so as the link is typed)."""
    path = relative_path(urlsplit(url), settings.platforms.linkedin_url)
    return path.startswith(LOGIN_ONLY_PATHS)


def post_title(text: str, limit: int = 90) -> str:
    """A LinkedIn post has no title: use its first line (the hook), shortened."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first if len(first) <= limit else first[: limit - 1].rstrip() + "…"


@register
class LinkedInCollector(ScrapyCollector):
    """Public LinkedIn posts and Pulse articles."""

    name = "linkedin"
    platform = Platform.LINKEDIN
    priority = 10
    spider = "twin.collect.linkedin:LinkedInSpider"

    @classmethod
    def matches(cls, url: SplitResult, settings: Settings) -> bool:
        host = host_of(url)
        return (host == host_of(settings.platforms.linkedin_url) or host == "linkedin.com"
                or host.endswith(".linkedin.com"))

    def run(self, source: Source, author_id: str, payload: bytes | None = None) -> SourceResult:
        path = relative_path(urlsplit(source.value), self.settings.platforms.linkedin_url)
        if needs_login(source.value, self.settings):
            raise CollectError(
                "LinkedIn profile pages need a login: give links to single posts "
                "(linkedin.com/posts/...) or articles (linkedin.com/pulse/...), or import "
                "your LinkedIn data export (--export)")
        if not (path.startswith("/posts/") or path.startswith("/pulse/")
                or path.startswith("/feed/update/")):
            raise CollectError(f"not a LinkedIn post or article link: {source.value}")
        return super().run(source, author_id, payload)


class LinkedInSpider(TwinSpider):
    """Reads one public post or Pulse article page."""

    name = "linkedin"
    platform: ClassVar[Platform] = Platform.LINKEDIN
    def first_requests(self) -> list[Request]:
        return [self._request(self.url, hops=0)]

    def _request(self, url: str, hops: int) -> Request:
        # Redirects are followed by hand: a redirect to the login wall is the answer itself.
        return Request(url, callback=self.parse_page, errback=self.fail_source,
                       cb_kwargs={"hops": hops},
                       meta={"dont_redirect": True,
                             "handle_httpstatus_list": [301, 302, 303, 307, 308]})

    def parse_page(self, response: Response, hops: int = 0) -> Any:
        if 300 <= response.status < 400:
            location = response.urljoin(response.headers.get(b"Location", b"").decode())
            if any(marker in urlsplit(location).path for marker in _LOGIN_MARKERS):
                self.source_failed(f"LinkedIn asked for a login (authwall) at {self.url}; "
                                   "use the data export instead")
            elif hops >= 5 or not location:
                self.source_failed(f"too many redirects from {self.url}")
            else:
                yield self._request(location, hops + 1)
            return
        if "/pulse/" in urlsplit(response.url).path:
            yield from self._article(response)
        else:
            yield from self._post(response)

    def _post(self, response: Response) -> Any:
        ld = ld_of_type(response, "SocialMediaPosting", "DiscussionForumPosting") or {}
        raw = ld.get("articleBody") or ld.get("text") or ""
        if raw:
            text = text_to_markdown(raw)
        else:
            node = response.css(
                'p[data-test-id="main-feed-activity-card__commentary"], '
                "p.attributed-text-segment-list__content").get()
            text = self.markdown(node) if node else ""
        if not text:
            self.source_failed(f"no post text found at {response.url}")
            return
        # A post has no title: its first line (the hook) stands in for one.
        found = resolve_metadata(
            response.text, response.url,
            preferred={"title": Claim(post_title(text), "first-line")},
            fallback={"author": self._visible_author(response),
                      "published_at": self._visible_date(response)})
        yield {
            "platform": Platform.LINKEDIN.value,
            "kind": Kind.POST.value,
            "url": response.url,
            "title": found.title or post_title(text),
            "text": text,
            "published_at": found.published_at,
            "metadata": {"title_from": "first_line", "source": "page", **found.as_metadata()},
        }

    def _article(self, response: Response) -> Any:
        ld = ld_of_type(response, "Article", "NewsArticle", "BlogPosting") or {}
        headline = (ld.get("headline") or ld.get("name")
                    or response.css("h1").xpath("string()").get() or "").strip()
        body = response.css('[data-test-id="article-content-blocks"]').get() \
            or response.css(".article-main__content").get()
        text = self.markdown(body) if body else ""
        extracted = None
        if not text:
            extracted = extract_article(response.text, response.url)
            text = extracted["text"]
        if not text:
            self.source_failed(f"no article text found at {response.url}")
            return
        found = resolve_metadata(
            response.text, response.url,
            preferred={"title": Claim(headline, "linkedin:headline") if headline else None},
            fallback={"author": self._visible_author(response),
                      "published_at": self._visible_date(response)},
            trafilatura_meta=extracted["meta"] if extracted else None)
        yield {
            "platform": Platform.LINKEDIN.value,
            "kind": Kind.ARTICLE.value,
            "url": response.url,
            "title": found.title or headline,
            "text": text,
            "published_at": found.published_at,
            "metadata": {"source": "page", **found.as_metadata()},
        }

    @staticmethod
    def _visible_author(response: Response) -> Claim | None:
        # The article's own author card (other cards on the page are related articles').
        name = response.css('[data-tracking-control-name="author_mini-profile_title"], '
                            '[data-tracking-control-name="pulse-article_main-author-card"] '
                            ".screen-reader-text, .publisher-author-card h3, "
                            ".top-card-layout__title").xpath("string()").get()
        return Claim(name.strip(), "linkedin:byline") if name and name.strip() else None

    @staticmethod
    def _visible_date(response: Response) -> Claim | None:
        value = response.css("time::attr(datetime)").get()
        return Claim(value, "linkedin:time") if value else None
