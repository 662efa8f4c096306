"""Tables the CLI and jobs print: collection summaries and warehouse contents."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from rich.table import Table
from rich.text import Text

from twin.domain import (
    MISSING_AUTHOR,
    MISSING_DATE,
    MISSING_LISTED,
    CollectionSummary,
    Document,
    MissingMetadata,
    SourceSummary,
)
from twin.features.clean import plain_text

# How to fix what a collected document lacks, per (field, platform); None: any other platform.
# The CLI, the flow run's artifact and the UI all show these lines.
MISSING_HINTS: dict[tuple[str, str | None], str] = {
    (MISSING_AUTHOR, "web"): (
        "if the site is a Substack or Medium publication, add its host to "
        "platforms.substack_domains or platforms.medium_domains (e.g. "
        "TWIN_PLATFORMS__SUBSTACK_DOMAINS='[\"news.example.org\"]') or prefix the link with "
        "substack= or medium="),
    (MISSING_AUTHOR, None): (
        "import the platform's data export (--export, or Export ZIPs on the Profile page): "
        "every item in it is the account holder's"),
    (MISSING_DATE, "web"): (
        "the page carries no machine-readable date: if the site is a Substack or Medium "
        "publication, add its host to platforms.substack_domains or platforms.medium_domains, "
        "or import that platform's data export"),
    (MISSING_DATE, None): (
        "import the platform's data export (--export, or Export ZIPs on the Profile page), "
        "which carries dates"),
}


def summary_table(summary: CollectionSummary) -> Table:
    """Per source: found, new, updated, unchanged, failed, and the reason of a failure."""
    table = Table(title=f"Collection {summary.run_id} for {summary.author_id}")
    for column in ("source", "collector"):
        table.add_column(column, overflow="fold", max_width=60)
    for column in ("found", "new", "updated", "unchanged", "failed", "s"):
        table.add_column(column, justify="right")
    table.add_column("reason", overflow="fold", max_width=70)
    for row in summary.sources:
        # Labels and reasons are data (a link may hold "[...]"), never rich markup.
        table.add_row(Text(row.source), Text(row.collector), str(row.found), str(row.new),
                      str(row.updated), str(row.unchanged), str(row.failed),
                      f"{row.seconds:.1f}", Text(row.reason or ""))
    return table


def missing_hint(field: str, platform: str) -> tuple[str, str]:
    """How a missing field is named in a summary (``no date (web)``) and the hint to fix it."""
    if (field, platform) in MISSING_HINTS:
        return f"no {field} ({platform})", MISSING_HINTS[(field, platform)]
    return f"no {field}", MISSING_HINTS[(field, None)]


def _missing_documents(sources: list[SourceSummary]) -> list[tuple[str, MissingMetadata]]:
    return [(s.source, m) for s in sources for m in s.missing][:MISSING_LISTED]


def missing_rows(sources: list[SourceSummary]) -> list[tuple[str, str, str, str]]:
    """Source, platform, document (title, else URL) and what it lacks, for at most
    ``MISSING_LISTED`` documents over all sources."""
    return [(source, m.platform, m.title or m.url or "(untitled)", ", ".join(m.fields))
            for source, m in _missing_documents(sources)]


def missing_hints(sources: list[SourceSummary]) -> list[tuple[str, str]]:
    """Each distinct way the listed documents lack something, with its hint, once."""
    hints = [missing_hint(f, m.platform) for _, m in _missing_documents(sources)
             for f in m.fields]
    return list(dict.fromkeys(hints))


def missing_headline(sources: list[SourceSummary]) -> str:
    """``5 documents without an author or date (3 without author, 4 without date)``."""
    total = sum(len(s.missing) + s.missing_omitted for s in sources)
    shown = len(_missing_documents(sources))
    more = f"; the first {shown} listed" if shown < total else ""
    return (f"{total} documents without an author or date ({sum(s.no_author for s in sources)} "
            f"without author, {sum(s.no_date for s in sources)} without date{more})")


def missing_table(sources: list[SourceSummary]) -> Table | None:
    """The documents whose author or date was not found (None when there are none)."""
    rows = missing_rows(sources)
    if not rows:
        return None
    table = Table(title=missing_headline(sources))
    for column, width in (("source", 50), ("platform", None), ("document", 60),
                          ("missing", None)):
        table.add_column(column, overflow="fold", max_width=width)
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))  # titles are data, never rich markup
    return table


def missing_hint_lines(sources: list[SourceSummary]) -> list[str]:
    """The hints under the table, one line each: ``no date: import ...``."""
    return [f"{label}: {hint}" for label, hint in missing_hints(sources)]


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#!~])")
# A URL keeps its own characters in a markdown link, less those that would end the link.
_URL_SAFE = ":/?#[]@!$&'*+,;=%~"


def _md(text: str) -> str:
    """Text as one markdown table cell shows it: no markup, links or HTML of its own."""
    text = " ".join(text.split()).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def missing_markdown(sources: list[SourceSummary]) -> str:
    """The same as :func:`missing_table` and its hints, as markdown ("" when none)."""
    listed = _missing_documents(sources)
    if not listed:
        return ""
    lines = [f"#### {missing_headline(sources)}", "",
             "| source | platform | document | missing |", "|---|---|---|---|"]
    for (source, m), (_, platform, shown, fields) in zip(listed, missing_rows(sources),
                                                         strict=True):
        document = f"[{_md(shown)}]({quote(m.url, safe=_URL_SAFE)})" if m.url else _md(shown)
        lines.append(f"| {_md(source)} | {_md(platform)} | {document} | {_md(fields)} |")
    lines.append("")
    lines += [f"- **{_md(label)}**: {_md(hint)}" for label, hint in missing_hints(sources)]
    return "\n".join(lines)


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
    decoding = report.get("decoding") or {}
    n = int(decoding.get("candidates") or 1)
    how = "greedy" if n == 1 else (f"best of {n} drafts at temperature "
                                   f"{decoding.get('temperature')}, @1: one greedy draft")
    side = Table(title=f"Held-out evaluation ({report['samples']} samples, {how}; every post "
                 "shaped and checked as served)")
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
    if report.get("recipes"):
        tables.append(_recipe_table(report["recipes"]))
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


def _recipe_table(recipes: dict[str, dict[str, Any]]) -> Table:
    """How each twin was trained (continued-pretraining steps, SFT steps, training window,
    share of samples with retrieved material): which recipe won."""
    table = Table(title="Recipes (how each twin was trained)")
    columns = {"pretrain_steps": "CPT steps", "max_steps": "SFT steps",
               "max_length": "max_length", "context_share": "context share"}
    table.add_column("model")
    for title in columns.values():
        table.add_column(title, justify="right")
    for label, recipe in recipes.items():
        table.add_row(label, *["" if recipe.get(key) is None else str(recipe[key])
                               for key in columns])
    return table


def print_evaluation(report: dict[str, Any], console: Any = None) -> None:
    """Print the evaluation tables and notes."""
    from rich.console import Console

    console = console or Console(width=140)
    for table in evaluation_tables(report):
        console.print(table)
    for line in choice_lines(report):
        console.print(line, markup=False)
    for note in report.get("notes", []):
        console.print(f"note: {note}", markup=False)


def choice_lines(report: dict[str, Any]) -> list[str]:
    """The settings the evaluation chose per model (recorded with each version), in words."""
    from twin.domain.choices import Choices

    return [f"chosen for {label}: {line}" for label, chosen in
            (report.get("choices") or {}).items()
            for line in Choices.model_validate(chosen).lines()]


def draft_verdict(post: dict[str, Any], whose: str = "you") -> str:
    """One line on a served post (``POST /v1/posts``'s answer): its voice score, the checks it
    passed (naming those it failed) and how many drafts it was chosen from."""
    voice = post.get("voice")
    checks = post.get("checks") or []
    failed = [c["name"] for c in checks if not c.get("passed")]
    drafts = len(post.get("candidates") or []) or 1
    return (f"sounds like {whose}: " + (f"{voice['score']:.2f}" if voice else "no voice model")
            + f"; checks passed {len(checks) - len(failed)}/{len(checks)}"
            + (f" (not: {', '.join(failed)})" if failed else "")
            + (f"; best of {drafts} drafts" if drafts > 1 else "; one draft"))
