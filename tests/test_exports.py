"""Importers for the LinkedIn, Medium and Substack data-export archives."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tests.helpers import collect_one, source_words, words
from twin.demo.site import DemoSite
from twin.domain import Kind, Platform
from twin.settings import Settings


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
    (article_piece,) = demo_site._pieces("linkedin", "export", kind="article")
    assert articles[0].title == article_piece.title
    assert words(articles[0].text) == source_words(article_piece.body)


def test_medium_export_skips_drafts(demo_site: DemoSite, settings: Settings) -> None:
    result = collect_one(str(demo_site.exports()[1]), settings, export=True)
    (doc,) = result.documents
    (piece,) = demo_site._pieces("medium", "export")
    assert doc.title == piece.title and doc.published_at == piece.date
    assert words(doc.text) == source_words(piece.body)  # the repeated title is dropped
    assert doc.url == f"https://medium.com/@maya-okafor/{piece.slug}-{piece.hex_id}"


def test_substack_export_skips_unpublished(demo_site: DemoSite, settings: Settings) -> None:
    result = collect_one(str(demo_site.exports()[2]), settings, export=True)
    (doc,) = result.documents
    (piece,) = demo_site._pieces("substack", "export")
    assert doc.title == piece.title and doc.metadata["subtitle"] == piece.subtitle
    assert words(doc.text) == source_words(piece.body)


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
