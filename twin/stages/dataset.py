"""The dataset stage: instruction pairs whose answers are the author's own text (and, asked
for, DPO preference pairs)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from twin.stages.base import StageRequest, StageResult, failing_as_stage

if TYPE_CHECKING:
    from rich.console import Console

    from twin.settings import Settings


class DatasetRequest(StageRequest):
    """Which documents, and whether to build preference pairs too."""

    author: str | None = Field(default=None, description="Only this author's documents.")
    preference: bool = Field(default=False, description="Also build DPO pairs: rejected = the "
                             "base model's answers (slow on CPU).")


class DatasetCard(BaseModel):
    """A dataset version's folder and its card (every other card key is kept as it is)."""

    model_config = ConfigDict(extra="allow")

    path: str
    version: str | None = None
    reused: bool = False
    counts: dict[str, Any] = Field(default_factory=dict)
    grounding: dict[str, int] = Field(default_factory=dict)
    voice: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Each author's voice model card (held-out check), "
        "or why none was built.")

    def voice_lines(self) -> list[str]:
        """One line per author: the voice model's held-out check, or why there is none."""
        from twin.voice.model import describe

        return [f"{author}: {card['skipped']}" if "skipped" in card
                else f"{author}: {describe(card)}" for author, card in self.voice.items()]

    @classmethod
    def of(cls, built: Any) -> DatasetCard:
        """From :class:`twin.datasets.build.DatasetResult`."""
        return cls.model_validate({**built.card, "path": str(built.path),
                                   "reused": built.reused})


class DatasetResult(StageResult, DatasetCard):
    """The instruction dataset version, and the preference one when built."""

    preference: DatasetCard | None = None

    def render(self, console: Console) -> None:
        """Counts, filters, instruction sources and grounding; the folders."""
        c = self.counts
        state = "unchanged, reused" if self.reused else "written"
        console.print(f"instruction dataset {Path(self.path).name} ({state}): "
                      f"{c.get('samples', 0)} samples, {c.get('train', 0)} train / "
                      f"{c.get('test', 0)} test from {c.get('documents', 0)} documents; filtered "
                      f"{c.get('filtered', {})}; instructions {c.get('by_instruction_source', {})};"
                      f" grounding {self.grounding.get('passed', 0)}/"
                      f"{self.grounding.get('checked', 0)}\n{self.path}", markup=False)
        if c.get("corpus"):
            console.print(f"pretraining corpus: {c['corpus'].get('documents', 0)} train "
                          f"documents, {c['corpus'].get('words', 0)} words", markup=False)
        for line in self.voice_lines():
            console.print(line, markup=False)
        if self.preference is not None:
            pairs = self.preference
            console.print(f"preference dataset {Path(pairs.path).name}: "
                          f"{pairs.counts.get('pairs', 0)} pairs from "
                          f"{getattr(pairs, 'base_model', '?')}\n{pairs.path}", markup=False)

    def headline(self) -> str:
        """The folder and its counts."""
        return f"dataset {self.path} {self.counts}"

    def markdown(self) -> str:
        """The card's counts and grounding."""
        c = self.counts
        text = (f"### Dataset {self.version or ''}\nRay job `{self.job_id or '?'}`: "
                f"`{self.path}`\n\n"
                f"- samples: **{c.get('samples', 0)}** ({c.get('train', 0)} train / "
                f"{c.get('test', 0)} test) from {c.get('documents', 0)} documents\n"
                f"- grounding: {self.grounding.get('passed', 0)}/"
                f"{self.grounding.get('checked', 0)} answers verbatim in the warehouse\n"
                f"- filtered: {c.get('filtered', {})}")
        if c.get("corpus"):
            text += (f"\n- pretraining corpus: {c['corpus'].get('documents', 0)} train "
                     f"documents, {c['corpus'].get('words', 0)} words")
        text += "".join(f"\n- {line}" for line in self.voice_lines())
        if self.preference is not None:
            text += f"\n- preference pairs: {self.preference.counts}"
        return text


def run_dataset(request: DatasetRequest, settings: Settings) -> DatasetResult:
    """Build (or reuse) the instruction dataset version; then the preference pairs if asked."""
    from twin.datasets.build import DatasetError, GroundingError, build_instruction_dataset
    from twin.llm.models import ModelLoadError

    with failing_as_stage(DatasetError, GroundingError, ModelLoadError):
        built = build_instruction_dataset(settings, author=request.author)
        pairs = None
        if request.preference:
            from twin.datasets.preference import build_preference_dataset

            pairs = DatasetCard.of(build_preference_dataset(settings, built))
    return DatasetResult.model_validate({**DatasetCard.of(built).model_dump(),
                                         "preference": pairs})
