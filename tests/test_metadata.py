"""The metadata resolver's rules: lenient JSON-LD, order of trust, titles, paid, platform."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from parsel import Selector

from twin.collect.html import json_ld
from twin.collect.metadata import (
    Claim,
    author_names,
    clean_title,
    page_platform,
    resolve_metadata,
    substack_post_json,
)
from twin.domain import Platform


def _page(head: str = "", body: str = "<p>Hello.</p>") -> str:
    return f"<html><head>{head}</head><body><article>{body}</article></body></html>"


def _ld(raw: str) -> str:
    return f'<script type="application/ld+json">{raw}</script>'


@pytest.mark.parametrize("raw", [
    '<![CDATA[ {"@type": "BlogPosting", "author": {"name": "Ana Lima"}} ]]>',
    '//<![CDATA[\n{"@type": "BlogPosting", "author": {"name": "Ana Lima"}}\n//]]>',
    '<!-- {"@type": "BlogPosting", "author": {"name": "Ana Lima"}} -->',
    '{"@type": "BlogPosting", /* theme */ "author": {"name": "Ana Lima",},}',
    '{"@type": "BlogPosting",\n // yoast\n "author": {"name": "Ana Lima"}}',
    '{"@context": "https://schema.org", "@graph": [{"@type": "WebSite"}, '
    '{"@type": "BlogPosting", "author": {"@id": "#ana"}}, {"@type": "Person", "@id": "#ana", '
    '"name": "Ana Lima"}]}',
    '[{"@type": "BreadcrumbList"}, {"@type": ["BlogPosting"], "author": [{"name": "Ana Lima"}]}]',
    '{"@type": "WebSite"}\n{"@type": "BlogPosting", "author": "Ana Lima"}',
])
def test_json_ld_is_read_leniently(raw: str) -> None:
    found = resolve_metadata(_page(_ld(raw)), "https://ana.example/post")
    assert found.author == "Ana Lima"
    assert found.provenance["author"] == "json-ld"


def test_a_broken_block_does_not_hide_the_next_one() -> None:
    html = _page(_ld('{"@type": "Article", "author": ') + _ld('{"@type": "Article", '
                                                               '"headline": "Fine"}'))
    assert [i.get("headline") for i in json_ld(Selector(text=html))] == ["Fine"]


def test_json_ld_published_date_wins_over_a_later_republish() -> None:
    # Medium's article:published_time is the latest re-publish; JSON-LD states the first.
    html = _page('<meta property="article:published_time" content="2023-02-01T10:00:00Z">'
                 + _ld('{"@type": "NewsArticle", "datePublished": "2019-05-06T07:08:09Z", '
                       '"dateModified": "2023-02-01T10:00:00Z"}'))
    found = resolve_metadata(html, "https://medium.com/@ana/post-1234567890ab")
    assert found.published_at == datetime(2019, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert found.modified_at == datetime(2023, 2, 1, 10, tzinfo=UTC)
    assert found.provenance["published_at"] == "json-ld"


def test_h_entry_and_meta_author_are_read_when_there_is_no_json_ld() -> None:
    body = ('<div class="h-entry"><h1 class="p-name">Notes on queues</h1>'
            '<a class="p-author h-card" href="/">Ana Lima</a>'
            '<time class="dt-published" datetime="2016-03-04T05:06:07+02:00">4 March</time>'
            '<div class="e-content"><p>Text.</p></div></div>')
    found = resolve_metadata(_page(body=body), "https://ana.example/notes")
    assert (found.author, found.provenance["author"]) == ("Ana Lima", "h-entry")
    assert found.published_at == datetime(2016, 3, 4, 3, 6, 7, tzinfo=UTC)
    assert found.title == "Notes on queues"
    meta_only = _page('<meta name="author" content="By Ana Lima">')
    found = resolve_metadata(meta_only, "https://ana.example/notes")
    assert (found.author, found.provenance["author"]) == ("Ana Lima", "meta:author")


def test_a_profile_url_or_handle_is_not_an_author() -> None:
    assert author_names("https://www.facebook.com/ana") == []
    assert author_names("@ana") == []
    assert author_names([{"name": "Ana Lima"}, {"name": "Bo Chen"}]) == ["Ana Lima", "Bo Chen"]
    assert author_names("By Ana Lima and Bo Chen") == ["Ana Lima", "Bo Chen"]


def test_only_a_time_that_says_it_is_the_publication_date_counts() -> None:
    # The first <time> on the page belongs to a related-post card.
    body = ('<aside><time datetime="2011-01-01">old</time></aside>'
            '<time class="entry-date published" datetime="2020-07-08">8 July</time>')
    found = resolve_metadata(_page(body=body), "https://ana.example/p")
    assert found.published_at == datetime(2020, 7, 8, tzinfo=UTC)
    assert found.provenance["published_at"] == "time:published"


def test_the_collectors_own_sources_come_first_and_feeds_last() -> None:
    html = _page(_ld('{"@type": "Article", "author": "Page Name", "headline": "Page title"}'))
    found = resolve_metadata(html, "https://x.example/p",
                             preferred={"author": Claim(["Api Name"], "substack-api")},
                             fallback={"published_at": Claim(datetime(2021, 1, 2, tzinfo=UTC),
                                                             "feed")})
    assert found.author == "Api Name" and found.provenance["author"] == "substack-api"
    assert found.title == "Page title"
    assert found.provenance["published_at"] in {"feed", "htmldate", "trafilatura"}


@pytest.mark.parametrize(("title", "sites", "expected"), [
    ("Why we stopped sharding | Ana's Notes", ["Ana's Notes"], "Why we stopped sharding"),
    ("Why we stopped sharding | by Ana Lima | Medium", [], "Why we stopped sharding"),
    ("Why we stopped sharding - Part 2 - ana.example", ["ana.example"],
     "Why we stopped sharding - Part 2"),
    ("Ana's Notes — Why we stopped sharding", ["Ana's Notes"], "Why we stopped sharding"),
    ("A - B testing done right", [], "A - B testing done right"),
])
def test_titles_lose_the_site_name(title: str, sites: list[str], expected: str) -> None:
    assert clean_title(title, sites) == expected


def test_paid_is_what_the_page_says_before_any_css_class() -> None:
    free = _page(_ld('{"@type": "NewsArticle", "isAccessibleForFree": true}'),
                 '<div class="paywall">Subscribe</div>')
    assert resolve_metadata(free, "https://x.substack.com/p/a").accessible_for_free is True
    paid = _page(_ld('{"@type": "NewsArticle", "isAccessibleForFree": "False"}'))
    assert resolve_metadata(paid, "https://x.substack.com/p/a").accessible_for_free is False
    nothing = _page()
    assert resolve_metadata(nothing, "https://x.example/a").accessible_for_free is None


def test_substack_page_json_is_read() -> None:
    payload = ('{\\"post\\": {\\"id\\": 7, \\"title\\": \\"Queues\\", \\"audience\\": '
               '\\"everyone\\", \\"post_date\\": \\"2022-03-04T05:00:00.000Z\\", '
               '\\"publishedBylines\\": [{\\"name\\": \\"Ana Lima\\"}]}}')
    html = _page(f'<script>window._preloads = JSON.parse("{payload}")</script>'
                 '<link rel="preconnect" href="https://substackcdn.com">')
    post = substack_post_json(html)
    assert post["audience"] == "everyone" and post["id"] == 7
    assert page_platform(Selector(text=html), html) is Platform.SUBSTACK


@pytest.mark.parametrize(("head", "platform"), [
    ('<meta name="generator" content="Substack">', Platform.SUBSTACK),
    ('<meta property="al:android:package" content="com.medium.reader">', Platform.MEDIUM),
    ('<script src="https://cdn-client.medium.com/lite/static/js/main.js"></script>',
     Platform.MEDIUM),
    # A blog with one Substack subscribe embed is still a blog.
    ('<iframe src="https://ana.substack.com/embed"></iframe>'
     '<img src="https://substackcdn.com/image/x.png">', None),
    ('<meta name="generator" content="WordPress 6.4">', None),
])
def test_a_page_says_which_platform_it_is_on(head: str, platform: Platform | None) -> None:
    html = _page(head)
    assert page_platform(Selector(text=html), html) is platform
