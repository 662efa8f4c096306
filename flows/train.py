"""Prefect flow: build the datasets, then fine-tune and register, as two Ray jobs.

    python flows/train.py --max-steps 30 [--preference] [--author NAME]
    prefect deployment run 'train/train' --param max_steps=30
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prefect import flow  # noqa: E402

from flows.tasks import (  # noqa: E402
    Progress,
    dataset_job,
    stage_settings,
    train_job,
    train_options,
)


@flow(name="train", log_prints=True)
def train_flow(author: str | None = None, preference: bool = False,
               max_steps: int | None = None, dpo_steps: int | None = None,
               workers: int | None = None, deepspeed: str | None = None, serve: bool = False,
               ray_dashboard_url: str | None = None,
               settings_overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Datasets from the warehouse, then LoRA SFT (and DPO) registered as model versions."""
    settings = stage_settings(settings_overrides, ray_dashboard_url)
    progress = Progress(2)
    data = dataset_job(author, preference, settings)
    progress.advance()
    trained = train_job(train_options(data, max_steps=max_steps, dpo_steps=dpo_steps,
                                      workers=workers, deepspeed=deepspeed, serve=serve),
                        settings)
    progress.advance()
    return {"dataset": data, "train": trained}


def main(argv: list[str] | None = None) -> int:
    """Run the flow once from the command line."""
    parser = argparse.ArgumentParser(description="Run the train flow once.")
    parser.add_argument("--author", default=None)
    parser.add_argument("--preference", action="store_true", help="also DPO pairs, then DPO")
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--dpo-steps", type=int, default=None)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--deepspeed", choices=["auto", "off", "zero2", "zero3"], default=None)
    parser.add_argument("--serve", action="store_true", help="mark the new version for serving")
    parser.add_argument("--ray-dashboard-url", default=None)
    args = parser.parse_args(argv)
    train_flow(args.author, args.preference, args.max_steps, args.dpo_steps, args.workers,
               args.deepspeed, args.serve, args.ray_dashboard_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
