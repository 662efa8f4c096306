"""Prefect flow: submit the ingest Ray job to the configured cluster and follow it.

    python flows/ingest.py [--full] [--author NAME]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prefect import flow, get_run_logger, task  # noqa: E402

from twin.orchestration import submit_ingest_job  # noqa: E402
from twin.settings import Settings  # noqa: E402


@task(name="ingest-ray-job", retries=0)
def ingest_job(full: bool, author: str | None, ray_dashboard_url: str | None) -> dict[str, Any]:
    """Submit ``jobs/ingest.py`` and stream its logs into Prefect's."""
    logger = get_run_logger()
    settings = Settings()
    if ray_dashboard_url:
        settings.ray.dashboard_url = ray_dashboard_url
    summary = submit_ingest_job(settings, full=full, author=author, on_line=logger.info)
    logger.info("Ray job %s: %s", summary["job_id"], summary.get("message"))
    return summary


@flow(name="ingest", log_prints=True)
def ingest_flow(full: bool = False, author: str | None = None,
                ray_dashboard_url: str | None = None) -> dict[str, Any]:
    """Ingest the warehouse into Milvus, as a Ray job; fails if the job fails."""
    return ingest_job(full, author, ray_dashboard_url)


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
