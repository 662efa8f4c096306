"""The ingest stage as a job: run it, print the summary (and, for the flows, a
machine-readable line)."""

from __future__ import annotations

import logging

from twin.ingest import run_ingest
from twin.logs import setup_logging
from twin.rayjobs import emit_summary
from twin.settings import get_settings, redact
from twin.vectorstore import VectorStoreError

log = logging.getLogger("twin.ingest")


def run_ingest_job(full: bool = False, author: str | None = None, emit: bool = False) -> int:
    """Ingest; exit 0 on success (an empty warehouse included), 1 when Milvus fails."""
    settings = get_settings()
    setup_logging(settings.log_level)
    try:
        summary = run_ingest(settings, full=full, author=author)
    except VectorStoreError as exc:
        log.error("%s", exc)
        return 1
    print(f"ingest: {summary.message}; {summary.chunks_in_collection} chunks in "
          f"{settings.milvus.collection} at {redact(settings.milvus_uri)}; {summary.seconds:.1f}s",
          flush=True)
    emit_summary(summary.as_dict(), emit)
    return 0
