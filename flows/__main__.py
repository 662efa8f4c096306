"""``python -m flows <deployment> [-p KEY=VALUE ...]``: run one flow of prefect.yaml once, here
(with no Prefect server configured, Prefect starts a temporary local one for the run).

    python -m flows collect -p author="Maya Okafor" -p links='["https://medium.com/@maya"]'
"""

from __future__ import annotations

import argparse
import importlib
import sys

from twin.stages.chains import CHAINS
from twin.stages.options import parse_params


def main(argv: list[str] | None = None) -> int:
    """Parse, load the deployment's flow, run it once with these parameters."""
    parser = argparse.ArgumentParser(prog="python -m flows",
                                     description="Run one flow of prefect.yaml once, here.")
    parser.add_argument("deployment", choices=list(CHAINS))
    parser.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                        help="a flow parameter, VALUE as JSON when it parses (repeatable)")
    args = parser.parse_args(argv)
    try:
        params = parse_params(args.param)
    except ValueError as exc:
        parser.error(str(exc))
    module = importlib.import_module(f"flows.{args.deployment}")
    getattr(module, f"{args.deployment}_flow")(**params)
    return 0


if __name__ == "__main__":
    sys.exit(main())
