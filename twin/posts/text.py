"""Measures of a post's text: words, paragraphs, sentences, hashtags, headings, emoji, links.

One definition of each, shared by the author's profile, the shaping of a draft and its checks,
so a draft is measured exactly as the author's own posts were.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from twin.markup import CODE_BLOCK, FENCE, HASHTAG, HEADING_MARK, URL

# "Title: ..." / "**Headline:** ..." lines: a heading by another name.
TITLE_LABEL = re.compile(
    r"^\W{0,3}(?:title|headline|subject|linkedin post)\W{0,3}:\W{0,3}(?=\w|$)", re.I)
RULE = re.compile(r"^ {0,3}([-=*_])(?:[ \t]*\1){2,}[ \t]*$")  # --- *** === (setext underline)
# Bold, underline-bold and inline code: markdown that LinkedIn shows as literal characters.
MARKUP = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|__(?=\S)(.+?)(?<=\S)__|`([^`\n]+)`")
# A signature closing a piece: "— Maya", "- Maya O." (a dash and at most three names).
SIGN_OFF = re.compile(r"^[—–-]{1,2}[ \t]*[A-Z][\w.'’-]*(?:[ \t]+[A-Z][\w.'’-]*){0,2}$")
LIST_ITEM = re.compile(r"^\s*(?:[-*+•→▶➡✅✔]|\d+[.)])\s+")
# Where a sentence ends: terminal punctuation (closing quotes and brackets after it), or an
# emoji closing a line of prose (LinkedIn writers end lines with one instead of a full stop).
_CLOSERS = r"[\"'”’)\]»]"
SENTENCE_END = re.compile(rf"[.!?…]+{_CLOSERS}*(?=\s|$)")
_SENTENCE_SPLIT = re.compile(rf"(?<=[.!?…]){_CLOSERS}*\s+(?=[\"'“‘(\[A-Z0-9])")
_EMOJI_MODIFIER = re.compile("[\ufe0f\u20e3\U0001f3fb-\U0001f3ff]")  # selector, keycap, skin
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|_")  # word joins in a tag
_LETTER = re.compile(r"[^\W\d_]")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")


def is_emoji(ch: str) -> bool:
    """An emoji or pictograph (arrows and maths signs, which authors use as bullets, are
    not)."""
    return unicodedata.category(ch) == "So" and not "\u2190" <= ch <= "\u21ff"


def emoji_spans(text: str) -> list[tuple[int, int]]:
    """Where each emoji is in ``text``, as (start, end): one span per emoji a reader sees, a
    skin tone, variation selector or zero-width-joined sequence (🙅‍♀️) included."""
    spans, i = [], 0
    while i < len(text):
        if not is_emoji(text[i]):
            i += 1
            continue
        start, i = i, i + 1
        while i < len(text) and (_EMOJI_MODIFIER.match(text[i])
                                 or (text[i] == "\u200d" and i + 1 < len(text))):
            i += 2 if text[i] == "\u200d" else 1
        spans.append((start, i))
    return spans


def emoji_count(text: str) -> int:
    """Emoji in ``text`` (a joined sequence is one)."""
    return len(emoji_spans(text))


def is_word(token: str) -> bool:
    """A whitespace token that is a word a reader counts: not a hashtag, URL or bare
    punctuation."""
    return (any(ch.isalnum() for ch in token) and not token.startswith("#")
            and not URL.match(token))


def word_count(text: str) -> int:
    """Words of ``text`` (hashtags and URLs are not words)."""
    return sum(is_word(t) for t in text.split())


def paragraphs(text: str) -> list[str]:
    """Blocks of ``text`` separated by blank lines (each stripped; empty ones dropped)."""
    return [p.strip() for p in _PARAGRAPH_BREAK.split(text.strip()) if p.strip()]


def join_paragraphs(blocks: list[str]) -> str:
    """Paragraphs back into one text."""
    return "\n\n".join(b.strip() for b in blocks if b.strip())


def hashtags(text: str) -> list[str]:
    """Hashtags of ``text`` without the ``#``, in order, as written."""
    return HASHTAG.findall(text)


def is_tag_line(paragraph: str) -> bool:
    """A paragraph of hashtags only (how posts usually end)."""
    return bool(hashtags(paragraph)) and not HASHTAG.sub("", paragraph).strip(" \t\n,.·|")


def split_tags(text: str) -> tuple[str, list[str]]:
    """``text`` without its closing paragraphs of hashtags, and those hashtags."""
    blocks = paragraphs(text)
    tags: list[str] = []
    while blocks and is_tag_line(blocks[-1]):
        tags = hashtags(blocks.pop()) + tags
    return join_paragraphs(blocks), tags


