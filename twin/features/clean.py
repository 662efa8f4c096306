"""Two cleaning paths (DESIGN.md): light for training data, aggressive for retrieval.

Light cleaning keeps the author's style (line breaks, emoji, hashtags); retrieval cleaning
removes what only adds noise to an embedding. Code is never cleaned into prose: fenced code
blocks and repository documents keep their lines.
"""

from __future__ import annotations

import re
import unicodedata
from html.parser import HTMLParser

from twin.domain import Kind
from twin.markup import HASHTAG, URL, link_text, split_code, without_scheme

_INVISIBLE = re.compile("[\u200b\u200c\u2060\ufeff\u00ad]")  # keeps U+200D (emoji ZWJ)
_SURROGATES = re.compile("[\ud800-\udfff]")
_BLANK_RUNS = re.compile(r"\n{3,}")
_SPACE_RUNS = re.compile(r"[ \t\u00a0]+")
_EMPHASIS = re.compile(r"(\*\*|__|~~)")
_BOILERPLATE = re.compile(
    r"^\s*(subscribe( now)?|share( this post)?|thanks for reading.*|originally published .*|"
    r"follow me (on|for) .*|sign up .*|leave a comment|like|comment|repost|send|"
    r"\d+ min read|listen|share this post|copy link|top|new|community)\s*[.!]?\s*$",
    re.I | re.M)


def fix_text(text: str) -> str:
    """Valid UTF-8, NFC, Unix line endings (bad bytes from odd encodings become U+FFFD)."""
    text = _SURROGATES.sub("\ufffd", text)
    return unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))


def clean_for_style(text: str) -> str:
    """Light cleaning for datasets: the author's line breaks, emoji and hashtags stay."""
    text = _INVISIBLE.sub("", fix_text(text))
    lines = [line.rstrip() for line in text.split("\n")]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()


def _unstyle(text: str) -> str:
    """LinkedIn's "bold" and "italic" letters (Mathematical Alphanumeric Symbols) to ASCII."""
    return "".join(unicodedata.normalize("NFKC", ch) if "\U0001d400" <= ch <= "\U0001d7ff"
                   else ch for ch in text)


def _is_emoji(ch: str) -> bool:
    return unicodedata.category(ch) == "So" or ch in "\u200d\ufe0f"


def _bare_url(url: str) -> str:
    """A URL as a search would use it: no scheme, no query (tracking) or trailing slash."""
    return without_scheme(url).split("?", 1)[0].rstrip("/")


def _clean_prose(text: str) -> str:
    text = _unstyle(text)
    text = link_text(text)
    text = URL.sub(lambda m: _bare_url(m.group(0)), text)
    text = _EMPHASIS.sub("", text)
    text = HASHTAG.sub(r"\1", text)
    text = "".join(" " if _is_emoji(ch) else ch for ch in text)
    text = _BOILERPLATE.sub("", text)
    lines = [_SPACE_RUNS.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()


def clean_for_retrieval(text: str, kind: Kind | str) -> str:
    """Aggressive cleaning for embedding and search; code keeps its lines and indentation."""
    text = clean_for_style(text)
    if Kind(kind) is Kind.REPOSITORY:
        return text
    return "\n\n".join(p.strip() if code else _clean_prose(p)
                       for p, code in split_code(text) if p.strip()).strip()


class _TextOnly(HTMLParser):
    """Collects the text of an HTML fragment (what a reader sees), blocks as line breaks."""

    _BLOCKS = frozenset({"p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote",
                         "tr", "br", "div"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def plain_text(markdown_text: str, limit: int | None = None) -> str:
    """What a reader sees of a markdown text, on one line: no heading marks, link targets,
    emphasis or list bullets. ``limit``: cut at a word boundary with an ellipsis."""
    import markdown

    parser = _TextOnly()
    parser.feed(markdown.markdown(fix_text(markdown_text), extensions=["fenced_code"]))
    text = " ".join(" ".join(parser.parts).split())
    if limit is not None and len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0].rstrip(",;:.-") + "…"
    return text
