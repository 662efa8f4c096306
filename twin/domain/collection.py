"""What a collection run reports: per source counts and the documents missing metadata."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from twin.domain.documents import Document, Platform

# What a summary says a document lacks; each has its fixing hint in ``twin.report``.
MISSING_AUTHOR = "author"
MISSING_DATE = "date"
# Documents a source's summary lists by name when they lack an author or date (the rest are
# counted): enough to see the pattern, few enough for a terminal and a stored run.
MISSING_LISTED = 20


class MissingMetadata(BaseModel):
    """A collected document whose author or date could not be found."""

    title: str = ""
    url: str = ""
    platform: str = ""
    fields: list[str] = Field(default_factory=list,
                              description="What is missing: 'author' and/or 'date'.")

    @classmethod
    def of(cls, doc: Document, *, from_export: bool = False) -> MissingMetadata | None:
        """What ``doc`` lacks, or None when it has both an author and a date.

        An author is known when ``metadata["author"]`` or one of ``metadata["bylines"]`` is
        a non-empty name. A GitHub repository is its owner's (it has no byline by nature) and
        a data export holds only its account holder's writing: both count as authored.
        """
        fields: list[str] = []
        if not (from_export or doc.platform is Platform.GITHUB or _has_author(doc.metadata)):
            fields.append(MISSING_AUTHOR)
        if doc.published_at is None:
            fields.append(MISSING_DATE)
        if not fields:
            return None
        return cls(title=doc.title, url=doc.url, platform=doc.platform.value, fields=fields)


def _has_author(metadata: dict[str, Any]) -> bool:
    bylines = metadata.get("bylines") or []
    if not isinstance(bylines, list):
        bylines = [bylines]
    return any(isinstance(name, str) and name.strip()
               for name in [metadata.get("author"), *bylines])


class SourceSummary(BaseModel):
    """One line of the collection summary."""

    source: str
    collector: str
    found: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    reason: str | None = None
    seconds: float = 0.0
    # Added with issue 14: defaults keep the runs logged before it readable.
    no_author: int = Field(default=0, description="Documents without a known author.")
    no_date: int = Field(default=0, description="Documents without a publication date.")
    missing: list[MissingMetadata] = Field(
        default_factory=list, description=f"The first {MISSING_LISTED} documents without an "
        "author or a date.")
    missing_omitted: int = Field(
        default=0, description="Documents without an author or a date beyond those listed.")


class CollectionSummary(BaseModel):
    """The outcome of one collection run."""

    run_id: str
    author_id: str
    sources: list[SourceSummary]
    table_version: int | None = None
    seconds: float = 0.0

    @property
    def totals(self) -> dict[str, int]:
        """Found/new/updated/unchanged/failed summed over the sources."""
        keys = ("found", "new", "updated", "unchanged", "failed")
        return {k: sum(getattr(s, k) for s in self.sources) for k in keys}
