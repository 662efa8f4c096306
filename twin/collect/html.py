"""HTML helpers shared by spiders and importers: markdown conversion, dates, JSON-LD."""

from __future__ import annotations

import html as html_lib
import json
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from bs4 import BeautifulSoup, Tag
from markdownify import MarkdownConverter
from parsel import Selector

from twin.collect.boilerplate import drop_widget_lines, strip_widgets
from twin.domain import url_scheme
from twin.markup import AUTOLINK, MARKDOWN_LINK, REFERENCE_DEFINITION, link_target

_BLANK_RUNS = re.compile(r"\n{3,}")
DEFAULT_MAX_DEPTH = 100  # collect.max_html_depth; markdownify recurses ~2.5 frames a level
# Elements removed with everything inside them: code, styling, embedded documents and form
# controls are never the author's text (markdownify's strip= would keep their contents).
_REMOVED = ["script", "style", "noscript", "template", "iframe", "frame", "frameset",
            "object", "embed", "applet", "svg", "canvas", "button", "input", "select",
            "option", "optgroup", "datalist", "textarea"]
_SAFE_SCHEMES = {"http", "https", "mailto"}
_ACTIVE_SCHEMES = {"javascript", "vbscript", "data", "blob", "file"}
_CONVERTER_OPTIONS = {"heading_style": "ATX", "bullets": "-", "strip": ["img"]}


def safe_link(target: str) -> bool:
    """Whether a link target may be kept: http(s), mailto, or relative (no scheme)."""
    scheme = url_scheme(html_lib.unescape(target))
    return scheme is None or scheme in _SAFE_SCHEMES


def html_to_markdown(fragment: str, max_depth: int = DEFAULT_MAX_DEPTH) -> str:
    """Convert an HTML fragment to markdown, keeping paragraphs, lists, code and emphasis.

    Only the author's text survives: scripts, styles, embeds and form controls are removed
    with their contents, and so are the platforms' widgets (subscribe boxes, share and
    comment buttons, hidden labels: :mod:`twin.collect.boilerplate`), whose labels are also
    dropped as whole lines; embedded posts by other people become ``> `` quotes. Links and
    images whose target is not http(s), mailto or relative are dropped (a link keeps its
    text), and elements nested deeper than ``max_depth`` are flattened to their text so that
    the conversion never recurses without bound.
    """
    if not fragment or not fragment.strip():
        return ""
    soup = BeautifulSoup(fragment, "html.parser")
    _remove_active(soup)
    strip_widgets(soup)
    flatten_deep(soup, max_depth)
    text = MarkdownConverter(code_language_callback=_code_language,
                             **_CONVERTER_OPTIONS).convert_soup(soup)
    lines = [line.rstrip() for line in text.splitlines()]
    text = drop_widget_lines(_BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip())
    return drop_active_links(text)


def _remove_active(soup: BeautifulSoup) -> None:
    for tag in soup.find_all(_REMOVED):
        if not tag.decomposed:  # an earlier removal may have taken it with its parent
            tag.decompose()
    for tag in soup.find_all("a", href=True):
        if not safe_link(tag["href"]):
            tag.unwrap()
    for tag in soup.find_all("img", src=True):
        if not safe_link(tag["src"]):
            tag.decompose()


def flatten_deep(soup: BeautifulSoup, max_depth: int) -> int:
    """Replace the contents of every element at ``max_depth`` by its text (iteratively).

    Returns how many elements were flattened.
    """
    flattened = 0
    stack: list[tuple[Tag, int]] = [(soup, 0)]
    while stack:
        tag, depth = stack.pop()
        if depth >= max_depth:
            text = tag.get_text()
            tag.clear()
            tag.append(text)
            flattened += 1
            continue
        stack.extend((child, depth + 1) for child in tag.contents if isinstance(child, Tag))
    return flattened


# Whatever the link patterns (twin.markup) did not parse: "](" before an active target loses
# its meaning.
_MD_OPENING = re.compile(r"\]\(\s*+<?\s*+([A-Za-z][A-Za-z0-9+.-]*+:|&)")


def drop_active_links(markdown: str) -> str:
    """Markdown with every link, image and autolink to a non-http(s)/mailto target removed.

    A link keeps its text, an image disappears, a reference definition is dropped.
    """
    def link(match: re.Match[str]) -> str:
        if safe_link(link_target(match)):
            return match.group(0)
        return "" if match.group("image") else match.group("text")

    def opening(match: re.Match[str]) -> str:
        rest = match.string[match.start(1):match.end(1) + 40]
        return match.group(0) if safe_link(rest) else "]\\(" + match.group(0)[2:]

    def autolink(match: re.Match[str]) -> str:
        # Only script-bearing schemes: <dc:creator> in a post about RSS is the author's text.
        if url_scheme(html_lib.unescape(match.group(1))) not in _ACTIVE_SCHEMES:
            return match.group(0)
        return match.group(1).split(":", 1)[1]

    def reference(match: re.Match[str]) -> str:
        return match.group(0) if safe_link(match.group(1)) else ""

    markdown = MARKDOWN_LINK.sub(link, markdown)
    markdown = AUTOLINK.sub(autolink, markdown)
    markdown = REFERENCE_DEFINITION.sub(reference, markdown)
    return _MD_OPENING.sub(opening, markdown)


def _code_language(element: Any) -> str | None:
    classes = element.get("class") or []
    code = element.find("code")
    if code is not None:
        classes = list(classes) + list(code.get("class") or [])
    for cls in classes:
        if cls.startswith("language-"):
            return cls.removeprefix("language-")
    return None


