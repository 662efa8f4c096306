"""Command-line interface for parquet-drift.

Two subcommands:

    parquet-drift compare OLD NEW [--format text|json] [--fail-on LEVEL]
    parquet-drift snapshot FILE [-o OUT]

Exit codes: 0 when nothing at or above ``--fail-on`` changed, 1 when something
did, 2 when a file could not be read. CI jobs and loaders only need to look at
the exit code; humans get a short table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from parquet_drift import __version__
from parquet_drift.compare import (
    FieldChange,
    Severity,
    compare_files,
    load_columns,
    snapshot,
    worst,
)

FAIL_LEVELS = {"info": Severity.INFO, "warning": Severity.WARNING,
               "breaking": Severity.BREAKING, "never": None}

MARKERS = {Severity.INFO: "+", Severity.WARNING: "~", Severity.BREAKING: "!"}


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser. Kept separate so tests can use it directly."""
    parser = argparse.ArgumentParser(
        prog="parquet-drift",
        description="Detect schema drift between Parquet files before it reaches your tables.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    cmp = sub.add_parser("compare", help="compare two schemas (.parquet or .json snapshot)")
    cmp.add_argument("old", help="the schema you trust: a .parquet file or a .json snapshot")
    cmp.add_argument("new", help="the schema that just arrived")
    cmp.add_argument("--format", choices=["text", "json"], default="text")
    cmp.add_argument("--fail-on", choices=list(FAIL_LEVELS), default="breaking",
                     help="lowest severity that makes the exit code 1 (default: breaking)")

    snap = sub.add_parser("snapshot", help="write a file's schema as a JSON snapshot")
    snap.add_argument("file", help="a .parquet file")
    snap.add_argument("-o", "--output", help="where to write the snapshot (default: stdout)")
    return parser


def format_text(changes: list[FieldChange]) -> str:
    """Render changes as a small aligned table, most severe first."""
    if not changes:
        return "No schema drift. Carry on."
    ordered = sorted(changes, key=lambda c: (-c.severity, c.column))
    width = max(len(c.column) for c in ordered)
    lines = []
    for c in ordered:
        detail = f"{c.old or '-'} -> {c.new or '-'}"
        lines.append(f"{MARKERS[c.severity]} {c.column:<{width}}  {c.kind:<19}  {detail}  [{c.severity}]")
    counts = {s: sum(1 for c in changes if c.severity == s) for s in Severity}
    lines.append("")
    lines.append(f"{counts[Severity.BREAKING]} breaking, {counts[Severity.WARNING]} warning, "
                 f"{counts[Severity.INFO]} info")
    return "\n".join(lines)


def run_compare(args: argparse.Namespace) -> int:
    changes = compare_files(args.old, args.new)
    if args.format == "json":
        print(json.dumps([c.to_dict() for c in changes], indent=2))
    else:
        print(format_text(changes))
    threshold = FAIL_LEVELS[args.fail_on]
    found = worst(changes)
    return 1 if threshold is not None and found is not None and found >= threshold else 0


def run_snapshot(args: argparse.Namespace) -> int:
    text = json.dumps(snapshot(load_columns(args.file)), indent=2) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point for the ``parquet-drift`` console script."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "compare":
            return run_compare(args)
        return run_snapshot(args)
    except (OSError, ValueError, KeyError) as exc:
        print(f"parquet-drift: could not read schema: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
