"""Documents and their sources: keys, canonical URLs, what collecting one source produced."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import BaseModel, Field, field_validator

# Query parameters that only track a click; they never change which page it is.
_TRACKING_PARAMS = re.compile(
    r"^(utm_\w+|source|sk|fbclid|gclid|mc_\w+|ref|r|s|trk\w*|lipi|rcm|li_fat_id)$", re.I
)


_SURROGATES = re.compile("[\ud800-\udfff]")
# What browsers ignore around and inside a URL's scheme (WHATWG URL: C0 controls and space
# trimmed, tab and newlines removed anywhere).
_URL_TRIM = "".join(chr(c) for c in range(0x21))
_URL_REMOVED = re.compile("[\t\n\r]")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")


class Platform(StrEnum):
    """Where a document was published."""

    LINKEDIN = "linkedin"
    MEDIUM = "medium"
    SUBSTACK = "substack"
    GITHUB = "github"
    WEB = "web"


class Kind(StrEnum):
    """What sort of writing a document is."""

    POST = "post"
    ARTICLE = "article"
    REPOSITORY = "repository"


def slugify(value: str) -> str:
    """A lowercase ASCII slug: ``"Maya Okafor" -> "maya-okafor"``."""
    text = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-zA-Z0-9]+", "-", text).strip("-").lower()
    return text


def url_scheme(url: str) -> str | None:
    """A URL's scheme as a browser reads it (lowercase), or None for a relative URL."""
    match = _SCHEME.match(_URL_REMOVED.sub("", url.strip(_URL_TRIM)))
    return match.group(1).lower() if match else None


def is_http_url(url: str) -> bool:
    """Whether ``url`` is a well-formed absolute http(s) URL with a host (and a valid port)."""
    if url_scheme(url) not in {"http", "https"}:
        return False
    try:
        parts = urlsplit(url.strip())
        return bool(parts.hostname) and (parts.port is None or parts.port > 0)
    except ValueError:  # "http://[::1/", a port out of range
        return False


