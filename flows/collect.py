"""Prefect flow: submit the collect Ray job to the configured cluster and follow it.

    python flows/collect.py --author "Maya Okafor" --link https://medium.com/@maya [--ingest]
    prefect deployment run 'collect/collect' --param author="Maya Okafor" \
        --param links='["https://medium.com/@maya"]'
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prefect import flow  # noqa: E402

from flows.tasks import Progress, collect_job, ingest_job, stage_settings  # noqa: E402


@flow(name="collect", log_prints=True)
def collect_flow(author: str, links: list[str] | None = None, exports: list[str] | None = None,
                 ingest: bool = False, ray_dashboard_url: str | None = None,
                 settings_overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Collect an author's writing into the warehouse, as a Ray job; fails if the job fails.

    With ``ingest`` the ingest job follows, so the new writing becomes searchable.
    ``settings_overrides`` are nested settings for this run (no secrets: runs show them).
    """
    settings = stage_settings(settings_overrides, ray_dashboard_url)
    progress = Progress(2 if ingest else 1)
    summary = collect_job(author, list(links or []), list(exports or []), settings)
    progress.advance()
    if ingest:
        summary["ingest"] = ingest_job(False, author, settings)
        progress.advance()
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
    collect_flow(args.author, args.link, args.export, args.ingest, args.ray_dashboard_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
