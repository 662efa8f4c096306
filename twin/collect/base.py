"""Collectors: one class per platform, registered by decorator, picked by the dispatcher."""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from typing import Any, ClassVar
from urllib.parse import SplitResult, urlsplit

from twin.collect.errors import CollectError
from twin.domain import URL_DROPPED, Document, Platform, Source, SourceResult, slugify
from twin.settings import Settings

log = logging.getLogger(__name__)

MAX_ERRORS_KEPT = 10  # per source: examples of its problems; the rest are only counted


class Collector(ABC):
    """Turns one source (a link or an export archive) into documents.

    Subclasses set ``name`` and ``platform`` and implement :meth:`matches` and :meth:`run`.
    Higher ``priority`` wins when several collectors match a link.
    """

    name: ClassVar[str]
    platform: ClassVar[Platform]
    priority: ClassVar[int] = 0

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @classmethod
    @abstractmethod
    def matches(cls, url: SplitResult, settings: Settings) -> bool:
        """Whether this collector handles the link."""

    @abstractmethod
    def run(self, source: Source, author_id: str, payload: bytes | None = None) -> SourceResult:
        """Collect the source. Raise :class:`CollectError` for a clear, whole-source failure."""

    def collect(self, source: Source, author_id: str, payload: bytes | None = None) -> SourceResult:
        """Run the collector, turning any failure into a one-line reason (never a traceback)."""
        start = time.monotonic()
        try:
            result = self.run(source, author_id, payload)
        except CollectError as exc:
            result = SourceResult(source=source, failure=str(exc))
        except ValueError as exc:  # e.g. urllib rejecting a port or an IPv6 literal
            result = SourceResult(source=source, failure=f"invalid link or data: {exc}")
        except Exception as exc:  # a bug or an unexpected answer: report it, keep the others going
            log.exception("collector %s crashed on %s", self.name, source.label)
            result = SourceResult(source=source, failure=f"{type(exc).__name__}: {exc}")
        _count_dropped_urls(result)
        result.cap_errors(MAX_ERRORS_KEPT)
        result.collector = result.collector or self.name
        result.seconds = round(time.monotonic() - start, 2)
        if result.failure is None and not result.documents and not result.errors:
            result.failure = "no documents found"
        return result


def _count_dropped_urls(result: SourceResult) -> None:
    """One summary line for the documents whose non-http(s) link was not stored."""
    schemes = [d.metadata.pop(URL_DROPPED) for d in result.documents
               if URL_DROPPED in d.metadata]
    if schemes:
        kinds = ", ".join(sorted({f"{s}:" if s != "malformed" else s for s in schemes}))
        result.errors.append(f"{len(schemes)} item(s) had a link that is not http(s) "
                             f"({kinds}); it was not stored")


LINK_COLLECTORS: list[type[Collector]] = []


def register(cls: type[Collector]) -> type[Collector]:
    """Class decorator: make a link collector available to the dispatcher."""
    LINK_COLLECTORS.append(cls)
    return cls


def host_of(url: str | SplitResult) -> str:
    """``host`` or ``host:port`` (port only when explicit), lowercased."""
    parts = urlsplit(url) if isinstance(url, str) else url
    host = (parts.hostname or "").lower()
    return f"{host}:{parts.port}" if parts.port else host


def under_base(url: SplitResult, base: str) -> bool:
    """Whether ``url`` lies under a configured base URL (same host[:port], path prefix)."""
    base_parts = urlsplit(base)
    if host_of(url) != host_of(base_parts):
        return False
    prefix = base_parts.path.rstrip("/")
    return url.path == prefix or url.path.startswith(prefix + "/") or not prefix


def relative_path(url: SplitResult, base: str) -> str:
    """The path of ``url`` below the base URL's path, always starting with '/'."""
    prefix = urlsplit(base).path.rstrip("/")
    path = url.path[len(prefix):] if prefix and url.path.startswith(prefix) else url.path
    return path if path.startswith("/") else "/" + path


class ScrapyCollector(Collector):
    """A collector whose work is one Scrapy crawl, run in its own process.

    ``spider`` names the spider class as ``"module:Class"``; its items become documents.
    """

    spider: ClassVar[str]

    def spider_options(self, source: Source) -> dict[str, Any]:
        """Extra arguments for the spider (platform base URLs come from settings)."""
        return {}

    def run(self, source: Source, author_id: str, payload: bytes | None = None) -> SourceResult:
        from twin.collect.crawl import run_crawl
        from twin.net import UnsafeURLError, check_url

        try:
            check_url(source.value, self.settings.collect.allowed_hosts)
        except UnsafeURLError as exc:
            raise CollectError(str(exc)) from exc
        output = run_crawl(self.spider, source.value, self.settings, self.spider_options(source))
        if output.handoff and source.platform_hint is None:
            return self._hand_off(source, author_id, Platform(output.handoff["platform"]),
                                  output.handoff["url"])
        if output.failure and not output.items:
            raise CollectError(output.failure)
        result = SourceResult(source=source, errors=list(output.errors))
        if output.failure:
            result.errors.insert(0, output.failure)
        result.documents, problems = self.to_documents(output.items, author_id)
        result.errors.extend(problems)
        return result

    def _hand_off(self, source: Source, author_id: str, platform: Platform,
                  url: str) -> SourceResult:
        """Collect a page that identified itself as ``platform`` with that platform's collector."""
        candidates = [c for c in LINK_COLLECTORS if c.platform is platform]
        if not candidates:
            raise CollectError(f"the page at {url} is on {platform.value}, which has no collector")
        collector = max(candidates, key=lambda c: c.priority)(self.settings)
        log.info("%s identifies itself as %s: handed to the %s collector", url, platform.value,
                 collector.name)
        result = collector.run(source.model_copy(update={"value": url, "platform_hint": platform}),
                               author_id)
        result.source = source
        result.collector = f"{self.name}>{collector.name}"
        return result

    def to_documents(self, items: list[dict[str, Any]],
                     author_id: str) -> tuple[list[Document], list[str]]:
        """Turn crawl items into documents; items without enough text become errors."""
        docs: list[Document] = []
        problems: list[str] = []
        for item in items:
            text = (item.get("text") or "").strip()
            where = item.get("url") or item.get("title") or "an item"
            if len(text) < self.settings.collect.min_text_chars:
                problems.append(f"no text found at {where}")
                continue
            try:
                docs.append(Document.build(author_id=author_id, **item))
            except (TypeError, ValueError) as exc:  # one odd item, not the whole source
                problems.append(f"unusable item at {where}: {exc}")
        return _drop_other_authors(docs, author_id, problems), problems


def _drop_other_authors(docs: list[Document], author_id: str,
                        problems: list[str]) -> list[Document]:
    """In a multi-author publication keep the author's own pieces only.

    A piece is the author's when one of its bylines slugifies to the author id. When no piece
    matches, the bylines use another name (a pen name, an initial): keep everything.
    """
    def names(doc: Document) -> list[str]:
        bylines = doc.metadata.get("bylines") or []
        return [slugify(name) for name in bylines if name]

    mine = [d for d in docs if not names(d) or author_id in names(d)]
    if not mine or len(mine) == len(docs):
        return docs
    problems.append(f"skipped {len(docs) - len(mine)} pieces by other authors of this "
                    "publication")
    return mine
