"""``python -m flows <deployment> [-p KEY=VALUE ...]``: run one flow of prefect.yaml once, here
(with no Prefect server configured, Prefect starts a temporary local one for the run).

    python -m flows collect -p author="Maya Okafor" -p links='["https://medium.com/@maya"]'
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

import yaml

from twin.stages.options import parse_params

PREFECT_YAML = Path(__file__).resolve().parents[1] / "prefect.yaml"


def deployments() -> dict[str, dict]:
    """prefect.yaml's deployments by name (entrypoint ``flows/<file>.py:<flow>``, parameters)."""
    config = yaml.safe_load(PREFECT_YAML.read_text())
    return {d["name"]: d for d in config["deployments"]}


def main(argv: list[str] | None = None) -> int:
    """Parse, load the deployment's flow, run it once with its prefect.yaml parameters."""
    known = deployments()
    parser = argparse.ArgumentParser(prog="python -m flows",
                                     description="Run one flow of prefect.yaml once, here.")
    parser.add_argument("deployment", choices=sorted(known))
    parser.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                        help="a flow parameter, VALUE as JSON when it parses (repeatable)")
    args = parser.parse_args(argv)
    try:
        params = parse_params(args.param)
    except ValueError as exc:
        parser.error(str(exc))
    deployment = known[args.deployment]
    path, _, name = deployment["entrypoint"].partition(":")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    getattr(module, name)(**{**(deployment.get("parameters") or {}), **params})
    return 0


if __name__ == "__main__":
    sys.exit(main())
