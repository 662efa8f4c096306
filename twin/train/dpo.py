"""DPO on Ray Train, starting from the SFT adapter: chosen = the author, rejected = the base.

The reference model is the base model with the adapter switched off (trl does this for PEFT
models), so no second copy of the weights is loaded.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from twin.settings import Settings
from twin.train.common import (
    TrainResult,
    fit_on_ray,
    load_for_training,
    run_config,
    train_and_report,
    trainer_args,
)


def dpo_loop(config: dict[str, Any]) -> None:
    """Ray Train worker: trl DPO on the preference pairs, from the SFT adapter."""
    from datasets import Dataset
    from peft import PeftModel
    from ray.train.huggingface.transformers import RayTrainReportCallback, prepare_trainer
    from trl import DPOConfig, DPOTrainer

    base, tokenizer = load_for_training(config["model_path"], config["sft_adapter"],
                                        config["seed"], config["cpus_per_worker"],
                                        config.get("qlora", False))
    model = PeftModel.from_pretrained(base, config["sft_adapter"], is_trainable=True)
    with open(config["pairs_path"]) as handle:
        pairs = [json.loads(line) for line in handle]
    dataset = Dataset.from_list([{
        "prompt": [{"role": "user", "content": p["prompt"]}],
        "chosen": [{"role": "assistant", "content": p["chosen"]}],
        "rejected": [{"role": "assistant", "content": p["rejected"]}]} for p in pairs])
    args = DPOConfig(beta=config["beta"], **trainer_args(config))
    trainer = DPOTrainer(model=model, ref_model=None, args=args, train_dataset=dataset,
                         processing_class=tokenizer, callbacks=[RayTrainReportCallback()])
    trainer = prepare_trainer(trainer)
    train_and_report(trainer, tokenizer, config, {
        "train_samples": len(pairs), "base_model": config["base_model"], "stage": "dpo",
        "sft_adapter": config["sft_adapter"], "dataset": config["dataset"]})


def train_dpo(settings: Settings, sft_adapter: Path, pairs_dir: Path, *, max_steps: int,
              workers: int = 1, run_name: str | None = None) -> TrainResult:
    """Run DPO on Ray Train from an SFT adapter; the DPO adapter lands under
    ``<home>/adapters/<run>``."""
    t = settings.train
    run = run_name or time.strftime("dpo-%Y%m%d-%H%M%S")
    config = {
        **run_config(settings, run, "dpo", workers),
        "sft_adapter": str(sft_adapter), "dataset": str(Path(pairs_dir).resolve()),
        "pairs_path": str(Path(pairs_dir).resolve() / "train.jsonl"),
        "max_steps": max_steps, "learning_rate": t.dpo_learning_rate, "beta": t.dpo_beta,
    }
    return fit_on_ray(dpo_loop, config, settings, workers)
