"""What every spider shares: crawl manners, the URL policy, retries with backoff, errors.

Spiders run in a child process (see :mod:`twin.collect.crawl`), one crawl per process, so the
Twisted reactor is never restarted inside a reused Ray worker.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any, ClassVar
from urllib.parse import urlsplit

import scrapy
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import CannotResolveHostError, IgnoreRequest
from scrapy.http import Request, Response
from scrapy.resolver import CachingThreadedResolver
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet.defer import Deferred
from twisted.internet.error import (
    ConnectionRefusedError,
    DNSLookupError,
    TCPTimedOutError,
    TimeoutError,
)
from twisted.internet.interfaces import IResolverSimple
from twisted.python.failure import Failure
from zope.interface import implementer

from twin.collect.html import DEFAULT_MAX_DEPTH, html_to_markdown
from twin.domain import Platform
from twin.net import UnsafeURLError, address_problem, check_url, host_allowed
from twin.settings import Settings

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 60.0


def scrapy_settings(settings: Settings) -> dict[str, Any]:
    """Scrapy settings from ours: robots.txt, throttling, retries, user agent, HTTP cache."""
    c = settings.collect
    return {
        "BOT_NAME": "llm-twin",
        "USER_AGENT": c.user_agent,
        "ROBOTSTXT_OBEY": c.obey_robots,
        "ROBOTSTXT_USER_AGENT": c.user_agent,
        "DOWNLOAD_DELAY": c.download_delay_s,
        "RANDOMIZE_DOWNLOAD_DELAY": True,
        "AUTOTHROTTLE_ENABLED": c.autothrottle,
        "AUTOTHROTTLE_START_DELAY": max(c.download_delay_s, 0.1),
        "AUTOTHROTTLE_TARGET_CONCURRENCY": float(c.concurrent_per_domain),
        "CONCURRENT_REQUESTS_PER_DOMAIN": c.concurrent_per_domain,
        "DOWNLOAD_TIMEOUT": c.timeout_s,
        "DOWNLOAD_MAXSIZE": c.max_response_bytes,
        "RETRY_ENABLED": True,
        "RETRY_TIMES": c.retry_times,
        "RETRY_BACKOFF_BASE_S": c.retry_backoff_s,
        "HTTPCACHE_ENABLED": c.http_cache,
        "HTTPCACHE_DIR": str(settings.cache_dir / "http"),
        "HTTPCACHE_EXPIRATION_SECS": c.http_cache_expiration_s,
        # Honour the sites' own Cache-Control/ETag headers so an edited page is fetched again.
        "HTTPCACHE_POLICY": "scrapy.extensions.httpcache.RFC2616Policy",
        "DOWNLOADER_MIDDLEWARES": {
            "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
            "twin.collect.scrapy_support.BackoffRetryMiddleware": 550,
            "twin.collect.scrapy_support.UrlPolicyMiddleware": 50,
            # Last before the network, after every middleware that may add headers.
            "twin.collect.scrapy_support.CredentialScopeMiddleware": 990,
        },
        # Nearest the spider: a callback's exception reaches it first.
        "SPIDER_MIDDLEWARES": {"twin.collect.scrapy_support.PageErrorMiddleware": 950},
        "TWIN_ALLOWED_HOSTS": list(c.allowed_hosts),
        "TWIN_MAX_HTML_DEPTH": c.max_html_depth,
        # The address policy again where the connection is made (no DNS rebinding window).
        "TWISTED_DNS_RESOLVER": "twin.collect.scrapy_support.PublicAddressResolver",
        "TELNETCONSOLE_ENABLED": False,
        "LOG_LEVEL": "INFO",
        "REQUEST_FINGERPRINTER_IMPLEMENTATION": "2.7",
        "CLOSESPIDER_ITEMCOUNT": c.max_items_per_source,
    }


# Host names the resolver refused, with why: the request's failure says it in one line.
REFUSED_LOOKUPS: dict[str, str] = {}


@implementer(IResolverSimple)
class PublicAddressResolver(CachingThreadedResolver):
    """Scrapy's resolver, refusing answers that are not public addresses.

    :class:`UrlPolicyMiddleware` checks a link when it is requested; this checks the very
    address the connection is then made to (redirects and robots.txt included), so a name
    that resolves to a public address first and to loopback a moment later gets nowhere.
    Hosts named in ``collect.allowed_hosts`` are let through (the middleware checks ports).
    """

    def __init__(self, reactor: Any, cache_size: int, timeout: float,
                 allowed_hosts: Iterable[str] = ()) -> None:
        super().__init__(reactor, cache_size, timeout)
        self.allowed_hosts = list(allowed_hosts)

    @classmethod
    def from_crawler(cls, crawler: Any, reactor: Any) -> PublicAddressResolver:
        settings = crawler.settings
        cache_size = settings.getint("DNSCACHE_SIZE") if settings.getbool("DNSCACHE_ENABLED") \
            else 0
        return cls(reactor, cache_size, settings.getfloat("DNS_TIMEOUT"),
                   settings.getlist("TWIN_ALLOWED_HOSTS"))

    def getHostByName(self, name: str, timeout: Any = ()) -> Deferred:  # noqa: N802 - Twisted
        lookup = super().getHostByName(name, timeout)
        lookup.addCallback(self._check, name)
        return lookup

    def _check(self, address: str, name: str) -> str:
        if host_allowed(name, self.allowed_hosts):
            return address
        problem = address_problem(ipaddress.ip_address(address))
        if problem:
            REFUSED_LOOKUPS[name.lower()] = (
                f"refusing to connect to {problem} for host {name}; allow the host in settings "
                "(collect.allowed_hosts) if this is intended")
            raise DNSLookupError(REFUSED_LOOKUPS[name.lower()])
        return address


class UrlPolicyMiddleware:
    """Refuses requests to non-public addresses (redirects and robots.txt included)."""

    def __init__(self, allowed_hosts: Iterable[str]) -> None:
        self.allowed_hosts = list(allowed_hosts)

    @classmethod
    def from_crawler(cls, crawler: Any) -> UrlPolicyMiddleware:
        return cls(crawler.settings.getlist("TWIN_ALLOWED_HOSTS"))

    def process_request(self, request: Request, spider: Any = None) -> None:
        try:
            check_url(request.url, self.allowed_hosts)
        except UnsafeURLError as exc:
            raise IgnoreRequest(str(exc)) from exc


class PageErrorMiddleware:
    """A page whose parsing raised is one failed item of the summary, never a silent loss."""

    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Any) -> PageErrorMiddleware:
        return cls(crawler)

    def process_spider_exception(self, response: Response, exception: Exception,
                                 spider: Any = None) -> list[Any] | None:
        if isinstance(exception, HttpError | IgnoreRequest):
            return None  # the request's errback and Scrapy's own middlewares report those
        reason = failure_reason(exception)
        log.warning("could not parse %s: %s", response.url, reason)
        spider = spider or self.crawler.spider
        if hasattr(spider, "item_failed"):
            spider.item_failed(f"could not read {response.url}: {reason}")
        return []


def failure_reason(exc: BaseException) -> str:
    """One short line for an exception raised while parsing one item."""
    if isinstance(exc, RecursionError):
        return "nested too deeply to read"
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def origin(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of a URL, the port made explicit."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, (parts.hostname or "").lower(), port


class CredentialScopeMiddleware:
    """Drops ``Authorization`` from every request outside the spider's ``credential_origins``.

    A token belongs to one API: pagination links, redirects or anything else that leads to
    another origin (scheme, host or port) goes there without it.
    """

    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Any) -> CredentialScopeMiddleware:
        return cls(crawler)

    def process_request(self, request: Request, spider: Any = None) -> None:
        if b"Authorization" not in request.headers:
            return
        allowed = getattr(self.crawler.spider, "credential_origins", set())
        if origin(request.url) not in allowed:
            del request.headers[b"Authorization"]
            log.warning("not sending the token to another origin: %s", request.url)


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's retry middleware plus exponential backoff (and ``Retry-After``)."""

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.backoff_base = settings.getfloat("RETRY_BACKOFF_BASE_S", 1.0)

    def _delay(self, retry: Request, response: Response | None = None) -> float:
        attempt = retry.meta.get("retry_times", 1)
        delay = self.backoff_base * (2 ** (attempt - 1))
        if response is not None:
            header = response.headers.get(b"Retry-After")
            if header and header.decode().strip().isdigit():
                delay = max(delay, float(header.decode().strip()))
        return min(delay, MAX_BACKOFF_S)

    async def process_response(self, request: Request, response: Response,
                               spider: Any = None) -> Request | Response:
        result = super().process_response(request, response)
        if isinstance(result, Request):
            await asyncio.sleep(self._delay(result, response))
        return result

    async def process_exception(self, request: Request, exception: Exception,
                                spider: Any = None) -> Request | Response | None:
        result = super().process_exception(request, exception)
        if isinstance(result, Request):
            await asyncio.sleep(self._delay(result))
        return result


