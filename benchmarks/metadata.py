"""The metadata resolver on the real saved pages: the page's h-entry handed to mf2py vs the
whole page parsed by extruct for microdata and microformats (the baseline), in one run.

Both run over every page of tests/fixtures/realpages, ``--rounds`` times, alternating; the
script prints the median time per page of each and their ratio, and checks that both find
the same author, date and title on every page.

    .venv/bin/python -m benchmarks.metadata [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from tests.realpages import load_manifest
from twin.collect import metadata

ROOT = Path(__file__).resolve().parents[1]


def _whole_page(html: str, url: str, sel: Any) -> dict[str, list[dict[str, Any]]]:
    import extruct

    return extruct.extract(html, base_url=url, syntaxes=["microdata", "microformat"],
                           uniform=True, errors="ignore")


def _run(pages: list[tuple[str, str]]) -> tuple[float, list[tuple[Any, ...]]]:
    start = time.perf_counter()
    found = [metadata.resolve_metadata(html, url) for html, url in pages]
    seconds = (time.perf_counter() - start) / len(pages)
    return seconds, [(f.author, f.published_at, f.title) for f in found]


def main() -> int:
    """Time both ways and print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="timed passes of each way")
    args = parser.parse_args()
    pages = [(p.html(), p.url) for p in load_manifest()]
    fragment = metadata._extruct
    times: dict[str, list[float]] = {"whole page": [], "h-entry only": []}
    results: dict[str, list[tuple[Any, ...]]] = {}
    for _ in range(args.rounds):
        for name, extract in (("whole page", _whole_page), ("h-entry only", fragment)):
            metadata._extruct = extract  # type: ignore[assignment]
            seconds, results[name] = _run(pages)
            times[name].append(seconds)
    metadata._extruct = fragment  # type: ignore[assignment]
    same = results["whole page"] == results["h-entry only"]
    base, ours = (statistics.median(times[k]) for k in ("whole page", "h-entry only"))
    print(f"{len(pages)} real pages, {args.rounds} rounds")
    print(f"baseline (extruct on the whole page): {base * 1000:.1f} ms a page")
    print(f"resolver (h-entry element only):      {ours * 1000:.1f} ms a page")
    print(f"speed-up: x{base / ours:.1f}; same author, date and title on every page: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
