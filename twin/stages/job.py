"""The stages as Ray job entry points: ``python -m jobs <stage> [OPTIONS | --request JSON]``.

The options are the request model's fields (see :mod:`twin.stages.options`); ``--request``
takes the whole request as JSON (what :func:`twin.orchestration.submit` sends). With
``--emit-summary`` the job ends with one ``::twin-summary::`` line carrying the result model as
JSON, which :func:`twin.rayjobs.result_from_logs` parses back into the model.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from twin.rayjobs import REQUEST_FLAG, SUMMARY_FLAG
from twin.stages import STAGES, Stage, StageFailed
from twin.stages.options import options


def _add_options(parser: argparse.ArgumentParser, stage: Stage) -> None:
    for option in options(stage.request):
        kwargs: dict[str, Any] = {"dest": option.field, "help": option.help,
                                  "default": argparse.SUPPRESS}
        if option.type is bool:
            kwargs["action"] = argparse.BooleanOptionalAction if option.negatable \
                else "store_true"
        else:
            kwargs.update(type=option.type,
                          metavar=option.flag.removeprefix("--").replace("-", "_").upper())
            if option.multiple:
                kwargs["action"] = "append"
            if option.choices:
                kwargs.update(choices=option.choices, metavar=None)
        parser.add_argument(*option.flags, **kwargs)


def parser() -> argparse.ArgumentParser:
    """Every stage as a subcommand, with its request's fields as options."""
    root = argparse.ArgumentParser(prog="python -m jobs", description="Run one pipeline stage "
                                   "(as a Ray job, or against a local Ray).")
    commands = root.add_subparsers(dest="stage", required=True, metavar="STAGE")
    for stage in STAGES.values():
        sub = commands.add_parser(stage.name, help=stage.help.split("\n\n")[0],
                                  description=stage.help)
        _add_options(sub, stage)
        sub.add_argument(REQUEST_FLAG, metavar="JSON", default=None,
                         help="the whole request as JSON (instead of the options above)")
        sub.add_argument(SUMMARY_FLAG, action="store_true",
                         help="also print the result as one machine-readable line "
                         "(what the Prefect flows and `--submit` read from the job's log)")
    return root


def _request(stage: Stage, request_json: str | None, values: dict[str, Any]) -> Any:
    """The request from ``--request JSON`` or from the options (never both)."""
    if request_json is None:
        return stage.parse(values)
    if values:
        raise StageFailed(f"give {REQUEST_FLAG} or options, not both ({', '.join(values)})", 2)
    try:
        return stage.request.model_validate_json(request_json)
    except ValueError as exc:
        raise StageFailed(f"{REQUEST_FLAG}: {exc}", code=2) from exc


def main(argv: list[str] | None = None) -> int:
    """Parse, run the stage, print its result; the exit status says how it went."""
    from rich.console import Console

    from twin.logs import setup_logging
    from twin.rayjobs import emit_result
    from twin.settings import get_settings

    args = vars(parser().parse_args(argv))
    stage = STAGES[args.pop("stage")]
    emit, request_json = args.pop("emit_summary"), args.pop("request")
    settings = get_settings()
    setup_logging(settings.log_level)
    try:
        request = _request(stage, request_json, args)
        result = stage.run(request, settings)
    except StageFailed as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return exc.code
    result.render(Console(width=160))
    if emit:
        emit_result(result)
    return result.exit_code()