def text_to_markdown(text: str) -> str:
    """Plain text (e.g. a LinkedIn post) kept as written: line breaks and emoji preserved.

    Markdown links to ``javascript:``, ``data:`` and other active targets are dropped.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return drop_active_links(_BLANK_RUNS.sub("\n\n", text).strip())


def drop_leading_title(text: str, title: str) -> str:
    """Remove a first line that only repeats the title (extractors often keep the h1), be it
    a heading or bold, with other spacing or case."""
    lines = text.splitlines()
    if lines and title and _title_key(lines[0]) == _title_key(title):
        return "\n".join(lines[1:]).strip()
    return text


def _title_key(line: str) -> str:
    return " ".join(re.sub(r"[#*_`]+", " ", line).split()).casefold()


def parse_date(value: str | None) -> datetime | None:
    """Parse ISO-8601, RFC-822 (feeds) or 'YYYY-MM-DD HH:MM' dates to aware UTC datetimes."""
    if not value:
        return None
    value = value.strip()
    parsed: datetime | None = None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            for fmt in ("%Y-%m-%d %H:%M:%S %Z", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M",
                        "%Y-%m-%d", "%b %d, %Y"):
                try:
                    parsed = datetime.strptime(value, fmt)
                    break
                except ValueError:
                    continue
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


_LD_WRAPPERS = re.compile(r"^\s*(?://\s*)?(?:<!\[CDATA\[|<!--)|(?://\s*)?(?:\]\]>|-->)\s*$")


def parse_json_ld(raw: str) -> list[Any]:
    """The JSON values in one JSON-LD script, read leniently; [] when nothing can be read.

    Real pages wrap blocks in ``<![CDATA[ ]]>`` or HTML comments, leave ``//`` and ``/* */``
    comments or trailing commas, put several objects one after another, or leave raw control
    characters in strings: each is still read rather than dropping the block (and with it the
    page's author and date).
    """
    import jstyleson

    text = _LD_WRAPPERS.sub("", raw.strip()).strip()
    if not text:
        return []
    for loads in (lambda t: json.loads(t, strict=False),
                  lambda t: jstyleson.loads(t, strict=False)):
        try:
            return [loads(text)]
        except (ValueError, TypeError):
            continue
    values: list[Any] = []  # several documents back to back: {...}{...}
    decoder = json.JSONDecoder(strict=False)
    position = 0
    try:
        text = jstyleson.dispose(text)
        while position < len(text):
            while position < len(text) and text[position] in " \t\r\n,;":
                position += 1
            if position >= len(text):
                break
            value, position = decoder.raw_decode(text, position)
            values.append(value)
    except (ValueError, TypeError):
        pass
    return values


def json_ld(selector: Selector) -> list[dict[str, Any]]:
    """All JSON-LD objects on a page (``@graph`` and arrays flattened), read leniently."""
    found: list[dict[str, Any]] = []
    for raw in selector.xpath('//script[@type="application/ld+json"]/text()').getall():
        stack = list(reversed(parse_json_ld(raw)))
        while stack:
            item = stack.pop()
            if isinstance(item, list):
                stack.extend(reversed(item))
            elif isinstance(item, dict):
                graph = item.get("@graph")
                if isinstance(graph, list | dict):
                    stack.extend(reversed(graph if isinstance(graph, list) else [graph]))
                    if set(item) - {"@context", "@graph"}:
                        found.append(item)
                else:
                    found.append(item)
    return found


def ld_of_type(selector: Selector, *types: str) -> dict[str, Any] | None:
    """The first JSON-LD object whose ``@type`` is one of ``types``."""
    for item in json_ld(selector):
        kind = item.get("@type")
        kinds = kind if isinstance(kind, list) else [kind]
        if any(k in types for k in kinds):
            return item
    return None


def meta(selector: Selector, *names: str) -> str | None:
    """The content of the first ``<meta property|name=...>`` found among ``names``."""
    for name in names:
        value = selector.xpath(
            f'//meta[@property="{name}" or @name="{name}"]/@content'
        ).get()
        if value:
            return value.strip()
    return None


def extract_article(html: str, url: str) -> dict[str, Any]:
    """Main text of any article page via trafilatura, with trafilatura's own metadata.

    Returns ``title``, ``text`` (markdown), ``date``, ``sitename``, ``description`` and
    ``meta`` (trafilatura's author/date/title/sitename, for
    :func:`twin.collect.metadata.resolve_metadata`, which decides what to trust).
    """
    import trafilatura

    from twin.collect.boilerplate import clean_page_html, drop_widget_lines

    html = clean_page_html(html)
    doc = trafilatura.bare_extraction(
        html,
        url=url,
        output_format="python",
        include_formatting=False,
        include_links=False,
        include_images=False,
        include_tables=True,
        include_comments=False,
        with_metadata=True,
        favor_precision=True,
    )
    if doc is None:
        return {"title": "", "text": "", "date": None, "sitename": None, "description": None,
                "meta": {}}
    data = doc.as_dict() if hasattr(doc, "as_dict") else dict(doc)
    text = trafilatura.extract(
        html, url=url, output_format="markdown", include_formatting=True, include_links=False,
        include_images=False, include_comments=False, favor_precision=True,
    ) or ""
    plain = data.get("text") or ""
    # The markdown pass can lose text the plain pass keeps (a Blogger post written as <br>-
    # separated lines inside one <div>): then the words matter more than their formatting.
    if len(text.split()) < 0.8 * len(plain.split()):
        text = plain
    title = data.get("title") or ""
    return {
        "title": title,
        "text": drop_widget_lines(drop_leading_title(text.strip(), title)),
        "date": parse_date(data.get("date")),
        "sitename": data.get("sitename"),
        "description": data.get("description"),
        "meta": {k: data.get(k) for k in ("author", "date", "title", "sitename")},
    }
