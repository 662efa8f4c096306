"""Boilerplate removal: what a platform or a theme adds around the author's words.

Three layers, from the most to the least certain:

- :func:`strip_widgets` removes known widgets from parsed HTML (Substack subscribe boxes and
  buttons, Medium's clap and share bars, WordPress share and related-posts blocks, comment and
  signup forms, hidden labels) by a table of CSS selectors, and turns embedded posts by other
  people (tweets, Bluesky posts) into plain ``<blockquote>`` elements holding only their text
  and the author's handle, so that they become ``> `` lines in markdown;
- :func:`drop_widget_lines` removes markdown lines that are nothing but a widget's label
  ("Subscribe now", "Leave a comment"), matched as whole lines, never inside a sentence;
- :func:`drop_repeated_lines` removes, across one site's documents of one collection run, the
  short lines that most of them share (a sign-up footer the selectors did not know).
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import soupsieve
from bs4 import BeautifulSoup, NavigableString, Tag

from twin.domain import Document, Kind, content_hash
from twin.markup import FENCE, link_text


@dataclass(frozen=True)
class WidgetRule:
    """Elements matching ``selector`` are removed with their contents.

    ``max_words``: only elements holding at most this many words are removed, for selectors
    that also match the author's text now and then (text hidden behind a "read more").
    """

    selector: str
    reason: str
    max_words: int | None = None


# Sources of the class names: saved Substack post bodies (Mr-Destructive/meetgor.com
# posts/newsletter/*.md), TryGhost/migrate packages/mg-substack (lib/process.js and its tests),
# Jetpack's markup in saved WordPress posts (SathyaBhat/sathyasays.com before "remove jetpack"),
# and the class lists of public article extractors for Medium's page chrome.
WIDGET_RULES: tuple[WidgetRule, ...] = (
    # Substack
    WidgetRule(".subscription-widget-wrap, .subscription-widget-wrap-editor, "
               ".subscription-widget, .subscribe-widget, "
               '[data-component-name="SubscribeWidgetToDOM"]', "substack subscribe widget"),
    WidgetRule('.button-wrapper, [data-component-name="ButtonCreateButton"]',
               "substack button"),
    WidgetRule('.captioned-button-wrap, [data-component-name="CaptionedButtonToDOM"]',
               "substack share or subscribe call to action"),
    WidgetRule(".share-dialog, .post-ufi, .like-button-container, .post-footer, .footer-wrap, "
               ".subscribe-footer, .publication-footer, .install-substack-app",
               "substack share and like bars"),
    WidgetRule("label.hide-text, .preformatted-block > label", "substack editor label"),
    WidgetRule(".digest-post-embed, .embedded-post-wrap, .embedded-post, "
               ".embedded-publication-wrap, "
               '[data-component-name="DigestPostEmbedComponent"]',
               "card of another post"),
    WidgetRule(".paywall, .header-anchor-parent, .image-link-expand",
               "substack paywall and link buttons"),
    WidgetRule(".comments-page, .comments-section", "comments"),
    # Medium
    WidgetRule(".speechify-ignore", "medium page chrome (byline bar, clap and share buttons)"),
    WidgetRule('[data-testid="headerClapButton"], [data-testid="footerClapButton"], '
               '[data-testid="headerSocialActions"], [data-testid="footerSocialActions"], '
               '[data-testid="postSidebarActions"], [data-testid="audioPlayButton"], '
               ".pw-multi-vote-count, .pw-multi-vote-icon, .pw-responses-count, "
               ".pw-member-badge", "medium clap, respond and follow buttons"),
    # WordPress (Jetpack) and other blog engines
    WidgetRule("#jp-post-flair, .sharedaddy, .sd-sharing, .sd-like, "
               ".jetpack-likes-widget-wrapper, .wp-block-jetpack-sharing-buttons",
               "share and like buttons"),
    WidgetRule("#jp-relatedposts, .jp-relatedposts, .yarpp-related, .related-posts",
               "related posts"),
    WidgetRule(".wp-block-jetpack-subscriptions, .jetpack_subscription_widget, "
               "#mc_embed_signup, .mc4wp-form, .formkit-form, .newsletter-signup, "
               ".kg-signup-card, .wp-block-buttons:has(a[href*='subscribe' i]), "
               ".wp-block-buttons:has(a[href*='signup' i])", "newsletter signup"),
    WidgetRule("#comments, .comments-area, #respond, .comment-respond, .comment-form, "
               ".commentlist, ol.comment-list", "comments"),
    WidgetRule(".addtoany_share_save_container, .a2a_kit, .shareaholic-canvas, "
               ".sharethis-inline-share-buttons, .share-buttons, .social-share, "
               ".bctt-ctt-btn", "share buttons"),
    WidgetRule(".screen-reader-text, .sharing-screen-reader-text",
               "screen-reader label", max_words=15),
    # Generic: what a reader never sees, and page furniture
    # A form that is a signup, search or comment box; a bare <form> may wrap a whole page.
    WidgetRule('form:has(input[type="email" i]), form:has(textarea), form[role="search"], '
               'form[action*="subscribe" i], form[action*="signup" i], '
               'form[action*="comment" i], form[action*="newsletter" i], '
               'form[class*="subscribe" i], form[class*="newsletter" i], '
               'form[class*="search" i]', "signup, search or comment form", max_words=150),
    WidgetRule("footer:not(blockquote footer, figure footer)", "footer"),
    WidgetRule("[hidden]", "hidden element", max_words=30),
    WidgetRule('[style*="display:none" i], [style*="display: none" i], '
               '[style*="visibility:hidden" i], [style*="visibility: hidden" i]',
               "invisible element", max_words=30),
    WidgetRule('div[aria-hidden="true"], section[aria-hidden="true"], '
               'aside[aria-hidden="true"], figure[aria-hidden="true"], '
               'ul[aria-hidden="true"], ol[aria-hidden="true"], nav[aria-hidden="true"]',
               "decorative block", max_words=30),
)

# Embedded posts by other people, each turned into a plain blockquote.
_SUBSTACK_TWEET = ('div.tweet:has(.tweet-header, .tweet-text), div.tweet[data-attrs], '
                   'div.twitter-embed, [data-component-name="Twitter2ToDOM"]')
_EMBEDS = soupsieve.compile(f"{_SUBSTACK_TWEET}, blockquote.twitter-tweet, "
                            "blockquote.bluesky-embed, blockquote.mastodon-embed")
_SUBSTACK_TWEET_SELECTOR = soupsieve.compile(_SUBSTACK_TWEET)
_TWEET_DROPPED = (".tweet-header, .tweet-footer, .tweet-ufi, .tweet-date, .quoted-tweet, "
                  ".tweet-quoted, .tweet-link-bottom, .tweet-photo, .tweet-video-wrapper, img")
_HANDLE = re.compile(r"\(\s*(@[\w.-]+)\s*\)")
_STATUS_LINK = re.compile(r"(?:twitter|x)\.com/(\w{1,15})/status/", re.I)
_MEDIA_LINK = re.compile(r"^(?:https?://)?pic\.(?:twitter|x)\.com/", re.I)

_COMPILED = tuple((rule, soupsieve.compile(rule.selector)) for rule in WIDGET_RULES)
_WORD = re.compile(r"\w+")


def _split_top_level(selector: str) -> list[str]:
    """The comma-separated alternatives of a selector list (commas in () and [] kept)."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in selector:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    parts.append("".join(current).strip())
    return [p for p in parts if p]


