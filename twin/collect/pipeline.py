"""The collection stage: every source in parallel as Ray tasks, one merge by the driver."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from twin.collect.base import CollectError
from twin.collect.boilerplate import drop_repeated_lines
from twin.collect.dispatcher import collector_class_for
from twin.domain import (
    MISSING_AUTHOR,
    MISSING_DATE,
    MISSING_LISTED,
    CollectionSummary,
    MissingMetadata,
    Source,
    SourceKind,
    SourceResult,
    SourceSummary,
    slugify,
)
from twin.progress import progress_bar
from twin.settings import Settings
from twin.warehouse import Warehouse

log = logging.getLogger(__name__)


def collect_source(source: Source, author_id: str, settings_data: dict[str, Any],
                   payload: bytes | None = None) -> SourceResult:
    """Collect one source (runs inside a Ray task; also callable directly)."""
    settings = Settings.model_validate(settings_data)
    try:
        collector = collector_class_for(source, settings)(settings)
    except CollectError as exc:
        return SourceResult(source=source, failure=str(exc))
    except ValueError as exc:  # urllib's own complaints about a malformed link
        return SourceResult(source=source, failure=f"not a valid link: {source.value!r} ({exc})")
    return collector.collect(source, author_id, payload)


def parse_sources(links: list[str], exports: list[str]) -> list[Source]:
    """Sources from the command line's ``--link`` and ``--export`` values (deduplicated)."""
    seen: set[tuple[str, str]] = set()
    sources: list[Source] = []
    for raw, kind in [(v, SourceKind.LINK) for v in links] + [(v, SourceKind.EXPORT)
                                                              for v in exports]:
        if not raw or not raw.strip():
            continue
        source = Source.parse(raw, kind)
        if kind is SourceKind.EXPORT:
            source.value = str(Path(source.value).expanduser().resolve())
        key = (kind.value, source.value)
        if key not in seen:
            seen.add(key)
            sources.append(source)
    return sources


def _read_export(source: Source, max_bytes: int) -> bytes | str:
    """The archive's bytes, or why it cannot be read."""
    path = Path(source.value)
    try:
        if not path.is_file():
            return f"export archive not found: {source.value}"
        if path.stat().st_size > max_bytes:
            return f"export archive larger than {max_bytes} bytes: {source.value}"
        return path.read_bytes()
    except OSError as exc:
        return f"cannot read export archive {source.value}: {exc.strerror or exc}"


def collect(author: str, links: list[str], exports: list[str], settings: Settings,
            *, show_progress: bool = True) -> CollectionSummary:
    """Collect an author's sources into the warehouse and return the summary.

    Each source is one Ray task; a failing source is reported and never stops the others.
    The driver merges every document into the warehouse in one commit.
    """
    import ray

    from twin.raycluster import connect

    author_id = slugify(author)
    if not author_id:
        raise ValueError(f"author name {author!r} has no letters or digits")
    sources = parse_sources(links, exports)
    if not sources:
        raise ValueError("nothing to collect: give at least one --link or --export")
    start = time.monotonic()
    run_id = uuid.uuid4().hex[:12]
    connect(settings)
    settings_data = settings.model_dump(mode="json")
    task = ray.remote(num_cpus=settings.collect.task_num_cpus)(collect_source)

    results: dict[int, SourceResult] = {}
    pending: dict[Any, int] = {}
    for index, source in enumerate(sources):
        payload: bytes | None = None
        if source.kind is SourceKind.EXPORT:
            data = _read_export(source, settings.collect.max_export_bytes)
            if isinstance(data, str):
                results[index] = SourceResult(source=source, collector="export", failure=data)
                continue
            payload = data
        ref = task.options(name=f"collect:{source.label[:60]}").remote(
            source, author_id, settings_data, payload)
        pending[ref] = index

    log.info("collecting %d sources for %s (run %s)", len(sources), author_id, run_id)
    with progress_bar("Collecting sources", total=len(sources), enabled=show_progress) as bar:
        bar.advance(len(results))
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                index = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except Exception as exc:  # the task itself died (worker lost, OOM)
                    result = SourceResult(source=sources[index],
                                          failure=f"collection task failed: {exc}")
                results[index] = result
                _log_result(result)
                bar.advance(1)

    ordered = [results[i] for i in range(len(sources))]
    _drop_site_boilerplate(ordered, settings)
    warehouse = Warehouse.from_settings(settings)
    documents = [doc for r in ordered for doc in r.documents]
    try:
        merge = warehouse.merge(documents)
    except Exception as exc:
        saved = warehouse.save_unmerged(documents, settings.home_dir / "unmerged", run_id)
        raise RuntimeError(f"could not write to the warehouse at {warehouse.uri} ({exc}); "
                           f"the {len(documents)} collected documents are kept in {saved}"
                           ) from exc
    summary = CollectionSummary(
        run_id=run_id, author_id=author_id, table_version=merge.version,
        sources=_summaries(ordered, merge.new, merge.updated),
        seconds=round(time.monotonic() - start, 1),
    )
    warehouse.log_run(summary, datetime.now(UTC))
    return summary


