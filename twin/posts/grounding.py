"""What a draft may state: the URLs, names and numbers of the request and of the sources it was
given. Anything else in a draft is invented (a small model makes up links and figures)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from twin.domain.documents import canonical_url
from twin.markup import URL, trim_url, urls_in
from twin.posts.text import LIST_ITEM

_CAPITALISED = r"(?:[A-Z][a-z]+(?:['’-][A-Za-z]+)*|[A-Z]{2,}[a-z]?)"
NAME = re.compile(rf"(?<![\w@#/.])(?:{_CAPITALISED})(?:[ \t]+(?:{_CAPITALISED}))+")
HANDLE = re.compile(r"(?<![\w@.])@([A-Za-z0-9_][A-Za-z0-9_.-]*[A-Za-z0-9_])")
NUMBER = re.compile(r"(?<![\w.,:/#-])\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\w.,:/#-])\d+(?:\.\d+)?")
_BEFORE_SENTENCE = re.compile(r"(?:[.!?…:]\s+|\n\s*(?:[-*+•→]\s+)?)$")
# Words that start sentences: capitalised there, they do not begin a name.
_STARTER_WORDS = """
a about after all also always an and another any as at because before but by each even every
finally first for from here here's hi how however i if i'm in instead it it's its just last
let let's maybe most my never next no not now of on once one only or our so some still
that that's the their then there there's these they this those three to today two we we've
what what's when where which while who why with without yes yesterday you you're your
"""
_STARTERS = frozenset(_STARTER_WORDS.split())


def _norm(text: str) -> str:
    return " ".join(text.lower().replace("’", "'").split())


def _number_key(raw: str) -> str:
    value = raw.replace(",", "")
    if "." in value:
        value = value.rstrip("0").rstrip(".")
    return value.lstrip("0") or "0"


def url_key(url: str) -> str:
    """A URL's comparable form (canonical, scheme-less ``www.`` links read as https)."""
    url = trim_url(url)
    if url.lower().startswith("www."):
        url = "https://" + url
    try:
        return canonical_url(url).replace("://www.", "://", 1)
    except ValueError:
        return url.lower()


def _starts_sentence(text: str, start: int) -> bool:
    """Whether offset ``start`` of ``text`` begins a sentence, a line or a list item."""
    before = text[max(0, start - 20):start]
    return (start <= 20 and not text[:start].strip()) or bool(_BEFORE_SENTENCE.search(before))


def names_in(text: str) -> list[str]:
    """Capitalised multi-word names (``Sarah Chen``, ``Acme Data Labs``) and ``@handles``;
    a sentence's capitalised first word is left out when it is a common word."""
    found: list[str] = []
    for match in NAME.finditer(text):
        words = match.group(0).split()
        if _starts_sentence(text, match.start()) and words[0].lower() in _STARTERS:
            words = words[1:]
        words = [re.sub(r"['’]s$", "", w) for w in words]
        if len(words) >= 2:
            found.append(" ".join(words))
    return found + ["@" + h for h in HANDLE.findall(text)]


def numbers_in(text: str, minimum: int) -> list[str]:
    """Numbers of ``text`` (as written) worth checking: at least ``minimum``, list markers
    (``1.`` at a line's start) left out."""
    text = "\n".join(LIST_ITEM.sub(" ", line) for line in text.split("\n"))
    return [m.group(0) for m in NUMBER.finditer(text)
            if float(m.group(0).replace(",", "")) >= minimum]


@dataclass(frozen=True)
class Ungrounded:
    """What a draft states that neither the request nor the sources do."""

    urls: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    numbers: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.urls or self.names or self.numbers)


@dataclass(frozen=True)
class Grounding:
    """The request and the sources' texts and URLs, ready for look-ups."""

    text: str
    urls: frozenset[str]
    numbers: frozenset[str]

    @classmethod
    def of(cls, request: str, texts: Iterable[str] = (), urls: Iterable[str] = ()) -> Grounding:
        """What a draft for ``request`` may draw on: the request itself, the texts of its
        sources (retrieved chunks, fetched links) and the sources' URLs."""
        everything = "\n\n".join([request, *texts])
        keys = {url_key(u) for u in [*urls_in(everything), *urls] if u}
        numbers = {_number_key(m.group(0)) for m in NUMBER.finditer(everything)}
        return cls(text=_norm(everything), urls=frozenset(keys), numbers=frozenset(numbers))

    def has_url(self, url: str) -> bool:
        """Whether ``url`` is one of the request's or sources' URLs."""
        return url_key(url) in self.urls

    def has_name(self, name: str) -> bool:
        """Whether ``name`` (or ``@handle``) is written in the request or a source."""
        return _norm(name) in self.text or _norm(name.lstrip("@")) in self.text

    def has_number(self, number: str) -> bool:
        """Whether ``number`` (``1,200`` and ``1200`` alike) is in the request or a source."""
        return _number_key(number) in self.numbers

    def missing(self, draft: str, min_number: int) -> Ungrounded:
        """The URLs, names and numbers of ``draft`` found in neither the request nor the
        sources (each once, in order)."""
        def unique(items: Iterable[str]) -> list[str]:
            return list(dict.fromkeys(items))

        return Ungrounded(
            urls=unique(u for u in urls_in(draft) if not self.has_url(u)),
            names=unique(n for n in names_in(_without_urls(draft)) if not self.has_name(n)),
            numbers=unique(n for n in numbers_in(_without_urls(draft), min_number)
                           if not self.has_number(n)))


def _without_urls(text: str) -> str:
    return URL.sub(" ", text)
