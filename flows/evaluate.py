"""Prefect flow: submit the evaluate Ray job (held-out style, judge, retrieval settings).

    python flows/evaluate.py [--version N ...] [--no-retrieval]
    prefect deployment run 'evaluate/evaluate' [--param versions='[2]']
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prefect import flow  # noqa: E402

from flows.tasks import evaluate_job, stage_settings  # noqa: E402


@flow(name="evaluate", log_prints=True)
def evaluate_flow(versions: list[int] | None = None, retrieval: bool = True,
                  ray_dashboard_url: str | None = None,
                  settings_overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Evaluate the base model and the twin versions; results go to the registry."""
    return evaluate_job(versions, retrieval, stage_settings(settings_overrides,
                                                            ray_dashboard_url))


def main(argv: list[str] | None = None) -> int:
    """Run the flow once from the command line."""
    parser = argparse.ArgumentParser(description="Run the evaluate flow once.")
    parser.add_argument("--version", type=int, action="append", default=None)
    parser.add_argument("--no-retrieval", action="store_true")
    parser.add_argument("--ray-dashboard-url", default=None)
    args = parser.parse_args(argv)
    evaluate_flow(args.version, not args.no_retrieval, args.ray_dashboard_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
