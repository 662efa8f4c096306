"""LoRA supervised fine-tuning on Ray Train: the HF/trl trainer inside a TorchTrainer.

Each worker loads the base model, trains a LoRA adapter on the instruction dataset (prompt =
instruction, completion = the author's text; loss on the completion only) with the tokenizer's
chat template, and rank 0 saves the adapter together with that tokenizer, so serving and
evaluation use the same template. CPU workers use gloo; GPU workers are picked up by Ray.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twin.settings import Settings
from twin.train.common import fit_on_ray, load_for_training, precision_args, save_adapter

log = logging.getLogger(__name__)


@dataclass
class SFTResult:
    """Where the adapter went and how training went."""

    adapter_dir: Path
    losses: list[float] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0
    train_samples: int = 0


def _messages(sample: dict[str, Any]) -> dict[str, Any]:
    return {"prompt": [{"role": "user", "content": sample["instruction"]}],
            "completion": [{"role": "assistant", "content": sample["answer"]}]}


def sft_loop(config: dict[str, Any]) -> None:
    """Ray Train worker: LoRA SFT with trl, reporting to Ray Train."""
    from datasets import Dataset
    from peft import LoraConfig
    from ray.train.huggingface.transformers import RayTrainReportCallback, prepare_trainer
    from trl import SFTConfig, SFTTrainer

    model, tokenizer = load_for_training(config["model_path"], config["model_path"],
                                         config["seed"], config["cpus_per_worker"])
    with open(config["train_path"]) as handle:
        rows = [_messages(json.loads(line)) for line in handle]
    args = SFTConfig(
        output_dir=config["work_dir"], max_steps=config["max_steps"],
        per_device_train_batch_size=config["batch_size"], learning_rate=config["learning_rate"],
        logging_steps=1, save_strategy="no", report_to=[], seed=config["seed"],
        max_length=config["max_length"], gradient_checkpointing=False,
        dataloader_num_workers=0, disable_tqdm=True, **precision_args())
    peft_config = LoraConfig(r=config["lora_r"], lora_alpha=config["lora_alpha"],
                             lora_dropout=config["lora_dropout"],
                             target_modules=config["target_modules"], task_type="CAUSAL_LM")
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows),
                         processing_class=tokenizer, peft_config=peft_config,
                         callbacks=[RayTrainReportCallback()])
    trainer = prepare_trainer(trainer)
    trainer.train()
    save_adapter(trainer, tokenizer, Path(config["adapter_dir"]),
                 {"train_samples": len(rows), "base_model": config["base_model"]})


def train_sft(settings: Settings, dataset_dir: Path, *, max_steps: int, workers: int = 1,
              run_name: str | None = None) -> SFTResult:
    """Run LoRA SFT on Ray Train; the adapter lands under ``<home>/train/<run>/adapter``."""
    from twin.llm.models import resolve_base_model

    t = settings.train
    start = time.monotonic()
    run = run_name or time.strftime("sft-%Y%m%d-%H%M%S")
    root = settings.home_dir / "train"
    adapter_dir = root / run / "adapter"
    config = {
        "base_model": settings.llm.base_model,
        "model_path": resolve_base_model(settings.llm.base_model, settings.models_dir),
        "train_path": str(Path(dataset_dir) / "train.jsonl"),
        "work_dir": str(root / run / "work"), "adapter_dir": str(adapter_dir),
        "max_steps": max_steps, "batch_size": t.batch_size, "learning_rate": t.learning_rate,
        "max_length": t.max_length, "seed": t.seed, "lora_r": t.lora_r,
        "lora_alpha": t.lora_alpha, "lora_dropout": t.lora_dropout,
        "target_modules": list(t.lora_target_modules),
        "cpus_per_worker": t.cpus_per_worker,
    }
    info = fit_on_ray(sft_loop, config, settings, run, workers)
    return SFTResult(adapter_dir=adapter_dir, losses=info["losses"], steps=info["steps"],
                     seconds=round(time.monotonic() - start, 1),
                     train_samples=info["train_samples"])
