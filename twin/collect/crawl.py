"""Run one Scrapy crawl in a child process and hand its items back.

``python -m twin.collect.crawl REQUEST.json RESULT.json`` runs the spider named in the request
and writes ``{"items": [...], "errors": [...], "failure": ...}``. :func:`run_crawl` is the
parent side. A process per crawl is what keeps Scrapy's Twisted reactor (which cannot be
restarted) safe inside reused Ray workers.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from twin.collect.base import CollectError
from twin.settings import Settings

log = logging.getLogger(__name__)


class CrawlOutput(BaseModel):
    """What a crawl produced."""

    items: list[dict[str, Any]] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    failure: str | None = None


def run_crawl(spider: str, url: str, settings: Settings,
              options: dict[str, Any] | None = None) -> CrawlOutput:
    """Crawl ``url`` with ``spider`` ("module:Class") in a fresh Python process."""
    log_dir = settings.home_dir / "logs" / "crawl"
    log_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="twin-crawl-") as tmp:
        request_path = Path(tmp) / "request.json"
        result_path = Path(tmp) / "result.json"
        request_path.write_text(json.dumps({"spider": spider, "url": url,
                                            "options": options or {}}))
        env = {**os.environ, **settings.to_env()}
        log_file = log_dir / f"{spider.rsplit(':', 1)[-1]}-{os.getpid()}-{Path(tmp).name}.log"
        try:
            with log_file.open("w") as stderr:
                proc = subprocess.run(
                    [sys.executable, "-m", "twin.collect.crawl", str(request_path),
                     str(result_path)],
                    env=env, stdout=stderr, stderr=subprocess.STDOUT,
                    timeout=settings.collect.crawl_timeout_s, check=False,
                )
        except subprocess.TimeoutExpired as exc:
            raise CollectError(
                f"crawl of {url} took longer than {settings.collect.crawl_timeout_s:.0f}s"
            ) from exc
        if proc.returncode != 0 or not result_path.exists():
            tail = log_file.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise CollectError(f"crawler process failed (exit {proc.returncode}): {tail[0]}"
                               f" (log: {log_file})")
        return CrawlOutput.model_validate_json(result_path.read_text())


def _load(path: str) -> type:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def main(argv: list[str] | None = None) -> int:
    """Child-process entry point: run one spider, write its items as JSON."""
    from scrapy import signals
    from scrapy.crawler import CrawlerProcess

    from twin.collect.scrapy_support import scrapy_settings

    args = argv if argv is not None else sys.argv[1:]
    request = json.loads(Path(args[0]).read_text())
    settings = Settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    spider_cls = _load(request["spider"])
    items: list[dict[str, Any]] = []

    def on_item(item: dict[str, Any], response: Any, spider: Any) -> None:
        items.append(dict(item))

    process = CrawlerProcess(settings=scrapy_settings(settings), install_root_handler=False)
    crawler = process.create_crawler(spider_cls)
    crawler.signals.connect(on_item, signal=signals.item_scraped, weak=False)
    process.crawl(crawler, url=request["url"], options=request.get("options") or {})
    process.start()
    spider = crawler.spider
    output = CrawlOutput(items=items, errors=list(getattr(spider, "errors", [])),
                         failure=getattr(spider, "failure", None))
    Path(args[1]).write_text(output.model_dump_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
