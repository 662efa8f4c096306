"""Ray Serve entry point: ``serve run serve.app:build_app`` (or ``serve deploy serve/config.yaml``).

All logic lives in :mod:`twin.serving.app`; this module only exposes its builder. ``twin`` is
importable from the repository root (``serve run`` adds the app folder to the path; a
deployment's ``working_dir`` is on its replicas' path) or as the installed package.
"""

from __future__ import annotations

from twin.serving.app import build_app

__all__ = ["build_app"]
