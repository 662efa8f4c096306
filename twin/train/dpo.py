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
from twin.train.common import fit_on_ray, load_for_training, precision_args, save_adapter
from twin.train.sft import SFTResult


def dpo_loop(config: dict[str, Any]) -> None:
    """Ray Train worker: trl DPO on the preference pairs, from the SFT adapter."""
    from datasets import Dataset
    from peft import PeftModel
    from ray.train.huggingface.transformers import RayTrainReportCallback, prepare_trainer
    from trl import DPOConfig, DPOTrainer

    base, tokenizer = load_for_training(config["model_path"], config["sft_adapter"],
                                        config["seed"], config["cpus_per_worker"])
    model = PeftModel.from_pretrained(base, config["sft_adapter"], is_trainable=True)
    with open(config["pairs_path"]) as handle:
        pairs = [json.loads(line) for line in handle]
    dataset = Dataset.from_list([{
        "prompt": [{"role": "user", "content": p["prompt"]}],
        "chosen": [{"role": "assistant", "content": p["chosen"]}],
        "rejected": [{"role": "assistant", "content": p["rejected"]}]} for p in pairs])
    args = DPOConfig(
        output_dir=config["work_dir"], max_steps=config["max_steps"],
        per_device_train_batch_size=config["batch_size"], learning_rate=config["learning_rate"],
        beta=config["beta"], logging_steps=1, save_strategy="no", report_to=[],
        seed=config["seed"], max_length=config["max_length"], disable_tqdm=True,
        dataloader_num_workers=0, **precision_args())
    trainer = DPOTrainer(model=model, ref_model=None, args=args, train_dataset=dataset,
                         processing_class=tokenizer, callbacks=[RayTrainReportCallback()])
    trainer = prepare_trainer(trainer)
    trainer.train()
    margins = [h["rewards/margins"] for h in trainer.state.log_history
               if "rewards/margins" in h]
    save_adapter(trainer, tokenizer, Path(config["adapter_dir"]), {
        "reward_margins": margins, "train_samples": len(pairs),
        "base_model": config["base_model"], "sft_adapter": config["sft_adapter"]})


def train_dpo(settings: Settings, sft_adapter: Path, pairs_dir: Path, *, max_steps: int,
              workers: int = 1, run_name: str | None = None) -> SFTResult:
    """Run DPO on Ray Train from an SFT adapter; returns where the DPO adapter went."""
    from twin.llm.models import resolve_base_model

    t = settings.train
    start = time.monotonic()
    run = run_name or time.strftime("dpo-%Y%m%d-%H%M%S")
    root = settings.home_dir / "train"
    adapter_dir = root / run / "adapter"
    config = {
        "base_model": settings.llm.base_model,
        "model_path": resolve_base_model(settings.llm.base_model, settings.models_dir),
        "sft_adapter": str(sft_adapter), "pairs_path": str(Path(pairs_dir) / "train.jsonl"),
        "work_dir": str(root / run / "work"), "adapter_dir": str(adapter_dir),
        "max_steps": max_steps, "batch_size": t.batch_size, "learning_rate": t.dpo_learning_rate,
        "beta": t.dpo_beta, "max_length": t.max_length, "seed": t.seed,
        "cpus_per_worker": t.cpus_per_worker,
    }
    info = fit_on_ray(dpo_loop, config, settings, run, workers)
    return SFTResult(adapter_dir=adapter_dir, losses=info["losses"], steps=info["steps"],
                     seconds=round(time.monotonic() - start, 1),
                     train_samples=info["train_samples"])