def _subject_key(alternative: str) -> tuple[str, str]:
    """One feature every element matching ``alternative`` has: a class, id, attribute or tag."""
    text = alternative
    while re.search(r"\([^()]*\)", text):
        text = re.sub(r"\([^()]*\)", "", text)
    text = re.sub(r"\[\s*([\w-]+)[^\]]*\]", r"[\1]", text)
    compound = re.split(r"\s*[\s>+~]\s*", text.strip())[-1]
    for kind, pattern in (("class", r"\.([\w-]+)"), ("id", r"#([\w-]+)"),
                          ("attr", r"\[([\w-]+)\]"), ("tag", r"^([a-zA-Z][\w-]*)")):
        found = re.search(pattern, compound)
        if found:
            return kind, found.group(1).lower()
    raise ValueError(f"widget selector without a class, id, attribute or tag: {alternative!r}")


def _prefilter() -> dict[str, frozenset[str]]:
    keys: dict[str, set[str]] = {"class": set(), "id": set(), "attr": set(), "tag": set()}
    for rule in WIDGET_RULES:
        for alternative in _split_top_level(rule.selector):
            kind, name = _subject_key(alternative)
            keys[kind].add(name)
    return {kind: frozenset(names) for kind, names in keys.items()}


# Testing every element against every selector is slow on a whole page; an element can only
# match if it has one of these features, so only those are tested.
_KEYS = _prefilter()


