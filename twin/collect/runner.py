"""How a collection run is printed: the summary table, totals and the missing-metadata list
(the collect stage itself is :mod:`twin.stages.collect`)."""

from __future__ import annotations

from rich.console import Console

from twin.domain import CollectionSummary
from twin.report import missing_hint_lines, missing_table, summary_table


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
