"""Extra material for one request: links fetched and extracted with the collection stage's own
collectors (so a Medium story, a Substack post or a LinkedIn post is read the way collection
reads it), under the URL policy, a size limit and a time limit."""

from __future__ import annotations

import json
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from twin.collect.pipeline import collect_source
from twin.domain import (
    LINK_ORIGIN,
    CollectionSummary,
    Document,
    Source,
    SourceKind,
    SourceResult,
    SourceSummary,
)
from twin.net import UnsafeURLError, check_url
from twin.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class LinkMaterial:
    """What the request's links gave: documents, and a readable problem per failed link."""

    documents: list[Document] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def link_settings(settings: Settings) -> Settings:
    """Collection settings for a request: its own limits, no politeness delay, few items."""
    r = settings.rag
    copy = settings.model_copy(deep=True)
    c = copy.collect
    c.timeout_s = min(c.timeout_s, r.link_timeout_s)
    c.crawl_timeout_s = r.link_timeout_s
    c.max_response_bytes = r.link_max_bytes
    c.max_items_per_source = r.link_max_items
    c.retry_times = 0
    c.download_delay_s = 0.0
    c.autothrottle = False
    return copy


def link_problem(link: str, allowed_hosts: list[str]) -> str | None:
    """Why ``link`` is not fetched (None: it may be), never an exception."""
    try:
        check_url(link, allowed_hosts)
    except UnsafeURLError as exc:
        return f"refused: {exc}"
    except ValueError as exc:  # UnicodeError too: a malformed host (a..b), IPv6 literal, label
        return f"not a valid link: {type(exc).__name__}: {exc}"
    return None


def _collect_link(link: str, author_id: str, data: dict) -> SourceResult:
    """One link's crawl; whatever goes wrong is that link's failure, not the request's."""
    source = Source(kind=SourceKind.LINK, value=link)
    try:
        return collect_source(source, author_id, data)
    except Exception as exc:  # noqa: BLE001 - reported in link_errors
        return SourceResult(source=source, failure=f"could not fetch: {type(exc).__name__}: {exc}")


def fetch_links(links: list[str], author_id: str, settings: Settings) -> LinkMaterial:
    """Fetch every link (refusing unsafe ones up front); failures never raise."""
    start = time.monotonic()
    material = LinkMaterial()
    local = link_settings(settings)
    data = local.model_dump()
    wanted: list[str] = []
    for link in links[: settings.rag.max_links]:
        if (problem := link_problem(link, local.collect.allowed_hosts)) is not None:
            material.errors[link] = problem
        else:
            wanted.append(link)
    if wanted:
        # Each crawl is its own process and mostly waits on the network: run them together.
        with ThreadPoolExecutor(max_workers=len(wanted)) as pool:
            results = list(pool.map(lambda link: _collect_link(link, author_id, data), wanted))
        for link, result in zip(wanted, results, strict=True):
            if result.failure:
                material.errors[link] = result.failure
            else:
                material.documents.extend(result.documents[: settings.rag.link_max_items])
    for link in links[settings.rag.max_links:]:
        material.errors[link] = f"skipped: at most {settings.rag.max_links} links per request"
    material.seconds = round(time.monotonic() - start, 2)
    return material



def save_link_material(material: LinkMaterial, author_id: str, settings: Settings) -> str:
    """Merge a request's link documents into the warehouse, marked as reference material.

    They are kept under the author so later requests can retrieve them (after `twin ingest`),
    with ``metadata.origin = "link"``: they are someone else's words, so dataset building never
    uses them as the author's answers. Returns a note for the response; never raises.
    """
    from twin.warehouse import Warehouse

    if not material.documents:
        return "no link material to save"
    warehouse = Warehouse.from_settings(settings)
    own: set[str] = set()  # already collected as the author's own writing: left as it is
    if warehouse.exists():
        table = warehouse.read_table(columns=["id", "metadata"])
        own = {i for i, meta in zip(table.column("id").to_pylist(),
                                    table.column("metadata").to_pylist(), strict=True)
               if json.loads(meta or "{}").get("origin") != LINK_ORIGIN}
    documents = []
    for doc in material.documents:
        if doc.id in own:
            continue
        doc = doc.model_copy(deep=True)
        doc.author_id = author_id
        doc.metadata = {**doc.metadata, "origin": LINK_ORIGIN}
        documents.append(doc)
    if not documents:
        return "the links are already in the warehouse as the author's own writing"
    try:
        merge = warehouse.merge(documents)
        by_url = {d.url: d for d in documents}
        summary = CollectionSummary(
            run_id=f"link-{uuid.uuid4().hex[:8]}", author_id=author_id,
            table_version=merge.version, sources=[SourceSummary(
                source=url, collector="request link", found=1,
                new=int(d.id in merge.new), updated=int(d.id in merge.updated),
                unchanged=int(d.id in merge.unchanged)) for url, d in by_url.items()])
        warehouse.log_run(summary, datetime.now(UTC))
    except Exception as exc:  # noqa: BLE001 - the post is still written
        log.warning("could not save link material: %s", exc)
        return f"link material not saved to the warehouse: {type(exc).__name__}: {exc}"
    return (f"saved {len(merge.new)} new and {len(merge.updated)} updated link documents to the "
            "warehouse as reference material (searchable after `twin ingest`)")