def _may_match(tag: Tag) -> bool:
    if tag.name in _KEYS["tag"] or tag.get("id") in _KEYS["id"]:
        return True
    classes = tag.get("class")
    if classes and not _KEYS["class"].isdisjoint(c.lower() for c in classes):
        return True
    return not _KEYS["attr"].isdisjoint(tag.attrs)


def strip_widgets(soup: BeautifulSoup | Tag) -> Counter[str]:
    """Remove known widgets from a parsed tree, in place; embedded posts become blockquotes.

    Returns how many elements were removed (or embeds rewritten), by reason.
    """
    removed: Counter[str] = Counter()
    for embed in _EMBEDS.select(soup):
        if embed.decomposed or _inside_removed(embed):
            continue
        quote = _embed_quote(soup, embed)
        if quote is None:
            embed.decompose()
        else:
            embed.replace_with(quote)
        removed["embedded post by someone else"] += 1
    candidates = [t for t in soup.find_all(True) if _may_match(t)]
    for element in candidates:
        if element.decomposed:
            continue
        for rule, compiled in _COMPILED:
            if not compiled.match(element):
                continue
            if rule.max_words is not None and _words(element) > rule.max_words:
                continue
            element.decompose()
            removed[rule.reason] += 1
            break
    return removed


def clean_page_html(html: str) -> str:
    """A whole page with the widgets of :data:`WIDGET_RULES` removed, as HTML.

    Meant to run before a generic extractor (trafilatura): scripts, JSON-LD and metadata in
    ``<head>`` are kept; Medium's byline bar (``.speechify-ignore``) goes with the buttons.
    """
    if not html or not html.strip():
        return html
    soup = BeautifulSoup(html, "lxml")
    strip_widgets(soup)
    return str(soup)


def _inside_removed(tag: Tag) -> bool:
    # decompose() leaves descendants attached to a detached parent: walk up to the document.
    node: Any = tag
    while node.parent is not None:
        node = node.parent
    return not isinstance(node, BeautifulSoup)


def _words(tag: Tag) -> int:
    return len(_WORD.findall(tag.get_text(" ")))


# Embedded posts ----------------------------------------------------------------------------

def _embed_quote(soup: BeautifulSoup | Tag, embed: Tag) -> Tag | None:
    """A blockquote with only the embedded post's text and its author's handle, or None."""
    if _SUBSTACK_TWEET_SELECTOR.match(embed):
        paragraphs, handle, quoted = _substack_tweet(embed)
    else:
        paragraphs, handle, quoted = _standard_embed(embed), _embed_handle(embed), None
    paragraphs = [p for p in paragraphs if p.strip()]
    if not paragraphs:
        return None
    return _blockquote(soup, paragraphs, handle, quoted)


_Quoted = tuple[list[str], str | None]  # a quoted post's paragraphs and handle


