"""Ray job: build the instruction dataset from the warehouse (answers are the author's text).

    ray job submit --address http://127.0.0.1:8265 --working-dir . -- python jobs/dataset.py
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from twin.datasets.build import (  # noqa: E402
    DatasetError,
    GroundingError,
    build_instruction_dataset,
)
from twin.llm.models import ModelLoadError  # noqa: E402
from twin.logs import setup_logging  # noqa: E402
from twin.rayjobs import add_summary_flag, emit_summary  # noqa: E402
from twin.settings import get_settings  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and build the dataset; print its card."""
    parser = argparse.ArgumentParser(
        prog="jobs/dataset.py",
        description="Build the instruction dataset by back-translation: each answer is a "
        "verbatim slice of the author's text; instructions come from the teacher endpoint "
        "when configured (TWIN_TEACHER__BASE_URL), else from the offline generator.")
    parser.add_argument("--author", default=None, help="only this author's documents")
    parser.add_argument("--preference", action="store_true",
                        help="also build DPO pairs: rejected = the base model's answers")
    add_summary_flag(parser)
    args = parser.parse_args(argv)
    settings = get_settings()
    setup_logging(settings.log_level)
    try:
        result = build_instruction_dataset(settings, author=args.author)
        summary = {"path": str(result.path), **result.card}
        if args.preference:
            from twin.datasets.preference import build_preference_dataset

            pairs = build_preference_dataset(settings, result)
            summary["preference"] = {"path": str(pairs.path), **pairs.card}
            print(f"preference dataset {pairs.path}: {json.dumps(pairs.card['counts'])}")
    except (DatasetError, GroundingError, ModelLoadError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"dataset {result.path}: {json.dumps(result.card['counts'])}")
    emit_summary(summary, args.emit_summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
