"""What starting local processes needs: the project's folder, its executables, TCP ports.

Pure helpers with no state: :mod:`twin.services` (which starts and stops the processes), the
Prefect deployments and the clients that probe a service before they call it share them.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def executable(name: str) -> str:
    """The project environment's own ``name`` (``ray``, ``prefect``, ``twin``), whether or not
    that environment is activated; the bare name (found on PATH) when it has none."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]
