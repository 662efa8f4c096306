"""Prefect flow: submit the dataset Ray job (instruction, optionally preference pairs).

    python flows/dataset.py [--author NAME] [--preference]
    prefect deployment run 'dataset/dataset' [--param preference=true]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prefect import flow  # noqa: E402

from flows.tasks import dataset_job, stage_settings  # noqa: E402


@flow(name="dataset", log_prints=True)
def dataset_flow(author: str | None = None, preference: bool = False,
                 ray_dashboard_url: str | None = None,
                 settings_overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Training datasets from the warehouse, as a Ray job; fails if the job fails."""
    return dataset_job(author, preference, stage_settings(settings_overrides, ray_dashboard_url))


def main(argv: list[str] | None = None) -> int:
    """Run the flow once from the command line."""
    parser = argparse.ArgumentParser(description="Run the dataset flow once.")
    parser.add_argument("--author", default=None)
    parser.add_argument("--preference", action="store_true", help="also DPO pairs")
    parser.add_argument("--ray-dashboard-url", default=None)
    args = parser.parse_args(argv)
    dataset_flow(args.author, args.preference, args.ray_dashboard_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
