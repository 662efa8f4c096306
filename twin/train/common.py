"""What the Ray Train runs (continued pretraining, SFT, DPO) share: model loading, the LoRA
adapter, trainer arguments, DeepSpeed, checkpoints (resume) and the final adapter, which is
reported as the run's last checkpoint."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twin.domain import TrainResult
from twin.settings import Settings

log = logging.getLogger(__name__)

DEEPSPEED_DIR = Path(__file__).parent / "deepspeed"
ADAPTER = "adapter"  # folder of the final adapter inside the run's last Ray checkpoint
HF_CHECKPOINT = "checkpoint"  # RayTrainReportCallback's folder for the HF trainer's state


class TrainError(RuntimeError):
    """Training cannot start or resume; the message says why."""


@dataclass(frozen=True)
class WorkerResources:
    """What each Ray Train worker of a run gets, and what the cluster had free."""

    cpus: float
    use_gpu: bool
    free_cpus: float
    free_gpus: float


def worker_resources(settings: Settings, workers: int,
                     available: dict[str, float] | None = None) -> WorkerResources:
    """Each worker's CPUs and GPU: the settings' when given, else the cluster's free ones
    (``available``: Ray's available resources, read from the cluster when None) shared among
    the ``workers``. Ray Train's controller takes no CPU, so the workers may have them all."""
    t = settings.train
    if available is None and t.cpus_per_worker is not None and t.use_gpu is not None:
        available = {}  # both set: nothing to read from the cluster
    if available is None:
        import ray

        from twin.raycluster import connect

        connect(settings)
        available = ray.available_resources()
    free_cpus, free_gpus = float(available.get("CPU", 0.0)), float(available.get("GPU", 0.0))
    use_gpu = t.use_gpu if t.use_gpu is not None else free_gpus >= workers
    cpus = t.cpus_per_worker
    if cpus is None:
        share = free_cpus / max(1, workers)
        if share < 0.25:
            raise TrainError(f"the Ray cluster has {free_cpus:g} CPUs free, too few for "
                             f"{workers} training worker(s): stop what holds them (a Serve app?) "
                             "or set train.cpus_per_worker")
        cpus = float(int(share)) if share >= 1 else round(share, 2)
    return WorkerResources(cpus=cpus, use_gpu=use_gpu, free_cpus=free_cpus, free_gpus=free_gpus)


LORA_FLOPS_PER_PARAMETER = 4
"""Training FLOPs per token and base-model parameter with LoRA: the forward pass (2) and the
backward pass to the activations (2); the frozen weights get no gradients (full fine-tuning
would be 6)."""


def measured_flops(use_gpu: bool, seconds: float = 0.5) -> float:
    """The machine's dense matrix-multiply rate (FLOP/s) in this worker, with its threads (or
    its GPU, in bf16): the limit a training step could reach."""
    import torch

    device, dtype, n = ("cuda", torch.bfloat16, 4096) if use_gpu else ("cpu", torch.float32, 768)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b  # warm-up: kernels, allocations
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        runs += 1
        if use_gpu:
            torch.cuda.synchronize()
    return 2.0 * n ** 3 * runs / (time.perf_counter() - start)


def throughput(tokens: int, runtime_s: float | None, parameters: int, world_size: int,
               peak_flops: float) -> dict[str, float | None]:
    """Tokens/s of a run against the limit the measured FLOP/s allow for the model (every
    worker as fast as the measured one)."""
    if not tokens or not runtime_s or not parameters:
        return {"tokens_per_s": None, "limit_tokens_per_s": None, "utilisation": None}
    rate = tokens / runtime_s
    limit = world_size * peak_flops / (LORA_FLOPS_PER_PARAMETER * parameters)
    return {"tokens_per_s": round(rate, 1), "limit_tokens_per_s": round(limit, 1),
            "utilisation": round(rate / limit, 3)}


def deepspeed_mode(setting: str, use_gpu: bool) -> str:
    """The ZeRO stage to use: ``auto`` means zero2 on GPU workers and off on CPU workers."""
    if setting == "auto":
        return "zero2" if use_gpu else "off"
    return setting


def deepspeed_config(mode: str) -> dict[str, Any] | None:
    """The DeepSpeed config dict for ``zero2``/``zero3`` (HF fills its "auto" values)."""
    if mode == "off":
        return None
    path = DEEPSPEED_DIR / f"{mode}.json"
    if not path.exists():
        raise TrainError(f"unknown DeepSpeed mode {mode!r}: use off, zero2 or zero3")
    return json.loads(path.read_text())


def load_for_training(model_path: str, tokenizer_path: str, seed: int, cpus: float,
                      qlora: bool = False) -> tuple[Any, Any]:
    """(base model, tokenizer) inside a Ray Train worker, seeded and using its CPUs."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    # Ray pins OMP threads to 1 per worker; use the CPUs this worker was given.
    torch.set_num_threads(max(1, round(cpus)))
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if qlora:
        return _load_4bit(model_path), tokenizer
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    for parameter in model.parameters():  # memory-mapped weights trained and generated slowly
        parameter.data = parameter.data.clone()
    return model, tokenizer


def _load_4bit(model_path: str) -> Any:
    """QLoRA: the frozen base in NF4 (bitsandbytes), prepared for k-bit training."""
    import torch
    from peft import prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    if not torch.cuda.is_available():
        raise TrainError("QLoRA (train.qlora) needs a CUDA GPU: bitsandbytes 4-bit has no CPU "
                         "path here; turn it off or set train.use_gpu on a GPU cluster")
    compute = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                               bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=compute)
    model = AutoModelForCausalLM.from_pretrained(model_path, quantization_config=quant,
                                                 dtype=compute)
    return prepare_model_for_kbit_training(model)


def lora_config(config: dict[str, Any]) -> Any:
    """The LoRA adapter of a run (continued pretraining and SFT train the same one)."""
    from peft import LoraConfig

    return LoraConfig(r=config["lora_r"], lora_alpha=config["lora_alpha"],
                      lora_dropout=config["lora_dropout"],
                      target_modules=config["target_modules"], task_type="CAUSAL_LM")


def lora_fields(settings: Settings) -> dict[str, Any]:
    """The loop config's LoRA fields, from ``train``."""
    t = settings.train
    return {"lora_r": t.lora_r, "lora_alpha": t.lora_alpha, "lora_dropout": t.lora_dropout,
            "target_modules": list(t.lora_target_modules)}


def precision_args() -> dict[str, Any]:
    """Explicit precision: bf16 only on a GPU that has it (trl's DPO defaults to bf16)."""
    import torch

    use_gpu = torch.cuda.is_available()
    return {"bf16": use_gpu and torch.cuda.is_bf16_supported(), "use_cpu": not use_gpu}


def trainer_args(config: dict[str, Any]) -> dict[str, Any]:
    """Arguments shared by trl's SFTConfig and DPOConfig: steps, checkpoints, precision."""
    if config.get("deepspeed"):
        # DeepSpeed picks its accelerator when first imported; CPU workers need this set first.
        import torch

        if not torch.cuda.is_available():
            os.environ.setdefault("DS_ACCELERATOR", "cpu")
        # Its ops are built once, at set-up, into the environment (Makefile), not the home.
        os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(Path(sys.prefix) / "torch_extensions"))
    return dict(
        output_dir=config["work_dir"], max_steps=config["max_steps"],
        per_device_train_batch_size=config["batch_size"], learning_rate=config["learning_rate"],
        logging_steps=1, save_strategy="steps", save_steps=config["checkpoint_steps"],
        save_total_limit=1, report_to=[], seed=config["seed"], max_length=config["max_length"],
        dataloader_num_workers=0, disable_tqdm=True, include_num_input_tokens_seen="non_padding",
        deepspeed=config.get("deepspeed"), **precision_args())


