"""Checks of a draft against the author's channel profile, each passed or failed with a reason
a person reads."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from twin.posts.grounding import Grounding
from twin.posts.profile import ChannelProfile, Range
from twin.posts.shape import strip_markdown_links
from twin.posts.text import Anatomy, ends_sentence, split_closing
from twin.settings import PostSettings

HARD_CHECKS = frozenset({"complete ending"})
"""Checks best-of-N never trades for voice: a draft that passes them beats any that does not
(a returned post ends in a full sentence whenever one of its candidates does)."""


@dataclass(frozen=True)
class Check:
    """One check of a draft."""

    name: str
    passed: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (API responses, evaluation tables)."""
        return asdict(self)


def _span(r: Range, slack: float, digits: int = 0) -> str:
    low, high = r.bounds(slack)
    return f"{low:.{digits}f}–{high:.{digits}f}"


def _ending(text: str) -> Check:
    body, _, _ = split_closing(text)
    last = body.rstrip()[-40:]
    if ends_sentence(body):
        return Check("complete ending", True, "ends with a full sentence")
    return Check("complete ending", False, f"ends mid-sentence: “…{last}”" if last else
                 "has no text")


def _length(a: Anatomy, p: ChannelProfile, s: PostSettings, max_words: int | None) -> Check:
    low, high = p.length_bounds(s, max_words)
    where = f"{p.described} run" if max_words is None else "asked for"
    return Check("length", low <= a.words <= high, f"{a.words} words; {where} {low}–{high}")


def _rhythm(a: Anatomy, p: ChannelProfile, s: PostSettings, max_words: int | None) -> Check:
    problems = []
    # A request for a shorter post than the author writes cannot have their paragraph count.
    shorter = max_words is not None and max_words < p.length_bounds(s)[0]
    if not shorter and not p.paragraphs.allows(a.paragraphs, s.slack):
        problems.append(f"{a.paragraphs} paragraphs (yours: {_span(p.paragraphs, s.slack)})")
    if not p.words_per_paragraph.allows(a.words_per_paragraph, s.slack):
        problems.append(f"{a.words_per_paragraph:.0f} words a paragraph "
                        f"(yours: {_span(p.words_per_paragraph, s.slack)})")
    if a.longest_paragraph > p.most_paragraph_words(s):
        problems.append(f"a paragraph of {a.longest_paragraph} words (yours stay within "
                        f"{p.most_paragraph_words(s)})")
    if problems:
        return Check("rhythm", False, "; ".join(problems))
    return Check("rhythm", True, f"{a.paragraphs} paragraphs of about "
                 f"{a.words_per_paragraph:.0f} words, like yours")


def _headings(a: Anatomy, p: ChannelProfile, s: PostSettings) -> Check:
    if a.headings and not p.uses_headings(s):
        return Check("headings", False, f"{a.headings} markdown heading(s); {p.described} "
                     "have none")
    return Check("headings", True, "no headings" if not a.headings else
                 f"{a.headings} heading(s), as you write them")


def _hashtags(a: Anatomy, p: ChannelProfile, s: PostSettings) -> Check:
    if not p.uses_hashtags(s):
        ok = a.hashtags == 0
        return Check("hashtags", ok, "no hashtags, like yours" if ok else
                     f"{a.hashtags} hashtag(s); you do not use them")
    fewest = int(p.hashtags_per_post.min) if p.hashtag_share >= 1 - s.habit_share else 0
    most = int(p.hashtags_per_post.max)
    if not fewest <= a.hashtags <= most:
        span = f"{fewest}" if fewest == most else f"{fewest}–{most}"
        return Check("hashtags", False, f"{a.hashtags} hashtag(s); you use {span}")
    if a.hashtags and p.hashtag_placement == "end" and not a.hashtags_at_end:
        return Check("hashtags", False, "hashtags inside the text; you put them at the end")
    return Check("hashtags", True, f"{a.hashtags} hashtag(s), as you use them")


def _emoji(a: Anatomy, p: ChannelProfile, s: PostSettings) -> Check:
    if not p.uses_emoji(s):
        ok = a.emoji == 0
        return Check("emoji", ok, "no emoji, like yours" if ok else
                     f"{a.emoji} emoji; you do not use them")
    most = max(int(p.emoji_per_post.max), 1)
    ok = a.emoji <= most
    return Check("emoji", ok, f"{a.emoji} emoji" + ("" if ok else f"; you use at most {most}"))


def _markup(text: str, a: Anatomy, p: ChannelProfile, s: PostSettings) -> Check:
    _, pieces = strip_markdown_links(text)
    problems = [f"{pieces} piece(s) of markdown link or image syntax"] if pieces else []
    if a.markup and not p.uses_markup(s):
        problems.append(f"{a.markup} piece(s) of bold or code markdown, which you do not write")
    if a.code_blocks and not p.uses_code(s):
        problems.append(f"{a.code_blocks} code block(s); {p.described} have none")
    return Check("markdown", not problems, "; ".join(problems) or "no markdown a reader would "
                 "see as symbols")


def _grounded(text: str, grounding: Grounding, s: PostSettings) -> Check:
    missing = grounding.missing(text, s.min_checked_number)
    if not missing:
        return Check("grounding", True, "every link, name and number is in the request or "
                     "the sources")
    parts = []
    for label, items in (("links", missing.urls), ("names", missing.names),
                         ("numbers", missing.numbers)):
        if items:
            parts.append(f"{label}: {', '.join(items[:5])}")
    return Check("grounding", False, "not in the request or the sources: " + "; ".join(parts))


def check_draft(text: str, profile: ChannelProfile, settings: PostSettings,
                grounding: Grounding | None = None,
                max_words: int | None = None) -> list[Check]:
    """Every check of ``text`` against the author's ``profile``: a complete last sentence,
    length and rhythm within the author's range, headings, hashtags and emoji as the author
    uses them, no markdown they do not write and, when ``grounding`` is given, no link, name or
    number that is in neither the request nor the sources. ``max_words``: the request's own
    cap on length."""
    anatomy = Anatomy.of(text)
    found = [_ending(text), _length(anatomy, profile, settings, max_words),
             _rhythm(anatomy, profile, settings, max_words), _headings(anatomy, profile, settings),
             _hashtags(anatomy, profile, settings), _emoji(anatomy, profile, settings),
             _markup(text, anatomy, profile, settings)]
    if grounding is not None:
        found.append(_grounded(text, grounding, settings))
    return found
