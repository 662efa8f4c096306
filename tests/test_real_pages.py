"""Collection on real saved pages of every platform, against plain trafilatura on the same HTML.

Each page of tests/fixtures/realpages is served on 127.0.0.1 at its original path and collected
by a real Scrapy crawl; custom domains are not configured, so a Substack, Medium or LinkedIn
page on one is recognised from the page itself. The figures are printed as a table
(``scripts/score_real_pages.py --pages`` prints them per page).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.real_page_scores import PageScore, markdown_table, score_all, table
from tests.realpages import load_manifest, load_resources, serve_real_pages
from twin.settings import Settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scores(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[PageScore], list[PageScore]]:
    pages = load_manifest()
    with serve_real_pages(pages, load_resources()) as served:
        settings = Settings(home=Path(tmp_path_factory.mktemp("real-pages")))
        ours, theirs = score_all(pages, served, settings)
    print("\n" + markdown_table(table(ours, theirs)))
    return ours, theirs


def test_every_page_is_collected(scores: tuple[list[PageScore], list[PageScore]]) -> None:
    ours, _ = scores
    assert [s.page.id for s in ours if not s.text] == []


def test_body_text_is_no_worse_than_trafilatura_on_any_platform(
        scores: tuple[list[PageScore], list[PageScore]]) -> None:
    rows = {(r["platform"], r["system"]): r for r in table(*scores)}
    for platform in {p for p, _ in rows}:
        mine, base = rows[(platform, "twin")], rows[(platform, "trafilatura")]
        if mine["f1"] is None:
            continue
        assert mine["f1"] >= base["f1"] - 1e-9, (platform, mine["f1"], base["f1"])
        assert mine["min_f1"] >= 0.75, (platform, mine["min_f1"])


def test_author_and_published_date_are_right(
        scores: tuple[list[PageScore], list[PageScore]]) -> None:
    ours, _ = scores
    authors = [s for s in ours if s.author_ok is not None]
    dates = [s for s in ours if s.date_ok is not None]
    wrong_authors = [(s.page.id, s.author, s.page.expected.author) for s in authors
                     if not s.author_ok]
    wrong_dates = [(s.page.id, str(s.published), s.page.expected.published) for s in dates
                   if not s.date_ok]
    assert len(wrong_authors) <= 0.05 * len(authors), wrong_authors
    assert len(wrong_dates) <= 0.05 * len(dates), wrong_dates
    assert len(authors) >= 30 and len(dates) >= 30  # the measure stands on enough pages


def test_titles_and_the_bodys_first_and_last_sentences(
        scores: tuple[list[PageScore], list[PageScore]]) -> None:
    ours, _ = scores
    titles = [(s.page.id, s.title) for s in ours if not s.title_ok]
    ends = [(s.page.id, s.ends_ok) for s in ours if not all(s.ends_ok)]
    assert len(titles) <= 0.05 * len(ours), titles
    assert len(ends) <= 0.05 * len(ours), ends


def test_no_stored_text_holds_css_javascript_or_a_widget_label(
        scores: tuple[list[PageScore], list[PageScore]]) -> None:
    ours, _ = scores
    assert [(s.page.id, s.leaks[:3]) for s in ours if s.leaks] == []


def test_no_free_post_is_flagged_paid(scores: tuple[list[PageScore], list[PageScore]]) -> None:
    ours, _ = scores
    free = [s for s in ours if s.page.expected.paid is False and s.page.platform != "web"]
    assert len(free) >= 15
    assert [s.page.id for s in free if s.paid] == []
    paid = [s for s in ours if s.page.expected.paid]
    assert paid and [s.page.id for s in paid if not s.paid] == []


def test_pages_on_their_own_domains_are_handed_to_their_platform(
        scores: tuple[list[PageScore], list[PageScore]]) -> None:
    ours, _ = scores
    custom = [s for s in ours if s.page.expected.custom_domain and s.page.platform != "web"]
    assert len(custom) >= 5
    assert [(s.page.id, s.system) for s in custom
            if s.system != f"web>{s.page.platform}"] == []
