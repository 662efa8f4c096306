"""HTML helpers shared by spiders and importers: markdown conversion, dates, JSON-LD."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from markdownify import markdownify
from parsel import Selector

_BLANK_RUNS = re.compile(r"\n{3,}")


def html_to_markdown(fragment: str) -> str:
    """Convert an HTML fragment to markdown, keeping paragraphs, lists, code and emphasis."""
    if not fragment or not fragment.strip():
        return ""
    text = markdownify(
        fragment,
        heading_style="ATX",
        bullets="-",
        strip=["script", "style", "noscript", "iframe", "svg", "button", "img"],
        code_language_callback=_code_language,
    )
    lines = [line.rstrip() for line in text.splitlines()]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()


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
    """Plain text (e.g. a LinkedIn post) kept as written: line breaks and emoji preserved."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _BLANK_RUNS.sub("\n\n", "\n".join(line.rstrip() for line in text.split("\n"))).strip()


def drop_leading_title(text: str, title: str) -> str:
    """Remove a first line that only repeats the title (extractors often keep the h1)."""
    lines = text.splitlines()
    if lines and title and lines[0].lstrip("# ").strip() == title.strip():
        return "\n".join(lines[1:]).strip()
    return text


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


def json_ld(selector: Selector) -> list[dict[str, Any]]:
    """All JSON-LD objects on a page (``@graph`` flattened); malformed blocks are skipped."""
    found: list[dict[str, Any]] = []
    for raw in selector.css('script[type="application/ld+json"]::text').getall():
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            continue
        items = data if isinstance(data, list) else [data]
        for item in items:
            if isinstance(item, dict) and "@graph" in item:
                found.extend(x for x in item["@graph"] if isinstance(x, dict))
            elif isinstance(item, dict):
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
    """Main text of any article page via trafilatura: title, markdown text, date, sitename."""
    import trafilatura

    doc = trafilatura.bare_extraction(
        html,
        url=url,
        output_format="python",
        include_formatting=True,
        include_links=False,
        include_images=False,
        include_tables=True,
        include_comments=False,
        with_metadata=True,
        favor_precision=True,
    )
    if doc is None:
        return {"title": "", "text": "", "date": None, "sitename": None, "description": None}
    data = doc.as_dict() if hasattr(doc, "as_dict") else dict(doc)
    text = trafilatura.extract(
        html, url=url, output_format="markdown", include_formatting=True, include_links=False,
        include_images=False, include_comments=False, favor_precision=True,
    ) or data.get("text") or ""
    title = data.get("title") or ""
    return {
        "title": title,
        "text": drop_leading_title(text.strip(), title),
        "date": parse_date(data.get("date")),
        "sitename": data.get("sitename"),
        "description": data.get("description"),
    }
