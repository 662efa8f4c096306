"""Continued pretraining (CPT) on Ray Train: a causal-LM LoRA pass over the author's own prose.

The dataset version's ``corpus.jsonl`` (the train split's documents, style-cleaned, without
quotes, code or link material: :mod:`twin.datasets.corpus`) is tokenized, each document ended
with the end-of-text token, joined and cut into ``train.max_length`` token blocks; the loss is
on every token. The adapter has SFT's LoRA config, and SFT trains it on (``init_adapter``):
the model first reads how the author writes, then learns to answer requests that way.
Off by default (``train.pretrain_steps`` 0): the evaluation decides whether it helps an author.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from twin.datasets.corpus import CORPUS_FILE, load_corpus
from twin.settings import Settings
from twin.train.common import (
    TrainError,
    TrainResult,
    fit_on_ray,
    load_for_training,
    lora_config,
    lora_fields,
    run_config,
    train_and_report,
    trainer_args,
)

log = logging.getLogger(__name__)


def token_blocks(tokenizer: Any, texts: Iterable[str], max_length: int) -> list[list[int]]:
    """The texts' tokens, each text ended by the end-of-text token, joined and cut into
    blocks of ``max_length`` (the last one shorter): the pretraining samples."""
    if max_length < 2:
        raise TrainError(f"train.max_length {max_length} is too short for pretraining blocks")
    stream: list[int] = []
    for text in texts:
        stream += tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]
        stream.append(tokenizer.eos_token_id)
    return [stream[i:i + max_length] for i in range(0, len(stream), max_length)
            if len(stream[i:i + max_length]) > 1]


def build_pretrain_trainer(config: dict[str, Any],
                           callbacks: list[Any]) -> tuple[Any, Any, int]:
    """(trl SFTTrainer over the corpus blocks with a fresh LoRA adapter, tokenizer, blocks).

    trl takes the blocks as a tokenized language-modelling dataset: no chat template, no
    prompt mask, so every token is trained on. Used by the Ray Train loop and, with no
    callbacks, in a single process (tests, benchmarks).
    """
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    model, tokenizer = load_for_training(config["model_path"], config["model_path"],
                                         config["seed"], config["cpus_per_worker"],
                                         config.get("qlora", False))
    blocks = token_blocks(tokenizer, (row["text"] for row in load_corpus(config["dataset"])),
                          config["max_length"])
    if not blocks:
        raise TrainError(f"no text in {config['dataset']}/{CORPUS_FILE} to pretrain on")
    args = SFTConfig(gradient_checkpointing=False, packing=False, **trainer_args(config))
    trainer = SFTTrainer(model=model, args=args,
                         train_dataset=Dataset.from_dict({"input_ids": blocks}),
                         processing_class=tokenizer, peft_config=lora_config(config),
                         callbacks=callbacks)
    return trainer, tokenizer, len(blocks)


def pretrain_loop(config: dict[str, Any]) -> None:
    """Ray Train worker: the LoRA causal-LM pass, reporting checkpoints to Ray Train."""
    from ray.train.huggingface.transformers import RayTrainReportCallback, prepare_trainer

    trainer, tokenizer, blocks = build_pretrain_trainer(config, [RayTrainReportCallback()])
    trainer = prepare_trainer(trainer)
    train_and_report(trainer, tokenizer, config, {
        "train_samples": blocks, "blocks": blocks, "base_model": config["base_model"],
        "stage": "pretrain", "dataset": config["dataset"]})


def pretrain_config(settings: Settings, dataset_dir: Path, max_steps: int, run: str,
                    workers: int = 1) -> dict[str, Any]:
    """The loop config of a continued-pretraining run on ``workers`` workers."""
    return {
        **run_config(settings, run, "pretrain", workers),
        "dataset": str(Path(dataset_dir).resolve()), "max_steps": max_steps,
        "learning_rate": settings.train.pretrain_learning_rate, **lora_fields(settings),
    }


def finished_run(settings: Settings, run: str) -> TrainResult | None:
    """The adapter of a continued-pretraining run that already finished (an interrupted SFT
    run resumed under its name starts from it again), or None."""
    adapter_dir = settings.home_dir / "adapters" / run
    summary = adapter_dir / "training.json"
    if not summary.exists():
        return None
    info = json.loads(summary.read_text())
    return TrainResult(adapter_dir=adapter_dir, run=run, losses=info["losses"],
                       steps=info["steps"], seconds=float(info.get("train_runtime_s") or 0.0),
                       train_samples=info.get("train_samples", 0), info=info)


def train_pretrain(settings: Settings, dataset_dir: Path, *, max_steps: int, workers: int = 1,
                   run_name: str | None = None) -> TrainResult:
    """Run continued pretraining on the dataset version's corpus on Ray Train (a finished
    run of that name is reused); the adapter lands under ``<home>/adapters/<run>``."""
    run = run_name or time.strftime("cpt-%Y%m%d-%H%M%S")
    if not load_corpus(dataset_dir):
        raise TrainError(f"{dataset_dir} has no {CORPUS_FILE} (or it is empty): rebuild the "
                         "dataset with `twin dataset`, or set train.pretrain_steps to 0")
    done = finished_run(settings, run)
    if done is not None:
        log.info("continued pretraining %s already finished: SFT starts from %s", run,
                 done.adapter_dir)
        return done
    return fit_on_ray(pretrain_loop, pretrain_config(settings, dataset_dir, max_steps, run,
                                                     workers), settings, workers)
