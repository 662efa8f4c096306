"""Prefect flow: submit the collect Ray job to the configured cluster and follow it.

    python flows/collect.py --author "Maya Okafor" --link https://medium.com/@maya
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prefect import flow, get_run_logger, task  # noqa: E402

from flows.ingest import ingest_job  # noqa: E402
from twin.orchestration import submit_collect_job  # noqa: E402
from twin.settings import Settings  # noqa: E402


@task(name="collect-ray-job", retries=0)
def collect_job(author: str, links: list[str], exports: list[str],
                ray_dashboard_url: str | None) -> dict[str, Any]:
    """Submit ``jobs/collect.py`` and stream its logs into Prefect's."""
    logger = get_run_logger()
    settings = Settings()
    if ray_dashboard_url:
        settings.ray.dashboard_url = ray_dashboard_url
    summary = submit_collect_job(author, links, exports, settings, on_line=logger.info)
    totals = {k: sum(s[k] for s in summary.get("sources", []))
              for k in ("found", "new", "updated", "unchanged", "failed")}
    logger.info("Ray job %s: %s", summary["job_id"], totals)
    return summary


@flow(name="collect", log_prints=True)
def collect_flow(author: str, links: list[str] | None = None, exports: list[str] | None = None,
                 ray_dashboard_url: str | None = None, ingest: bool = False) -> dict[str, Any]:
    """Collect an author's writing into the warehouse, as a Ray job; fails if the job fails.

    With ``ingest`` the ingest job follows, so the new writing becomes searchable.
    """
    summary = collect_job(author, list(links or []), list(exports or []), ray_dashboard_url)
    if ingest:
        summary["ingest"] = ingest_job(False, author, ray_dashboard_url)
    return summary


def main(argv: list[str] | None = None) -> int:
    """Run the flow once from the command line."""
    parser = argparse.ArgumentParser(description="Run the collect flow once.")
    parser.add_argument("--author", required=True)
    parser.add_argument("--link", action="append", default=[])
    parser.add_argument("--export", action="append", default=[])
    parser.add_argument("--ray-dashboard-url", default=None)
    parser.add_argument("--ingest", action="store_true", help="then run the ingest job")
    args = parser.parse_args(argv)
    collect_flow(args.author, args.link, args.export, args.ray_dashboard_url, args.ingest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
