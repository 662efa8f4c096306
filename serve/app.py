"""Ray Serve entry point: ``serve run serve.app:build_app`` (or ``serve deploy serve/config.yaml``).

All logic lives in :mod:`twin.serving.app`; this module only exposes its builder.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from twin.serving.app import build_app  # noqa: E402

__all__ = ["build_app"]
