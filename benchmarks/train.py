"""Training throughput: the same LoRA SFT as a plain single-process HF trainer vs through Ray
Train with 1 and 2 workers, in one run, as tokens per second and ratios.

The data is the demo author's writing cut into instruction samples as the dataset stage does
(offline instructions). Every run uses the same base model, LoRA settings, batch size per
worker, max length and step count, and the machine's CPUs: the plain trainer and the 1-worker
run get all of them, the 2-worker run one share each. Tokens are the non-padding input tokens
the trainer saw (gathered over workers), divided by the trainer's own train_runtime; the wall
time with Ray's start-up is printed beside it.

    .venv/bin/python benchmarks/train.py [--steps 8] [--batch-size 4] [--max-length 256]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from twin.datasets.instructions import offline_instruction
from twin.datasets.samples import candidates_of
from twin.demo.content import load_pieces
from twin.settings import Settings
from twin.train.sft import build_sft_trainer, sft_config, train_sft


def demo_samples() -> list[dict[str, str]]:
    """Instruction samples from the demo corpus (answers are the author's text)."""
    out = []
    for i, piece in enumerate(load_pieces()):
        doc = {"id": str(i), "author_id": "maya", "platform": piece.platform,
               "kind": piece.kind, "title": piece.title, "text": piece.body}
        for candidate in candidates_of(doc, 30, 320, 0.5)[0]:
            sample = candidate.as_dict()
            out.append({"instruction": offline_instruction(sample), "answer": sample["answer"]})
    return out


def plain(config: dict, cpus: int) -> tuple[float, float]:
    """(tokens/s, wall s) of the HF trainer in this process, no Ray."""
    start = time.perf_counter()
    trainer, _, _ = build_sft_trainer({**config, "cpus_per_worker": cpus}, [])
    output = trainer.train()
    tokens = int(trainer.state.num_input_tokens_seen)
    return tokens / output.metrics["train_runtime"], time.perf_counter() - start


def on_ray(settings: Settings, dataset: Path, steps: int, workers: int,
           cpus: int) -> tuple[float, float]:
    """(tokens/s, wall s) of the same run on Ray Train with ``workers`` workers."""
    import ray

    settings.train.cpus_per_worker = cpus / workers
    start = time.perf_counter()
    try:
        result = train_sft(settings, dataset, max_steps=steps, workers=workers,
                           run_name=f"bench-{workers}w-{int(time.time())}")
    finally:
        ray.shutdown()
    info = result.info
    return info["tokens_seen"] / info["train_runtime_s"], time.perf_counter() - start


def main() -> int:
    """Measure and print tokens per second and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--cpus", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args()
    samples = demo_samples()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        dataset = Path(tmp) / "dataset"
        dataset.mkdir()
        (dataset / "train.jsonl").write_text(
            "".join(json.dumps(s) + "\n" for s in samples))
        settings = Settings(home=home, ray={"num_cpus": args.cpus}, train={
            "batch_size": args.batch_size, "max_length": args.max_length,
            "checkpoint_steps": 10**6, "deepspeed": "off", "cpus_per_worker": args.cpus,
            "use_gpu": False})
        config = sft_config(settings, dataset, args.steps, "bench-plain")
        print(f"{len(samples)} samples, {args.steps} steps, batch {args.batch_size} per worker, "
              f"max length {args.max_length}, {args.cpus} CPUs")
        rates = {"plain HF trainer, 1 process": plain(config, args.cpus)}
        rates["Ray Train, 1 worker"] = on_ray(settings, dataset, args.steps, 1, args.cpus)
        rates["Ray Train, 2 workers"] = on_ray(settings, dataset, args.steps, 2, args.cpus)
    baseline = rates["plain HF trainer, 1 process"][0]
    for name, (rate, wall) in rates.items():
        print(f"{name:30s} {rate:8.1f} tokens/s  ratio {rate / baseline:5.2f}x  "
              f"(wall {wall:5.1f}s incl. start-up)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
