"""Markdown and web-address patterns, each declared once with what it matches.

Collecting, cleaning, dataset building and the shaping and checking of drafts all read
markdown: they find the same links, images, headings, code fences, hashtags and URLs with
these patterns, so "a link" means the same thing at every stage. Where two stages need
different things on purpose (the mark of a heading to strip vs a heading and its title; any
scheme's autolink vs a web address in angle brackets), there are two patterns, named for what
they match. Possessive quantifiers (``*+``, ``++``) keep the link patterns linear on hostile
text.
"""

from __future__ import annotations

import re

# --- Web addresses -------------------------------------------------------------------------

_URL_CHAR = r"[^\s<>()\[\]\"'`]"
URL = re.compile(rf"(?:https?://|www\.|mailto:)(?:{_URL_CHAR}|\({_URL_CHAR}*\))+", re.I)
"""A web address as written in prose: ``http(s)://``, a bare ``www.`` or ``mailto:``; it runs
to white space, a bracket, a quote or a backtick, and keeps balanced parentheses
(``https://en.wikipedia.org/wiki/Contract_(law)``). Trailing punctuation is part of the match:
:func:`trim_url` takes it off."""

URL_TRAILING = ".,;:!?'\"”’»])"
"""Characters that end a sentence or a quotation rather than a URL written before them."""

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def trim_url(url: str) -> str:
    """``url`` without the sentence punctuation written after it; a closing parenthesis stays
    when it closes one opened inside the URL."""
    while url and url[-1] in URL_TRAILING:
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        url = url[:-1]
    return url


def urls_in(text: str) -> list[str]:
    """The URLs of ``text`` as written, trailing punctuation left out, in order."""
    return [trim_url(m.group(0)) for m in URL.finditer(text)]


def without_scheme(url: str) -> str:
    """``url`` without its ``scheme://`` (``www.`` and ``mailto:`` addresses are unchanged)."""
    return _SCHEME.sub("", url, count=1)


# --- Links and images ----------------------------------------------------------------------

# A target's parentheses, two levels deep: (alert(x(1))).
_PAREN = r"\((?:[^()\s]|\([^()\s]*\))*\)"
MARKDOWN_LINK = re.compile(
    r"(?P<image>!?)\[(?P<text>(?:[^\[\]]|\[[^\[\]]*\])*+)\]"
    r"\(\s*+(?:<(?P<angle>[^<>\n]*)>|(?P<bare>(?:[^()\s]|" + _PAREN + r")*+))"
    r"(?:\s++(?P<title>\"[^\"\n]*\"|'[^'\n]*'|\([^()\n]*\)))?\s*+\)")
"""An inline link ``[text](target "title")`` or image ``![alt](target)``. Groups: ``image``
("!" for an image, else empty); ``text``, which may run over lines (an HTML converter writes a
link around blocks) and hold one level of brackets (a badge image inside a link); the target
as ``angle`` (``<...>``, spaces allowed) or ``bare`` (balanced parentheses allowed); the
optional ``title`` in double quotes, single quotes or parentheses."""

REFERENCE_LINK = re.compile(r"\[([^\]\n]+)\]\[[^\]\n]*\]")
"""A reference-style link ``[text][label]`` (or ``[text][]``); group 1 is the text."""

REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]\n]+\]:[ \t]*<?(\S+?)>?(?:[ \t].*)?$", re.M)
"""A reference definition line ``[label]: target "title"``; group 1 is the target."""

CITATION = re.compile(r"\[\^?\d+\]")
"""A citation or footnote mark: ``[3]``, ``[^2]``."""

AUTOLINK = re.compile(r"<([A-Za-z][A-Za-z0-9+.-]{1,31}:[^\s<>]*)>")
"""A CommonMark autolink of any scheme, ``<https://...>``, ``<mailto:...>``, ``<javascript:...>``
(group 1: the address). ``<dc:creator>`` in a post about RSS matches too: callers look at the
scheme."""

WEB_AUTOLINK = re.compile(r"<((?:https?://|www\.|mailto:)[^>\s]+)>", re.I)
"""An address :data:`URL` finds, in angle brackets: ``<https://...>``, ``<www....>``,
``<mailto:...>`` (group 1: the address), what a reader sees as a link."""

HTML_IMAGE = re.compile(r"<img\b[^>]*>", re.I)
"""An HTML ``<img>`` tag written into markdown."""

IMAGE_FILE = re.compile(r"\.(?:png|jpe?g|gif|svg|webp|bmp|ico)(?:[?#]\S*)?$", re.I)
"""The end of a target that names an image file (``.png``, ``.svg?raw=1``...)."""


def link_target(match: re.Match[str]) -> str:
    """The target of a :data:`MARKDOWN_LINK` match, without its angle brackets."""
    angle = match.group("angle")
    return angle if angle is not None else match.group("bare")


def link_text(text: str, *, alt: bool = False) -> str:
    """``text`` with every markdown link replaced by its text (links and images inside a
    link's text too); an image becomes its alt text when ``alt``, else nothing."""
    def replace(match: re.Match[str]) -> str:
        if match.group("image") and not alt:
            return ""
        return link_text(match.group("text"), alt=alt)

    return MARKDOWN_LINK.sub(replace, text)


# --- Headings, code, hashtags --------------------------------------------------------------

HEADING_MARK = re.compile(r"^ {0,3}#{1,6}(?:[ \t]+|$)")
"""The opening marks of an ATX heading line (``## ``, or a lone ``#``), for ``match`` on one
line: what is stripped to keep the heading's words. ``#hashtag`` is no heading."""

HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)[ \t#]*$", re.M)
"""An ATX heading with its title (group 1, closing ``#`` marks left out), on any line of a
text."""

FENCE = re.compile(r"^ {0,3}(```|~~~)")
"""A line that opens or closes a fenced code block (group 1: the fence)."""

CODE_BLOCK = re.compile(r"^ {0,3}(```|~~~)[^\n]*\n(?:.*?^ {0,3}\1[^\n]*$|.*\Z)", re.M | re.S)
"""A fenced code block in a draft, its fence lines included; one never closed runs to the end
of the text (markdown renders it so, and a model's draft often stops inside one)."""

CLOSED_CODE_BLOCK = re.compile(r"^ {0,3}(```|~~~)[^\n]*\n.*?^ {0,3}\1[^\n]*$", re.M | re.S)
"""A fenced code block in a collected document: opened and closed. A lone fence line is prose
there (a page's ``~~~`` divider would otherwise turn the rest of the page into code)."""

TAG = r"[^\W\d_]\w*"
"""A hashtag's word, as a pattern to build with: a letter, then letters, digits or ``_``."""

HASHTAG = re.compile(rf"(?<![\w&#/])#({TAG})")
"""A hashtag: ``#`` and a word starting with a letter (group 1: the tag). Not ``#1``, ``C#``,
an HTML entity (``&#39;``), a URL fragment (``/#top``) or ``##``."""


def split_code(text: str) -> list[tuple[str, bool]]:
    """A document's ``text`` cut into its consecutive pieces, each with whether it is a fenced
    code block (:data:`CLOSED_CODE_BLOCK`); joined, the pieces are ``text``."""
    pieces: list[tuple[str, bool]] = []
    at = 0
    for match in CLOSED_CODE_BLOCK.finditer(text):
        if match.start() > at:
            pieces.append((text[at:match.start()], False))
        pieces.append((match.group(0), True))
        at = match.end()
    if at < len(text):
        pieces.append((text[at:], False))
    return pieces
