"""The error a collector raises when a source cannot be collected (its own module, so the crawl
runner and the collectors share it without importing each other)."""

from __future__ import annotations


class CollectError(Exception):
    """A source cannot be collected; the message is the one line the summary shows."""
