"""Run one Scrapy crawl in a child process and hand its items back.

``python -m twin.collect.crawl`` reads the request (``{"spider", "url", "options"}``) as JSON
on its standard input and writes ``{"items": [...], "errors": [...], "failure": ...}`` as JSON
on its standard output; its log goes to standard error. :func:`run_crawl` is the parent side.
A process per crawl is what keeps Scrapy's Twisted reactor (which cannot be restarted) safe
inside reused Ray workers.

Nothing of a crawl is written to a file that could outlive it: the request (which may hold a
token) travels through a pipe, and the child dies with its parent (a SIGKILLed Ray worker
leaves no orphaned crawl behind).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

from pydantic import BaseModel, Field

from twin.collect.errors import CollectError
from twin.settings import Settings

log = logging.getLogger(__name__)

PARENT_PID_VARIABLE = "TWIN_CRAWL_PARENT_PID"
PR_SET_PDEATHSIG = 1


class CrawlOutput(BaseModel):
    """What a crawl produced."""

    items: list[dict[str, Any]] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    failure: str | None = None
    handoff: dict[str, str] | None = Field(
        default=None, description="{platform, url}: the page said it belongs to a platform "
        "whose collector should read it instead.")


def run_crawl(spider: str, url: str, settings: Settings,
              options: dict[str, Any] | None = None) -> CrawlOutput:
    """Crawl ``url`` with ``spider`` ("module:Class") in a fresh Python process."""
    log_dir = settings.home_dir / "logs" / "crawl"
    log_dir.mkdir(parents=True, exist_ok=True)
    request = json.dumps({"spider": spider, "url": url, "options": options or {}}).encode()
    env = {**os.environ, **settings.to_env(), PARENT_PID_VARIABLE: str(os.getpid())}
    name = f"{spider.rsplit(':', 1)[-1]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    log_file = log_dir / f"{name}.log"
    timeout = settings.collect.crawl_timeout_s
    with log_file.open("w") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "twin.collect.crawl"], env=env,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr)
        try:
            out, _ = proc.communicate(request, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            proc.kill()
            proc.communicate()
            raise CollectError(f"crawl of {url} took longer than {timeout:.0f}s") from exc
        except BaseException:  # interrupted: the crawl must not outlive its caller
            proc.kill()
            proc.wait()
            raise
    if proc.returncode != 0 or not out.strip():
        tail = log_file.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise CollectError(f"crawler process failed (exit {proc.returncode}): {tail[0]}"
                           f" (log: {log_file})")
    return CrawlOutput.model_validate_json(out)


def die_with_parent(parent_pid: int) -> None:
    """Make this process end when ``parent_pid`` does, however it ends (SIGKILL included).

    On Linux the kernel sends SIGKILL (``PR_SET_PDEATHSIG``); elsewhere a thread polls the
    parent. Either way a parent already gone by now ends this process at once.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the line above
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _load(path: str) -> type:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def main() -> int:
    """Child-process entry point: run one spider, write its items as JSON."""
    from scrapy import signals
    from scrapy.crawler import CrawlerProcess

    from twin.collect.scrapy_support import scrapy_settings

    parent = os.environ.get(PARENT_PID_VARIABLE)
    if parent:
        die_with_parent(int(parent))
    request = json.loads(sys.stdin.buffer.read())
    # The result goes to the real standard output; anything else printed goes to the log.
    result = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
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
                         failure=getattr(spider, "failure", None),
                         handoff=getattr(spider, "handoff", None))
    with result:
        result.write(output.model_dump_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
