"""Scoring collection on the real saved pages (tests/fixtures/realpages) against trafilatura.

Each page is served on 127.0.0.1 at its original path and collected by the real collector
(a real Scrapy crawl in its own process), routed as it would be on the real web: medium.com,
``*.medium.com``, ``*.substack.com`` and linkedin.com hosts are mapped onto the local servers by
settings; custom domains are not configured, so only the page itself can say what it is.
The same HTML is given to plain trafilatura (text, author, date, title) as the baseline.
Used by ``tests/test_real_pages.py`` and ``scripts/score_real_pages.py``.
"""

from __future__ import annotations

import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

from tests.realpages import RealPage, Served
from twin.domain import Document, Source, SourceKind
from twin.features.clean import plain_text
from twin.settings import Settings

AUTHOR_ID = "real-pages"  # no page is by this id, so the author filter keeps everything
_WORD = re.compile(r"\w+", re.U)
# What must never be stored as the author's words.
CODE_PATTERNS = {
    "css": re.compile(r"[.#]?[\w-]+\s*\{\s*[\w-]+\s*:\s*[^;{}]+;|@media\s*\(|!important"),
    "javascript": re.compile(r"\bfunction\s*\(|\bvar\s+\w+\s*=|window\.\w+|document\."
                             r"(?:getElement|querySelector|createElement|write)|=>\s*\{"),
}
WIDGET_LABELS = re.compile(
    r"^\s*(?:subscribe(?: now)?|sign up(?: now)?|share|leave a comment|"
    r"text within this block will maintain its original spacing when published|"
    r"type your email.*|upgrade to paid|thanks for reading .{0,80}subscribe.*|"
    r"\d[\d,.]*[km]? (?:likes?|retweets?|replies|reposts?))\s*$", re.I | re.M)


def words(text: str) -> list[str]:
    """Lowercased words of a text."""
    return _WORD.findall(text.lower())


def word_f1(candidate: str, reference: str) -> float:
    """Bag-of-words F1 between an extracted text and the reviewed reference text."""
    got, want = Counter(words(candidate)), Counter(words(reference))
    common = sum((got & want).values())
    if not common:
        return 0.0
    precision, recall = common / sum(got.values()), common / sum(want.values())
    return 2 * precision * recall / (precision + recall)


def same_name(found: str | None, expected: str) -> bool:
    """Whether an author found names the expected person (case and spacing aside)."""
    if not found:
        return False
    norm = [" ".join(words(n)) for n in re.split(r",| and |&", found)]
    return " ".join(words(expected)) in norm or " ".join(words(expected)) == " ".join(
        words(found))


def same_day(found: datetime | date | str | None, expected: str) -> bool:
    """Whether a date found is the expected day (one day either side: time zones)."""
    if not found:
        return False
    if isinstance(found, str):
        try:
            found = datetime.fromisoformat(found.replace("Z", "+00:00")[:25])
        except ValueError:
            return False
    day = found.date() if isinstance(found, datetime) else found
    return abs((day - date.fromisoformat(expected)).days) <= 1


@dataclass
class PageScore:
    """One page's outcome, for the collector and for trafilatura."""

    page: RealPage
    system: str
    text: str = ""
    author: str | None = None
    published: Any = None
    title: str = ""
    paid: bool | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def f1(self) -> float | None:
        """Word F1 against the reference text, where the page has one."""
        reference = self.page.reference_text()
        return word_f1(plain_text(self.text), reference) if reference else None

    @property
    def author_ok(self) -> bool | None:
        expected = self.page.expected.author
        return None if not expected else same_name(self.author, expected)

    @property
    def date_ok(self) -> bool | None:
        expected = self.page.expected.published
        return None if not expected else same_day(self.published, expected)

    @property
    def title_ok(self) -> bool:
        """The headline, without the site name."""
        return " ".join(words(self.title)) == " ".join(words(self.page.expected.title))

    @property
    def ends_ok(self) -> tuple[bool, bool]:
        """Whether the body's first and last sentences (as the page shows them) are stored."""
        text = " ".join(words(plain_text(self.text)))
        return (" ".join(words(self.page.expected.first_sentence)) in text,
                " ".join(words(self.page.expected.last_sentence)) in text)

    @property
    def leaks(self) -> list[str]:
        """CSS, JavaScript or widget labels found in the stored text."""
        found = [name for name, pattern in CODE_PATTERNS.items() if pattern.search(self.text)]
        found += [f"widget: {m.group().strip()!r}" for m in WIDGET_LABELS.finditer(self.text)]
        return found


