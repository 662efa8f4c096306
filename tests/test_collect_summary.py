"""The collection summary's list of documents without an author or date: built from real
documents, stored with the run, and shown the same in the CLI, the flow's artifact and the UI."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from twin.collect.pipeline import _summaries
from twin.collect.runner import print_summary
from twin.domain import (
    MISSING_LISTED,
    CollectionSummary,
    Document,
    Kind,
    MissingMetadata,
    Platform,
    Source,
    SourceKind,
    SourceResult,
    SourceSummary,
)
from twin.orchestration import collect_markdown
from twin.report import MISSING_HINTS, missing_hint_lines, missing_rows
from twin.settings import Settings
from twin.warehouse import Warehouse

WHEN = datetime(2024, 3, 5, tzinfo=UTC)
BLOG = "https://blog.example.org"
TEXT = "A paragraph the author wrote about pipelines, long enough to be kept as a document."


def _doc(platform: Platform, slug: str, *, title: str = "", when: datetime | None = None,
         kind: Kind = Kind.ARTICLE, **metadata) -> Document:
    base = {Platform.WEB: BLOG, Platform.MEDIUM: "https://medium.com/@maya",
            Platform.GITHUB: "https://github.com", Platform.LINKEDIN:
            "https://www.linkedin.com/posts", Platform.SUBSTACK: "https://maya.substack.com/p"}
    return Document.build(author_id="maya-okafor", platform=platform, kind=kind,
                          url=f"{base[platform]}/{slug}", title=title, text=f"{TEXT} {slug}",
                          published_at=when, metadata=metadata)


def _result(value: str, docs: list[Document], kind: SourceKind = SourceKind.LINK,
            collector: str = "web") -> SourceResult:
    return SourceResult(source=Source.parse(value, kind), collector=collector, documents=docs)


def _results() -> list[SourceResult]:
    blog = _result(BLOG, [
        _doc(Platform.WEB, "no-byline", title="Notes on queues"),                # both
        _doc(Platform.WEB, "dated", title="Backpressure", when=WHEN),            # author
        _doc(Platform.WEB, "blank-byline", title="Retries", when=WHEN,
             author="  ", bylines=["", " "]),                                    # author
        _doc(Platform.WEB, "with-author", title="Idempotency", when=WHEN,
             author="Maya Okafor"),                                              # nothing
    ])
    medium = _result("https://medium.com/@maya", [
        _doc(Platform.MEDIUM, "undated", title="Streams", bylines=["Maya Okafor"]),  # date
        _doc(Platform.MEDIUM, "complete", title="Batches", when=WHEN, bylines=["Maya Okafor"]),
    ], collector="medium")
    github = _result("https://github.com/maya", [
        _doc(Platform.GITHUB, "maya/etl", title="maya/etl", when=WHEN, kind=Kind.REPOSITORY),
        _doc(Platform.GITHUB, "maya/old", title="maya/old", kind=Kind.REPOSITORY),   # date
    ], collector="github")
    export = _result("/tmp/Basic_LinkedInDataExport.zip", [
        _doc(Platform.LINKEDIN, "share-1", title="On hiring", when=WHEN, source="export"),
        _doc(Platform.LINKEDIN, "share-2", title="On mentoring", source="export"),  # date
    ], SourceKind.EXPORT, collector="export")
    # The same page again from a second link: counted under the first source only.
    again = _result(f"{BLOG}/no-byline", [_doc(Platform.WEB, "no-byline",
                                               title="Notes on queues")])
    return [blog, medium, github, export, again]


def _summary(results: list[SourceResult] | None = None) -> CollectionSummary:
    results = _results() if results is None else results
    ids = frozenset(d.id for r in results for d in r.documents)
    return CollectionSummary(run_id="run1", author_id="maya-okafor", table_version=3,
                             sources=_summaries(results, ids, frozenset()), seconds=1.5)


def test_missing_author_and_date_per_source() -> None:
    rows = {s.source: s for s in _summary().sources}
    blog = rows[BLOG]
    assert (blog.no_author, blog.no_date, blog.missing_omitted) == (3, 1, 0)
    assert [(m.title, m.url, m.platform, m.fields) for m in blog.missing] == [
        ("Notes on queues", f"{BLOG}/no-byline", "web", ["author", "date"]),
        ("Backpressure", f"{BLOG}/dated", "web", ["author"]),
        ("Retries", f"{BLOG}/blank-byline", "web", ["author"]),
    ]
    medium = rows["https://medium.com/@maya"]
    assert (medium.no_author, medium.no_date) == (0, 1)
    assert [m.title for m in medium.missing] == ["Streams"]
    github = rows["https://github.com/maya"]  # the owner is the author: only the date counts
    assert (github.no_author, github.no_date) == (0, 1)
    assert [(m.title, m.fields) for m in github.missing] == [("maya/old", ["date"])]
    export = rows["/tmp/Basic_LinkedInDataExport.zip"]  # the account holder's own writing
    assert (export.no_author, export.no_date) == (0, 1)
    assert [(m.title, m.fields) for m in export.missing] == [("On mentoring", ["date"])]
    again = rows[f"{BLOG}/no-byline"]
    assert (again.found, again.no_author, again.no_date, again.missing) == (1, 0, 0, [])


def test_a_document_with_author_and_date_lacks_nothing() -> None:
    doc = _doc(Platform.SUBSTACK, "fine", title="Fine", when=WHEN, author="Maya Okafor")
    assert MissingMetadata.of(doc) is None
    assert MissingMetadata.of(_doc(Platform.WEB, "b", when=WHEN, bylines="Maya")) is None
    untitled = MissingMetadata.of(_doc(Platform.WEB, "untitled", when=WHEN))
    assert untitled is not None and untitled.fields == ["author"] and untitled.title == ""


def test_the_list_is_capped_and_the_rest_counted() -> None:
    docs = [_doc(Platform.WEB, f"post-{n}", title=f"Post {n}") for n in range(MISSING_LISTED + 5)]
    (row,) = _summary([_result(BLOG, docs)]).sources
    assert (row.found, row.no_author, row.no_date) == (25, 25, 25)
    assert len(row.missing) == MISSING_LISTED and row.missing_omitted == 5
    assert row.missing[-1].title == f"Post {MISSING_LISTED - 1}"
    rows = missing_rows([row])
    assert len(rows) == MISSING_LISTED


def test_rows_and_hints_over_all_sources() -> None:
    sources = _summary().sources
    assert missing_rows(sources) == [
        (BLOG, "web", "Notes on queues", "author, date"),
        (BLOG, "web", "Backpressure", "author"),
        (BLOG, "web", "Retries", "author"),
        ("https://medium.com/@maya", "medium", "Streams", "date"),
        ("https://github.com/maya", "github", "maya/old", "date"),
        ("/tmp/Basic_LinkedInDataExport.zip", "linkedin", "On mentoring", "date"),
    ]
    assert missing_hint_lines(sources) == [
        f"no author (web): {MISSING_HINTS[('author', 'web')]}",
        f"no date (web): {MISSING_HINTS[('date', 'web')]}",
        f"no date: {MISSING_HINTS[('date', None)]}",
    ]


def test_the_hints_settings_are_real(monkeypatch) -> None:
    """The setting a hint names, set the way the hint says, is the one the collectors read."""
    hint = MISSING_HINTS[("author", "web")]
    name, value = re.search(r"(TWIN_\w+)='([^']+)'", hint).groups()
    monkeypatch.setenv(name, value)
    assert Settings().platforms.substack_domains == ["news.example.org"]
    assert {"substack_domains", "medium_domains"} <= set(Settings().platforms.model_dump())
    assert "platforms.substack_domains" in hint and "platforms.medium_domains" in hint


def _cli_text(summary: CollectionSummary) -> str:
    out = io.StringIO()
    print_summary(summary, Console(file=out, width=220, color_system=None))
    return out.getvalue()


def test_cli_prints_the_table_and_each_hint_once() -> None:
    text = _cli_text(_summary())
    head, sep, tail = text.partition("6 documents without an author or date (3 without "
                                     "author, 4 without date)")
    assert sep and "Collection run1 for maya-okafor" in head  # after the per-source table
    table_lines = [line.replace("┃", "│") for line in tail.splitlines() if line[:1] in "│┃"]
    cells = [[c.strip() for c in line.strip("│ ").split("│")] for line in table_lines]
    assert cells[0] == ["source", "platform", "document", "missing"]
    assert cells[1:] == [list(r) for r in missing_rows(_summary().sources)]
    for line in missing_hint_lines(_summary().sources):
        assert text.count(line) == 1


def test_cli_prints_no_missing_table_when_nothing_is_missing() -> None:
    complete = _result(BLOG, [_doc(Platform.WEB, "ok", title="Ok", when=WHEN, author="Maya")])
    text = _cli_text(_summary([complete]))
    assert "Collection run1" in text and "without an author" not in text and "no date" not in text


def test_rich_markup_in_a_title_is_printed_as_text() -> None:
    doc = _doc(Platform.WEB, "markup", title="[bold red]Loud[/] [link=x]y[/link]")
    text = _cli_text(_summary([_result(BLOG, [doc])]))
    assert "[bold red]Loud[/] [link=x]y[/link]" in text


def test_artifact_markdown_lists_the_same_rows_and_hints() -> None:
    data = {**_summary().model_dump(mode="json"), "job_id": "raysubmit_1"}
    markdown = collect_markdown(data)
    section = markdown.split("#### ", 1)[1].splitlines()
    assert section == [
        "6 documents without an author or date (3 without author, 4 without date)",
        "",
        "| source | platform | document | missing |",
        "|---|---|---|---|",
        f"| {BLOG} | web | [Notes on queues]({BLOG}/no-byline) | author, date |",
        f"| {BLOG} | web | [Backpressure]({BLOG}/dated) | author |",
        f"| {BLOG} | web | [Retries]({BLOG}/blank-byline) | author |",
        "| https://medium.com/@maya | medium | [Streams](https://medium.com/@maya/undated) "
        "| date |",
        "| https://github.com/maya | github | [maya/old](https://github.com/maya/old) | date |",
        "| /tmp/Basic\\_LinkedInDataExport.zip | linkedin | "
        "[On mentoring](https://www.linkedin.com/posts/share-2) | date |",
        "",
        "- **no author (web)**: if the site is a Substack or Medium publication, add its host "
        "to platforms.substack\\_domains or platforms.medium\\_domains (e.g. "
        "TWIN\\_PLATFORMS\\_\\_SUBSTACK\\_DOMAINS='\\[\"news.example.org\"\\]') or prefix the "
        "link with substack= or medium=",
        "- **no date (web)**: the page carries no machine-readable date: if the site is a "
        "Substack or Medium publication, add its host to platforms.substack\\_domains or "
        "platforms.medium\\_domains, or import that platform's data export",
        "- **no date**: import the platform's data export (--export, or Export ZIPs on the "
        "Profile page), which carries dates",
    ]


def test_the_ui_renders_a_hostile_title_as_plain_text_in_the_table() -> None:
    """The collect page shows the artifact through the UI's markdown (nicegui's renderer, then
    the sanitizer): a title's pipes, brackets and HTML stay in their one cell, as text."""
    from nicegui.elements.markdown import prepare_content

    from twin.ui.safe import sanitize_html

    title = "a | b <script>alert(1)</script> [x](javascript:alert(1)) *s*"
    doc = Document.build(author_id="maya-okafor", platform=Platform.WEB, kind=Kind.ARTICLE,
                         url=f"{BLOG}/weird (draft)", title=title, text=TEXT)
    markdown = collect_markdown(_summary([_result(BLOG, [doc])]).model_dump(mode="json"))
    html = sanitize_html(prepare_content(markdown, extras="fenced-code-blocks tables"))
    assert "<script>" not in html and 'href="javascript' not in html
    assert (f'<td><a href="{BLOG}/weird%20%28draft%29" target="_blank" '
            'rel="noopener noreferrer">a | b &lt;script&gt;alert(1)&lt;/script&gt; '
            '[x](javascript:alert(1)) *s*</a></td>') in html
    assert "<td>author, date</td>" in html


