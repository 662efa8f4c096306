"""Datasets and models as versions: a dataset version, a training run's result, and a
registered model version (what the registry records and the Serve app loads)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from twin.domain.choices import Choices

# The folder of a dataset version (and of a model version's artifacts) that holds each
# author's voice model, one subfolder per author id (twin.voice.build writes it).
VOICE_DIR = "voice"


@dataclass
class DatasetResult:
    """Where a dataset version was written, and its card."""

    path: Path
    card: dict[str, Any] = field(default_factory=dict)
    reused: bool = False


@dataclass
class TrainResult:
    """Where the adapter went and how training went."""

    adapter_dir: Path
    run: str = ""
    losses: list[float] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0
    train_samples: int = 0
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelVersion:
    """One registered twin: where its adapter is and what made it."""

    version: int
    run_id: str
    run_name: str
    stage: str
    source: str
    base_model: str
    dataset: str
    git_commit: str
    created: str
    aliases: list[str] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    gate: str = ""
    """The gate's decision when this version was trained (empty: it did not run)."""
    choices: Choices | None = None
    """The settings its evaluation chose (None: not evaluated yet; the settings apply)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {**asdict(self),
                "choices": self.choices.model_dump(mode="json") if self.choices else None}
