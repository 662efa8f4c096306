"""Maps a source to its collector: links by domain and URL shape, exports by content."""

from __future__ import annotations

from urllib.parse import urlsplit

from twin.collect.base import LINK_COLLECTORS, CollectError, Collector
from twin.domain import Platform, Source, SourceKind
from twin.net import UnsafeURLError, validate_link
from twin.settings import Settings


def _load_builtin_collectors() -> None:
    # Importing the modules registers their collectors; done lazily, not at import time.
    from twin.collect import exports, github, linkedin, medium, substack, web  # noqa: F401


def collector_class_for(source: Source, settings: Settings) -> type[Collector]:
    """The collector class for a source, or :class:`CollectError` saying why there is none."""
    _load_builtin_collectors()
    if source.kind is SourceKind.EXPORT:
        from twin.collect.exports import ExportCollector

        return ExportCollector
    url = source.value
    try:
        validate_link(url)
    except UnsafeURLError as exc:  # a wrong scheme, no host, a malformed host or port
        raise CollectError(f"not a valid http(s) link: {exc}") from exc
    parts = urlsplit(url)
    if source.platform_hint is not None:
        hinted = [c for c in LINK_COLLECTORS if c.platform is source.platform_hint]
        if not hinted:
            raise CollectError(f"no collector for platform {source.platform_hint.value}")
        return max(hinted, key=lambda c: c.priority)
    matching = [c for c in LINK_COLLECTORS if c.matches(parts, settings)]
    if not matching:  # pragma: no cover - the web collector matches every http(s) link
        raise CollectError(f"no collector for link {url}")
    return max(matching, key=lambda c: c.priority)


def link_platform(url: str, settings: Settings) -> Platform | None:
    """The platform of the collector that would read ``url`` (``web`` for any other site), or
    None when it is not a valid http(s) link; by the link's shape only, nothing is fetched.

    The one platform detection: the UI badges and checks links with it, so a link shows the
    platform its collection will use (settings' platform addresses included)."""
    try:
        return collector_class_for(Source(kind=SourceKind.LINK, value=url), settings).platform
    except CollectError:
        return None


def collector_for(source: Source, settings: Settings) -> Collector:
    """An instance of the collector for ``source``."""
    return collector_class_for(source, settings)(settings)