def split_closing(text: str) -> tuple[str, str, list[str]]:
    """``text`` as its body, its sign-off paragraph ("— Maya", or ``""``) and its closing
    hashtags: the body is what must end in a full sentence."""
    body, tags = split_tags(text)
    blocks = paragraphs(body)
    if len(blocks) > 1 and SIGN_OFF.match(blocks[-1]):
        return join_paragraphs(blocks[:-1]), blocks[-1], tags
    return body, "", tags


def tag_words(tag: str) -> list[str]:
    """The words a hashtag is made of, lowercase: ``DataEngineering`` -> data, engineering."""
    return [w.lower() for w in _CAMEL.sub(" ", tag).split()]


def tag_as_words(tag: str) -> str:
    """A hashtag read as words: ``DataEngineering`` -> ``data engineering``, acronyms kept
    (``SRE``)."""
    return " ".join(w if len(w) > 1 and w.isupper() else w.lower()
                    for w in _CAMEL.sub(" ", tag).split())


def stems(text: str) -> set[str]:
    """Crude stems of the content words of ``text`` (the first five letters of words of four
    letters or more): enough to match ``contracts`` with ``contract``."""
    return {w[:5] for w in re.findall(r"[a-z]{4,}", text.lower())}


def heading_lines(text: str) -> int:
    """Markdown heading lines (``# ...``) and title labels (``Title: ...``) outside code
    fences."""
    count, fenced = 0, False
    for line in text.split("\n"):
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced and (HEADING_MARK.match(line) or TITLE_LABEL.match(line)):
            count += 1
    return count


def sentences(paragraph: str) -> list[str]:
    """The sentences of one paragraph (a line break inside it also ends one)."""
    out: list[str] = []
    for line in paragraph.split("\n"):
        out += [s.strip() for s in _SENTENCE_SPLIT.split(line.strip()) if s.strip()]
    return out


def ends_sentence(text: str) -> bool:
    """Whether ``text`` ends where a sentence ends (punctuation, or an emoji)."""
    text = text.rstrip()
    ends = sentence_ends(text)
    return bool(ends) and ends[-1] == len(text)


def sentence_ends(text: str) -> list[int]:
    """Offsets just after each sentence end in ``text`` (punctuation, or an emoji that closes
    a line), in order."""
    ends = {m.end() for m in SENTENCE_END.finditer(text)}
    offset = 0
    for line in text.split("\n"):
        stripped = line.rstrip()
        if stripped and is_emoji(stripped.rstrip("\ufe0f\u200d")[-1:] or " "):
            ends.add(offset + len(stripped))
        offset += len(line) + 1
    # An end closes a sentence only if a word came since the last one: "8." opening a list
    # item the model never wrote is no sentence; an emoji or "..." right after a full stop
    # moves that end on ("Calm again. 🔪").
    kept: list[int] = []
    for end in sorted(ends):
        since = text[kept[-1] if kept else 0:end]
        if _LETTER.search(since):
            kept.append(end)
        elif kept and not any(ch.isdigit() for ch in since):
            kept[-1] = end
    return kept


@dataclass(frozen=True)
class Anatomy:
    """The measures of one post that a channel profile ranges over."""

    words: int
    paragraphs: int
    words_per_paragraph: float
    longest_paragraph: int
    one_line_share: float
    hashtags: int
    hashtags_at_end: bool
    headings: int
    emoji: int
    markup: int
    code_blocks: int
    signed: bool

    @classmethod
    def of(cls, text: str) -> Anatomy:
        """Measure one post (its closing hashtag lines are not paragraphs of prose)."""
        prose_only = CODE_BLOCK.sub("", text)  # "#include" is no hashtag, code no markup
        body, sign_off, end_tags = split_closing(text)
        blocks = paragraphs(body)
        prose = [b for b in blocks if word_count(b)]
        one_line = sum("\n" not in b and len(sentences(b)) <= 1 for b in prose)
        all_tags = hashtags(prose_only)
        return cls(words=word_count(body), paragraphs=len(prose),
                   words_per_paragraph=word_count(body) / max(len(prose), 1),
                   longest_paragraph=max((word_count(b) for b in prose), default=0),
                   one_line_share=one_line / max(len(prose), 1),
                   hashtags=len(all_tags),
                   hashtags_at_end=bool(all_tags) and len(end_tags) == len(all_tags),
                   headings=heading_lines(text), emoji=emoji_count(prose_only),
                   markup=len(MARKUP.findall(prose_only)),
                   code_blocks=len(CODE_BLOCK.findall(text)), signed=bool(sign_off))