def describe_failure(failure: Failure) -> str:
    """One readable line for a failed request."""
    exc = failure.value
    request = getattr(failure, "request", None)
    url = request.url if request is not None else ""
    if isinstance(exc, HttpError):
        response = exc.response
        status = response.status
        if status == 999:
            return f"HTTP 999 at {response.url}: the site refused an automated request"
        if status in (401, 403) and "linkedin.com" in response.url:
            return f"HTTP {status} at {response.url}: the page needs a login"
        if status == 429:
            return f"HTTP 429 at {response.url}: rate limited, try again later"
        return f"HTTP {status} at {response.url}"
    if isinstance(exc, IgnoreRequest):
        message = str(exc) or "request ignored"
        if "robots.txt" in message.lower() or not str(exc):
            return f"blocked by robots.txt: {url}"
        return message
    if isinstance(exc, DNSLookupError | CannotResolveHostError):
        refused = REFUSED_LOOKUPS.get((urlsplit(url).hostname or "").lower())
        return f"{refused}: {url}" if refused else f"cannot resolve host for {url}"
    if isinstance(exc, TimeoutError | TCPTimedOutError):
        return f"timed out fetching {url}"
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused fetching {url}"
    return f"{type(exc).__name__} fetching {url}: {exc}"


class TwinSpider(scrapy.Spider):
    """Base spider: records a whole-source failure and per-item errors for the summary.

    Items are plain dicts with the keyword arguments of :meth:`twin.domain.Document.build`
    (minus ``author_id``, which the collector adds).
    """

    platform: ClassVar[Platform]

    def __init__(self, url: str, options: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.url = url
        self.options = options or {}
        self.failure: str | None = None
        self.errors: list[str] = []
        self.handoff: dict[str, str] | None = None

    async def start(self) -> AsyncIterator[Any]:
        for request in self.first_requests():
            yield request

    def first_requests(self) -> list[Request]:
        """The requests that start the crawl (their failure fails the source)."""
        return [Request(self.url, callback=self.parse, errback=self.fail_source)]

    def fail_source(self, failure: Failure) -> None:
        """Errback for entry requests: the source as a whole failed."""
        self.failure = describe_failure(failure)

    def fail_item(self, failure: Failure) -> None:
        """Errback for item requests: one item failed, the rest go on."""
        self.errors.append(describe_failure(failure))

    def source_failed(self, message: str) -> None:
        """Record a whole-source failure found while parsing."""
        self.failure = message

    def item_failed(self, message: str) -> None:
        """Record a per-item problem found while parsing."""
        self.errors.append(message)

    def hand_off(self, platform: Platform, url: str) -> None:
        """The page belongs to ``platform``: its collector reads ``url`` instead of this one."""
        self.handoff = {"platform": platform.value, "url": url}

    @property
    def max_html_depth(self) -> int:
        """``collect.max_html_depth`` of the crawl."""
        crawler = getattr(self, "crawler", None)
        if crawler is None:  # a spider made by hand (tests)
            return DEFAULT_MAX_DEPTH
        return crawler.settings.getint("TWIN_MAX_HTML_DEPTH", DEFAULT_MAX_DEPTH)

    def markdown(self, fragment: str) -> str:
        """:func:`~twin.collect.html.html_to_markdown` with the crawl's depth bound."""
        return html_to_markdown(fragment, self.max_html_depth)

    def each_entry(self, entries: Iterable[Any], read: Any, what: str = "feed item") -> Any:
        """``read(entry)`` for every feed entry; one that raises is one failed item."""
        for entry in entries:
            try:
                outcome = read(entry)
            except Exception as exc:  # this entry only: the others are still read
                where = getattr(entry, "link", "") or getattr(entry, "title", "") or "?"
                self.item_failed(f"could not read the {what} {where}: {failure_reason(exc)}")
                continue
            if outcome is not None:
                yield outcome
