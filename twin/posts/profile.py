"""An author's channel profile: how long their posts run, their rhythm, hashtags, headings and
emoji, measured on their own writing and stored as JSON beside the dataset."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from twin.domain import LINK_ORIGIN, Document, Kind
from twin.posts.text import Anatomy, hashtags, stems
from twin.settings import PostSettings

PROFILE_FILE = "channel_profile.json"


class Range(BaseModel):
    """One measure over the author's posts: its percentile range, median and extremes."""

    low: float
    high: float
    median: float
    min: float
    max: float

    @classmethod
    def of(cls, values: list[float], settings: PostSettings) -> Range:
        """The range of ``values`` (at least one)."""
        array = np.asarray(values, dtype=float)
        return cls(low=float(np.percentile(array, settings.low_percentile)),
                   high=float(np.percentile(array, settings.high_percentile)),
                   median=float(np.median(array)), min=float(array.min()),
                   max=float(array.max()))

    @classmethod
    def between(cls, low: float, high: float) -> Range:
        """A range known only by its ends (the generic profile)."""
        return cls(low=low, high=high, median=(low + high) / 2, min=low, max=high)

    def bounds(self, slack: float) -> tuple[float, float]:
        """The percentile range widened by ``slack`` (a share of each end)."""
        return self.low * (1 - slack), self.high * (1 + slack)

    def allows(self, value: float, slack: float) -> bool:
        """Whether ``value`` is within the widened range."""
        low, high = self.bounds(slack)
        return low <= value <= high


