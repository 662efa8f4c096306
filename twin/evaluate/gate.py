"""The gate before a twin goes live: a new version takes the ``serving`` alias only when, on the
same held-out prompts, it is better than what is served on the voice score (a 95% CI of the
paired difference above zero) and not worse on any other measure (no CI wholly below zero).

The decision is a plain value: the train stage records it in the registry and its result, the
Prefect artifact and the UI show it; ``--force`` promotes anyway and says so.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from twin.evaluate.style import bootstrap_ci

PRIMARY = "voice_score"
"""The measure a new version must win on."""

HIGHER_IS_BETTER = {"voice_score": True, "checks_passed": True, "reference_similarity": True,
                    "author_similarity": True, "author_vs_others": True, "judge_style": True,
                    "judge_accuracy": True, "judge_fooled": True, "style_distance": False}
"""The measures the gate compares, and which way is better (others are reported only)."""


class Comparison(BaseModel):
    """One measure: the new version minus the other model, per prompt, with its CI."""

    metric: str
    against: str
    mean: float
    low: float
    high: float
    n: int
    better: bool
    """The CI lies wholly on the better side of zero."""
    worse: bool
    """The CI lies wholly on the worse side of zero."""


class GateDecision(BaseModel):
    """Whether a new version goes live, why, and the numbers it rests on."""

    candidate: str
    served: str
    """What was being served when the gate ran: ``twin-vN`` or ``base``."""
    promote: bool
    forced: bool = False
    reasons: list[str] = Field(default_factory=list)
    comparisons: list[Comparison] = Field(default_factory=list)

    def headline(self) -> str:
        """One line for the CLI, the artifact and the UI."""
        if self.forced:
            verdict = "promoted by --force, whatever the gate said"
        else:
            verdict = "promoted" if self.promote else f"kept {self.served}"
        return f"gate: {self.candidate} vs {self.served}: {verdict} ({'; '.join(self.reasons)})"

    def markdown(self) -> str:
        """The decision and its table."""
        lines = [f"**{self.headline()}**", "", "| measure | against | difference [95% CI] |",
                 "|---|---|---|"]
        lines += [f"| {c.metric} | {c.against} | {c.mean:+.3f} [{c.low:+.3f}, {c.high:+.3f}]"
                  f"{' better' if c.better else ' worse' if c.worse else ''} |"
                  for c in self.comparisons]
        return "\n".join(lines)


def compare(candidate: list[float], other: list[float], metric: str, against: str,
            bootstrap: int = 2000, seed: int = 0) -> Comparison:
    """The paired difference ``candidate - other`` on ``metric`` with its bootstrap CI."""
    if len(candidate) != len(other):
        raise ValueError(f"{metric}: {len(candidate)} scores against {len(other)}: the models "
                         "must answer the same prompts")
    ci = bootstrap_ci(np.subtract(candidate, other), bootstrap, seed=seed)
    up = HIGHER_IS_BETTER.get(metric, True)
    low, high = ci["low"], ci["high"]
    return Comparison(metric=metric, against=against, mean=ci["mean"], low=low, high=high,
                      n=ci["n"], better=(low > 0) if up else (high < 0),
                      worse=(high < 0) if up else (low > 0))


def decide(scores: dict[str, dict[str, list[float]]], candidate: str, served: str,
           base: str = "base", force: bool = False, bootstrap: int = 2000,
           seed: int = 0) -> GateDecision:
    """The gate's decision from per-prompt ``scores`` (model label -> measure -> one value per
    held-out prompt, the same prompts in the same order for every model).

    The candidate must beat ``served`` on :data:`PRIMARY` with confidence and lose on no
    measure of :data:`HIGHER_IS_BETTER` against it; when ``served`` is not the base model it
    must also not be worse than the base model on the voice score.
    """
    if PRIMARY not in scores.get(candidate, {}) or PRIMARY not in scores.get(served, {}):
        raise ValueError(f"the gate needs {PRIMARY} for {candidate} and {served}")
    if len(scores[candidate][PRIMARY]) != len(scores[served][PRIMARY]):
        raise ValueError(f"{len(scores[candidate][PRIMARY])} voice scores against "
                         f"{len(scores[served][PRIMARY])}: the models must answer the same "
                         "prompts")
    comparisons = []
    reasons = []
    against = [served] + ([base] if served != base and base in scores else [])
    for other in against:
        shared = [m for m in HIGHER_IS_BETTER if m in scores[candidate] and m in scores[other]
                  and len(scores[candidate][m]) == len(scores[other][m])
                  and scores[candidate][m]]
        comparisons += [compare(scores[candidate][m], scores[other][m], m, other, bootstrap,
                                seed) for m in shared]
    primary = next(c for c in comparisons if c.metric == PRIMARY and c.against == served)
    promote = primary.better
    reasons.append(f"voice score {primary.mean:+.3f} [{primary.low:+.3f}, {primary.high:+.3f}] "
                   f"vs {served}" + ("" if primary.better else ": not better with confidence"))
    losses = [c for c in comparisons if c.worse]
    if losses:
        promote = False
        reasons.append("worse on " + ", ".join(f"{c.metric} vs {c.against}" for c in losses))
    return GateDecision(candidate=candidate, served=served, promote=promote or force,
                        forced=force and not promote, reasons=reasons, comparisons=comparisons)


def scores_table(decision: GateDecision) -> list[dict[str, Any]]:
    """The comparisons as plain rows (the registry's tags, the UI's table)."""
    return [c.model_dump() for c in decision.comparisons]
