"""Prefect flow: the whole journey, each stage a Ray job: collect, ingest, dataset, train,
evaluate.

    python flows/pipeline.py --author "Maya Okafor" --link https://medium.com/@maya --max-steps 30
    prefect deployment run 'pipeline/pipeline' --param author="Maya Okafor" \
        --param links='["https://medium.com/@maya"]' --param max_steps=30
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
    collect_job,
    dataset_job,
    evaluate_job,
    ingest_job,
    stage_settings,
    train_job,
    train_options,
)


@flow(name="pipeline", log_prints=True)
def pipeline_flow(author: str, links: list[str] | None = None,
                  exports: list[str] | None = None, max_steps: int | None = None,
                  preference: bool = False, serve: bool = True, evaluate: bool = True,
                  ray_dashboard_url: str | None = None,
                  settings_overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Collect the author's writing, ingest it, build the datasets, fine-tune and register a
    model version (marked for serving unless ``serve`` is false), then evaluate it."""
    settings = stage_settings(settings_overrides, ray_dashboard_url)
    progress = Progress(5 if evaluate else 4)
    collected = collect_job(author, list(links or []), list(exports or []), settings)
    progress.advance()
    ingested = ingest_job(False, author, settings)
    progress.advance()
    data = dataset_job(author, preference, settings)
    progress.advance()
    trained = train_job(train_options(data, max_steps=max_steps, serve=serve), settings)
    progress.advance()
    result = {"collect": collected, "ingest": ingested, "dataset": data, "train": trained}
    if evaluate:
        result["evaluate"] = evaluate_job([trained["sft"]["version"]], True, settings)
        progress.advance()
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the flow once from the command line."""
    parser = argparse.ArgumentParser(description="Run the whole pipeline once.")
    parser.add_argument("--author", required=True)
    parser.add_argument("--link", action="append", default=[])
    parser.add_argument("--export", action="append", default=[])
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--preference", action="store_true", help="also DPO")
    parser.add_argument("--ray-dashboard-url", default=None)
    args = parser.parse_args(argv)
    pipeline_flow(args.author, args.link, args.export, args.max_steps, args.preference,
                  ray_dashboard_url=args.ray_dashboard_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