class ChannelProfile(BaseModel):
    """How an author writes on one channel, from their own posts there."""

    platform: str = Field(description="The channel the profile is for (e.g. linkedin).")
    kind: str = Field(description="The kind of writing it is for (post, article).")
    source: str = Field(description="What it was measured on: 'linkedin posts', 'posts' (all "
                        "channels, when the author has none on this one), 'all writing', or "
                        "'generic' (no writing on record).")
    posts: int = Field(description="How many texts it was measured on.")
    words: Range
    paragraphs: Range
    words_per_paragraph: Range
    longest_paragraph: Range = Field(description="Words in a post's longest paragraph.")
    one_line_share: Range = Field(description="Share of a post's paragraphs that are one "
                                  "sentence on one line.")
    hashtag_share: float = Field(description="Share of posts with at least one hashtag.")
    hashtags_per_post: Range = Field(description="Hashtags in a post, over posts with any.")
    hashtag_placement: Literal["end", "inline", "none"] = Field(
        description="Where the author puts hashtags: in closing lines, inside the text, or "
        "nowhere.")
    top_hashtags: list[str] = Field(default_factory=list,
                                    description="The author's most used hashtags, as written.")
    hashtag_words: dict[str, list[str]] = Field(
        default_factory=dict, description="For each top hashtag, the word stems most typical "
        "of the author's posts that carry it (to pick the author's hashtags for a draft).")
    heading_share: float = Field(description="Share of posts with a markdown heading.")
    markup_share: float = Field(
        default=0.0, description="Share of posts with bold or inline-code markdown.")
    code_share: float = Field(
        default=0.0, description="Share of posts with a fenced code block.")
    sign_off_share: float = Field(
        default=0.0, description="Share of posts closed by a signature ('— Maya').")
    emoji_share: float = Field(description="Share of posts with an emoji.")
    emoji_per_post: Range

    @property
    def described(self) -> str:
        """What the profile was measured on, for a check's reason: "your linkedin posts"."""
        return "generic posts" if self.source == "generic" else f"your {self.source}"

    def writes_short_paragraphs(self) -> bool:
        """Whether most of the author's paragraphs are one sentence on one line (in a typical
        post): the LinkedIn rhythm."""
        return self.one_line_share.median >= 0.5

    def uses_hashtags(self, settings: PostSettings) -> bool:
        """Whether the author tags posts at all."""
        return self.hashtag_share >= settings.habit_share

    def uses_headings(self, settings: PostSettings) -> bool:
        """Whether the author writes markdown headings on this channel."""
        return self.heading_share >= settings.habit_share

    def uses_markup(self, settings: PostSettings) -> bool:
        """Whether the author writes bold or inline-code markdown on this channel."""
        return self.markup_share >= settings.habit_share

    def uses_code(self, settings: PostSettings) -> bool:
        """Whether the author puts fenced code blocks in their writing on this channel."""
        return self.code_share >= settings.habit_share

    def signs_off(self, settings: PostSettings) -> bool:
        """Whether the author closes writing on this channel with a signature."""
        return self.sign_off_share >= settings.habit_share

    def uses_emoji(self, settings: PostSettings) -> bool:
        """Whether the author uses emoji on this channel."""
        return self.emoji_share >= settings.habit_share

    def length_bounds(self, settings: PostSettings,
                      max_words: int | None = None) -> tuple[int, int]:
        """Fewest and most words a draft may have: the author's range widened by the slack;
        a request's own ``max_words`` caps it (and lowers the floor to half of it when the
        request asks for less than the author usually writes)."""
        low, high = self.words.bounds(settings.slack)
        if max_words is not None:
            low, high = min(low, max_words / 2), min(high, max_words)
        return int(low), int(high)

    def max_words(self, settings: PostSettings, max_words: int | None = None) -> int:
        """The most words a draft may have (see :meth:`length_bounds`)."""
        return self.length_bounds(settings, max_words)[1]

    def most_paragraph_words(self, settings: PostSettings) -> int:
        """The most words one paragraph of a draft may have: the author's longest paragraph,
        widened by the slack (an extreme, so the maximum rather than a percentile)."""
        return int(self.longest_paragraph.max * (1 + settings.slack))

    def save(self, folder: Path) -> Path:
        """Write the profile as ``channel_profile.json`` into ``folder`` (a dataset's)."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / PROFILE_FILE
        path.write_text(self.model_dump_json(indent=2), encoding="utf-8")
        return path

    @classmethod
    def load(cls, folder: Path) -> ChannelProfile:
        """Read the profile a dataset folder holds."""
        return cls.model_validate_json((folder / PROFILE_FILE).read_text(encoding="utf-8"))


def generic_profile(settings: PostSettings, platform: str = "linkedin",
                    kind: str = "post") -> ChannelProfile:
    """A profile for an author with no writing on record: a plain LinkedIn post (the generic
    length range, a few closing hashtags allowed, no headings)."""
    words = Range.between(settings.default_min_words, settings.default_max_words)
    return ChannelProfile(
        platform=platform, kind=kind, source="generic", posts=0, words=words,
        paragraphs=Range.between(1, 20), words_per_paragraph=Range.between(5, 60),
        longest_paragraph=Range.between(5, 120),
        one_line_share=Range.between(0, 1), hashtag_share=0.5,
        hashtags_per_post=Range.between(0, 5), hashtag_placement="end", heading_share=0.0,
        emoji_share=0.5, emoji_per_post=Range.between(0, 3))


@dataclass(frozen=True)
class _Piece:
    platform: str
    kind: str
    text: str


def _piece(document: Document | Mapping[str, Any]) -> _Piece | None:
    """A document or a warehouse row (the dataset stage's dicts) as what the profile reads;
    None for what is not the author's own prose (repositories, material saved from links)."""
    get = document.get if isinstance(document, Mapping) else partial(getattr, document)
    metadata = get("metadata", None) or {}
    if isinstance(metadata, str):  # rows carry metadata as JSON text
        metadata = json.loads(metadata or "{}")
    kind, platform = (str(getattr(v, "value", v)) for v in (get("kind", ""), get("platform", "")))
    text = str(get("text", "") or "")
    if kind == Kind.REPOSITORY.value or not text.strip() or metadata.get("origin") == LINK_ORIGIN:
        return None
    return _Piece(platform=platform, kind=kind, text=text)


def _select(pieces: list[_Piece], platform: str, kind: str) -> tuple[list[_Piece], str]:
    """The author's texts to measure: this channel's, else this kind anywhere, else all prose."""
    own = [d for d in pieces if d.platform == platform and d.kind == kind]
    if own:
        return own, f"{platform} {kind}s"
    same_kind = [d for d in pieces if d.kind == kind]
    if same_kind:
        return same_kind, f"{kind}s"
    return pieces, "all writing"


def _hashtag_words(texts: list[str], tags: list[str], size: int) -> dict[str, list[str]]:
    """Per hashtag, the stems whose share among the posts carrying it most exceeds their share
    among all posts (ties: more such posts first, then alphabetical)."""
    per_post = [(stems(t), {h.lower() for h in hashtags(t)}) for t in texts]
    overall = Counter(w for words, _ in per_post for w in words)
    out: dict[str, list[str]] = {}
    for tag in tags:
        carrying = [words for words, own in per_post if tag.lower() in own]
        counts = Counter(w for words in carrying for w in words)
        lift = {w: (c / len(carrying)) / (overall[w] / len(per_post)) for w, c in counts.items()}
        ranked = sorted(counts, key=lambda w: (-lift[w], -counts[w], w))
        out[tag] = [w for w in ranked if lift[w] > 1][:size]
    return out


def channel_profile(documents: Iterable[Document | Mapping[str, Any]], settings: PostSettings,
                    platform: str = "linkedin", kind: str = "post") -> ChannelProfile:
    """The author's profile on ``platform`` from their documents (plain texts as stored in the
    warehouse): their own posts there, or all their posts when they have none there, or all
    their prose; the generic profile when there is nothing. Warehouse rows (dicts with
    ``platform``, ``kind``, ``text`` and ``metadata``) do as well as documents; repositories and
    material saved from a request's links (someone else's words) are left out."""
    pieces = [p for p in map(_piece, documents) if p is not None]
    chosen, source = _select(pieces, platform, kind)
    if not chosen:
        return generic_profile(settings, platform, kind)
    texts = [d.text for d in chosen]
    rows = [Anatomy.of(t) for t in texts]
    tagged = [r for r in rows if r.hashtags]
    at_end = sum(r.hashtags_at_end for r in tagged)
    placement = "none" if not tagged else "end" if at_end * 2 >= len(tagged) else "inline"
    spelled: dict[str, Counter[str]] = {}
    for text in texts:
        for tag in hashtags(text):
            spelled.setdefault(tag.lower(), Counter())[tag] += 1
    ranked = sorted(spelled.values(), key=lambda c: (-sum(c.values()), c.most_common(1)[0][0]))
    n = len(rows)
    top = [c.most_common(1)[0][0] for c in ranked[:settings.top_hashtags]]
    return ChannelProfile(
        platform=platform, kind=kind, source=source, posts=n,
        words=Range.of([r.words for r in rows], settings),
        paragraphs=Range.of([r.paragraphs for r in rows], settings),
        words_per_paragraph=Range.of([r.words_per_paragraph for r in rows], settings),
        longest_paragraph=Range.of([r.longest_paragraph for r in rows], settings),
        one_line_share=Range.of([r.one_line_share for r in rows], settings),
        hashtag_share=len(tagged) / n,
        hashtags_per_post=Range.of([r.hashtags for r in tagged] or [0], settings),
        hashtag_placement=placement,
        top_hashtags=top,
        hashtag_words=_hashtag_words(texts, top, settings.hashtag_words),
        heading_share=sum(r.headings > 0 for r in rows) / n,
        markup_share=sum(r.markup > 0 for r in rows) / n,
        code_share=sum(r.code_blocks > 0 for r in rows) / n,
        sign_off_share=sum(r.signed for r in rows) / n,
        emoji_share=sum(r.emoji > 0 for r in rows) / n,
        emoji_per_post=Range.of([r.emoji for r in rows], settings))
