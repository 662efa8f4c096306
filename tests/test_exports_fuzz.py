"""Fuzzing the export importers: whatever bytes, CSV or HTML a ZIP holds, the importer answers
with documents or a readable failure, never an exception (nothing else is lost with it)."""

from __future__ import annotations

import io
import zipfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twin.collect.pipeline import collect_source
from twin.domain import Source, SourceKind
from twin.settings import Settings

SETTINGS = Settings().model_dump(mode="json")
FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
TEXT = st.text(alphabet=st.characters(max_codepoint=0x2FFF), max_size=400)


def _collect(payload: bytes):
    source = Source(kind=SourceKind.EXPORT, value="/uploads/fuzz.zip")
    return collect_source(source, "maya-okafor", SETTINGS, payload)


def _zip(files: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _check_sane(result) -> None:
    assert result.failure is None or (isinstance(result.failure, str) and result.failure)
    for doc in result.documents:
        assert doc.text.strip() and doc.author_id == "maya-okafor"


@FUZZ
@given(st.binary(max_size=2000))
def test_random_bytes_are_a_readable_failure(data: bytes) -> None:
    result = _collect(data)
    assert result.failure and not result.documents


@FUZZ
@given(TEXT, st.lists(st.sampled_from(["ShareLink", "ShareCommentary", "Date", "Visibility",
                                       "MediaUrl", ""]), max_size=6))
def test_linkedin_shares_csv_of_any_shape(body: str, header: list[str]) -> None:
    _check_sane(_collect(_zip({"Shares.csv": ",".join(header) + "\n" + body})))


@FUZZ
@given(TEXT, TEXT)
def test_medium_posts_html_of_any_shape(title: str, body: str) -> None:
    html = f"<html><head><title>{title}</title></head><body><h1>{title}</h1>{body}</body>"
    _check_sane(_collect(_zip({"posts/2026-01-01_post-1a2b3c.html": html,
                         "posts/draft_x.html": body})))


@FUZZ
@given(TEXT, TEXT, st.sampled_from(["true", "false", "", "1"]))
def test_substack_posts_csv_and_bodies_of_any_shape(row: str, body: str, published: str) -> None:
    csv = ("post_id,post_date,is_published,email_sent_at,inbox_sent_at,type,audience,"
           f"title,subtitle,podcast_url\n1.slug,2026-01-01T00:00:00Z,{published},,,"
           f"newsletter,everyone,{row},,\n")
    _check_sane(_collect(_zip({"posts.csv": csv, "posts/1.slug.html": body})))


@FUZZ
@given(st.binary(max_size=3000))
def test_a_truncated_real_looking_archive_is_a_failure_not_a_crash(tail: bytes) -> None:
    whole = _zip({"Shares.csv": "Date,ShareLink,ShareCommentary\n2026-01-01 10:00:00,"
                  "https://www.linkedin.com/feed/update/urn:li:share:1,hello there\n"})
    _check_sane(_collect(whole[: len(whole) // 2] + tail))
