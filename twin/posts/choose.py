"""Best-of-N: of several candidate drafts, one that passes the hard checks (a complete ending)
and sounds most like the author once each other failed check has cost it ``posts.check_cost``
of its voice score (without a voice scorer: the one that passes most checks); with the table of
every candidate for the evaluation."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from twin.posts.checks import HARD_CHECKS, Check, check_draft
from twin.posts.grounding import Grounding
from twin.posts.profile import ChannelProfile
from twin.posts.shape import Shaped, shape
from twin.settings import PostSettings

Checker = Callable[[str], Sequence[Check]]
VoiceScorer = Callable[[str], float]


@dataclass
class Candidate:
    """One candidate draft, its checks and its voice score (None without a scorer)."""

    index: int
    text: str
    checks: list[Check]
    voice: float | None = None
    shaped: Shaped | None = None

    @property
    def passed(self) -> int:
        """How many checks it passed."""
        return sum(c.passed for c in self.checks)

    @property
    def failed(self) -> list[Check]:
        """The checks it failed."""
        return [c for c in self.checks if not c.passed]

    def rank_key(self, check_cost: float) -> tuple[int, float, int, int]:
        """Sort key, best first: most hard checks passed (:data:`HARD_CHECKS`), then the
        highest voice score less ``check_cost`` per other failed check (a voice score of 0
        without a scorer), then most checks passed, then earliest."""
        voice = self.voice if self.voice is not None else 0.0
        hard = sum(c.name in HARD_CHECKS for c in self.failed)
        return (hard, -(voice - check_cost * (len(self.failed) - hard)), -self.passed,
                self.index)


@dataclass
class Choice:
    """The chosen candidate and all of them, in the order given."""

    best: Candidate
    candidates: list[Candidate] = field(default_factory=list)

    def table(self) -> list[dict[str, Any]]:
        """One row per candidate: index, whether chosen, checks passed of all, the failed
        checks with their reasons, voice score and words."""
        return [{"index": c.index, "chosen": c is self.best, "passed": c.passed,
                 "checks": len(c.checks), "failed": {f.name: f.reason for f in c.failed},
                 "voice": c.voice, "words": len(c.text.split())} for c in self.candidates]


def choose(candidates: Sequence[str], checks: Checker,
           voice_score: VoiceScorer | None = None, check_cost: float | None = None) -> Choice:
    """The best of ``candidates``: ``checks`` gives the checks of one text (e.g.
    :func:`checker`), ``voice_score`` its "sounds like the author" score in [0, 1] (the voice
    model's), and each failed check costs ``check_cost`` of it (None: ``posts.check_cost``'s
    default); without a scorer, checks alone decide, then order."""
    cost = PostSettings().check_cost if check_cost is None else check_cost
    if not candidates:
        raise ValueError("no candidate drafts to choose from")
    rated = [Candidate(index=i, text=text, checks=list(checks(text)),
                       voice=float(voice_score(text)) if voice_score is not None else None)
             for i, text in enumerate(candidates)]
    return Choice(best=min(rated, key=lambda c: c.rank_key(cost)), candidates=rated)


def checker(profile: ChannelProfile, settings: PostSettings,
            grounding: Grounding | None = None, max_words: int | None = None) -> Checker:
    """The checks of one text against ``profile`` (and ``grounding`` and the request's
    ``max_words``), as :func:`choose` takes them."""
    return partial(check_draft, profile=profile, settings=settings, grounding=grounding,
                   max_words=max_words)


@dataclass
class Finished:
    """The post to return: its text, checks, notes for the reader, and the whole choice."""

    post: str
    checks: list[Check]
    notes: list[str]
    changes: list[str]
    choice: Choice

    @property
    def voice(self) -> float | None:
        """The chosen draft's voice score (None without a scorer)."""
        return self.choice.best.voice

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for an API response or an evaluation record: the post, its voice
        score, checks, notes, what shaping changed, and the table of all candidates."""
        return {"post": self.post, "voice": self.voice,
                "checks": [c.to_dict() for c in self.checks], "notes": self.notes,
                "changes": self.changes, "candidates": self.choice.table()}


def finish(drafts: Sequence[str], profile: ChannelProfile, settings: PostSettings,
           grounding: Grounding | None = None, voice_score: VoiceScorer | None = None,
           max_words: int | None = None) -> Finished:
    """Shape every draft for the author's channel, check each and return the best: what the
    Serve app does with the candidates of one request (``max_words``: the request's cap)."""
    shaped = [shape(d, profile, settings, grounding, max_words) for d in drafts]
    choice = choose([s.text for s in shaped], checker(profile, settings, grounding, max_words),
                    voice_score, settings.check_cost)
    for candidate in choice.candidates:
        candidate.shaped = shaped[candidate.index]
    best = shaped[choice.best.index]
    return Finished(post=best.text, checks=choice.best.checks, notes=list(best.notes),
                    changes=list(best.changes), choice=choice)
