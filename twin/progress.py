"""Progress bars for long work: a live bar on a terminal, periodic log lines elsewhere."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

log = logging.getLogger("twin.progress")


class _Bar:
    def __init__(self, progress: Progress | None, task: int | None, label: str,
                 total: int) -> None:
        self._progress, self._task, self._label, self._total = progress, task, label, total
        self.done = 0

    def advance(self, n: int = 1) -> None:
        """Mark ``n`` more units done."""
        if n <= 0:
            return
        self.done += n
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, n)
        else:
            log.info("%s: %d/%d", self._label, self.done, self._total)


@contextmanager
def progress_bar(label: str, total: int, enabled: bool = True) -> Iterator[_Bar]:
    """A progress bar over ``total`` units; falls back to log lines when not on a terminal."""
    if enabled and sys.stderr.isatty():
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), transient=False) as progress:
            task = progress.add_task(label, total=total)
            yield _Bar(progress, task, label, total)
    else:
        yield _Bar(None, None, label, total)
