"""The train stage: continued pretraining when asked, LoRA SFT (then DPO) on Ray Train; each
SFT/DPO run becomes a model version."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, Field

from twin.evaluate.gate import GateDecision
from twin.stages.base import Flag, StageRequest, StageResult, failing_as_stage, with_values

if TYPE_CHECKING:
    from rich.console import Console

    from twin.settings import Settings


class TrainRequest(StageRequest):
    """Which datasets, how long, on how many workers."""

    dataset: Path | None = Field(
        default=None, description="An instruction dataset version folder (default: the newest).")
    max_steps: int | None = Field(default=None, description="SFT steps (default: settings).")
    pretrain_steps: int | None = Field(
        default=None, ge=0, description="Continued-pretraining steps on the author's raw text "
        "before SFT (the same adapter); 0: none (default: settings, train.pretrain_steps).")
    workers: int | None = Field(default=None, description="Ray Train workers.")
    # `--preference DIR` was the job's spelling, `--dpo` the CLI's: one field, both flags.
    dpo: Annotated[Path | None, Flag("--dpo", aliases=("--preference",))] = Field(
        default=None,
        description="A preference dataset folder: run DPO from the SFT adapter afterwards.")
    dpo_steps: int | None = Field(default=None, description="DPO steps (default: SFT's).")
    run: str | None = Field(default=None, description="Run name. Giving an interrupted run's "
                            "name resumes it from its last checkpoint.")
    deepspeed: Literal["auto", "off", "zero2", "zero3"] | None = Field(
        default=None, description="DeepSpeed ZeRO: auto (zero2 on GPUs), off, zero2 or zero3.")
    serve: Annotated[bool, Flag(negatable=False)] = Field(
        default=False, description="Put the new model version through the gate: it is marked "
        "for serving only when, on the held-out prompts, it beats what is served on the voice "
        "score (95% CI above zero) and is worse on nothing.")
    force: Annotated[bool, Flag(negatable=False)] = Field(
        default=False, description="Mark the new version for serving whatever the gate says "
        "(the decision records that it was forced).")

    def for_job(self) -> TrainRequest:
        """Dataset folders made absolute."""
        return self.model_copy(update={
            "dataset": self.dataset.resolve() if self.dataset else None,
            "dpo": self.dpo.resolve() if self.dpo else None})


class PretrainRun(BaseModel):
    """The continued-pretraining run a version's adapter started from."""

    run: str
    adapter: str = ""
    steps: int
    losses: list[float] = Field(default_factory=list)
    seconds: float = 0.0
    blocks: int = 0
    """Token blocks (train.max_length) cut from the dataset's corpus."""
    tokens_seen: int | None = None
    tokens_per_s: float | None = None
    learning_rate: float | None = None

    def line(self) -> str:
        """What the CLI prints for it."""
        loss = f"{self.losses[0]:.3f} -> {self.losses[-1]:.3f}" if self.losses else "?"
        return (f"CPT run {self.run}: {self.steps} steps on {self.blocks} blocks of the "
                f"author's text, loss {loss}, {self.seconds:.0f}s")


class TrainedVersion(BaseModel):
    """One training run (SFT or DPO) and the model version it registered."""

    run: str
    adapter: str
    steps: int
    losses: list[float] = Field(default_factory=list)
    seconds: float = 0.0
    version: int
    resumed_from_step: int | None = 0
    tokens_seen: int | None = None
    tokens_per_s: float | None = None
    limit_tokens_per_s: float | None = None
    """What the machine's measured matrix-multiply rate allows for this model (LoRA)."""
    utilisation: float | None = None
    deepspeed: str = "off"
    pretrain: PretrainRun | None = None
    """The continued-pretraining run it trained on from, if any."""

    def line(self, stage: str) -> str:
        """What the CLI prints for it."""
        resumed = f", resumed from step {self.resumed_from_step}" \
            if self.resumed_from_step else ""
        return (f"{stage.upper()} run {self.run}: {self.steps} steps{resumed}, loss "
                f"{self.loss_text()}, {self.seconds:.0f}s; model version {self.version}\n"
                + (f"  {self.speed_text()}\n" if self.tokens_per_s else "")
                + f"  adapter {self.adapter}")

    def speed_text(self) -> str:
        """Tokens/s against the machine's measured limit."""
        return (f"{self.tokens_per_s:.0f} tokens/s, {100 * (self.utilisation or 0):.0f}% of the "
                f"{self.limit_tokens_per_s:.0f} tokens/s the machine's measured matmul rate "
                "allows for this model")

    def loss_text(self) -> str:
        """First -> last loss."""
        return f"{self.losses[0]:.3f} -> {self.losses[-1]:.3f}" if self.losses else "?"


