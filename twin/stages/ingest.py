"""The ingest stage: clean, chunk and embed the warehouse into the Milvus knowledge base."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from twin.domain import IngestSummary
from twin.stages.base import StageRequest, StageResult, failing_as_stage

if TYPE_CHECKING:
    from twin.settings import Settings


class IngestRequest(StageRequest):
    """Which documents to ingest."""

    full: bool = Field(default=False, description="Rebuild the collection from scratch.")
    author: str | None = Field(default=None, description="Only this author's documents.")


class IngestResult(StageResult, IngestSummary):
    """What one ingest did: :class:`twin.domain.IngestSummary`, and where the chunks went."""

    collection: str = ""
    """Where the chunks went: the collection and the Milvus address (credentials redacted)."""

    def headline(self) -> str:
        """The message, the collection's size and the time."""
        return (f"ingest: {self.message}; {self.chunks_in_collection} chunks in "
                f"{self.collection}; {self.seconds:.1f}s")

    def markdown(self) -> str:
        """The counts."""
        return (f"### Ingestion\nRay job `{self.job_id or '?'}`: {self.message}.\n\n"
                f"- documents processed: **{self.processed}**\n"
                f"- chunks written: **{self.chunks_written}**\n"
                f"- chunks in the collection: **{self.chunks_in_collection}**\n"
                f"- seconds: {self.seconds}")


def run_ingest(request: IngestRequest, settings: Settings) -> IngestResult:
    """Ingest (only new or changed documents unless ``full``); an empty warehouse is no error."""
    from twin.ingest import run_ingest as ingest
    from twin.settings import redact
    from twin.vectorstore import VectorStoreError

    with failing_as_stage(VectorStoreError):
        summary = ingest(settings, full=request.full, author=request.author)
    return IngestResult(**summary.as_dict(), collection=f"{settings.milvus.collection} at "
                        f"{redact(settings.milvus_uri)}")
