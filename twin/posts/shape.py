"""Deterministic transforms that make a draft a post of the author's channel.

A small model's draft often carries an article's markdown (headings, image links, citation
marks), invented links, hashtags the author would not write and an unfinished last sentence.
:func:`shape` removes those and fits the length and paragraph rhythm to the author's profile,
never adding words of its own except the author's own hashtags.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from twin.markup import (
    CITATION,
    CODE_BLOCK,
    FENCE,
    HASHTAG,
    HEADING_MARK,
    HTML_IMAGE,
    IMAGE_FILE,
    MARKDOWN_LINK,
    REFERENCE_DEFINITION,
    REFERENCE_LINK,
    TAG,
    WEB_AUTOLINK,
    link_target,
    urls_in,
)
from twin.posts.grounding import Grounding
from twin.posts.profile import ChannelProfile
from twin.posts.text import (
    LIST_ITEM,
    MARKUP,
    RULE,
    TITLE_LABEL,
    emoji_count,
    emoji_spans,
    ends_sentence,
    hashtags,
    join_paragraphs,
    paragraphs,
    sentence_ends,
    sentences,
    split_closing,
    split_tags,
    stems,
    tag_as_words,
    tag_words,
    word_count,
)
from twin.settings import PostSettings

_LINE_END_TAGS = re.compile(rf"(?:[ \t]+#{TAG})+[ \t]*$")
T = TypeVar("T")
_CODE_MARK = "\u2063"  # invisible separator: marks a held-back code block (no word, no end)
_SPACES = re.compile(r"[ \t]{2,}")
_SPACE_BEFORE_PUNCT = re.compile(r"[ \t]+([,.;:!?])")


@dataclass
class Shaped:
    """A shaped draft, what shaping changed, and what a reader should be told."""

    text: str
    changes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def strip_markdown_links(text: str) -> tuple[str, int]:
    """Images and links to image files removed; ``[text](url)`` and ``[text][ref]`` become
    their text; reference definitions, citation marks and HTML images dropped. Returns the text
    and how many pieces of markup went."""
    count = 0

    def sub(pattern: re.Pattern[str], repl: str, value: str) -> str:
        nonlocal count
        value, n = pattern.subn(repl, value)
        count += n
        return value

    def link(match: re.Match[str]) -> str:
        nonlocal count
        count += 1
        if match.group("image") or IMAGE_FILE.search(link_target(match)):
            return ""
        return MARKDOWN_LINK.sub(link, match.group("text"))  # a badge image inside a link

    text = sub(HTML_IMAGE, "", text)
    text = MARKDOWN_LINK.sub(link, text)
    text = sub(REFERENCE_LINK, r"\1", text)
    text = sub(REFERENCE_DEFINITION, "", text)
    text = sub(CITATION, "", text)
    text = sub(WEB_AUTOLINK, r"\1", text)
    return text, count


def remove_urls(text: str, grounding: Grounding, link_line_words: int) -> str:
    """``text`` without the URLs that are not among the request's or sources'; a sentence
    that is little more than such a link ("Read more at ...") goes with it."""
    out = []
    for block in paragraphs(text):
        if all(grounding.has_url(u) for u in urls_in(block)):
            out.append(block)
            continue
        kept = []
        for sentence in sentences(block):
            bad = [u for u in urls_in(sentence) if not grounding.has_url(u)]
            for url in bad:
                sentence = _tidy_line(sentence.replace(url, ""))
            if bad and word_count(sentence) <= link_line_words:
                continue
            kept.append(sentence)
        if kept:
            out.append(_rejoin(block, kept))
    return join_paragraphs(out)


def _rejoin(block: str, kept: list[str]) -> str:
    """Sentences of one paragraph joined as the paragraph had them (by line or by space)."""
    return ("\n" if "\n" in block else " ").join(kept)


def _line_end_tags(text: str) -> tuple[str, list[str]]:
    """Hashtags that close a line after its sentence ("... feed! #Innovation") taken off it."""
    lines, tags = [], []
    for line in text.split("\n"):
        match = _LINE_END_TAGS.search(line)
        if match and ends_sentence(line[:match.start()]):
            tags += hashtags(match.group(0))
            line = line[:match.start()].rstrip()
        lines.append(line)
    return "\n".join(lines), tags


def _plain_tags(text: str) -> str:
    """Inline hashtags as the words they are made of (capitalised at a sentence's start)."""
    def words(match: re.Match[str]) -> str:
        plain = tag_as_words(match.group(1))
        before = text[max(0, match.start() - 200):match.start()].rstrip(" \t")
        start = not before.strip() or before[-1] in ".!?\n"
        return plain[:1].upper() + plain[1:] if start else plain

    return HASHTAG.sub(words, text)


def remove_headings(text: str) -> tuple[str, int]:
    """Heading lines ("## ...", "Title: ...") and horizontal rules removed (outside code
    fences); a heading that is a whole sentence stays as a line of prose. Returns the text and
    how many lines changed."""
    lines, changed, fenced = [], 0, False
    for line in text.split("\n"):
        if FENCE.match(line):
            fenced = not fenced
        if not fenced and (match := HEADING_MARK.match(line) or TITLE_LABEL.match(line)):
            changed += 1
            rest = line[match.end():].rstrip().rstrip("#").strip()
            if rest and ends_sentence(rest):
                lines.append(rest)
            continue
        if not fenced and RULE.match(line):
            changed += 1
            continue
        lines.append(line)
    return "\n".join(lines), changed


def _matching_tags(body: str, profile: ChannelProfile, settings: PostSettings) -> list[str]:
    """The author's own hashtags that fit the draft, best first: each scores the draft's stems
    shared with the posts the author put it on, and twice those of its own words."""
    draft = stems(body)
    scored = []
    for rank, tag in enumerate(profile.top_hashtags):
        own = stems(" ".join(tag_words(tag)))
        score = len(draft & set(profile.hashtag_words.get(tag, []))) + 2 * len(draft & own)
        if score >= settings.hashtag_min_score:
            scored.append((-score, rank, tag))
    return [tag for _, _, tag in sorted(scored)]


def normalise_hashtags(text: str, profile: ChannelProfile,
                       settings: PostSettings) -> tuple[str, list[str]]:
    """Hashtags the way the author uses them: none when they never tag; in closing lines (and
    as plain words inside the text) when they tag at the end; at most their most per post,
    and their own matching hashtags added when a draft has fewer than they ever write."""
    changes: list[str] = []
    body, end_tags = split_tags(text)
    body, line_tags = _line_end_tags(body)
    end_tags = line_tags + end_tags
    inline = hashtags(body)
    if not profile.uses_hashtags(settings):
        if inline or end_tags:
            changes.append(f"removed {len(inline) + len(end_tags)} hashtag(s): the author does "
                           "not use them")
        return _plain_tags(body), changes
    if profile.hashtag_placement == "inline":
        return text, changes
    if inline or line_tags:
        body = _plain_tags(body)
        changes.append(f"moved {len(inline) + len(line_tags)} hashtag(s) to the end, where "
                       "the author puts them")
    spelled = {t.lower(): t for t in profile.top_hashtags}  # #sre -> #SRE, as she writes it
    tags: list[str] = []
    for tag in end_tags + inline:  # each once, in the order they came
        if tag.lower() not in {t.lower() for t in tags}:
            tags.append(spelled.get(tag.lower(), tag))
    most = int(profile.hashtags_per_post.max)
    fewest = int(profile.hashtags_per_post.min)
    always = profile.hashtag_share >= 1 - settings.habit_share
    if settings.add_hashtags and always and len(tags) < fewest:
        have = {t.lower() for t in tags}
        added = [t for t in _matching_tags(body, profile, settings) if t.lower() not in have]
        added = added[:fewest - len(tags)]
        if added:
            tags += added
            changes.append(f"added the author's hashtag(s) {' '.join('#' + t for t in added)}")
    if len(tags) > most:
        changes.append(f"kept {most} of {len(tags)} hashtags (the author's most)")
        tags = tags[:most]
    if not tags:
        return body, changes
    return join_paragraphs([body, " ".join("#" + t for t in tags)]), changes


def strip_markup(text: str) -> tuple[str, int]:
    """Bold and inline-code markdown reduced to its text (nested pieces too); how many pieces
    went."""
    total = 0
    while True:
        text, n = MARKUP.subn(lambda m: next(g for g in m.groups() if g is not None), text)
        if not n:
            return text, total
        total += n


def normalise_emoji(text: str, profile: ChannelProfile,
                    settings: PostSettings) -> tuple[str, int]:
    """Emoji the way the author uses them: none when they never do, else repeats of one emoji
    collapsed and at most the author's most per post (the first ones kept). Returns the text
    and how many emoji went."""
    most = max(int(profile.emoji_per_post.max), 1) if profile.uses_emoji(settings) else 0
    before = emoji_count(text)
    if before <= most:
        return text, 0
    out, at, kept, last = [], 0, 0, ""
    for start, end in emoji_spans(text):
        between, emoji = text[at:start], text[start:end]
        out.append(between)
        if kept < most and not (emoji == last and not between):  # 🚀🚀🚀 is one
            out.append(emoji)
            kept += 1
        at, last = end, emoji
    out.append(text[at:])
    text = "".join(out)
    return text, before - emoji_count(text)


def reflow(text: str, profile: ChannelProfile, settings: PostSettings) -> tuple[str, int]:
    """Split paragraphs far longer than the author's at sentence boundaries into paragraphs of
    about the author's usual size, when the author writes short paragraphs. Returns the text
    and how many paragraphs were split."""
    if not profile.writes_short_paragraphs():
        return text, 0
    longest = profile.longest_paragraph.bounds(settings.slack)[1]  # her usual, not her extreme
    target = max(profile.words_per_paragraph.median, 1.0)
    out, split = [], 0
    for block in paragraphs(text):
        parts = sentences(block)
        if word_count(block) <= longest or len(parts) < 2 or LIST_ITEM.match(block):
            out.append(block)
            continue
        split += 1
        group: list[str] = []
        for sentence in parts:
            if group and word_count(" ".join(group + [sentence])) > target:
                out.append(" ".join(group))
                group = []
            group.append(sentence)
        out.append(" ".join(group))
    return join_paragraphs(out), split


def cut_to_sentence(text: str, max_words: int | None = None) -> str:
    """``text`` ending at its last complete sentence, and within ``max_words`` when a sentence
    ends in time (else at the first sentence end after it). Unchanged when no sentence ends."""
    ends = sentence_ends(text)
    if not ends:
        return text.strip()
    if max_words is None:
        return text[:ends[-1]].strip()
    # Words up to each end, counted piece by piece (a token split by an end counts once:
    # ends fall on whitespace or the text's end, so none is).
    fitting, words, start = None, 0, 0
    for end in ends:
        words += word_count(text[start:end])
        start = end
        if words > max_words:
            break
        fitting = end
    return text[:fitting if fitting is not None else ends[0]].strip()


def _tidy_line(line: str) -> str:
    """A line a removal left gaps in: single spaces, none before punctuation."""
    return _SPACE_BEFORE_PUNCT.sub(r"\1", _SPACES.sub(" ", line)).strip()


def _tidy_changed(before: str, after: str) -> str:
    """``after`` with the lines a transform changed tidied (the author's own spacing elsewhere
    is left as it is)."""
    old, new = before.split("\n"), after.split("\n")
    if len(old) != len(new):
        return after
    return "\n".join(n if n == o else _tidy_line(n) for o, n in zip(old, new, strict=True))


def _tidy(text: str) -> str:
    """Trailing spaces and paragraphs a removal left empty (or only punctuation) gone."""
    lines = [line.rstrip() for line in text.split("\n")]
    blocks = [b for b in paragraphs("\n".join(lines)) if b.strip(" \t-–—:|,.")]
    return join_paragraphs(blocks)


def _tracked(transform: Callable[..., tuple[str, T]], text: str, *args: Any) -> tuple[str, T]:
    """Run a transform, tidying the lines it changed."""
    after, result = transform(text, *args)
    return _tidy_changed(text, after), result


def _mask_code(text: str) -> tuple[str, list[str]]:
    """Code blocks swapped for placeholder paragraphs, so prose transforms (link stripping,
    hashtags, spacing, reflow, cuts) never touch code; :func:`_unmask_code` puts them back."""
    blocks: list[str] = []

    def hold(match: re.Match[str]) -> str:
        blocks.append(match.group(0).rstrip())
        return f"\n\n{_CODE_MARK}{len(blocks) - 1}{_CODE_MARK}\n\n"

    return CODE_BLOCK.sub(hold, text), blocks


def _unmask_code(text: str, blocks: list[str]) -> str:
    return re.sub(rf"{_CODE_MARK}(\d+){_CODE_MARK}", lambda m: blocks[int(m.group(1))], text)


def shape(draft: str, profile: ChannelProfile, settings: PostSettings,
          grounding: Grounding | None = None, max_words: int | None = None) -> Shaped:
    """``draft`` made a post of the author's channel: markdown link and image syntax stripped,
    URLs absent from the request and sources removed (when ``grounding`` is given), code
    blocks, headings and bold/code markdown removed unless the author writes them, emoji and
    hashtags as the author uses them, long paragraphs split to the author's rhythm, cut to the
    author's most words and to a complete last sentence. Names and numbers the sources do not
    hold are flagged in ``notes``. ``max_words``: the request's own cap on length."""
    out = Shaped(text=draft.replace("\r\n", "\n").replace("\r", "\n").strip())
    invented = grounding.missing(out.text, settings.min_checked_number).urls if grounding else []
    text = out.text
    if not profile.uses_code(settings):
        text, removed = CODE_BLOCK.subn("", text)
        if removed:
            out.changes.append(f"removed {removed} code block(s): the author puts none here")
    text, code = _mask_code(text)
    text, links = _tracked(strip_markdown_links, text)
    if links:
        out.changes.append(f"removed {links} piece(s) of link or image markup")
    if grounding is not None:
        text = remove_urls(text, grounding, settings.link_line_words)
    if not profile.uses_headings(settings):
        text, headings = remove_headings(text)
        if headings:
            out.changes.append(f"removed {headings} heading line(s): the author writes none "
                               "here")
    if not profile.uses_markup(settings):
        text, markup = strip_markup(text)
        if markup:
            out.changes.append(f"removed {markup} piece(s) of bold or code markdown")
    text, emoji = _tracked(normalise_emoji, text, profile, settings)
    if emoji:
        out.changes.append(f"removed {emoji} emoji beyond the author's habit")
    text = _tidy(text)
    text, tag_changes = _tracked(normalise_hashtags, text, profile, settings)
    out.changes += tag_changes
    if settings.reflow:
        text, split = reflow(text, profile, settings)
        if split:
            out.changes.append(f"split {split} long paragraph(s) to the author's rhythm")
    body, closing, tags = split_closing(text)
    if closing and not profile.signs_off(settings):
        out.changes.append("removed the sign-off: the author does not sign here")
        closing = ""
    most = profile.max_words(settings, max_words)
    cut = cut_to_sentence(body, most if word_count(body) > most else None)
    if word_count(cut) < word_count(body):
        out.changes.append(f"trimmed to {most} words, at a sentence" if word_count(body) > most
                           else "cut an unfinished last sentence")
    out.text = _unmask_code(join_paragraphs([_tidy(cut), closing,
                                             " ".join("#" + t for t in tags)]), code)
    removed = [u for u in invented if u not in out.text]  # a link inside kept code stays
    if removed:
        out.changes.append(f"removed {len(removed)} link(s) not among the sources")
        out.notes += [f"removed a link that is not among the sources: {u}" for u in removed]
    if grounding is not None:
        missing = grounding.missing(out.text, settings.min_checked_number)
        out.notes += [f"not in the request or the sources, check it: {n}"
                      for n in missing.names + missing.numbers]
    return out