def settings_for(served: Served, base: Settings) -> Settings:
    """Settings that map the platforms' own hosts onto the local servers (never custom ones)."""
    platforms = base.platforms.model_copy()
    medium_domains, substack_domains = [], []
    allowed = list(base.collect.allowed_hosts)
    for origin, local in served.origins.items():
        host, local_host = urlsplit(origin).hostname or "", urlsplit(local).netloc
        allowed.append(urlsplit(local).hostname or "127.0.0.1")
        if host == "medium.com":
            platforms.medium_url = local
        elif host.endswith(".medium.com"):
            medium_domains.append(local_host)
        elif host.endswith(".substack.com"):
            substack_domains.append(local_host)
        elif host.endswith("linkedin.com"):
            platforms.linkedin_url = local
        elif host == "api.github.com":
            platforms.github_api_url = local
    platforms.medium_domains = medium_domains
    platforms.substack_domains = substack_domains
    collect = base.collect.model_copy(update={"allowed_hosts": sorted(set(allowed))})
    return base.model_copy(update={"platforms": platforms, "collect": collect})


def collect_page(page: RealPage, served: Served, settings: Settings) -> PageScore:
    """Collect one page with the project's collectors, as a link."""
    from twin.collect.pipeline import collect_source

    result = collect_source(Source(kind=SourceKind.LINK, value=served.local_url(page)),
                            AUTHOR_ID, settings.model_dump(mode="json"))
    score = PageScore(page=page, system=result.collector or "?")
    score.problems = ([result.failure] if result.failure else []) + list(result.errors)
    if result.documents:
        doc: Document = result.documents[0]
        score.text = doc.text
        score.author = doc.metadata.get("author")
        score.published = doc.published_at
        score.title = doc.title
        score.paid = doc.metadata.get("paywalled")
    return score


def trafilatura_page(page: RealPage) -> PageScore:
    """Plain trafilatura on the same HTML: the baseline."""
    import trafilatura

    html = page.html()
    doc = trafilatura.bare_extraction(html, url=page.url, with_metadata=True,
                                      favor_precision=True)
    text = trafilatura.extract(html, url=page.url, output_format="markdown",
                               include_formatting=True, favor_precision=True) or ""
    data = (doc.as_dict() if hasattr(doc, "as_dict") else dict(doc)) if doc else {}
    return PageScore(page=page, system="trafilatura", text=text, author=data.get("author"),
                     published=data.get("date"), title=data.get("title") or "")


def score_all(pages: list[RealPage], served: Served, base: Settings,
              workers: int = 3) -> tuple[list[PageScore], list[PageScore]]:
    """(collector scores, trafilatura scores) for every page, in the pages' order."""
    settings = settings_for(served, base)
    with ThreadPoolExecutor(max_workers=workers) as pool:  # crawls are separate processes
        ours = list(pool.map(lambda p: collect_page(p, served, settings), pages))
    theirs = [trafilatura_page(p) for p in pages]
    return ours, theirs


def _rate(values: list[bool | None]) -> tuple[int, int]:
    stated = [v for v in values if v is not None]
    return sum(stated), len(stated)


def table(ours: list[PageScore], theirs: list[PageScore]) -> list[dict[str, Any]]:
    """Per-platform figures for both systems."""
    rows = []
    for platform in sorted({s.page.platform for s in ours}):
        for system, scores in (("twin", ours), ("trafilatura", theirs)):
            mine = [s for s in scores if s.page.platform == platform]
            f1s = [s.f1 for s in mine if s.f1 is not None]
            authors, dates = _rate([s.author_ok for s in mine]), _rate([s.date_ok for s in mine])
            rows.append({
                "platform": platform, "system": system, "pages": len(mine),
                "f1": sum(f1s) / len(f1s) if f1s else None, "f1_pages": len(f1s),
                "min_f1": min(f1s) if f1s else None,
                "author": authors, "date": dates,
                "title": (sum(s.title_ok for s in mine), len(mine)),
                "ends": (sum(all(s.ends_ok) for s in mine), len(mine)),
                "leaks": sum(1 for s in mine if s.leaks),
            })
    return rows


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The per-platform table as markdown."""
    def frac(pair: tuple[int, int]) -> str:
        return f"{pair[0]}/{pair[1]}" if pair[1] else "-"

    lines = ["| platform | system | pages | body word F1 (mean, min; pages) | author right | "
             "date right | title right | first and last sentence kept | "
             "pages with CSS/JS/widget text |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        f1 = (f"{r['f1']:.3f}, {r['min_f1']:.3f}; {r['f1_pages']}" if r["f1"] is not None
              else "-")
        lines.append(f"| {r['platform']} | {r['system']} | {r['pages']} | {f1} | "
                     f"{frac(r['author'])} | {frac(r['date'])} | {frac(r['title'])} | "
                     f"{frac(r['ends'])} | {r['leaks']} |")
    return "\n".join(lines)

