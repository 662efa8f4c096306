"""Importers for the LinkedIn, Medium and Substack data-export archives."""

from __future__ import annotations

import re
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.fixtures.exports.build import build_all
from tests.helpers import collect_one, source_words, words
from twin.collect.exports import trim_dividers
from twin.demo.content import AUTHOR_NAME
from twin.demo.site import DemoSite
from twin.domain import Document, Kind, Platform, SourceResult
from twin.settings import Settings

DIVIDER = re.compile(r"^\s*(?:[-*_]\s*){3,}$")
WIDGET_WORDS = ("Sign up now", "Subscribe", "Leave a comment", "Share", "Thanks for reading",
                "Type your email")


def test_linkedin_export(demo_site: DemoSite, settings: Settings) -> None:
    result = collect_one(str(demo_site.exports()[0]), settings, export=True)
    assert result.ok and not result.errors
    posts = [d for d in result.documents if d.kind is Kind.POST]
    articles = [d for d in result.documents if d.kind is Kind.ARTICLE]
    expected_posts = demo_site._pieces("linkedin", "export", kind="post")
    assert len(posts) == len(expected_posts) == 4  # the reshare without commentary is skipped
    assert len(articles) == 1  # the unpublished draft article is skipped
    for piece in expected_posts:
        doc = next(d for d in posts if d.published_at == piece.date)
        assert doc.text == piece.body.strip()  # multi-line CSV cell kept exactly
        assert doc.platform is Platform.LINKEDIN and "urn%3Ali%3Ashare" in doc.url
        assert doc.metadata["author"] == AUTHOR_NAME  # from Profile.csv
    (article_piece,) = demo_site._pieces("linkedin", "export", kind="article")
    assert articles[0].title == article_piece.title
    assert words(articles[0].text) == source_words(article_piece.body)
    assert articles[0].metadata["provenance"]["author"] == "export:Profile.csv"


def test_medium_export_skips_drafts(demo_site: DemoSite, settings: Settings) -> None:
    result = collect_one(str(demo_site.exports()[1]), settings, export=True)
    (doc,) = result.documents
    (piece,) = demo_site._pieces("medium", "export")
    assert doc.title == piece.title and doc.published_at == piece.date
    assert words(doc.text) == source_words(piece.body)  # the repeated title is dropped
    assert doc.url == f"https://medium.com/@maya-okafor/{piece.slug}-{piece.hex_id}"
    assert doc.metadata["author"] == AUTHOR_NAME and not DIVIDER.match(doc.text.split("\n")[0])


def test_substack_export_skips_unpublished(demo_site: DemoSite, settings: Settings) -> None:
    result = collect_one(str(demo_site.exports()[2]), settings, export=True)
    (doc,) = result.documents
    (piece,) = demo_site._pieces("substack", "export")
    assert doc.title == piece.title and doc.metadata["subtitle"] == piece.subtitle
    assert words(doc.text) == source_words(piece.body)  # Substack's widgets removed
    assert doc.metadata["author"] is None and doc.metadata["publication"] == "miseendata"


def test_linkedin_csv_quirks(tmp_path: Path, settings: Settings) -> None:
    csv_text = ('Notes:\n"Exported by LinkedIn"\n\n'
                "Date,ShareLink,ShareCommentary,SharedUrl,MediaUrl,Visibility\n"
                '2025-01-02 10:00:00,https://www.linkedin.com/feed/update/urn%3Ali%3Ashare%3A1,'
                '"First line of a long enough post""\n""\n""Second line, with a comma",,,PUBLIC\n'
                '2025-01-03 10:00:00,https://www.linkedin.com/feed/update/urn%3Ali%3Ashare%3A2,'
                '"She said ""ship it"" and we did, which was a mistake worth a post.",,,PUBLIC\n')
    archive = tmp_path / "Complete_LinkedInDataExport_01-05-2025.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("Shares_12345.csv", csv_text)
    result = collect_one(f"linkedin={archive}", settings, export=True)
    texts = sorted(d.text for d in result.documents)
    assert texts == ["First line of a long enough post\n\nSecond line, with a comma",
                     'She said "ship it" and we did, which was a mistake worth a post.']