def _substack_tweet(embed: Tag) -> tuple[list[str], str | None, _Quoted | None]:
    attrs = _data_attrs(embed)
    handle = _first_text(embed, ".tweet-author-handle, .tweet-author")
    quoted: _Quoted | None = None
    quoted_tag = embed.select_one(".quoted-tweet, .tweet-quoted")
    if quoted_tag is not None:
        quoted_handle = _first_text(quoted_tag, ".quote-tweet-username, .tweet-author-handle")
        for label in quoted_tag.select(".quote-tweet-name, .quote-tweet-username, "
                                       ".tweet-author-name, .tweet-author-handle"):
            label.decompose()
        quoted = (_paragraphs(quoted_tag), quoted_handle)
    text_tag = embed.select_one(".tweet-text")
    if text_tag is None:  # the older markup: the text sits between the header and the footer
        for dropped in embed.select(_TWEET_DROPPED):
            if not dropped.decomposed:
                dropped.decompose()
        text_tag = embed
    paragraphs = _paragraphs(text_tag)
    if not "".join(paragraphs).strip() and attrs:  # the API's empty element: text in data-attrs
        paragraphs = _split_paragraphs(str(attrs.get("full_text") or ""))
        quoted_data = attrs.get("quoted_tweet")
        if isinstance(quoted_data, dict) and quoted_data.get("full_text"):
            quoted = (_split_paragraphs(str(quoted_data["full_text"])),
                      _at(quoted_data.get("username")))
    if not handle and attrs:
        handle = _at(attrs.get("username"))
    return paragraphs, _at(handle), quoted


def _standard_embed(embed: Tag) -> list[str]:
    """The paragraphs of a ``blockquote.twitter-tweet`` / ``bluesky-embed`` (not the credit)."""
    for link in embed.find_all("a"):
        label = link.get_text().strip()
        if _MEDIA_LINK.match(label) or label == "[image or embed]":
            link.decompose()
    return [text for p in embed.find_all("p") for text in _paragraphs(p)]


def _embed_handle(embed: Tag) -> str | None:
    own_text = " ".join(s for s in embed.find_all(string=True, recursive=False))
    match = _HANDLE.search(own_text)
    if match:
        return match.group(1)
    for link in embed.find_all("a", href=True, recursive=False):  # not the post's own links
        text = link.get_text().strip()
        if text.startswith("@") and " " not in text:
            return text
        match = _HANDLE.search(text)  # Bluesky: <a>Name (@handle)</a>
        if match:
            return match.group(1)
        status = _STATUS_LINK.search(str(link["href"]))
        if status:
            return "@" + status.group(1)
    return None


def _blockquote(soup: BeautifulSoup | Tag, paragraphs: list[str], handle: str | None,
                quoted: _Quoted | None) -> Tag:
    factory = soup if isinstance(soup, BeautifulSoup) else BeautifulSoup("", "html.parser")
    quote = factory.new_tag("blockquote")
    for text in paragraphs:
        quote.append(_paragraph(factory, text))
    if quoted is not None and any(p.strip() for p in quoted[0]):
        inner = _blockquote(factory, [p for p in quoted[0] if p.strip()], quoted[1], None)
        quote.append(inner)
    if handle:
        quote.append(_paragraph(factory, f"— {handle}"))
    return quote


def _paragraph(factory: BeautifulSoup, text: str) -> Tag:
    p = factory.new_tag("p")
    for i, line in enumerate(text.split("\n")):
        if i:
            p.append(factory.new_tag("br"))
        p.append(NavigableString(line.strip()))
    return p


def _paragraphs(tag: Tag) -> list[str]:
    for br in tag.find_all("br"):
        br.replace_with("\n")
    return _split_paragraphs(tag.get_text())


def _split_paragraphs(text: str) -> list[str]:
    blocks = re.split(r"\n\s*\n", text.replace("\r", ""))
    return [b.strip() for b in (re.sub(r"[ \t]+", " ", block) for block in blocks) if b.strip()]


def _first_text(tag: Tag, selector: str) -> str | None:
    found = tag.select_one(selector)
    text = found.get_text().strip() if found is not None else ""
    return text or None


def _at(handle: Any) -> str | None:
    text = str(handle or "").strip()
    if not text:
        return None
    return text if text.startswith("@") else f"@{text}"


def _data_attrs(tag: Tag) -> dict[str, Any]:
    raw = tag.get("data-attrs")
    if not isinstance(raw, str) or not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


# Widget labels as whole markdown lines -----------------------------------------------------

