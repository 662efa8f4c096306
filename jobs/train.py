"""Ray job: LoRA SFT of the base model on an instruction dataset, with Ray Train.

    ray job submit --address http://127.0.0.1:8265 --working-dir . -- \
        python jobs/train.py --dataset .twin/datasets/instruct/v1-94d4dd27 --max-steps 30
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from twin.logs import setup_logging  # noqa: E402
from twin.rayjobs import SUMMARY_MARKER  # noqa: E402
from twin.settings import get_settings  # noqa: E402
from twin.train.sft import train_sft  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run LoRA SFT."""
    parser = argparse.ArgumentParser(prog="jobs/train.py", description="LoRA SFT on Ray Train.")
    parser.add_argument("--dataset", required=True, type=Path,
                        help="instruction dataset version folder (holds train.jsonl)")
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args(argv)
    settings = get_settings()
    setup_logging(settings.log_level)
    if not (args.dataset / "train.jsonl").exists():
        print(f"error: no train.jsonl in {args.dataset}", file=sys.stderr)
        return 2
    result = train_sft(settings, args.dataset.resolve(),
                       max_steps=args.max_steps or settings.train.max_steps,
                       workers=args.workers or settings.train.workers)
    summary = {"adapter": str(result.adapter_dir), "losses": result.losses,
               "steps": result.steps, "seconds": result.seconds}
    print(f"{SUMMARY_MARKER}{json.dumps(summary)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