def train_and_report(trainer: Any, tokenizer: Any, config: dict[str, Any],
                     info: dict[str, Any]) -> None:
    """Train (resuming from the run's last checkpoint if it has one), then save the adapter
    with the tokenizer (its chat template) and report it as the run's final checkpoint."""
    import ray.train
    from ray.train import Checkpoint

    resumed_from = 0
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None:
        output = trainer.train()
    else:
        with checkpoint.as_directory() as folder:
            if (Path(folder) / ADAPTER).exists():
                raise TrainError(f"run {config['run']!r} has already finished; start a new run")
            state = json.loads((Path(folder) / HF_CHECKPOINT / "trainer_state.json").read_text())
            resumed_from = state["global_step"]
            output = trainer.train(resume_from_checkpoint=str(Path(folder) / HF_CHECKPOINT))
    rank = ray.train.get_context().get_world_rank()
    final = Path(config["work_dir"]) / "final"
    trainer.save_model(str(final / ADAPTER))  # every rank: ZeRO-3 gathers the weights
    if rank != 0:
        ray.train.report({"step": trainer.state.global_step}, checkpoint=None)
        return
    tokenizer.save_pretrained(final / ADAPTER)  # the chat template travels with the adapter
    history = trainer.state.log_history
    tokens = int(trainer.state.num_input_tokens_seen)
    speed = throughput(tokens, output.metrics.get("train_runtime"),
                       _base_parameters(trainer.model),
                       ray.train.get_context().get_world_size(),
                       measured_flops(config.get("use_gpu", False)))
    summary = {
        "losses": [h["loss"] for h in history if "loss" in h],
        "reward_margins": [h["rewards/margins"] for h in history if "rewards/margins" in h],
        "steps": trainer.state.global_step, "resumed_from_step": resumed_from,
        "tokens_seen": tokens, **speed,
        "cpus_per_worker": config.get("cpus_per_worker"), "use_gpu": config.get("use_gpu"),
        "train_runtime_s": output.metrics.get("train_runtime"),
        "world_size": ray.train.get_context().get_world_size(),
        "deepspeed": config.get("deepspeed_mode", "off"), **info}
    (final / ADAPTER / "training.json").write_text(json.dumps(summary))
    ray.train.report({"step": trainer.state.global_step, "final": 1},
                     checkpoint=Checkpoint.from_directory(str(final)))


