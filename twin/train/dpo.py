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
from twin.train.sft import SFTResult


def dpo_loop(config: dict[str, Any]) -> None:
    """Ray Train worker: trl DPO on the preference pairs, from the SFT adapter."""
    import ray.train
    import torch
    from datasets import Dataset
    from peft import PeftModel
    from ray.train.huggingface.transformers import RayTrainReportCallback, prepare_trainer
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    torch.manual_seed(config["seed"])
    torch.set_num_threads(max(1, round(config["cpus_per_worker"])))
    tokenizer = AutoTokenizer.from_pretrained(config["sft_adapter"])
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    base = AutoModelForCausalLM.from_pretrained(config["model_path"], dtype=torch.float32)
    for parameter in base.parameters():
        parameter.data = parameter.data.clone()
    model = PeftModel.from_pretrained(base, config["sft_adapter"], is_trainable=True)
    with open(config["pairs_path"]) as handle:
        pairs = [json.loads(line) for line in handle]
    dataset = Dataset.from_list([{
        "prompt": [{"role": "user", "content": p["prompt"]}],
        "chosen": [{"role": "assistant", "content": p["chosen"]}],
        "rejected": [{"role": "assistant", "content": p["rejected"]}]} for p in pairs])
    use_gpu = torch.cuda.is_available()
    args = DPOConfig(
        output_dir=config["work_dir"], max_steps=config["max_steps"],
        per_device_train_batch_size=config["batch_size"], learning_rate=config["learning_rate"],
        beta=config["beta"], logging_steps=1, save_strategy="no", report_to=[],
        seed=config["seed"], max_length=config["max_length"], disable_tqdm=True,
        # trl's DPO defaults to bf16, ten times slower on CPUs without bf16 instructions.
        bf16=use_gpu and torch.cuda.is_bf16_supported(), use_cpu=not use_gpu,
        dataloader_num_workers=0)
    trainer = DPOTrainer(model=model, ref_model=None, args=args, train_dataset=dataset,
                         processing_class=tokenizer, callbacks=[RayTrainReportCallback()])
    trainer = prepare_trainer(trainer)
    trainer.train()
    history = trainer.state.log_history
    if ray.train.get_context().get_world_rank() == 0:
        out = Path(config["adapter_dir"])
        out.mkdir(parents=True, exist_ok=True)
        trainer.model.save_pretrained(out)
        tokenizer.save_pretrained(out)
        (out / "training.json").write_text(json.dumps({
            "losses": [h["loss"] for h in history if "loss" in h],
            "reward_margins": [h["rewards/margins"] for h in history if "rewards/margins" in h],
            "steps": trainer.state.global_step, "train_samples": len(pairs),
            "base_model": config["base_model"], "sft_adapter": config["sft_adapter"]}))


def train_dpo(settings: Settings, sft_adapter: Path, pairs_dir: Path, *, max_steps: int,
              workers: int = 1, run_name: str | None = None) -> SFTResult:
    """Run DPO on Ray Train from an SFT adapter; returns where the DPO adapter went."""
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from twin.llm.models import resolve_base_model
    from twin.raycluster import connect

    t = settings.train
    start = time.monotonic()
    run = run_name or time.strftime("dpo-%Y%m%d-%H%M%S")
    root = settings.home_dir / "train"
    adapter_dir = root / run / "adapter"
    connect(settings)
    config = {
        "base_model": settings.llm.base_model,
        "model_path": resolve_base_model(settings.llm.base_model, settings.models_dir),
        "sft_adapter": str(sft_adapter), "pairs_path": str(Path(pairs_dir) / "train.jsonl"),
        "work_dir": str(root / run / "work"), "adapter_dir": str(adapter_dir),
        "max_steps": max_steps, "batch_size": t.batch_size, "learning_rate": t.dpo_learning_rate,
        "beta": t.dpo_beta, "max_length": t.max_length, "seed": t.seed,
        "cpus_per_worker": t.cpus_per_worker,
    }
    trainer = TorchTrainer(
        dpo_loop, train_loop_config=config,
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=t.use_gpu,
                                     resources_per_worker={"CPU": t.cpus_per_worker}),
        run_config=RunConfig(name=run, storage_path=str(root)))
    trainer.fit()
    info = json.loads((adapter_dir / "training.json").read_text())
    return SFTResult(adapter_dir=adapter_dir, losses=info["losses"], steps=info["steps"],
                     seconds=round(time.monotonic() - start, 1),
                     train_samples=info["train_samples"])