def canonical_url(url: str) -> str:
    """Normalise a URL so the same page always gets the same key.

    Lowercases scheme and host, drops fragments, tracking parameters, default ports and a
    trailing slash (except for the root path); resolves ``.`` and ``..`` segments and repeated
    slashes (a static site's feed writes ``https://example.com//./post/``).
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    segments: list[str] = []
    for segment in parts.path.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment not in ("", "."):
            segments.append(segment)
    path = "/" + "/".join(segments)
    query = urlencode(
        sorted((k, v) for k, v in parse_qsl(parts.query) if not _TRACKING_PARAMS.match(k))
    )
    return urlunsplit((scheme, host, path, query, ""))


def _sha(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8"))
        digest.update(b"\x1f")
    return digest.hexdigest()


def document_id(url: str | None = None, *, platform: str | None = None,
                item_id: str | None = None) -> str:
    """The key of a document: a hash of its canonical URL, or of platform + export item id."""
    if url:
        return _sha("url", canonical_url(url))[:32]
    if platform and item_id:
        return _sha("item", platform, item_id)[:32]
    raise ValueError("a document needs a URL or a platform and an item id")


def content_hash(title: str, text: str) -> str:
    """Hash of what the author wrote, so an edited item is recognised as changed."""
    return _sha(title.strip(), text.strip())


# ``metadata.origin`` of documents saved from a request's links: reference material kept
# under an author, never their own words (dataset building skips it).
LINK_ORIGIN = "link"
# ``metadata`` key set by :meth:`Document.build` when it refused a non-http(s) URL (the
# collector counts and removes it).
URL_DROPPED = "url_dropped"


class Document(BaseModel):
    """One piece of the author's writing, as stored in the warehouse."""

    id: str
    author_id: str
    platform: Platform
    kind: Kind
    url: str = ""
    title: str = ""
    text: str
    published_at: datetime | None = None
    collected_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    content_hash: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("text", "title")
    @classmethod
    def _valid_unicode(cls, value: str) -> str:
        # Text decoded with the wrong codec can carry lone surrogates: make it valid UTF-8.
        return _SURROGATES.sub("\ufffd", value)

    @field_validator("url")
    @classmethod
    def _http_only(cls, value: str) -> str:
        # The UI and API hand this URL out as a link: nothing but http(s) may ever be one.
        return value if not value or is_http_url(value) else ""

    @field_validator("published_at", "collected_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None

    def model_post_init(self, __context: Any) -> None:
        if not self.content_hash:
            self.content_hash = content_hash(self.title, self.text)

    @classmethod
    def build(
        cls,
        *,
        author_id: str,
        platform: Platform | str,
        kind: Kind | str,
        text: str,
        url: str = "",
        title: str = "",
        published_at: datetime | None = None,
        item_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        fallback_url: str = "",
    ) -> Document:
        """Make a document with its key derived from the URL (or platform + item id).

        Only an http(s) URL is stored: another one (``javascript:``, ``data:``, malformed), or
        none, is replaced by ``fallback_url`` when that one is http(s), else dropped, the key then
        coming from ``item_id`` (or the dropped URL's hash); ``metadata["url_dropped"]``
        then names what was dropped, for the source's summary.
        """
        platform, kind = Platform(platform), Kind(kind)
        metadata = dict(metadata or {})
        url = url.strip() or (fallback_url if is_http_url(fallback_url) else "")
        if url and not is_http_url(url):
            metadata[URL_DROPPED] = url_scheme(url) or "malformed"
            if not item_id and not is_http_url(fallback_url):
                item_id = "url-" + _sha("dropped-url", url)[:16]
            url = fallback_url.strip() if is_http_url(fallback_url) else ""
        doc_id = document_id(url or None, platform=platform.value, item_id=item_id)
        return cls(
            id=doc_id,
            author_id=author_id,
            platform=platform,
            kind=kind,
            url=canonical_url(url) if url else "",
            title=title.strip(),
            text=text.strip(),
            published_at=published_at,
            metadata=metadata,
        )

    def to_row(self) -> dict[str, Any]:
        """A flat row for the warehouse table."""
        row = self.model_dump()
        row["platform"] = self.platform.value
        row["kind"] = self.kind.value
        row["metadata"] = json.dumps(self.metadata, sort_keys=True, default=str)
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Document:
        """The inverse of :meth:`to_row`."""
        data = dict(row)
        meta = data.get("metadata")
        data["metadata"] = json.loads(meta) if isinstance(meta, str) and meta else {}
        return cls(**data)


class SourceKind(StrEnum):
    """A source is either a link to crawl or an export archive to import."""

    LINK = "link"
    EXPORT = "export"


class Source(BaseModel):
    """One thing to collect from, as the user gave it."""

    kind: SourceKind
    value: str = Field(description="The URL, or the export archive's path.")
    platform_hint: Platform | None = Field(
        default=None, description="Set with the 'platform=' prefix, e.g. substack=https://..."
    )

    @classmethod
    def parse(cls, raw: str, kind: SourceKind) -> Source:
        """Parse ``[platform=]value``; an unknown prefix is left as part of the value."""
        raw = raw.strip()
        hint: Platform | None = None
        head, sep, rest = raw.partition("=")
        if sep and head.lower() in {p.value for p in Platform} and "/" not in head:
            hint = Platform(head.lower())
            raw = rest.strip()
        return cls(kind=kind, value=raw, platform_hint=hint)

    @property
    def label(self) -> str:
        """How the source is named in summaries."""
        prefix = f"{self.platform_hint.value}=" if self.platform_hint else ""
        return f"{prefix}{self.value}"


class SourceResult(BaseModel):
    """What collecting one source produced."""

    source: Source
    collector: str = ""
    documents: list[Document] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list, description="Per-item problems, kept going.")
    failure: str | None = Field(default=None, description="Why the whole source failed.")
    seconds: float = 0.0
    errors_omitted: int = Field(
        default=0, description="Per-item problems counted but not kept in ``errors``.")

    @property
    def ok(self) -> bool:
        """True when the source produced its documents (even with per-item problems)."""
        return self.failure is None

    @property
    def error_count(self) -> int:
        """Every per-item problem, kept or only counted."""
        return len(self.errors) + self.errors_omitted

    def cap_errors(self, keep: int) -> None:
        """Keep the first ``keep`` problems as examples and count the rest."""
        if len(self.errors) > keep:
            self.errors_omitted += len(self.errors) - keep
            del self.errors[keep:]
