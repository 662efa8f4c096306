"""One metadata resolver for every collector: author, published date, title, paid, platform.

Every page's statements are gathered once (:class:`PageSignals`): JSON-LD (parsed leniently),
microdata, OpenGraph/article meta, ``meta[name=author]`` and the like, h-entry/h-card
microformats, visible bylines, ``htmldate``'s original publication date and trafilatura's
metadata. Each field is then taken from the first source that states it, in the order of trust
declared in :data:`ORDER`; a collector's own better sources (an API, a listing, a feed) come
first through ``preferred`` and its weaker ones last through ``fallback``. The result records
where each field came from (``metadata["provenance"]``).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from parsel import Selector

from twin.collect.html import json_ld, parse_date
from twin.domain import Platform

log = logging.getLogger(__name__)

ARTICLE_TYPES = frozenset({
    "Article", "NewsArticle", "BlogPosting", "TechArticle", "Report", "ScholarlyArticle",
    "SocialMediaPosting", "DiscussionForumPosting", "OpinionNewsArticle", "AnalysisNewsArticle",
    "LiveBlogPosting", "Posting", "CreativeWork"})
# Sources per field, most trusted first. "preferred" (the collector's own: an API, a listing)
# always comes before these and "fallback" (a feed's pubDate, ...) after them.
ORDER: dict[str, tuple[str, ...]] = {
    "author": ("json-ld", "microdata", "h-entry", "meta:author", "byline", "trafilatura"),
    "published_at": ("json-ld", "microdata", "h-entry", "meta:published", "time:published",
                     "htmldate", "trafilatura"),
    "title": ("json-ld", "og:title", "h-entry", "microdata", "trafilatura", "title-tag"),
}
_AUTHOR_META = ("author", "article:author", "parsely-author", "sailthru.author", "dc.creator",
                "DC.creator", "citation_author", "byl")
_PUBLISHED_META = ("article:published_time", "og:article:published_time", "datePublished",
                   "parsely-pub-date", "sailthru.date", "pubdate", "publish-date",
                   "publish_date", "dc.date.issued", "DC.date.issued", "citation_publication_date",
                   "date")
_BYLINE_CSS = ('[rel="author"]', '[itemprop="author"] [itemprop="name"]', ".byline .author",
               ".byline__name", ".author-name", ".post-author", ".entry-author-name",
               "a.author", "span.author", ".p-author")
_TITLE_SEPARATORS = re.compile(r"(\s+(?:\||-|–|—|·|::|//|»)\s+)")
_BY_PREFIX = re.compile(r"^\s*(?:(?:view\s+(?:all\s+)?posts|posted|written|published|"
                        r"authored)\s+by|author|by)[:\s]+", re.I)
# twitter:label1/data1 pairs ("Written by" / the name), as LinkedIn and Yoast write them.
_WRITTEN_BY = re.compile(r"^(?:written by|author|geschrieben von|écrit par|escrito por)$", re.I)
_NAME_NOISE = re.compile(r"\s*(?:\||,)?\s*(?:follow|subscribe|published in).*$", re.I)
_PRELOADS = re.compile(r"window\._preloads\s*=\s*JSON\.parse\((\"(?:[^\"\\]|\\.)*\")\)", re.S)


@dataclass
class PageMetadata:
    """What the resolver found; every field set is named in ``provenance``."""

    author: str | None = None
    bylines: list[str] = field(default_factory=list)
    published_at: datetime | None = None
    modified_at: datetime | None = None
    title: str | None = None
    site_name: str | None = None
    description: str | None = None
    accessible_for_free: bool | None = None  # the page's own statement; None: not stated
    platform: Platform | None = None  # what the page says it is (Substack, Medium)
    provenance: dict[str, str] = field(default_factory=dict)

    def as_metadata(self) -> dict[str, Any]:
        """The document metadata keys of the shared contract."""
        return {"author": self.author, "bylines": list(self.bylines),
                "provenance": dict(self.provenance)}


@dataclass
class Claim:
    """A value for one field and the source that states it."""

    value: Any
    source: str


def resolve_metadata(html: str, url: str, *, preferred: dict[str, Claim | None] | None = None,
                     fallback: dict[str, Claim | None] | None = None,
                     trafilatura_meta: dict[str, Any] | None = None) -> PageMetadata:
    """Resolve a page's author, original publication date and title (site name removed).

    ``preferred`` and ``fallback`` map a field (``author``, ``published_at``, ``title``) to a
    :class:`Claim` the collector already has; ``trafilatura_meta`` reuses a trafilatura run's
    ``author``/``date``/``title``/``sitename`` instead of running it again.
    """
    signals = PageSignals(html, url, trafilatura_meta)
    found = PageMetadata(site_name=signals.site_name, description=signals.description,
                         accessible_for_free=signals.accessible_for_free,
                         platform=signals.platform, modified_at=signals.modified)
    for name in ORDER:
        for claim in _claims(name, signals, preferred or {}, fallback or {}):
            value = _normalise(name, claim.value, signals, author_names(found.author))
            if value:
                setattr(found, name, value)
                found.provenance[name] = claim.source
                break
    found.bylines = [n.strip() for n in (found.author or "").split(", ") if n.strip()]
    return found


def _claims(name: str, signals: PageSignals, preferred: dict[str, Claim | None],
            fallback: dict[str, Claim | None]) -> Iterator[Claim]:
    """The claims for one field in the order of trust, each source asked only when the ones
    before it said nothing usable (htmldate and trafilatura cost more than the rest)."""
    if (claim := preferred.get(name)) is not None:
        yield claim
    for source in ORDER[name]:
        value = signals.field(name, source)
        if value not in (None, "", []):
            yield Claim(value, source)
    if (claim := fallback.get(name)) is not None:
        yield claim


def _normalise(name: str, value: Any, signals: PageSignals, authors: list[str]) -> Any:
    if name == "author":
        names = author_names(value)
        return ", ".join(names) if names else None
    if name == "published_at":
        return value if isinstance(value, datetime) else parse_date(str(value))
    if name == "title":
        return clean_title(str(value), signals.site_names + authors) or None
    return value


def author_names(value: Any) -> list[str]:
    """Person names from a JSON-LD/microdata author, a meta value or a byline text."""
    if value is None:
        return []
    if isinstance(value, list):
        return list(dict.fromkeys(n for item in value for n in author_names(item)))
    if isinstance(value, dict):
        return author_names(value.get("name") or value.get("value")
                            or value.get("alternateName"))
    text = " ".join(str(value).split())
    if not text or "://" in text or text.startswith(("www.", "@")) or len(text) > 80:
        return []  # article:author is often a profile URL; a handle is not a name
    text = _NAME_NOISE.sub("", _BY_PREFIX.sub("", text)).strip(" ,|")
    parts = re.split(r"\s*(?:,|;|\band\b|&)\s*", text) if re.search(r",|;| and |&", text) \
        else [text]
    return [p for p in (p.strip() for p in parts) if p and any(ch.isalpha() for ch in p)]


def clean_title(title: str, site_names: list[str]) -> str:
    """A headline without the site name, "by Author" or "Medium" parts around it."""
    pieces = _TITLE_SEPARATORS.split(" ".join(title.split()))  # [part, sep, part, sep, ...]
    noise = {_key(n) for n in site_names if n} | {"medium", "substack", "linkedin"}

    def is_noise(part: str) -> bool:
        key = _key(part)
        return not key or key in noise or key.startswith("by ")

    while len(pieces) > 1 and is_noise(pieces[-1]):
        del pieces[-2:]
    while len(pieces) > 1 and is_noise(pieces[0]):
        del pieces[:2]
    return "".join(pieces).strip()


def _key(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


class PageSignals:
    """Everything a page states about itself, parsed once."""

    def __init__(self, html: str, url: str,
                 trafilatura_meta: dict[str, Any] | None = None) -> None:
        self.html = html
        self.url = url
        self.sel = Selector(text=html or "<html></html>")
        self._trafilatura = trafilatura_meta
        ld = json_ld(self.sel)
        self.ld_people = {item.get("@id"): item for item in ld
                          if _types(item) & {"Person", "Organization"} and item.get("@id")}
        self.ld_article = _first_of(ld, ARTICLE_TYPES) or _first_of(ld, {"WebPage"}) or {}
        extracted = _extruct(html, url, self.sel)
        self.microdata = _first_of(extracted.get("microdata", []), ARTICLE_TYPES) or {}
        self.h_entry = next((item for item in extracted.get("microformat", [])
                             if "h-entry" in (item.get("@type") or [])), {})
        self.substack_post = substack_post_json(html)
        self.site_name = (self.meta("og:site_name") or _name(self.ld_article.get("publisher"))
                          or (trafilatura_meta or {}).get("sitename"))
        self.description = self.meta("og:description", "description")
        self.modified = parse_date(str(self.ld_article.get("dateModified") or "")
                                   or self.meta("article:modified_time"))
        self.accessible_for_free = _accessible_for_free(self.ld_article, self.substack_post)
        self.platform = page_platform(self.sel, html)

    @property
    def site_names(self) -> list[str]:
        """Names the site goes by, for cleaning titles."""
        host = (urlsplit(self.url).hostname or "").removeprefix("www.")
        return [n for n in (self.site_name, host, host.split(".")[0] if host else "",
                            _name(self.ld_article.get("publisher"))) if n]

    def meta(self, *names: str) -> str | None:
        """The first non-empty ``<meta property|name|itemprop=...>`` among ``names``."""
        for name in names:  # some sites (and savers) write value= for content=
            values = meta_values(self.sel, name)
            if values:
                return values[0]
        return None

    def field(self, name: str, source: str) -> Any:
        """The value ``source`` states for ``name``, or None."""
        getter = getattr(self, f"_{name}_{source.replace(':', '_').replace('-', '_')}")
        try:
            return getter()
        except (AttributeError, TypeError, ValueError):  # an odd shape: this source says nothing
            return None

    def _resolve_ids(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self._resolve_ids(v) for v in value]
        if isinstance(value, dict) and "name" not in value and value.get("@id"):
            return self.ld_people.get(value["@id"], value)
        return value

    def _traf(self) -> dict[str, Any]:
        if self._trafilatura is None:
            self._trafilatura = trafilatura_metadata(self.html, self.url)
        return self._trafilatura

    # author
    def _author_json_ld(self) -> Any:
        return self._resolve_ids(self.ld_article.get("author"))

    def _author_microdata(self) -> Any:
        return self.microdata.get("author")

    def _author_h_entry(self) -> Any:
        return (self.h_entry.get("author") or [None])[0]

    def _author_meta_author(self) -> Any:
        named = self.meta(*_AUTHOR_META)
        if named:
            return named
        for index in range(1, 5):
            label = self.meta(f"twitter:label{index}")
            if label is None:
                break
            if _WRITTEN_BY.match(label.strip()):
                return self.meta(f"twitter:data{index}")
        return None

    def _author_byline(self) -> Any:
        for css in _BYLINE_CSS:
            text = " ".join(self.sel.css(css).xpath("string()").get(default="").split())
            if text and author_names(text):
                return text
        return None

    def _author_trafilatura(self) -> Any:
        return self._traf().get("author")

    # published_at
    def _published_at_json_ld(self) -> Any:
        return self.ld_article.get("datePublished") or self.ld_article.get("dateCreated")

    def _published_at_microdata(self) -> Any:
        return self.microdata.get("datePublished")

    def _published_at_h_entry(self) -> Any:
        return (self.h_entry.get("published") or [None])[0]

    def _published_at_meta_published(self) -> Any:
        return self.meta(*_PUBLISHED_META)

    def _published_at_time_published(self) -> Any:
        # Only a <time> that says it is the publication date: the first <time> on a page can
        # belong to a related-post card or a comment.
        return (self.sel.css("time[pubdate]::attr(datetime), "
                             'time[itemprop="datePublished"]::attr(datetime), '
                             "time.published::attr(datetime), "
                             "time.entry-date.published::attr(datetime)").get())

    def _published_at_htmldate(self) -> Any:
        from htmldate import find_date

        try:
            return find_date(self.html, url=self.url, original_date=True,
                             extensive_search=False, outputformat="%Y-%m-%dT%H:%M:%S")
        except Exception:  # htmldate raises on some malformed trees: it then says nothing
            log.debug("htmldate failed on %s", self.url, exc_info=True)
            return None

    def _published_at_trafilatura(self) -> Any:
        return self._traf().get("date")

    # title
    def _title_json_ld(self) -> Any:
        return self.ld_article.get("headline") if self.ld_article else None

    def _title_og_title(self) -> Any:
        return self.meta("og:title", "twitter:title")

    def _title_h_entry(self) -> Any:
        return (self.h_entry.get("name") or [None])[0]

    def _title_microdata(self) -> Any:
        return self.microdata.get("headline")

    def _title_trafilatura(self) -> Any:
        return self._traf().get("title")

    def _title_title_tag(self) -> Any:
        return self.sel.xpath("//title/text()").get()


def feed_metadata(entry: Any) -> dict[str, Any]:
    """The shared metadata keys for a feed entry (:class:`twin.collect.feeds.FeedEntry`)."""
    names = author_names(entry.author)
    provenance = {"title": "feed"} if entry.title else {}
    if names:
        provenance["author"] = "feed"
    if entry.published:
        provenance["published_at"] = "feed"
    return {"author": ", ".join(names) or None, "bylines": names, "provenance": provenance}


def trafilatura_metadata(html: str, url: str) -> dict[str, Any]:
    """trafilatura's metadata (author, date, title, sitename) of a page; {} when it finds none."""
    from trafilatura.metadata import extract_metadata

    try:
        doc = extract_metadata(html, default_url=url)
    except Exception:  # malformed markup: trafilatura then says nothing
        log.debug("trafilatura metadata failed on %s", url, exc_info=True)
        return {}
    if doc is None:
        return {}
    data = doc.as_dict() if hasattr(doc, "as_dict") else dict(vars(doc))
    return {k: data.get(k) for k in ("author", "date", "title", "sitename")}


