"""The evaluate stage: does the twin sound like the author? Base model vs each twin version on
held-out text (style, LLM-as-judge, retrieval settings)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import ConfigDict, Field

from twin.stages.base import Flag, StageRequest, StageResult, failing_as_stage, with_values

if TYPE_CHECKING:
    from rich.console import Console

    from twin.settings import Settings


class EvaluateRequest(StageRequest):
    """Which models, on which held-out split."""

    versions: Annotated[list[int], Flag("--version")] = Field(
        default_factory=list, description="A registry version (repeatable; default: all).")
    dataset: Path | None = Field(
        default=None, description="An instruction dataset folder (default: the latest).")
    max_samples: int | None = Field(
        default=None, description="Held-out samples to use (default evaluate.max_samples).")
    retrieval: bool = Field(
        default=True, description="Also compare retrieval settings (hit rate, MRR).")

    def for_job(self) -> EvaluateRequest:
        """The dataset folder made absolute."""
        return self.model_copy(update={"dataset": self.dataset.resolve() if self.dataset
                                       else None})


class EvaluateResult(StageResult):
    """The evaluation report (``report.json``; every other key is kept as it is)."""

    model_config = ConfigDict(extra="allow")

    path: str | None = None
    dataset: str | None = None
    samples: int = 0
    models: list[str] = Field(default_factory=list)
    summary: dict[str, dict[str, Any]] = Field(default_factory=dict)
    retrieval: list[dict[str, Any]] = Field(default_factory=list)
    choices: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="The settings chosen per model, as recorded "
        "(twin.domain.choices.Choices).")
    notes: list[str] = Field(default_factory=list)
    seconds: float = 0.0

    def report(self) -> dict[str, Any]:
        """The report as plain data (what :func:`twin.report.print_evaluation` reads)."""
        return self.model_dump(mode="json", exclude={"job_id"})

    def render(self, console: Console) -> None:
        """The report's tables and where it was written."""
        from twin.report import print_evaluation

        print_evaluation(self.report(), console)
        console.print(f"report: {self.path}/report.json", markup=False)

    def headline(self) -> str:
        """Where the report is."""
        return f"evaluation written to {self.path}"

    def markdown(self) -> str:
        """Each model's style numbers, the best retrieval settings, the choices made."""
        from twin.report import choice_lines

        lines = [f"### Evaluation\nRay job `{self.job_id or '?'}` on {self.samples} held-out "
                 "samples.", "", "| metric | " + " | ".join(self.models) + " |",
                 "|---|" + "---|" * len(self.models)]
        summary = self.summary
        for metric in dict.fromkeys(m for label in summary for m in summary[label]):
            cells = [f"{summary[label][metric]['mean']:.3f}" if metric in summary.get(label, {})
                     else "" for label in self.models]
            lines.append(f"| {metric} | " + " | ".join(cells) + " |")
        for row in self.retrieval[:3]:
            lines.append(f"\n- retrieval {row['search_mode']}/{row['expansion']}/"
                         f"{row['reranker']}: hit@5 {row['hit@5']}, MRR {row['mrr']}")
        lines += [f"\n- {line}" for line in choice_lines(self.report())]
        lines += [f"\n_{note}_" for note in self.notes]
        return "\n".join(lines)


def run_evaluate(request: EvaluateRequest, settings: Settings) -> EvaluateResult:
    """Evaluate, write the report under ``<home>/evals/``, log its metrics to the registry."""
    from twin.evaluate.runner import EvaluationError, run_evaluation
    from twin.llm.models import ModelLoadError
    from twin.train.common import TrainError

    settings = with_values(settings, "evaluate", max_samples=request.max_samples)
    with failing_as_stage(EvaluationError, TrainError, ModelLoadError, FileNotFoundError):
        report = run_evaluation(settings, dataset=request.dataset,
                                versions=request.versions or None, retrieval=request.retrieval)
    return EvaluateResult.model_validate(report)
