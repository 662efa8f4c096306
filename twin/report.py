"""Tables the CLI and jobs print: collection summaries and warehouse contents."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from twin.domain import CollectionSummary, Document
from twin.features.clean import plain_text


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
        snippet = plain_text(hit.text, 200)
        table.add_row(str(rank), f"{hit.score:.4f}", hit.platform, date,
                      f"{hit.title}\n{hit.url}", snippet)
    return table


def _ci(c: dict[str, Any]) -> str:
    return f"{c['mean']:.3f} [{c['low']:.3f}, {c['high']:.3f}]"


def evaluation_tables(report: dict[str, Any]) -> list[Table]:
    """Side by side: each model's metrics (mean [95% CI]), the twins' gains over the base
    model, and retrieval hit rate / MRR per setting."""
    models = report["models"]
    side = Table(title=f"Held-out evaluation ({report['samples']} samples, greedy)")
    side.add_column("metric")
    for label in models:
        side.add_column(label, justify="right")
    metrics = list(dict.fromkeys(m for label in models for m in report["summary"][label]))
    for metric in metrics:
        side.add_row(metric, *[_ci(report["summary"][label][metric])
                               if metric in report["summary"][label] else "" for label in models])
    tables = [side]
    if report.get("versus_base"):
        gains = Table(title="Twin minus base (paired, mean [95% CI]); style_distance: lower "
                      "is closer to the author")
        gains.add_column("metric")
        for label in report["versus_base"]:
            gains.add_column(label, justify="right")
        for metric in metrics:
            gains.add_row(metric, *[_ci(report["versus_base"][label][metric])
                                    if metric in report["versus_base"][label] else ""
                                    for label in report["versus_base"]])
        tables.append(gains)
    if report.get("retrieval"):
        rows = report["retrieval"]
        retrieval = Table(title=f"Retrieval ({rows[0]['queries']} held-out instructions; "
                          "best first)")
        for column in ("search_mode", "expansion", "reranker", "hit@1", "hit@3", "hit@5",
                       "hit@10", "mrr"):
            retrieval.add_column(column, justify="right" if column[0] in "hm" else "left")
        for row in rows:
            retrieval.add_row(*[str(row[c]) for c in ("search_mode", "expansion", "reranker",
                                                      "hit@1", "hit@3", "hit@5", "hit@10",
                                                      "mrr")])
        tables.append(retrieval)
    return tables


def print_evaluation(report: dict[str, Any], console: Any = None) -> None:
    """Print the evaluation tables and notes."""
    from rich.console import Console

    console = console or Console(width=140)
    for table in evaluation_tables(report):
        console.print(table)
    for note in report.get("notes", []):
        console.print(f"note: {note}", markup=False)
