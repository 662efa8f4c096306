"""The settings the evaluation chose for a model, per author, and the numbers behind each choice:
recorded with the model version (or, for the base model, beside the evaluation report) and used
by the Serve app as the defaults of a request."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class RetrievalChoice(BaseModel):
    """The retrieval setting with the best hit@1 on the held-out prompts (ties: the default)."""

    model_config = ConfigDict(frozen=True)

    search_mode: str = Field(description="rag.search_mode: dense, text or hybrid.")
    expansion: str = Field(description="rag.expansion: keywords, llm or off.")
    reranker: str = Field(description="rag.reranker: mmr, rrf, cross-encoder or none.")
    hit_at_1: float = Field(description="Its hit@1 on the held-out prompts.")
    mrr: float = Field(description="Its mean reciprocal rank.")
    queries: int = Field(description="Held-out prompts searched.")
    default_hit_at_1: float | None = Field(
        default=None, description="The settings' default's hit@1 in the same run (None: the "
        "default was not in the grid).")
    reason: str = Field(description="Why this one, in words.")

    def rag_values(self) -> dict[str, str]:
        """The ``rag`` settings this choice sets."""
        return {"search_mode": self.search_mode, "expansion": self.expansion,
                "reranker": self.reranker}


class CandidatesChoice(BaseModel):
    """How many drafts to choose from, and the voice scores that decided it."""

    model_config = ConfigDict(frozen=True)

    candidates: int = Field(ge=1, description="Drafts per post (1: one greedy draft).")
    temperature: float = Field(ge=0.0, description="Sampling temperature (0 with one draft).")
    best_of_n: float | None = Field(
        default=None, description="Mean voice score with the evaluated best-of-N.")
    single: float | None = Field(
        default=None, description="Mean voice score with one greedy draft (None: not measured).")
    gain: dict[str, float] | None = Field(
        default=None, description="Best-of-N minus one draft, per prompt: mean, low, high "
        "(95% bootstrap CI), n.")
    reason: str = Field(description="Why this many, in words.")


class Choices(BaseModel):
    """What the evaluation chose for one model on one author's held-out prompts."""

    model_config = ConfigDict(frozen=True)

    source: str = Field(description="The evaluation report's folder.")
    model: str = Field(description="The label evaluated: twin-v<N> or base.")
    version: int | None = Field(default=None, description="Registry version; None: base.")
    author_id: str | None = Field(
        default=None, description="Whose held-out prompts; None: several authors' together.")
    dataset: str = Field(description="The dataset version the held-out prompts came from.")
    created_at: str = Field(default="", description="When the evaluation ran (UTC, ISO).")
    retrieval: RetrievalChoice | None = Field(
        default=None, description="None: retrieval was not compared (the settings apply).")
    decoding: CandidatesChoice
    context_tokens: int | None = Field(
        default=None, description="rag.context_tokens the evaluation's prompts used "
        "(None: what the window leaves).")

    @property
    def candidates(self) -> int:
        """Drafts per post."""
        return self.decoding.candidates

    @property
    def temperature(self) -> float:
        """Sampling temperature of the drafts."""
        return self.decoding.temperature

    def rag_values(self) -> dict[str, Any]:
        """The ``rag`` settings these choices set (retrieval, when compared, and the context)."""
        values: dict[str, Any] = {"context_tokens": self.context_tokens}
        if self.retrieval is not None:
            values.update(self.retrieval.rag_values())
        return values

    def summary(self) -> str:
        """The choices in one short line (the UI's model page)."""
        r = self.retrieval
        return "; ".join([f"{r.search_mode}/{r.expansion}/{r.reranker} (hit@1 {r.hit_at_1:.2f})"
                          if r else "retrieval as set",
                          f"{self.candidates} draft{'s' if self.candidates > 1 else ''} at "
                          f"{self.temperature:g}",
                          f"context {self.context_tokens or 'as the window allows'}"])

    def lines(self) -> list[str]:
        """The choices in words, one line each."""
        r = self.retrieval
        return [f"retrieval: {r.search_mode}/{r.expansion}/{r.reranker} ({r.reason})"
                if r else "retrieval: not compared (the settings apply)",
                f"candidates: {self.candidates} at temperature {self.temperature:g} "
                f"({self.decoding.reason})",
                f"context tokens: {self.context_tokens or 'what the window leaves'}"]
