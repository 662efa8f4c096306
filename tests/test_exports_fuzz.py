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


WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ", min_size=1, max_size=80)
SUBSTACK_WIDGETS = [
    '<p class="button-wrapper"><a class="button primary" href="https://x.substack.com/'
    'subscribe?"><span>Sign up now</span></a></p>',
    '<div class="subscription-widget-wrap-editor" data-component-name="SubscribeWidgetToDOM">'
    '<div class="subscription-widget show-subscribe"><div class="preamble"><p class="cta-caption">'
    "Thanks for reading! Subscribe for free to receive new posts.</p></div><form><input "
    'type="email" placeholder="Type your email…"><input type="submit" value="Subscribe"></form>'
    "</div></div>",
    '<div class="captioned-button-wrap" data-component-name="CaptionedButtonToDOM"><div '
    'class="preamble"><p class="cta-caption">Thanks for reading! Share it.</p></div><p '
    'class="button-wrapper"><a class="button primary" href="https://x.substack.com/p/a?'
    'action=share"><span>Share</span></a></p></div>',
    '<p class="button-wrapper" data-component-name="ButtonCreateButton"><a class="button '
    'primary" href="https://x.substack.com/p/a/comments"><span>Leave a comment</span></a></p>',
    "<div><hr></div>",
]
DIVIDER_LINE = ("---", "***", "* * *", "___")


def _no_edge_divider(text: str) -> bool:
    lines = text.split("\n")
    return lines[0].strip() not in DIVIDER_LINE and lines[-1].strip() not in DIVIDER_LINE


@FUZZ
@given(st.lists(st.one_of(WORDS.map(lambda w: f"<p>{w}</p>"), st.sampled_from(SUBSTACK_WIDGETS)),
                min_size=1, max_size=12))
def test_substack_widgets_never_reach_the_text(blocks: list[str]) -> None:
    csv = ("post_id,post_date,is_published,email_sent_at,inbox_sent_at,type,audience,title,"
           "subtitle,podcast_url\n1.slug,2026-01-01T00:00:00Z,true,,,newsletter,everyone,T,,\n")
    result = _collect(_zip({"posts.csv": csv, "posts/1.slug.html": "".join(blocks)}))
    _check_sane(result)
    for doc in result.documents:
        assert _no_edge_divider(doc.text)
        for widget in ("Sign up now", "Subscribe", "Share", "Leave a comment", "Thanks for"):
            assert widget not in doc.text


@FUZZ
@given(st.lists(st.lists(WORDS, min_size=0, max_size=4), min_size=1, max_size=4), WORDS,
       st.booleans(), st.booleans())
def test_medium_stories_never_start_or_end_with_a_divider(sections: list[list[str]], title: str,
                                                          with_title: bool,
                                                          subtitle: bool) -> None:
    def section(paragraphs: list[str], first: bool) -> str:
        heading = (f'<h3 class="graf graf--h3 graf--title">{title}</h3>'
                   if first and with_title else "")
        return ('<section class="section section--body"><div class="section-divider"><hr '
                'class="section-divider"></div><div class="section-content"><div '
                f'class="section-inner">{heading}'
                + "".join(f'<p class="graf graf--p">{p}</p>' for p in paragraphs)
                + "</div></div></section>")
    body = "".join(section(paragraphs, i == 0) for i, paragraphs in enumerate(sections))
    summary = '<section data-field="subtitle" class="p-summary">sub</section>' if subtitle else ""
    html = (f'<html><body><article class="h-entry"><header><h1 class="p-name">{title}</h1>'
            f'</header>{summary}<section data-field="body" class="e-content">{body}</section>'
            '<footer><time class="dt-published" datetime="2026-01-01T00:00:00.000Z">x</time>'
            "</footer></article></body></html>")
    result = _collect(_zip({"posts/2026-01-01_post-1a2b3c.html": html}))
    _check_sane(result)
    for doc in result.documents:
        assert _no_edge_divider(doc.text), doc.text
