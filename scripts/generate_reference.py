"""Write (or check) the generated reference pages under docs/reference/.

    python scripts/generate_reference.py          # regenerate docs/reference/*.md
    python scripts/generate_reference.py --check  # exit 1 if a checked-in page is stale

It imports `twin` as installed (`pip install -e .`) or from ``PYTHONPATH=$PWD``.

The pages come from twin/settings.py, the Typer app in twin/cli.py and the stage declarations in
twin/stages/ (see twin/reference.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from twin.reference import stale_references, write_references

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="Write nothing; exit 1 if a checked-in page differs.")
    parser.add_argument("--root", type=Path, default=ROOT,
                        help="Repository root (default: this script's).")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_references(args.root)
        for path in stale:
            print(f"stale: {path}")
        if stale:
            print("regenerate with: python scripts/generate_reference.py")
            return 1
        print("docs/reference is up to date")
        return 0
    for path in write_references(args.root):
        print(f"wrote {path.relative_to(args.root) if path.is_relative_to(args.root) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
