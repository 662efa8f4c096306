"""Ray job: evaluate the base model and the twin versions on the held-out split.

    ray job submit --address http://127.0.0.1:8265 --working-dir . -- \
        python jobs/evaluate.py [--version N ...] [--no-retrieval]

Style (stylometric distance, embedding similarity) with 95% bootstrap CIs, LLM-as-judge when
TWIN_EVALUATE__JUDGE_BASE_URL is set, retrieval hit rate and MRR per setting.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from twin.evaluate.runner import EvaluationError, run_evaluation  # noqa: E402
from twin.llm.models import ModelLoadError  # noqa: E402
from twin.logs import setup_logging  # noqa: E402
from twin.rayjobs import add_summary_flag, emit_summary  # noqa: E402
from twin.report import print_evaluation  # noqa: E402
from twin.settings import get_settings  # noqa: E402
from twin.train.common import TrainError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, evaluate, print the report's tables and its summary line."""
    parser = argparse.ArgumentParser(
        prog="jobs/evaluate.py",
        description="Evaluate the base model and the registered twin versions on the held-out "
        "split: same prompts, chat template and greedy decoding for every model.")
    parser.add_argument("--dataset", type=Path, default=None,
                        help="an instruction dataset folder (default: the latest)")
    parser.add_argument("--version", type=int, action="append", default=None,
                        help="a registry version (repeatable; default: all)")
    parser.add_argument("--no-retrieval", action="store_true",
                        help="skip the retrieval settings comparison")
    add_summary_flag(parser)
    args = parser.parse_args(argv)
    settings = get_settings()
    setup_logging(settings.log_level)
    try:
        report = run_evaluation(settings, dataset=args.dataset, versions=args.version,
                                retrieval=not args.no_retrieval)
    except (EvaluationError, TrainError, ModelLoadError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print_evaluation(report)
    emit_summary(report, args.emit_summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