def test_old_summaries_without_the_new_fields_still_read_and_render(tmp_path: Path) -> None:
    old = {"run_id": "old1", "author_id": "maya-okafor", "table_version": 0, "seconds": 2.0,
           "sources": [{"source": BLOG, "collector": "web", "found": 3, "new": 3,
                        "updated": 0, "unchanged": 0, "failed": 0, "reason": None,
                        "seconds": 1.0}]}
    summary = CollectionSummary.model_validate(old)
    assert summary.sources[0].missing == [] and summary.sources[0].no_author == 0
    assert "without an author" not in collect_markdown({**old, "job_id": "j"})
    assert "without an author" not in _cli_text(summary)
    assert "Collection for ?" in collect_markdown({"job_id": "j"})  # no summary


def test_the_run_log_keeps_the_list(tmp_path: Path) -> None:
    store = Warehouse.from_settings(Settings(home=tmp_path / "home"))
    summary = _summary()
    store.log_run(summary, datetime.now(UTC))
    (run,) = store.runs()
    stored = CollectionSummary.model_validate(run["summary"])
    assert stored == summary
    assert [m.title for s in stored.sources for m in s.missing] == [
        "Notes on queues", "Backpressure", "Retries", "Streams", "maya/old", "On mentoring"]
    assert SourceSummary.model_validate(run["summary"]["sources"][0]).no_author == 3