def substack_post_json(html: str) -> dict[str, Any]:
    """The post object Substack embeds in its pages (``window._preloads``), or {}."""
    if "_preloads" not in html:
        return {}
    match = _PRELOADS.search(html)
    if not match:
        return {}
    try:
        preloads = json.loads(json.loads(match.group(1)))
    except (json.JSONDecodeError, TypeError):
        return {}
    post = preloads.get("post") if isinstance(preloads, dict) else None
    return post if isinstance(post, dict) else {}


def substack_claims(post: dict[str, Any], source: str) -> dict[str, Claim | None]:
    """A Substack post object's (archive API or page JSON) author, date and title as claims."""
    names = [b.get("name") for b in post.get("publishedBylines") or [] if isinstance(b, dict)]
    return {"author": Claim(names, source) if any(names) else None,
            "published_at": Claim(post.get("post_date"), source) if post.get("post_date")
            else None,
            "title": Claim(post.get("title"), source) if post.get("title") else None}


def page_platform(sel: Selector, html: str) -> Platform | None:
    """The platform a page says it is on, whatever its host (custom domains)."""
    generator = " ".join(meta_values(sel, "generator")).lower()
    if "substack" in generator or "window._preloads" in html and "substackcdn.com" in html:
        return Platform.SUBSTACK
    assets = " ".join(sel.xpath("//link/@href | //script/@src").getall())
    apps = set(meta_values(sel, "al:ios:app_name") + meta_values(sel, "twitter:app:name:iphone"))
    android = set(meta_values(sel, "al:android:package"))
    if "Medium" in apps or "com.medium.reader" in android or "cdn-client.medium.com" in assets \
            or "medium" in generator:
        return Platform.MEDIUM
    # Its own styles, scripts and icons (three or more), not one embed or image.
    if assets.count("substackcdn.com") + assets.count("cdn.substack.com") >= 3:
        return Platform.SUBSTACK
    sites = meta_values(sel, "og:site_name")
    if any(s.startswith("LinkedIn") for s in sites) or "com.linkedin.android" in android \
            or assets.count("licdn.com/") >= 3 or meta_values(sel, "linkedin:pageTag"):
        return Platform.LINKEDIN
    return None