@pytest.mark.parametrize(("content", "reason"), [
    (b"this is not a zip file at all", "not a valid ZIP archive"),
    (b"PK\x03\x04" + b"\x00" * 40, "not a valid ZIP archive"),
])
def test_corrupt_archives(tmp_path: Path, settings: Settings, content: bytes,
                          reason: str) -> None:
    path = tmp_path / "broken.zip"
    path.write_bytes(content)
    result = collect_one(str(path), settings, export=True)
    assert not result.documents and reason in result.failure


def test_truncated_archive(demo_site: DemoSite, tmp_path: Path, settings: Settings) -> None:
    data = demo_site.exports()[0].read_bytes()
    path = tmp_path / "truncated.zip"
    path.write_bytes(data[: len(data) // 2])
    result = collect_one(str(path), settings, export=True)
    assert "ZIP archive" in result.failure


def test_unknown_and_missing_archives(tmp_path: Path, settings: Settings) -> None:
    unknown = tmp_path / "photos.zip"
    with zipfile.ZipFile(unknown, "w") as z:
        z.writestr("IMG_0001.jpg", b"\xff\xd8\xff")
    result = collect_one(str(unknown), settings, export=True)
    assert "unrecognised export archive" in result.failure
    missing = collect_one(str(tmp_path / "nope.zip"), settings, export=True)
    assert "export archive not found" in missing.failure


# Archives in the platforms' real layouts (tests/fixtures/exports, sources in its README) --------

@pytest.fixture(scope="module")
def real_exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SourceResult]:
    folder = tmp_path_factory.mktemp("real-exports")
    settings = Settings(home=folder / "home")
    return {platform: collect_one(str(path), settings, export=True)
            for platform, path in build_all(folder / "archives").items()}


def _by_title(result: SourceResult) -> dict[str, Document]:
    return {d.title: d for d in result.documents}


def _assert_no_edge_dividers(doc: Document) -> None:
    lines = doc.text.split("\n")
    assert not DIVIDER.match(lines[0]) and not DIVIDER.match(lines[-1]), doc.text
    assert doc.text == doc.text.strip()


def test_real_linkedin_export(real_exports: dict[str, SourceResult]) -> None:
    result = real_exports["linkedin"]
    assert result.ok and result.errors == []
    docs = _by_title(result)
    # The repost without commentary and the draft article ("Created on" only) are not kept.
    assert sorted(docs) == ['Hot take, gently: a "data contract" without an owner is a wish.',
                            "Idempotency is a feature you test", "New year, same rule 🧭",
                            "We shipped the new ingestion path today."]
    shipped = docs["We shipped the new ingestion path today."]
    assert shipped.text == ("We shipped the new ingestion path today.\n\n"
                            "Three things I would do again:\n"
                            "1. Write the rollback before the rollout.\n"
                            '2. Say "done" only when the dashboards agree.\n'
                            "3. Thank the on-call, by name.")
    assert shipped.published_at == datetime(2023, 4, 12, 8, 31, 2, tzinfo=UTC)
    assert shipped.kind is Kind.POST and shipped.url.endswith("7051893310402158592")
    assert docs["New year, same rule 🧭"].text == (
        "New year, same rule 🧭\nSmall batches, loud alerts, quiet weekends. #dataengineering")
    hot = docs['Hot take, gently: a "data contract" without an owner is a wish.']
    assert hot.metadata["shared_url"] == "https://okafor.dev/notes/contracts"
    article = docs["Idempotency is a feature you test"]
    assert article.kind is Kind.ARTICLE
    assert article.published_at == datetime(2023, 3, 4, 8, 15, tzinfo=UTC)  # not "Created on"
    assert article.url == ("https://www.linkedin.com/pulse/"
                           "idempotency-feature-you-test-maya-okafor-7k2qc")
    assert article.text.startswith("Most pipelines are idempotent right up to the day they "
                                   "run twice.\n")
    assert article.text.endswith("Write those three tests before the first backfill, not "
                                 "after the second one.")
    assert "Created on" not in article.text and "Published on" not in article.text
    assert article.metadata["provenance"] == {"author": "export:Profile.csv",
                                              "published_at": "export:p.published",
                                              "title": "export:h1"}
    for doc in result.documents:
        assert doc.metadata["author"] == "Maya Okafor" and doc.platform is Platform.LINKEDIN
        _assert_no_edge_dividers(doc)
    assert shipped.metadata["provenance"] == {"author": "export:Profile.csv",
                                              "published_at": "export:Shares.csv",
                                              "title": "first_line"}


def test_real_medium_export(real_exports: dict[str, SourceResult]) -> None:
    result = real_exports["medium"]
    assert result.ok
    # One line for the responses, one for the undated story; nothing else to report.
    assert result.errors == ["skipped 2 Medium responses (comments)",
                             "1 post has no date (stored with date unknown)"]
    docs = _by_title(result)
    assert sorted(docs) == ["Backfills that ran twice", "Notes from a warehouse migration",
                            "Quiet hours"]
    backfills = docs["Backfills that ran twice"]
    assert backfills.text.startswith("Last spring our nightly backfill ran twice and nobody "
                                     "noticed for a week.\n")
    assert backfills.text.endswith("Idempotency is a property you test, not a hope you write "
                                   "down.")
    assert "\n---\n" in backfills.text  # the break between its two sections stays
    assert backfills.published_at == datetime(2024, 3, 18, 7, 45, 12, 331000, tzinfo=UTC)
    assert backfills.metadata["subtitle"] == "What an idempotent pipeline actually needs"
    assert backfills.url == ("https://medium.com/@maya-okafor/"
                             "backfills-that-ran-twice-4f2a9c81d3e7")
    assert backfills.metadata["provenance"] == {"author": "export:h-card",
                                                "published_at": "export:time.dt-published",
                                                "title": "export:h1.p-name"}
    quiet = docs["Quiet hours"]  # its first paragraph repeats the title: a story, not a response
    assert quiet.text.startswith("the pager sleeps\n")
    assert quiet.text.endswith("that is what the runbook was for.")
    undated = docs["Notes from a warehouse migration"]
    assert undated.published_at is None and "published_at" not in undated.metadata["provenance"]
    assert undated.metadata["provenance"]["author"] == "export:profile.html"
    assert undated.text.endswith("The hard part was finding who still read each table.")
    for doc in result.documents:
        assert doc.metadata["author"] == "Maya Okafor" and doc.platform is Platform.MEDIUM
        _assert_no_edge_dividers(doc)
        assert "watermarks" not in doc.text and "Thanks for writing" not in doc.text
        assert "draft should be finished" not in doc.text


def test_real_substack_export(real_exports: dict[str, SourceResult]) -> None:
    result = real_exports["substack"]
    assert result.ok and result.errors == ["1 post has no date (stored with date unknown)"]
    docs = _by_title(result)
    # The unpublished draft and the podcast episode are not newsletters to keep.
    assert sorted(docs) == ["Notes without a date", "Paid subscribers Q&A",
                            "The cost of a late partition"]
    late = docs["The cost of a late partition"]
    assert late.text.startswith("Every pipeline I have inherited had one partition that "
                                "arrived late.\n")
    assert late.text.endswith('So the dashboard says "not yet" instead of a wrong number, and '
                              "that is the whole trick.")  # its closing divider is layout
    assert late.published_at == datetime(2024, 6, 4, 13, 0, 12, 345000, tzinfo=UTC)
    assert late.metadata["subtitle"] == 'Why "on time" is a data contract, not a hope'
    assert late.metadata["provenance"] == {"published_at": "export:posts.csv",
                                           "title": "export:posts.csv"}
    assert docs["Notes without a date"].published_at is None
    assert docs["Paid subscribers Q&A"].text.endswith("never more than a night.")
    for doc in result.documents:
        # The export names no author: unknown, never guessed.
        assert doc.metadata["author"] is None and "author" not in doc.metadata["provenance"]
        assert doc.metadata["publication"] == "miseendata"
        _assert_no_edge_dividers(doc)
        for widget in WIDGET_WORDS:
            assert widget not in doc.text, (widget, doc.text)


def test_fixture_archives_are_the_same_bytes_every_build(tmp_path: Path) -> None:
    first, second = build_all(tmp_path / "a"), build_all(tmp_path / "b")
    assert sorted(first) == ["linkedin", "medium", "substack"]
    for platform, path in first.items():
        assert path.read_bytes() == second[platform].read_bytes()
    assert first["linkedin"].name == "Basic_LinkedInDataExport_04-14-2025.zip"


def _medium_zip(tmp_path: Path, files: dict[str, str]) -> Path:
    archive = tmp_path / "medium-export.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for name, html in files.items():
            z.writestr(name, html)
    return archive


def _medium_file(header: str, body: str, subtitle: str = "") -> str:
    summary = f'<section data-field="subtitle" class="p-summary">{subtitle}</section>' \
        if subtitle else ""
    return (f'<html><body><article class="h-entry"><header>{header}</header>{summary}'
            '<section data-field="body" class="e-content"><section class="section '
            'section--body section--first section--last"><div class="section-divider">'
            '<hr class="section-divider"></div><div class="section-content"><div '
            f'class="section-inner">{body}</div></div></section></section><footer>By <a '
            'class="p-author h-card" href="https://medium.com/@maya-okafor">Maya Okafor</a> '
            '<time class="dt-published" datetime="2025-01-05T10:00:00.000Z">Jan 5</time>'
            "</footer></article></body></html>")


LONG = "a paragraph long enough to be kept as somebody's writing, about retries and queues"


@pytest.mark.parametrize(("header", "body", "subtitle", "response"), [
    ("", f"<p>{LONG}.</p>", "", True),  # no title of its own
    ('<h1 class="p-name">In response to a post</h1>',
     f'<p class="graf graf--p"><a href="https://medium.com/p/1">In response to</a> {LONG}</p>',
     "Subtitle", True),
    ('<h1 class="p-name">A paragraph long enough to be…</h1>', f"<p>{LONG}.</p>", "", True),
    ('<h1 class="p-name">Retries</h1>',
     f'<h2 class="graf graf--h2 graf--title">Retries</h2><p>{LONG}.</p>', "", False),
    ('<h1 class="p-name">A paragraph long enough</h1>', f"<p>{LONG}.</p>", "A subtitle", False),
    ('<h1 class="p-name">Queues</h1>', f"<p>{LONG}.</p>", "", False),
])
def test_medium_responses_are_told_from_stories(tmp_path: Path, settings: Settings, header: str,
                                                body: str, subtitle: str,
                                                response: bool) -> None:
    archive = _medium_zip(tmp_path, {"posts/2025-01-05_post-1a2b3c4d5e6f.html":
                                     _medium_file(header, body, subtitle)})
    result = collect_one(str(archive), settings, export=True)
    assert result.ok
    if response:
        assert not result.documents
        assert result.errors == ["skipped 1 Medium response (comment)"]
    else:
        (doc,) = result.documents
        assert doc.text == f"{LONG}." and not result.errors  # no divider, no title line


@pytest.mark.parametrize(("text", "trimmed"), [
    ("---\n\nBody.\n\n---", "Body."),
    ("* * *\nBody\n___\n", "Body"),
    ("Body.\n\n---\n\nMore.", "Body.\n\n---\n\nMore."),
    ("---", ""),
])
def test_trim_dividers(text: str, trimmed: str) -> None:
    assert trim_dividers(text) == trimmed
