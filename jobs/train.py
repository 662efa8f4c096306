"""Ray job: LoRA SFT (then DPO) of the base model with Ray Train; registers each run.

    ray job submit --address http://127.0.0.1:8265 --working-dir . -- \\
        python jobs/train.py --max-steps 30
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from twin.llm.models import ModelLoadError  # noqa: E402
from twin.logs import setup_logging  # noqa: E402
from twin.rayjobs import add_summary_flag, emit_summary  # noqa: E402
from twin.settings import get_settings  # noqa: E402
from twin.train.common import TrainError  # noqa: E402
from twin.train.runner import latest_dataset, train_and_register  # noqa: E402


def parser() -> argparse.ArgumentParser:
    """The job's arguments."""
    p = argparse.ArgumentParser(
        prog="jobs/train.py",
        description="LoRA SFT on Ray Train (DeepSpeed ZeRO when configured), then DPO when a "
        "preference dataset is given; each run becomes a model version in the registry.")
    p.add_argument("--dataset", type=Path, default=None,
                   help="instruction dataset version folder (default: the newest)")
    p.add_argument("--preference", type=Path, default=None,
                   help="preference dataset folder: run DPO from the SFT adapter afterwards")
    p.add_argument("--max-steps", type=int, default=None, help="SFT steps (default: settings)")
    p.add_argument("--dpo-steps", type=int, default=None, help="DPO steps (default: SFT's)")
    p.add_argument("--workers", type=int, default=None, help="Ray Train workers")
    p.add_argument("--run", default=None,
                   help="run name; the name of an interrupted run resumes it from its checkpoint")
    p.add_argument("--deepspeed", choices=["auto", "off", "zero2", "zero3"], default=None)
    p.add_argument("--serve", action="store_true", help="mark the new version for serving")
    add_summary_flag(p)
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, train, register; print the summary."""
    args = parser().parse_args(argv)
    settings = get_settings()
    setup_logging(settings.log_level)
    if args.deepspeed:
        settings.train.deepspeed = args.deepspeed
    try:
        dataset = args.dataset or latest_dataset(settings)
        summary = train_and_register(
            settings, dataset.resolve(), max_steps=args.max_steps or settings.train.max_steps,
            workers=args.workers or settings.train.workers, run_name=args.run,
            preference_dir=args.preference, dpo_steps=args.dpo_steps, serve=args.serve)
    except (TrainError, ModelLoadError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    emit_summary(summary, args.emit_summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