def meta_values(sel: Selector, name: str) -> list[str]:
    """Every ``<meta>`` value for ``name`` (by property, name or itemprop; content or value)."""
    return [v.strip() for v in sel.xpath(
        "//meta[@property=$n or @name=$n or @itemprop=$n]/@*[name()='content' or name()='value']",
        n=name).getall() if v.strip()]


def _accessible_for_free(article: dict[str, Any], substack_post: dict[str, Any]) -> bool | None:
    audience = substack_post.get("audience")
    if audience:
        return audience == "everyone"
    value = article.get("isAccessibleForFree")
    if isinstance(value, str):
        return value.strip().lower() not in {"false", "0", "no"}
    if isinstance(value, bool):
        return value
    parts = article.get("hasPart")
    parts = parts if isinstance(parts, list) else [parts]
    flags = [p.get("isAccessibleForFree") for p in parts if isinstance(p, dict)]
    if any(f in (False, "False", "false") for f in flags):
        return False
    return None


def _types(item: dict[str, Any]) -> set[str]:
    kind = item.get("@type")
    kinds = kind if isinstance(kind, list) else [kind]
    return {str(k).rsplit("/", 1)[-1].removeprefix("schema:") for k in kinds if k}


def _first_of(items: list[dict[str, Any]], types: set[str] | frozenset[str]
              ) -> dict[str, Any] | None:
    return next((i for i in items if isinstance(i, dict) and _types(i) & types), None)