# Each is a full-line pattern (case-insensitive), after link targets, emphasis and heading
# marks are taken off; trailing punctuation is allowed.
WIDGET_LABELS: tuple[str, ...] = (
    r"subscribe(?: now| for free)?",
    r"subscribed",
    r"sign up(?: now| for free)?",
    r"sign in",
    r"get started",
    r"open in app",
    r"share(?: this(?: post| article| story)?)?",
    r"share (?:on|to|via) [\w ]{1,20}",
    r"leave a comment",
    r"discussion about this post",
    r"thanks for reading [^\n]{1,100}?[!.]\s*(?:subscribe for free to receive new posts"
    r"(?: and support my work)?|this post is public so feel free to share it)",
    r"subscribe for free to receive new posts(?: and support my work)?",
    r"type your email(?:…|\.\.\.)?",
    r"upgrade to paid",
    r"give a gift subscription",
    r"get \d{1,3}% off(?: for \d+ years?| forever)?",
    r"pledge your support",
    r"ready for more\?",
    r"listen(?: to this (?:post|episode|article|story))?",
    r"\d{1,3} min read",
    r"member-only story",
    r"follow",
    r"responses \(\d+\)",
    r"see all responses",
    r"recommended from medium",
    r"press enter or click to view image in full size",
    r"like this:",
    r"like loading\.\.\.",
    r"loading\.\.\.",
    r"click to share on [\w ]{1,20}(?: \(opens in new window\))?",
    r"click to (?:email|print)(?: this to a friend)?(?: \(opens in new window\))?",
    r"click to tweet",
)
_LABEL = re.compile(r"(?:" + "|".join(WIDGET_LABELS) + r")[\s.!:…]*", re.I)
# A line that is only a short link to a platform's share, subscribe or comment endpoint (the
# label varies: "Share Techstructive Weekly"); Substack's e-mail templates leave %%...%%.
_WIDGET_LINK = re.compile(
    r"\[\s*\**([^\[\]\n]{1,60}?)\**\s*\]\(\s*<?[^()\s<>]*(?:action=share|utm_content=share|"
    r"share_pub_url|magic_comments_url|[/.]subscribe(?:[/?#)]|$)|gift=true|/comments(?:[?#)]|$))"
    r"[^()\s<>]*>?\s*\)", re.I)


def _label_text(line: str) -> str:
    text = link_text(line.strip(), alt=True)
    text = text.lstrip("#").strip()
    return text.strip("*_~ \t").strip()


def _is_widget_link(line: str) -> bool:
    match = _WIDGET_LINK.fullmatch(line.strip())
    return match is not None and len(_WORD.findall(match.group(1))) <= 6


def drop_widget_lines(markdown: str) -> str:
    """``markdown`` without the lines that are only a widget's label (:data:`WIDGET_LABELS`).

    Whole lines only, case-insensitive; code blocks are left alone, and a sentence that merely
    contains "subscribe" stays.
    """
    if not markdown:
        return markdown
    kept: list[str] = []
    in_fence = False
    dropped = False
    for line in markdown.split("\n"):
        if FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and line.strip() and (_LABEL.fullmatch(_label_text(line))
                                                or _is_widget_link(line)):
            dropped = True
            continue
        kept.append(line)
    return _squeeze_blank_lines(kept).strip() if dropped else markdown


def _squeeze_blank_lines(lines: Iterable[str]) -> str:
    """Lines joined, runs of blank lines outside code blocks made one."""
    out: list[str] = []
    in_fence = False
    for line in lines:
        if FENCE.match(line):
            in_fence = not in_fence
        if not in_fence and not line.strip() and out and not out[-1].strip():
            continue
        out.append(line)
    return "\n".join(out)


# Lines repeated across a site's documents ---------------------------------------------------

@dataclass
class RepeatedLines:
    """What :func:`drop_repeated_lines` removed."""

    removed: dict[str, int] = field(default_factory=dict)  # document id -> lines removed
    lines: dict[str, list[str]] = field(default_factory=dict)  # site -> its boilerplate lines

    @property
    def total(self) -> int:
        """Lines removed from all documents."""
        return sum(self.removed.values())


