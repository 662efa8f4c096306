"""The collect stage as a job: run it, print the summary table (and, for the flows, a
machine-readable line)."""

from __future__ import annotations

import logging

from rich.console import Console

from twin.collect.pipeline import collect
from twin.domain import CollectionSummary
from twin.logs import setup_logging
from twin.rayjobs import emit_summary
from twin.report import missing_hint_lines, missing_table, summary_table
from twin.settings import get_settings


def run_collect_job(author: str, links: list[str], exports: list[str],
                    emit: bool = False) -> int:
    """Collect, print the summary; exit status 1 only when every source failed."""
    settings = get_settings()
    setup_logging(settings.log_level)
    try:
        summary = collect(author, links, exports, settings)
    except ValueError as exc:  # bad arguments
        logging.getLogger("twin.collect").error("%s", exc)
        return 2
    except RuntimeError as exc:  # the warehouse write failed; the documents were kept
        logging.getLogger("twin.collect").error("%s", exc)
        return 1
    print_summary(summary)
    emit_summary(summary.model_dump_json(), emit)
    return 1 if summary.sources and all(s.found == 0 and s.failed for s in summary.sources) \
        else 0


def print_summary(summary: CollectionSummary, console: Console | None = None) -> None:
    """The per-source summary table and totals, then the documents without an author or
    date (if any) with how to fix each."""
    console = console or Console(width=160)
    console.print(summary_table(summary))
    totals = summary.totals
    console.print(
        f"author {summary.author_id}: {totals['found']} found, {totals['new']} new, "
        f"{totals['updated']} updated, {totals['unchanged']} unchanged, {totals['failed']} "
        f"failed; warehouse version {summary.table_version}; {summary.seconds:.1f}s "
        f"(run {summary.run_id})")
    missing = missing_table(summary.sources)
    if missing is not None:
        console.print(missing)
        for line in missing_hint_lines(summary.sources):
            console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
