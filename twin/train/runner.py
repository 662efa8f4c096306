"""The training stage as one call: continued pretraining when ``train.pretrain_steps`` asks
for it, SFT (on the same adapter), then DPO when pairs are given; each SFT/DPO run registered as
a model version (the gate, in :mod:`twin.stages.train`, decides what is served)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from twin.settings import Settings
from twin.train.common import TrainError

log = logging.getLogger(__name__)


def latest_dataset(settings: Settings, kind: str = "instruct") -> Path:
    """The newest dataset version folder of ``kind`` (instruct or preference)."""
    root = settings.home_dir / "datasets" / kind
    versions = sorted((p for p in root.glob("v*") if (p / "card.json").exists()),
                      key=lambda p: int(p.name[1:].split("-")[0])) if root.exists() else []
    if not versions:
        raise TrainError(f"no {kind} dataset yet under {root}: run `twin dataset` first")
    return versions[-1]


def train_and_register(settings: Settings, dataset_dir: Path, *, max_steps: int,
                       workers: int, run_name: str | None = None,
                       preference_dir: Path | None = None,
                       dpo_steps: int | None = None) -> dict[str, Any]:
    """Run continued pretraining (``train.pretrain_steps`` > 0), SFT from its adapter (and
    DPO), register each SFT/DPO run; returns a summary per stage with its version.

    ``run_name`` names the SFT run (the pretraining run is ``<run>-cpt``): re-running an
    interrupted run's name resumes it. The versions record the pretraining run (their recipe's
    ``pretrain_steps``). Nothing is marked for serving here: the train stage puts the new
    version through the gate.
    """
    from twin.rayjobs import git_commit
    from twin.registry import Registry, dataset_card, hyperparameters
    from twin.train.sft import train_sft

    if not (Path(dataset_dir) / "train.jsonl").exists():
        raise TrainError(f"no train.jsonl in {dataset_dir}: not an instruction dataset version")
    if preference_dir is not None and not (Path(preference_dir) / "train.jsonl").exists():
        raise TrainError(f"no train.jsonl in {preference_dir}: not a preference dataset version")
    registry = Registry(settings)
    commit = git_commit()
    run = run_name or time.strftime("sft-%Y%m%d-%H%M%S")
    pretrain = None
    if settings.train.pretrain_steps:
        from twin.train.pretrain import train_pretrain

        pretrain = train_pretrain(settings, dataset_dir, max_steps=settings.train.pretrain_steps,
                                  workers=workers, run_name=f"{run}-cpt")
    sft = train_sft(settings, dataset_dir, max_steps=max_steps, workers=workers, run_name=run,
                    init_adapter=pretrain.adapter_dir if pretrain else None)
    if pretrain is not None:
        sft.info["pretrain"] = pretrain_summary(settings, pretrain)
    card = dataset_card(dataset_dir)
    version = registry.register(sft, hyperparameters(settings, sft, workers, card), commit, card)
    summary: dict[str, Any] = {"sft": _stage(sft, version)}
    if preference_dir is not None:
        from twin.train.dpo import train_dpo

        dpo = train_dpo(settings, sft.adapter_dir, preference_dir,
                        max_steps=dpo_steps or max_steps, workers=workers,
                        run_name=f"{sft.run}-dpo")
        if "pretrain" in sft.info:  # the DPO adapter descends from the pretrained one
            dpo.info["pretrain"] = sft.info["pretrain"]
        version = registry.register(dpo, hyperparameters(settings, dpo, workers, card), commit,
                                    dataset_card(preference_dir))
        summary["dpo"] = _stage(dpo, version)
    served = registry.serving()
    summary["last_version"] = version.version
    summary["serving"] = served.version if served else None
    return summary


def pretrain_summary(settings: Settings, result: Any) -> dict[str, Any]:
    """What a version keeps of the continued-pretraining run its adapter started from."""
    info = result.info
    return {"run": result.run, "adapter": str(result.adapter_dir), "steps": result.steps,
            "losses": result.losses, "seconds": result.seconds,
            "blocks": info.get("blocks", result.train_samples),
            "tokens_seen": info.get("tokens_seen"), "tokens_per_s": info.get("tokens_per_s"),
            "learning_rate": settings.train.pretrain_learning_rate}


def _stage(result: Any, version: Any) -> dict[str, Any]:
    return {"run": result.run, "adapter": str(result.adapter_dir), "steps": result.steps,
            "losses": result.losses, "seconds": result.seconds, "version": version.version,
            "resumed_from_step": result.info.get("resumed_from_step", 0),
            "tokens_seen": result.info.get("tokens_seen"),
            **{key: result.info.get(key) for key in ("tokens_per_s", "limit_tokens_per_s",
                                                     "utilisation")},
            "deepspeed": result.info.get("deepspeed", "off"),
            "pretrain": result.info.get("pretrain")}
