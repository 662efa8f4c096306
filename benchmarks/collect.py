"""Collection speed: every demo source as parallel Ray tasks vs one after another.

Both sides use the same sources from the local demo sites and the same collectors (each Scrapy
crawl in its own process); the baseline runs them sequentially in this process, measured in the
same run. Prints both times and the ratio.

    .venv/bin/python benchmarks/collect.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from twin.collect.pipeline import collect, collect_source, parse_sources
from twin.demo.content import AUTHOR_NAME
from twin.demo.site import DemoSite
from twin.domain import SourceKind
from twin.settings import (
    Settings,
    deep_merge,
)


def main() -> int:
    """Run both sides and print the ratio."""
    import ray

    with tempfile.TemporaryDirectory() as tmp, DemoSite(Path(tmp) / "demo") as site:
        overrides = deep_merge(site.settings_overrides(), {"collect": {"http_cache": False}})
        links, exports = site.links(), [str(p) for p in site.exports()]

        baseline_settings = Settings(home=Path(tmp) / "sequential", **overrides)
        data = baseline_settings.model_dump(mode="json")
        start = time.perf_counter()
        found = 0
        for source in parse_sources(links, exports):
            payload = Path(source.value).read_bytes() if source.kind is SourceKind.EXPORT \
                else None
            found += len(collect_source(source, "maya-okafor", data, payload).documents)
        sequential = time.perf_counter() - start

        ray.init(address="local", include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
        ray_settings = Settings(home=Path(tmp) / "parallel", **overrides)
        collect(AUTHOR_NAME, links[:1], [], ray_settings, show_progress=False)  # warm workers
        ray_settings = Settings(home=Path(tmp) / "parallel2", **overrides)
        start = time.perf_counter()
        summary = collect(AUTHOR_NAME, links, exports, ray_settings, show_progress=False)
        parallel = time.perf_counter() - start
        ray.shutdown()

    sources = len(summary.sources)
    print(f"sources: {sources}, documents: sequential {found}, "
          f"ray {summary.totals['found']}")
    print(f"sequential (one process): {sequential:6.1f} s")
    print(f"ray tasks (parallel):     {parallel:6.1f} s")
    print(f"speed-up: {sequential / parallel:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
