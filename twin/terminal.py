"""What a person's terminal shows: a few story lines, while library chatter goes to a log file.

Ray, Serve, Prefect, Hugging Face and gRPC write straight to the process's file descriptors
(C++ logging, worker log forwarding, progress bars, warnings), so redirecting Python's
``logging`` is not enough: :func:`quiet_terminal` points descriptors 1 and 2 at a log file for
the duration and hands back a console bound to the real terminal.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn


@contextmanager
def quiet_terminal(log_path: Path, verbose: bool = False,
                   append: bool = False) -> Iterator[Console]:
    """A console on the terminal; everything else this process (and what it starts without
    its own log) writes goes to ``log_path`` (started afresh unless ``append``).
    ``verbose``: no redirection at all."""
    if verbose:
        yield Console(highlight=False)
        return
    log_path.parent.mkdir(parents=True, exist_ok=True)
    width = shutil.get_terminal_size((100, 24)).columns
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    terminal: TextIO = os.fdopen(os.dup(saved_out), "w", buffering=1, encoding="utf-8")
    console = Console(file=terminal, width=width, highlight=False,
                      force_terminal=terminal.isatty() or None)
    mode = os.O_APPEND if append else os.O_TRUNC
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | mode, 0o600)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    try:
        yield console
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        os.close(saved_out)
        os.close(saved_err)
        with contextlib.suppress(Exception):
            terminal.flush()
            terminal.close()


def log_line(line: str) -> None:
    """A line for the log (stdout: the log file under :func:`quiet_terminal`)."""
    print(line, flush=True)


class Waiting:
    """A transient line while the demo waits: what it is doing, how far, how long so far.

    Rich's live displays capture ``sys.stdout``/``sys.stderr`` by default and would print
    everything the libraries say on the terminal; this one leaves them to the log.
    """

    def __init__(self, console: Console, label: str, bar: bool = True) -> None:
        columns: list[Any] = [SpinnerColumn(), TextColumn("    {task.description}")]
        if bar:
            columns += [BarColumn(bar_width=30), TextColumn("{task.percentage:>3.0f}%")]
        self._progress = Progress(*columns, TimeElapsedColumn(), console=console,
                                  transient=True, redirect_stdout=False, redirect_stderr=False)
        self._label = label
        self._task = self._progress.add_task(label, total=100)
        # Piped to a file or a log there is nothing to redraw: a transient display would
        # only leave an empty line behind.
        self._shown = console.is_terminal

    def __enter__(self) -> Waiting:
        if self._shown:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._shown:
            self._progress.stop()

    def update(self, done: float | None = None, doing: str | None = None) -> None:
        """Move the bar to ``done`` percent and say what runs now."""
        description = f"{self._label}: {doing}" if doing else self._label
        self._progress.update(self._task, description=description,
                              **({"completed": done} if done is not None else {}))