class TrainResult(StageResult):
    """The SFT run, the DPO run when there was one, and the version now served."""

    sft: TrainedVersion
    dpo: TrainedVersion | None = None
    serving: int | None = None
    gate: GateDecision | None = None
    """The gate's decision, when the new version was put through it (``--serve``)."""

    def runs(self) -> dict[str, TrainedVersion]:
        """The runs by stage name, in order."""
        return {name: run for name, run in (("sft", self.sft), ("dpo", self.dpo)) if run}

    def render(self, console: Console) -> None:
        """Each run's steps, loss and version; which version serves."""
        if self.sft.pretrain is not None:
            console.print(self.sft.pretrain.line(), markup=False)
        for name, run in self.runs().items():
            console.print(run.line(name), markup=False)
        if self.gate is not None:
            console.print(self.gate.headline(), markup=False)
        console.print(f"serving: version {self.serving}" if self.serving else
                      "serving: the base model (no version is marked for serving)",
                      markup=False)

    def headline(self) -> str:
        """The SFT loss and its model version."""
        return f"SFT loss {self.sft.loss_text()}, model version {self.sft.version}"

    def markdown(self) -> str:
        """Per run: the loss and the registered version."""
        lines = [f"### Training\nRay job `{self.job_id or '?'}`"]
        if self.sft.pretrain is not None:
            lines.append(f"- {self.sft.pretrain.line()}")
        for name, run in self.runs().items():
            lines.append(f"- {name.upper()}: model version **{run.version}**, {run.steps} steps,"
                         f" loss {run.loss_text()}, {run.seconds:.0f}s")
        if self.gate is not None:
            lines += ["", self.gate.markdown()]
        return "\n".join(lines)


def run_train(request: TrainRequest, settings: Settings) -> TrainResult:
    """Train on the newest (or the given) dataset and register each run."""
    from twin.evaluate.runner import EvaluationError
    from twin.llm.models import ModelLoadError
    from twin.registry import Registry
    from twin.train.common import TrainError
    from twin.train.runner import latest_dataset, train_and_register

    settings = with_values(settings, "train", deepspeed=request.deepspeed,
                           pretrain_steps=request.pretrain_steps)
    with failing_as_stage(TrainError, ModelLoadError):
        dataset = (request.dataset or latest_dataset(settings)).resolve()
        summary = train_and_register(
            settings, dataset,
            max_steps=request.max_steps or settings.train.max_steps,
            workers=request.workers or settings.train.workers, run_name=request.run,
            preference_dir=request.dpo.resolve() if request.dpo else None,
            dpo_steps=request.dpo_steps)
    if request.serve or request.force:
        with failing_as_stage(EvaluationError, TrainError, ModelLoadError):
            decision = gate_version(settings, summary["last_version"], dataset,
                                    force=request.force)
        registry = Registry(settings)
        registry.record_gate(summary["last_version"], {**decision.model_dump(),
                                                       "headline": decision.headline()})
        if decision.promote:
            registry.set_serving(summary["last_version"])
        summary["gate"] = decision
        summary["serving"] = registry.serving().version if registry.serving() else None
    return TrainResult.model_validate(summary)


def gate_version(settings: Settings, version: int, dataset_dir: Path,
                 force: bool = False) -> GateDecision:
    """Evaluate ``version`` against what is served (or the base model) on the dataset's
    held-out prompts, through the serving machinery (the same candidates, shaping, checks and
    voice model), and decide whether it goes live (:func:`twin.evaluate.gate.decide`); with
    ``force`` the decision promotes it and says it was forced."""
    from twin.evaluate.gate import decide
    from twin.evaluate.runner import BASE, run_evaluation
    from twin.registry import Registry

    served = Registry(settings).serving()
    other = served.version if served and served.version != version else None
    gating = with_values(settings, "evaluate", single_draft=False)
    report = run_evaluation(gating, dataset=dataset_dir,
                            versions=[version] + ([other] if other else []), retrieval=False)
    return decide(report["per_prompt"], f"twin-v{version}",
                  f"twin-v{other}" if other else BASE, force=force,
                  bootstrap=settings.evaluate.bootstrap, seed=settings.evaluate.seed)
