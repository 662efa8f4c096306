"""Ray job: collect an author's writing into the warehouse.

    ray job submit --address http://127.0.0.1:8265 --working-dir . -- \
        python jobs/collect.py --author "Maya Okafor" --link https://medium.com/@maya \
        --export ~/Downloads/Basic_LinkedInDataExport.zip

Also runs as a plain script against a local Ray (`python jobs/collect.py ...`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# The job's working directory is the uploaded project: import that copy of `twin`.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from twin.collect.runner import run_collect_job  # noqa: E402
from twin.rayjobs import add_summary_flag  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the collection stage."""
    parser = argparse.ArgumentParser(
        prog="jobs/collect.py",
        description="Collect one author's posts, articles and repositories into the warehouse. "
        "Each source is one Ray task; failing sources are reported and skipped.",
    )
    parser.add_argument("--author", required=True, help="the author's name, e.g. 'Maya Okafor'")
    parser.add_argument("--link", action="append", default=[], metavar="URL",
                        help="a profile, feed, post or repository link; repeatable; prefix "
                        "with 'substack=' or 'medium=' for custom domains")
    parser.add_argument("--export", action="append", default=[], metavar="ZIP",
                        help="a LinkedIn, Medium or Substack data-export ZIP; repeatable")
    add_summary_flag(parser)
    args = parser.parse_args(argv)
    return run_collect_job(args.author, args.link, args.export, emit=args.emit_summary)


if __name__ == "__main__":
    sys.exit(main())