def _base_parameters(model: Any) -> int:
    """The model's parameters, counted whole under ZeRO-3 too (``ds_numel``)."""
    return sum(getattr(p, "ds_numel", 0) or p.numel() for p in model.parameters())


def check_base_model(model_path: str, name: str) -> None:
    """Fail fast, on the driver, when the base model cannot be loaded (e.g. offline)."""
    from transformers import AutoConfig

    from twin.llm.models import ModelLoadError

    try:
        AutoConfig.from_pretrained(model_path)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"cannot load base model {name!r}: it is not the bundled SmolLM2, not a local "
            f"folder, and could not be fetched ({type(exc).__name__}); this machine may be "
            "offline: point TWIN_LLM__BASE_MODEL at a local folder") from exc


def run_config(settings: Settings, run: str, stage: str, workers: int = 1,
               resources: WorkerResources | None = None) -> dict[str, Any]:
    """The loop config fields SFT and DPO share; ``resources`` (default: read from the
    cluster) decide each worker's CPUs and GPU."""
    from twin.llm.models import resolve_base_model

    t = settings.train
    model_path = resolve_base_model(settings.llm.base_model, settings.models_dir)
    check_base_model(model_path, settings.llm.base_model)
    resources = resources or worker_resources(settings, workers)
    log.info("%d worker(s) with %g CPU(s)%s each (the cluster had %g CPUs and %g GPUs free)",
             workers, resources.cpus, " and a GPU" if resources.use_gpu else "",
             resources.free_cpus, resources.free_gpus)
    mode = deepspeed_mode(t.deepspeed, resources.use_gpu)
    return {
        "run": run, "stage": stage, "base_model": settings.llm.base_model,
        "model_path": model_path, "work_dir": str(settings.home_dir / "train-work" / run),
        "batch_size": t.batch_size, "max_length": t.max_length, "seed": t.seed,
        "cpus_per_worker": resources.cpus, "use_gpu": resources.use_gpu,
        "checkpoint_steps": t.checkpoint_steps,
        "qlora": t.qlora, "deepspeed_mode": mode, "deepspeed": deepspeed_config(mode),
    }


def _refuse_finished_run(storage: str, run: str) -> None:
    """A run whose last checkpoint is its final adapter cannot be resumed (local storage; on
    remote storage the worker finds out from the checkpoint itself)."""
    snapshot = Path(storage) / run / "checkpoint_manager_snapshot.json"
    if "://" in storage or not snapshot.exists():
        return
    latest = json.loads(snapshot.read_text()).get("latest_checkpoint_result") or {}
    if (latest.get("metrics") or {}).get("final"):
        raise TrainError(f"run {run!r} has already finished (its adapter is in "
                         f"{snapshot.parent}); give a new run name to train again")


def fit_on_ray(loop: Callable[[dict[str, Any]], None], config: dict[str, Any],
               settings: Settings, workers: int) -> TrainResult:
    """Run ``loop`` on a TorchTrainer under the run's name (same name = resume); the final
    adapter is copied from the run's last checkpoint into ``<home>/adapters/<run>``."""
    from ray.train import CheckpointConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from twin.raycluster import connect

    # Ray Train's print patch re-emits output that libraries capture on purpose (dill
    # disassembles functions into a captured stdout while datasets fingerprints them).
    os.environ.setdefault("RAY_TRAIN_ENABLE_PRINT_PATCH", "0")
    t = settings.train
    run = config["run"]
    _refuse_finished_run(settings.train_storage, run)
    connect(settings)
    start = time.monotonic()
    use_gpu = bool(config.get("use_gpu"))
    resources = {"CPU": config["cpus_per_worker"], **({"GPU": 1} if use_gpu else {})}
    trainer = TorchTrainer(
        loop, train_loop_config=config,
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=use_gpu,
                                     resources_per_worker=resources),
        run_config=RunConfig(name=run, storage_path=settings.train_storage,
                             checkpoint_config=CheckpointConfig(
                                 num_to_keep=max(2, t.checkpoints_to_keep))))
    result = trainer.fit()
    if result.checkpoint is None:
        raise TrainError(f"run {run!r} ended without a final checkpoint")
    adapter_dir = settings.home_dir / "adapters" / run
    with result.checkpoint.as_directory() as folder:
        if adapter_dir.exists():
            shutil.rmtree(adapter_dir)
        shutil.copytree(Path(folder) / ADAPTER, adapter_dir)
    info = json.loads((adapter_dir / "training.json").read_text())
    log.info("run %s: %d steps, loss %s, adapter %s", run, info["steps"],
             info["losses"][-1] if info["losses"] else "?", adapter_dir)
    return TrainResult(adapter_dir=adapter_dir, run=run, losses=info["losses"],
                       steps=info["steps"], seconds=round(time.monotonic() - start, 1),
                       train_samples=info.get("train_samples", 0), info=info)
