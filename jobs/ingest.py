"""Ray job: clean, chunk and embed the warehouse into Milvus with Ray Data.

    ray job submit --address http://127.0.0.1:8265 --working-dir . -- python jobs/ingest.py

Incremental by default (only new or changed documents); --full rebuilds the collection.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from twin.ingest_runner import run_ingest_job  # noqa: E402
from twin.rayjobs import add_summary_flag  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the ingestion stage."""
    parser = argparse.ArgumentParser(
        prog="jobs/ingest.py",
        description="Ingest the warehouse into the Milvus knowledge base: clean, chunk, embed "
        "(Ray Data actor pool), upsert. Only new or changed documents unless --full.")
    parser.add_argument("--full", action="store_true", help="rebuild the collection")
    parser.add_argument("--author", default=None, help="only this author's documents")
    add_summary_flag(parser)
    args = parser.parse_args(argv)
    return run_ingest_job(full=args.full, author=args.author, emit=args.emit_summary)


if __name__ == "__main__":
    sys.exit(main())
