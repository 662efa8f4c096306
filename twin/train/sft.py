"""LoRA supervised fine-tuning on Ray Train: the HF/trl trainer inside a TorchTrainer.

Each worker loads the base model, trains a LoRA adapter on the instruction dataset (prompt =
the sample rendered by the one prompt builder, :func:`twin.prompting.sample_messages`: its
instruction, word limit and retrieved material exactly as serving would put them; completion =
the author's text; loss on the completion only) with the tokenizer's chat template. Prompt and
answer share ``train.max_length``: material that does not fit beside the answer is left out.
CPU workers use gloo; GPU workers are picked up by Ray, with DeepSpeed ZeRO when configured.
The adapter is saved with that tokenizer, so serving and evaluation use the same template, and is
reported as the run's final checkpoint in Ray Train's storage path.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from twin.prompting import ANSWER_END_TOKENS, TokenizerFormat, sample_messages
from twin.settings import Settings
from twin.train.common import (
    TrainResult,
    fit_on_ray,
    load_for_training,
    lora_config,
    lora_fields,
    run_config,
    train_and_report,
    trainer_args,
)

SFTResult = TrainResult  # the name callers used before DPO shared the result type


def training_messages(sample: dict[str, Any], fmt: Any,
                      context_tokens: int | None) -> dict[str, Any]:
    """The prompt/completion pair of a sample: the serving prompt for its request and material,
    sized so that prompt and answer fit ``fmt.window`` (``train.max_length``)."""
    answer_tokens = fmt.count_tokens(sample["answer"]) + ANSWER_END_TOKENS
    prompt, _ = sample_messages(sample, fmt, fmt.window, answer_tokens, context_tokens)
    return {"prompt": prompt,
            "completion": [{"role": "assistant", "content": sample["answer"]}]}


def build_sft_trainer(config: dict[str, Any], callbacks: list[Any]) -> tuple[Any, Any, int]:
    """(trl SFTTrainer with a LoRA adapter, tokenizer, sample count) for ``config``.

    With ``config["init_adapter"]`` (the continued-pretraining run's adapter) SFT trains that
    adapter on, loaded trainable; else a fresh one. Used by the Ray Train loop and, with no
    callbacks, by the plain single-process benchmark.
    """
    from datasets import Dataset
    from peft import PeftModel
    from trl import SFTConfig, SFTTrainer

    model, tokenizer = load_for_training(config["model_path"], config["model_path"],
                                         config["seed"], config["cpus_per_worker"],
                                         config.get("qlora", False))
    fmt = TokenizerFormat(tokenizer, config["max_length"])
    with open(config["train_path"]) as handle:
        rows = [training_messages(json.loads(line), fmt, config.get("context_tokens"))
                for line in handle]
    args = SFTConfig(gradient_checkpointing=False, **trainer_args(config))
    peft_config = None
    if config.get("init_adapter"):
        # trl takes a PeftModel as it is (and refuses one together with a new peft_config).
        model = PeftModel.from_pretrained(model, config["init_adapter"], is_trainable=True)
    else:
        peft_config = lora_config(config)
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows),
                         processing_class=tokenizer, peft_config=peft_config,
                         callbacks=callbacks)
    return trainer, tokenizer, len(rows)


def sft_loop(config: dict[str, Any]) -> None:
    """Ray Train worker: LoRA SFT with trl, reporting checkpoints to Ray Train."""
    from ray.train.huggingface.transformers import RayTrainReportCallback, prepare_trainer

    trainer, tokenizer, samples = build_sft_trainer(config, [RayTrainReportCallback()])
    trainer = prepare_trainer(trainer)
    train_and_report(trainer, tokenizer, config, {
        "train_samples": samples, "base_model": config["base_model"], "stage": "sft",
        "dataset": config["dataset"], "init_adapter": config.get("init_adapter")})


def sft_config(settings: Settings, dataset_dir: Path, max_steps: int, run: str,
               workers: int = 1, init_adapter: Path | None = None) -> dict[str, Any]:
    """The loop config of an SFT run on ``workers`` workers (from ``init_adapter`` if given)."""
    return {
        **run_config(settings, run, "sft", workers),
        "dataset": str(Path(dataset_dir).resolve()),
        "train_path": str(Path(dataset_dir).resolve() / "train.jsonl"),
        "max_steps": max_steps, "learning_rate": settings.train.learning_rate,
        **lora_fields(settings),
        "context_tokens": settings.dataset.context_tokens,
        "init_adapter": str(init_adapter) if init_adapter else None,
    }


def train_sft(settings: Settings, dataset_dir: Path, *, max_steps: int, workers: int = 1,
              run_name: str | None = None, init_adapter: Path | None = None) -> TrainResult:
    """Run LoRA SFT on Ray Train; re-running an interrupted ``run_name`` resumes it from its
    last checkpoint. ``init_adapter`` (a continued-pretraining adapter) is trained on instead
    of a fresh adapter. The adapter lands under ``<home>/adapters/<run>``."""
    run = run_name or time.strftime("sft-%Y%m%d-%H%M%S")
    config = sft_config(settings, dataset_dir, max_steps, run, workers, init_adapter)
    return fit_on_ray(sft_loop, config, settings, workers)
