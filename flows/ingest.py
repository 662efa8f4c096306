"""Prefect flow: submit the ingest Ray job to the configured cluster and follow it.

    python flows/ingest.py [--full] [--author NAME]
    prefect deployment run 'ingest/ingest' [--param full=true]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prefect import flow  # noqa: E402

from flows.tasks import ingest_job, stage_settings  # noqa: E402


@flow(name="ingest", log_prints=True)
def ingest_flow(full: bool = False, author: str | None = None,
                ray_dashboard_url: str | None = None,
                settings_overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Ingest the warehouse into Milvus, as a Ray job; fails if the job fails."""
    return ingest_job(full, author, stage_settings(settings_overrides, ray_dashboard_url))


def main(argv: list[str] | None = None) -> int:
    """Run the flow once from the command line."""
    parser = argparse.ArgumentParser(description="Run the ingest flow once.")
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--author", default=None)
    parser.add_argument("--ray-dashboard-url", default=None)
    args = parser.parse_args(argv)
    ingest_flow(args.full, args.author, args.ray_dashboard_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
