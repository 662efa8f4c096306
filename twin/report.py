"""Tables the CLI and jobs print: collection summaries and warehouse contents."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from twin.domain import CollectionSummary, Document


def summary_table(summary: CollectionSummary) -> Table:
    """Per source: found, new, updated, unchanged, failed, and the reason of a failure."""
    table = Table(title=f"Collection {summary.run_id} for {summary.author_id}")
    for column in ("source", "collector"):
        table.add_column(column, overflow="fold", max_width=60)
    for column in ("found", "new", "updated", "unchanged", "failed", "s"):
        table.add_column(column, justify="right")
    table.add_column("reason", overflow="fold", max_width=70)
    for row in summary.sources:
        table.add_row(row.source, row.collector, str(row.found), str(row.new), str(row.updated),
                      str(row.unchanged), str(row.failed), f"{row.seconds:.1f}",
                      row.reason or "")
    return table


def stats_table(rows: list[dict[str, Any]]) -> Table:
    """Documents per author and platform."""
    table = Table(title="Warehouse")
    for column in ("author", "platform", "documents", "first", "last", "characters"):
        table.add_column(column, justify="right" if column in ("documents", "characters")
                         else "left")
    for r in rows:
        table.add_row(r["author_id"], r["platform"], str(r["documents"]),
                      f"{r['first']:%Y-%m-%d}" if r["first"] else "",
                      f"{r['last']:%Y-%m-%d}" if r["last"] else "", f"{r['chars']:,}")
    return table


def documents_table(docs: list[Document], limit: int) -> Table:
    """Titles, dates and links of documents."""
    table = Table(title=f"Documents ({min(limit, len(docs))} of {len(docs)})")
    for column in ("id", "platform", "kind", "published", "title", "url"):
        table.add_column(column, overflow="fold", max_width=60 if column == "title" else None)
    for doc in docs[:limit]:
        table.add_row(doc.id[:10], doc.platform.value, doc.kind.value,
                      f"{doc.published_at:%Y-%m-%d}" if doc.published_at else "",
                      doc.title, doc.url)
    return table


def hits_table(hits: list, query: str) -> Table:
    """Search results: score, source, date and the chunk's opening."""
    from datetime import UTC, datetime

    table = Table(title=f"Nearest chunks for {query!r}")
    for column in ("#", "score", "platform", "date", "title / url", "text"):
        table.add_column(column, overflow="fold",
                         max_width={"title / url": 45, "text": 70}.get(column))
    for rank, hit in enumerate(hits, start=1):
        date = (datetime.fromtimestamp(hit.published_at, UTC).strftime("%Y-%m-%d")
                if hit.published_at else "")
        snippet = " ".join(hit.text.split())[:200]
        table.add_row(str(rank), f"{hit.score:.4f}", hit.platform, date,
                      f"{hit.title}\n{hit.url}", snippet)
    return table
