"""Logging setup shared by the CLI and the jobs."""

from __future__ import annotations

import logging

from twin.settings import redact


class RedactCredentials(logging.Filter):
    """Masks credentials inside URLs (``user:***@``, ``?api_key=***``) in every log line and
    traceback, whoever logs them: settings, error messages and libraries alike."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message (and traceback text) with credentials masked."""
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def setup_logging(level: str = "INFO") -> None:
    """Readable log lines on stderr, credentials masked; noisy libraries turned down."""
    logging.basicConfig(level=level.upper(),
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactCredentials) for f in handler.filters):
            handler.addFilter(RedactCredentials())
    for noisy in ("scrapy", "urllib3", "filelock", "httpx", "asyncio", "trafilatura",
                  "htmldate", "courlan"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