def _name(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("name")
    return str(value).strip() if isinstance(value, str) and value.strip() else None


def _extruct(html: str, url: str, sel: Selector) -> dict[str, list[dict[str, Any]]]:
    """Microdata (extruct) and the page's h-entry or hentry (mf2py, which extruct wraps).

    Empty when the markup defeats them.

    mf2py parses a whole page slowly (about 0.3 s for a 100 kB page), so only the h-entry
    element itself is handed to it, and only when the page has one.
    """
    import extruct

    found: dict[str, list[dict[str, Any]]] = {}
    if "itemscope" in html:
        try:
            found = extruct.extract(html, base_url=url, syntaxes=["microdata"], uniform=True,
                                    errors="ignore")
        except Exception:  # extruct raises on some broken documents; the other sources remain
            log.debug("extruct failed on %s", url, exc_info=True)
    if "h-entry" in html or "hentry" in html:  # microformats 2, or 1 (Blogger, WordPress)
        entry = sel.xpath("//*[contains(concat(' ', normalize-space(@class), ' '), ' h-entry ')"
                          " or contains(concat(' ', normalize-space(@class), ' '), ' hentry ')]")
        if entry:
            try:
                found["microformat"] = extruct.extract(
                    entry[0].get(), base_url=url, syntaxes=["microformat"], uniform=True,
                    errors="ignore").get("microformat", [])
            except Exception:  # as above
                log.debug("mf2py failed on %s", url, exc_info=True)
    return found
