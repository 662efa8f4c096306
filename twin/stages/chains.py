"""The Prefect deployments, each declared once as a chain of stages.

A deployment runs one stage's Ray job or several in a row; its flow's parameters are its
stages' request fields (one parameter per name, given to every step that has that field),
less the fields a step takes from an earlier step's result, plus a switch per optional step.
``flows/<name>.py`` builds the flow from the chain (:func:`flows.tasks.chain_flow`) and
``prefect.yaml`` is written from :data:`CHAINS` (``scripts/generate_reference.py``), so an
option added to a stage's request reaches every flow that runs the stage with no other edit.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twin.stages.base import Stage, StageResult

Wiring = Callable[[dict[str, StageResult]], dict[str, Any]]
"""Request values a step takes from the results of the steps before it (by stage name)."""


@dataclass(frozen=True)
class Parameter:
    """One flow parameter: its name, type, default (``inspect.Parameter.empty``: required)."""

    name: str
    annotation: Any
    default: Any
    help: str


@dataclass(frozen=True)
class Step:
    """One stage's job in a chain."""

    stage: str
    wired: Wiring | None = None
    """Values taken from earlier results; those fields are no flow parameters."""
    wired_fields: tuple[str, ...] = ()
    switch: str | None = None
    """A bool flow parameter that turns the step on (None: the step always runs)."""
    switch_help: str = ""

    def values(self, stage: Stage, given: dict[str, Any],
               results: dict[str, StageResult]) -> dict[str, Any]:
        """The step's request values: the flow's values for its fields, then the wired ones."""
        own = {k: v for k, v in given.items()
               if k in stage.request.model_fields and k not in self.wired_fields}
        return {**own, **(self.wired(results) if self.wired else {})}


@dataclass(frozen=True)
class Chain:
    """A Prefect deployment: its steps, what ``prefect.yaml`` says of it, its defaults."""

    name: str
    description: str
    steps: tuple[Step, ...]
    defaults: dict[str, Any] = field(default_factory=dict)
    """Parameter defaults that differ from the stages' (or a switch's ``True``)."""

    @property
    def entrypoint(self) -> str:
        """The flow, as ``prefect.yaml`` names it."""
        return f"flows/{self.name}.py:{self.name}_flow"

    def parameters(self, stages: dict[str, Stage]) -> list[Parameter]:
        """The flow's parameters in order (the chain's own ones after the stages')."""
        out: dict[str, Parameter] = {}
        for step in self.steps:
            stage = stages[step.stage]
            for name, info in stage.request.model_fields.items():
                if name in step.wired_fields or name in out:
                    continue
                default = inspect.Parameter.empty if info.is_required() else \
                    info.get_default(call_default_factory=True)
                annotation = info.annotation
                if default == []:  # a list left out is None (never a shared mutable default)
                    default, annotation = None, annotation | None
                out[name] = Parameter(name, annotation, self.defaults.get(name, default),
                                      info.description or "")
        for step in self.steps:
            if step.switch:
                out[step.switch] = Parameter(step.switch, bool,
                                             self.defaults.get(step.switch, True),
                                             step.switch_help)
        return list(out.values())

    def running(self, given: dict[str, Any]) -> list[Step]:
        """The steps these flow values turn on."""
        return [s for s in self.steps
                if s.switch is None or given.get(s.switch, self.defaults.get(s.switch, True))]


def _datasets(results: dict[str, StageResult]) -> dict[str, Any]:
    """The train stage's folders, from the dataset job's result."""
    data: Any = results["dataset"]
    return {"dataset": data.path, "dpo": data.preference.path if data.preference else None}


def _trained(results: dict[str, StageResult]) -> dict[str, Any]:
    """The evaluate stage's version and dataset, from the train and dataset results."""
    trained: Any = results["train"]
    data: Any = results["dataset"]
    return {"versions": [trained.sft.version], "dataset": data.path}


_INGEST = Step("ingest", switch="ingest",
               switch_help="Ingest after collecting, so the new writing becomes searchable.")
_TRAIN = Step("train", wired=_datasets, wired_fields=("dataset", "dpo"))

CHAINS: dict[str, Chain] = {chain.name: chain for chain in (
    Chain("collect", "Collect an author's writing (links and export ZIPs) into the warehouse, "
          "then ingest it into the knowledge base.", (Step("collect"), _INGEST)),
    Chain("ingest", "Clean, chunk and embed new or changed documents into Milvus.",
          (Step("ingest"),)),
    Chain("dataset", "Build the instruction (and optionally preference) dataset from the "
          "warehouse.", (Step("dataset"),)),
    Chain("train", "Build the datasets, then LoRA SFT (and DPO) on Ray Train; registers a "
          "model version.", (Step("dataset"), _TRAIN)),
    Chain("evaluate", "Evaluate the base model and every twin version on the held-out split "
          "(style, judge, retrieval settings); results go to the model registry.",
          (Step("evaluate"),)),
    Chain("pipeline", "The whole journey, each stage a Ray job - collect, ingest, dataset, "
          "train, evaluate.",
          (Step("collect"), Step("ingest"), Step("dataset"), _TRAIN,
           Step("evaluate", wired=_trained, wired_fields=("versions", "dataset"),
                switch="evaluate", switch_help="Evaluate the new version afterwards.")),
          defaults={"serve": True}),
)}
"""Every Prefect deployment of ``prefect.yaml``, by name (flow and deployment share it)."""


def get_chain(name: str) -> Chain:
    """The deployment called ``name``."""
    try:
        return CHAINS[name]
    except KeyError:
        raise KeyError(f"unknown deployment {name!r}: one of {', '.join(CHAINS)}") from None

