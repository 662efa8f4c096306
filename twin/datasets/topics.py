"""What a piece of writing is about, in words a person would type into a request.

Plain heuristics over sentences, no model (no keyphrase library ships offline; see
docs/decisions.md): the subject comes from the title or the answer's own opening sentence,
turned into something that reads after "about" ("banning 'just' in postmortems", "why null is
not zero", "how we deleted 63 dashboards"); the point is the answer's most central claim; a
first-person event ("we deleted 63 dashboards") also gives a story to share.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from twin.datasets.sentences import sentences
from twin.markup import HASHTAG, URL, WEB_AUTOLINK, link_text

_WORD = re.compile(r"[\w'’-]+", re.U)
_EMPHASIS = re.compile(r"(\*\*|__|\*|`)")
_LEAD = re.compile(r"^\s*(?:#{1,6}\s+|[-*+•→]\s+|\d+[.)]\s+|>\s*)+")
_TLDR = re.compile(r"^\s*(?:tl;?dr|update|edit|note|ps|p\.s\.)\s*[:.\-–—]\s*", re.I)
_DOUBLE_QUOTES = re.compile(r"[\"“”„«»]")
_CONNECTIVE = re.compile(r"^(?:so|but|and|then|also|still|now|yes|no|ok|okay|well|plus|though|"
                         r"however|yet|instead|meanwhile|in fact|in truth|of course|actually|"
                         r"honestly|basically|normally|because|which is why|that's why|"
                         r"that is why)\b[,:]?\s+", re.I)
_TIME_OPENER = re.compile(
    r"^(?:(?:last|this|next|one) (?:week|month|year|quarter|spring|summer|autumn|fall|winter|"
    r"morning|evening|night|monday|tuesday|wednesday|thursday|friday|saturday|sunday)|"
    r"yesterday|today|recently|a while ago|years ago|back in \w+|in \d{4}|on \w+day)[,]?\s+",
    re.I)
# Where a long clause may be cut: not at a bare comma ("41,000", "with small, hand-written").
# "Domain: represents what ...": a label and its definition, not a claim.
_LABEL = re.compile(r"^\S+(?:\s\S+)?:")
_CLAUSE_BREAK = re.compile(r"(?::|;| —| –| - |, (?:and|but|so|because|which|while|when|where) "
                           r"| because | so that )")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


PRONOUNS = _words("i we you they he she our my your their i'm we're you're they're i've we've "
                  "you've i'd we'd i'll we'll")
_FIRST_PERSON = _words("i we my our i'm we're i've we've i'd we'd i'll we'll")
_RELATIVE = _words("that which who whom we i you they he she")
_WH = _words("how why what when where who which")
_PREPOSITIONS = _words("in on at with for to into after before without beyond about "
                       "against between during over under of by")
_AUX = _words("""is are was were isn't aren't wasn't weren't don't doesn't didn't can can't
cannot will won't would should shouldn't must has have had hasn't haven't needs means makes
beats hides breaks matters works keeps gets""")
_IRREGULAR_PAST = _words("""ran beat built made took went found broke wrote met gave got lost
left taught began kept did saw said told thought brought bought sold won fell felt grew knew led
paid sent spent stood understood became came chose drove forgot hid held meant rode shook shut
sold spoke stole swore threw woke""")
_NOT_PAST = _words("need feed seed speed bed red shed indeed hundred embed breed weed "
                   "proceed exceed succeed")
_WEAK_START = _words("it it's this that that's these those they here here's there there's "
                     "ask see read click imagine let let's thanks")
# A subject is not a condition ("if anything goes wrong, ...").
_CONDITIONAL = _words("if when once while unless until whenever")
# Code, paths and markup read badly in a request: such sentences are no subject or point.
_CODE_LIKE = re.compile(r"[/=_{}<>|\\]|\.\w{1,4}\b:|\(\)")
_SUBJECT_OBJECTS = _words("it the a an your our my their them this that these those me us up "
                          "out down in on")
_ADVERB_OPENERS = _words("never always just simply please don't do not")
_DETERMINERS = _words("a an the every each this that no our my your their his her its one")
# Names a person writes with a capital even when the text never shows them mid-sentence.
_CALENDAR = _words("Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February "
                   "March April May June July August September October November December")
_STOP = _words("""a an and the of to in on at for with by from as is are was were be been it
its this that these those i we you they he she our my your their me us them not no or but so if
then than just very can will would should could do does did have has had what which who how why
when where there here about into out up down over all any some more most""")


@dataclass(frozen=True)
class Topic:
    """What an answer is about, as phrases that fit into a request."""

    subject: str = ""  # reads after "about": "banning 'just' in postmortems"
    point: str = ""  # reads after "the point that": "every 'just' hides a judgement"
    story: str = ""  # a first-person event, after "what we learned when": "we deleted ..."
    title: str = ""  # the piece's title, plain, sentence-cased
    section: str = ""  # the section heading the answer falls under, plain
    narrator: str = "I"  # "I" or "we": who tells the story


def plain(text: str) -> str:
    """Text as a request would quote it: no markdown, emoji, hashtags or URLs, single quotes."""
    text = link_text(text, alt=True)
    text = URL.sub("", WEB_AUTOLINK.sub("", text))
    text = _EMPHASIS.sub("", text)
    text = _LEAD.sub("", text)
    text = _TLDR.sub("", text)
    text = HASHTAG.sub("", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("So", "Cs", "Co")
                   and ch not in "\ufe0f\u200d")
    text = _DOUBLE_QUOTES.sub("'", text).replace("‘", "'").replace("’", "'")
    return re.sub(r"\s+", " ", text).strip()


def _tokens(text: str) -> list[str]:
    return [w.strip("'-") for w in _WORD.findall(text) if w.strip("'-")]


def content_words(text: str) -> set[str]:
    """Lowercased words that carry meaning (no function words, at least three letters)."""
    return {w.lower() for w in _tokens(text) if w.lower() not in _STOP and len(w) > 2}


@lru_cache(maxsize=32)
def _lowercase_forms(body: str) -> frozenset[str]:
    return frozenset(w for w in _tokens(body) if w.islower())


def _is_title_case(tokens: list[str]) -> bool:
    long = [t for t in tokens if len(t) > 3]
    return bool(long) and sum(t[:1].isupper() for t in long) >= 0.6 * len(long)


@lru_cache(maxsize=32)  # asked once per candidate sentence of the same answer
def _mid_sentence_capitals(body: str) -> frozenset[str]:
    """Words written with a capital inside a sentence (not a Title Case heading): names."""
    found: set[str] = set()
    for sentence in sentences(body):
        tokens = _tokens(plain(sentence))
        if not _is_title_case(tokens):
            found.update(t for t in tokens[1:] if t[:1].isupper())
    return frozenset(found)


def sentence_case(phrase: str, body: str) -> str:
    """``phrase`` with words lowercased unless they are names or acronyms.

    A word keeps its capital when it is all capitals (SQL), has inner capitals (BigQuery), is
    "I", or never appears in lower case in ``body`` while it does appear capitalised there
    (Parquet, Spark), or opens a sentence (not Title Case) followed by another capitalised word
    (James Bennet); other capitalised words (Title Case, a sentence's first word) are
    lowercased.
    """
    lower = _lowercase_forms(body)
    capitalised = _mid_sentence_capitals(body)
    tokens = _tokens(phrase)
    multiword_name = (not _is_title_case(tokens) and len(tokens) > 1
                      and tokens[1][:1].isupper() and tokens[1][1:].islower())
    position = iter(range(len(phrase) + 1))

    first_name = False

    def fix_part(part: str) -> str:
        core = part.strip("'")
        if not core[:1].isupper() or core == "I" or core.startswith("I'"):
            return part
        if len(core) > 1 and (core.isupper() or any(c.isupper() for c in core[1:])):
            return part  # SQL, BigQuery
        if core in _CALENDAR or core.removesuffix("s") in _CALENDAR:
            return part
        if core.lower() in lower or core.lower() in _STOP:
            return part.lower()
        return part if core in capitalised or first_name else part.lower()

    def fix(match: re.Match[str]) -> str:
        nonlocal first_name
        word = match.group()
        first_name = next(position) == 0 and multiword_name
        if word.lower() in lower and not word.isupper():
            return word.lower()  # "Cast-Iron" when the text writes "cast-iron"
        return "-".join(fix_part(part) for part in word.split("-"))

    return _WORD.sub(fix, phrase)


def _is_past(word: str) -> bool:
    return word in _IRREGULAR_PAST or (word.endswith("ed") and len(word) > 4
                                        and word not in _NOT_PAST)


def _verb_at(tokens: list[str]) -> int | None:
    """Index of the first finite verb (an auxiliary, a past tense, or a present tense after a
    determiner and a noun: "every 'just' hides"), outside relative clauses."""
    for k, word in enumerate(tokens):
        participle = _is_past(word) and k + 1 < len(tokens) and tokens[k + 1] == "by"
        present = (k >= 2 and tokens[k - 2] in _DETERMINERS and word.endswith("s")
                   and not word.endswith("ss") and tokens[k - 1] not in _STOP)
        if word in _AUX or (_is_past(word) and not participle) or present:
            if k >= 2 and tokens[k - 1] in _RELATIVE:
                return None  # "the feature store we didn't build": a noun phrase
            return k
    return None


def _is_imperative(tokens: list[str]) -> bool:
    """Whether the tokens read as an order ("keep it short", "never edit the decision")."""
    while tokens and tokens[0] in _ADVERB_OPENERS:
        tokens = tokens[1:]
    return (len(tokens) >= 2 and tokens[0] not in _STOP and tokens[0] not in PRONOUNS
            and tokens[1] in _SUBJECT_OBJECTS
            and not (tokens[0].endswith("s") and not tokens[0].endswith("ss"))
            and not (tokens[0].endswith("ing") and len(tokens[0]) > 5))


def _shorten(clause: str, most: int = 18) -> str:
    """``clause`` cut at its first clause break after five words when it is longer than
    ``most`` words ("" when it stays longer)."""
    words = clause.split()
    if len(words) <= most:
        return clause
    for match in _CLAUSE_BREAK.finditer(clause):
        n = len(clause[:match.start()].split())
        if 5 <= n <= most:
            return clause[:match.start()].strip()
    return ""


def _trim(text: str) -> str:
    return text.strip().rstrip(".!?…:;,— –-").strip()


def _about(phrase: str, from_title: bool = False) -> tuple[str, str]:
    """``phrase`` (plain, sentence-cased, no end punctuation) as a subject that reads after
    "about", and the story it tells when it is a first-person event ("" otherwise).

    A title may be a noun phrase ("data contracts as mise en place"); a sentence without a
    verb found in it is used only when it is long enough to be a claim ("the idea that ...").
    """
    tokens = [t.lower() for t in _tokens(phrase)]
    if not tokens:
        return "", ""
    first = tokens[0]
    if first in _WH:
        return phrase, ""
    if first == "from" and "to" in tokens[1:]:
        return f"going {phrase}", ""
    if first in _PREPOSITIONS or _LABEL.match(phrase) or not _balanced(phrase):
        return "", ""
    verb = 0 if first in PRONOUNS and "'" in first else _verb_at(tokens)
    past = verb is not None and _is_past(tokens[verb])
    if first in PRONOUNS and verb is not None:
        if past:
            return f"how {phrase}", phrase
        return (f"how {phrase}", "") if first in _FIRST_PERSON else (f"why {phrase}", "")
    if verb is not None and verb >= 1:
        return (f"how {phrase}", "") if past else (f"why {phrase}", "")
    if verb is None and from_title and len(tokens) <= 12:
        return phrase, ""  # a noun phrase: "data contracts as mise en place"
    if len(tokens) >= 6:
        return f"the idea that {phrase}", ""
    return "", ""


def _balanced(text: str) -> bool:
    return all(text.count(a) == text.count(b) for a, b in ("()", "[]", "{}"))


def _clause(sentence: str, body: str) -> str:
    """A sentence as a clause: plain, no connective or time opener, sentence-cased, short."""
    text = plain(sentence)
    if not text or text.endswith("?"):
        return ""
    text = _CONNECTIVE.sub("", text)
    text = _TIME_OPENER.sub("", text)
    text = _trim(_shorten(_trim(text)))
    tokens = [t.lower() for t in _tokens(text)]
    if len(tokens) < 3 or _is_imperative(tokens):
        return ""
    return sentence_case(text[:1].upper() + text[1:], body)


def _narrator(*phrases: str) -> str:
    words = {t.lower() for p in phrases for t in _tokens(p)}
    return "we" if words & {"we", "our", "us"} else "I"


def _point(lines: list[str], body: str, title: str, avoid: set[str]) -> str:
    """The answer's most central claim: a declarative sentence of 5-25 words whose content
    words are frequent in the answer and in the title (the first of equals wins)."""
    freq = Counter(w.lower() for w in _tokens(body) if w.lower() not in _STOP and len(w) > 2)
    title_words = content_words(title)
    best, best_score = "", 0.0
    for line in lines:
        text = plain(line)
        tokens = [t.lower() for t in _tokens(text)]
        if (not 5 <= len(tokens) <= 25 or "?" in text or line.lstrip().startswith("#")
                or tokens[0] in _WEAK_START or tokens[0] in _WH or _CODE_LIKE.search(text)
                or _LABEL.match(text) or not _balanced(text)):
            continue
        clause = _clause(line, body)
        words = content_words(clause)
        if not clause or not words or len(words & avoid) > 0.6 * len(words):
            continue
        verb = _verb_at([t.lower() for t in _tokens(clause)])
        if not verb:  # a claim has a subject and a verb: no fragment, no order
            continue
        score = sum(min(freq[w], 3) for w in words) / math.sqrt(len(tokens))
        score += 1.5 * len(words & title_words)
        if score > best_score:
            best, best_score = clause, score
    return best


def _opening_clause(lines: list[str], body: str) -> str:
    """The first of the answer's first three sentences that states its subject: not a heading,
    a list item, a question or a sentence about "it"/"this"."""
    for line in lines[:3]:
        if _LEAD.match(line) or _CODE_LIKE.search(plain(line)):
            continue
        clause = _clause(line, body)
        tokens = [t.lower() for t in _tokens(clause)]
        if clause and tokens[0] not in _WEAK_START and tokens[0] not in _CONDITIONAL:
            return clause
    return ""


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def topic_of(answer: str, title: str = "", section: str = "", whole: bool = True) -> Topic:
    """The topic of ``answer``: a whole piece (a post, an article's opening) called ``title``,
    or (``whole`` False) a slice of the article called ``title``, under ``section``.

    A whole piece is about its title when the title reads as a subject, else about its opening
    sentence; a slice is about its own opening sentence.
    """
    lines = [s for s in sentences(answer) if plain(s)]
    claims = [s for s in lines if not s.lstrip().startswith("#")]
    opening = _opening_clause(claims, answer)
    quoted_title = plain(title).rstrip(". ")
    # A LinkedIn post's "title" is its hook, cut short: only a whole title is one.
    if title.rstrip().endswith(("…", "...")):
        quoted_title = ""
    clean_title = sentence_case(_trim(quoted_title), answer) if quoted_title else ""
    hook = bool(clean_title) and plain(answer).lower().startswith(clean_title.lower())
    title_subject, title_story = (_about(clean_title, from_title=True) if clean_title
                                  and not hook else ("", ""))
    opening_subject, opening_story = _about(opening) if opening else ("", "")
    if whole:
        subject, story = title_subject or opening_subject, title_story or opening_story
    else:
        subject, story = opening_subject, ""
    avoid = content_words(opening if subject == opening_subject else subject)
    point = _point(claims, answer, clean_title, avoid)
    section_text = _trim(plain(section))
    return Topic(subject=subject, point=point, story=story,
                 title=quoted_title if not hook else "",
                 section=_capitalised(sentence_case(section_text, answer)) if section_text
                 else "", narrator=_narrator(story or subject))