def site_of(document: Document) -> str:
    """The group a document's boilerplate is shared in: platform and host of its URL."""
    host = (urlsplit(document.url).hostname or "") if document.url else ""
    return f"{document.platform.value}:{host}"


def _line_key(line: str, min_words: int, max_words: int) -> str | None:
    """The comparison key of a line that may be boilerplate, or None for one that may not."""
    text = line.strip()
    # Headings (and hashtag lines) belong to the piece; tables and rules are structure.
    if not text or text.startswith(("#", "|")):
        return None
    n = len(_WORD.findall(text))
    # Below min_words: the author's own sign-off ("— Maya", "Happy coding!"), not a widget.
    if n < max(1, min_words) or n > max_words:
        return None
    return " ".join(text.split()).casefold()


def _keys(text: str, title: str, min_words: int,
          max_words: int) -> list[tuple[int, str | None]]:
    """(line index, key or None) for each line of ``text``, code blocks excluded."""
    out: list[tuple[int, str | None]] = []
    in_fence = False
    title_key = " ".join(title.split()).casefold()
    for index, line in enumerate(text.split("\n")):
        if FENCE.match(line):
            in_fence = not in_fence
            out.append((index, None))
            continue
        key = None if in_fence else _line_key(line, min_words, max_words)
        out.append((index, None if key == title_key else key))
    return out


def drop_repeated_lines(documents: Sequence[Document], *, min_documents: int = 3,
                        share: float = 0.6, min_site_documents: int = 4, min_words: int = 3,
                        max_words: int = 25) -> tuple[list[Document], RepeatedLines]:
    """Remove the short lines most of one site's documents share (a footer, a sign-up line).

    Documents are grouped by :func:`site_of`; in a group of at least ``min_site_documents``
    articles or posts, a line of ``min_words`` to ``max_words`` words (not a heading, not in a
    code block) found in at least ``min_documents`` of them and in at least ``share`` of them
    is removed from each. Repositories are never touched. Returns the documents in the same order
    (changed ones with their ``content_hash`` recomputed) and what was removed.
    """
    report = RepeatedLines()
    keyed: dict[str, list[tuple[int, str | None]]] = {}
    sites: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    members: dict[str, set[str]] = defaultdict(set)
    for doc in documents:
        if doc.kind is Kind.REPOSITORY or doc.id in keyed:
            continue
        keyed[doc.id] = _keys(doc.text, doc.title, min_words, max_words)
        site = site_of(doc)
        members[site].add(doc.id)
        for _, key in keyed[doc.id]:
            if key is not None:
                sites[site][key].add(doc.id)
    repeated: dict[str, set[str]] = {}
    for site, counts in sites.items():
        size = len(members[site])
        if size < min_site_documents:
            continue
        found = {key for key, ids in counts.items()
                 if len(ids) >= min_documents and len(ids) / size >= share}
        if found:
            repeated[site] = found
    if not repeated:
        return list(documents), report
    seen_lines: dict[str, dict[str, str]] = defaultdict(dict)
    cleaned: dict[str, Document] = {}
    out: list[Document] = []
    for doc in documents:
        if doc.id in cleaned:
            out.append(cleaned[doc.id])
            continue
        boiler = repeated.get(site_of(doc)) if doc.id in keyed else None
        if not boiler:
            out.append(doc)
            continue
        lines = doc.text.split("\n")
        drop = {i for i, key in keyed[doc.id] if key in boiler}
        kept = [line for i, line in enumerate(lines) if i not in drop]
        text = _squeeze_blank_lines(kept).strip()
        if not drop or not _WORD.search(text):  # never empty a document
            cleaned[doc.id] = doc
            out.append(doc)
            continue
        for i in sorted(drop):
            seen_lines[site_of(doc)].setdefault(" ".join(lines[i].split()).casefold(),
                                                lines[i].strip())
        new = doc.model_copy(update={"text": text, "content_hash": content_hash(doc.title, text)})
        report.removed[doc.id] = len(drop)
        cleaned[doc.id] = new
        out.append(new)
    report.lines = {site: list(found.values()) for site, found in seen_lines.items()}
    return out, report