def _drop_site_boilerplate(results: list[SourceResult], settings: Settings) -> None:
    """Remove the lines repeated across a site's documents of this run, source by source.

    Logged, not reported as a problem: a removed footer is not an item that failed.
    """
    c = settings.collect
    documents = [doc for r in results for doc in r.documents]
    cleaned, report = drop_repeated_lines(
        documents, min_documents=c.boilerplate_min_documents, share=c.boilerplate_share,
        min_site_documents=c.boilerplate_min_site_documents, min_words=c.boilerplate_min_words,
        max_words=c.boilerplate_max_words)
    if not report.total:
        return
    position = 0
    for result in results:
        count = len(result.documents)
        result.documents = cleaned[position:position + count]
        position += count
        removed = sum(report.removed.get(d.id, 0) for d in result.documents)
        if removed:
            log.info("%s: removed %d lines repeated across this site's documents "
                     "(boilerplate)", result.source.label, removed)
    for site, lines in report.lines.items():
        log.info("boilerplate of %s: %s", site, "; ".join(lines[:5]))


def _log_result(result: SourceResult) -> None:
    if result.failure:
        log.warning("%s: failed: %s", result.source.label, result.failure)
    else:
        log.info("%s: %d documents (%s, %.1fs)", result.source.label, len(result.documents),
                 result.collector, result.seconds)
    for error in result.errors:
        log.warning("%s: %s", result.source.label, error)
    if result.errors_omitted:
        log.warning("%s: %d more problems (not listed)", result.source.label,
                    result.errors_omitted)


def _summaries(results: list[SourceResult], new: frozenset[str],
               updated: frozenset[str]) -> list[SourceSummary]:
    """One summary row per source; a document found by several sources is counted (new,
    updated, unchanged, missing author or date) under the first of them."""
    counted: set[str] = set()
    rows: list[SourceSummary] = []
    for result in results:
        ids = [d.id for d in result.documents]
        fresh = [i for i in ids if i not in counted]
        from_export = result.source.kind is SourceKind.EXPORT
        missing: list[MissingMetadata] = []
        for doc in result.documents:
            if doc.id not in counted:
                counted.add(doc.id)
                if (lacks := MissingMetadata.of(doc, from_export=from_export)) is not None:
                    missing.append(lacks)
        n_new = sum(1 for i in fresh if i in new)
        n_updated = sum(1 for i in fresh if i in updated)
        failed = result.error_count + (1 if result.failure else 0)
        reason = result.failure or (result.errors[0] if result.errors else None)
        if result.failure is None and result.error_count > 1:
            reason = f"{result.errors[0]} (+{result.error_count - 1} more)"
        rows.append(SourceSummary(
            source=result.source.label, collector=result.collector, found=len(ids),
            new=n_new, updated=n_updated, unchanged=len(fresh) - n_new - n_updated,
            failed=failed, reason=reason, seconds=result.seconds,
            no_author=sum(MISSING_AUTHOR in m.fields for m in missing),
            no_date=sum(MISSING_DATE in m.fields for m in missing),
            missing=missing[:MISSING_LISTED],
            missing_omitted=max(0, len(missing) - MISSING_LISTED),
        ))
    return rows

