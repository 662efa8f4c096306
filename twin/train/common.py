"""What the SFT and DPO Ray Train runs share: loading the model, running the trainer."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from twin.settings import Settings


def load_for_training(model_path: str, tokenizer_path: str, seed: int,
                      cpus: float) -> tuple[Any, Any]:
    """(base model, tokenizer) inside a Ray Train worker, seeded and using its CPUs."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    # Ray pins OMP threads to 1 per worker; use the CPUs this worker was given.
    torch.set_num_threads(max(1, round(cpus)))
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    for parameter in model.parameters():  # memory-mapped weights trained and generated slowly
        parameter.data = parameter.data.clone()
    return model, tokenizer


def precision_args() -> dict[str, Any]:
    """Explicit precision: bf16 only on a GPU that has it (trl's DPO defaults to bf16)."""
    import torch

    use_gpu = torch.cuda.is_available()
    return {"bf16": use_gpu and torch.cuda.is_bf16_supported(), "use_cpu": not use_gpu}


def save_adapter(trainer: Any, tokenizer: Any, out: Path, info: dict[str, Any]) -> None:
    """Rank 0 saves the adapter with the tokenizer (its chat template) and training.json."""
    import ray.train

    if ray.train.get_context().get_world_rank() != 0:
        return
    out.mkdir(parents=True, exist_ok=True)
    trainer.model.save_pretrained(out)
    tokenizer.save_pretrained(out)  # the chat template travels with the adapter
    history = trainer.state.log_history
    (out / "training.json").write_text(json.dumps({
        "losses": [h["loss"] for h in history if "loss" in h],
        "steps": trainer.state.global_step, **info}))


def fit_on_ray(loop: Callable[[dict[str, Any]], None], config: dict[str, Any],
               settings: Settings, run: str, workers: int) -> dict[str, Any]:
    """Run ``loop`` on a TorchTrainer; returns the adapter's training.json."""
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from twin.raycluster import connect

    connect(settings)
    t = settings.train
    trainer = TorchTrainer(
        loop, train_loop_config=config,
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=t.use_gpu,
                                     resources_per_worker={"CPU": t.cpus_per_worker}),
        run_config=RunConfig(name=run, storage_path=str(settings.home_dir / "train")))
    trainer.fit()
    return json.loads((Path(config["adapter_dir"]) / "training.json").read_text())
