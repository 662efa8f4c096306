"""Logging setup shared by the CLI and the jobs."""

from __future__ import annotations

import logging


def setup_logging(level: str = "INFO") -> None:
    """Readable log lines on stderr; noisy libraries turned down."""
    logging.basicConfig(level=level.upper(),
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    for noisy in ("scrapy", "urllib3", "filelock", "httpx", "asyncio", "trafilatura",
                  "htmldate", "courlan"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
