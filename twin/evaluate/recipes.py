"""Each evaluated version's training recipe, from its registry params, for the report: a reader
sees which recipe won (continued pretraining or not, the training window, the share of samples
trained with retrieved material), and the gate's decisions can be read per recipe."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from twin.domain import ModelVersion

RECIPE_PARAMS = {"stage": str, "pretrain_steps": int, "pretrain_learning_rate": float,
                 "max_steps": int, "learning_rate": float, "max_length": int,
                 "context_share": float, "context_tokens": int}
"""The params that make a recipe, with their types (MLflow keeps params as strings)."""


def recipe(version: ModelVersion) -> dict[str, Any]:
    """A version's recipe; ``pretrain_steps`` is 0 for versions registered before continued
    pretraining existed, any other param they lack is None."""
    out: dict[str, Any] = {}
    for name, kind in RECIPE_PARAMS.items():
        raw = version.params.get(name)
        if raw is None or raw == "None":
            out[name] = None
            continue
        try:
            out[name] = int(float(raw)) if kind is int else kind(raw)
        except ValueError:
            out[name] = raw
    if out["pretrain_steps"] is None:
        out["pretrain_steps"] = 0
    return out


def recipes(versions: Iterable[ModelVersion]) -> dict[str, dict[str, Any]]:
    """``{"twin-vN": recipe}`` for the report's ``recipes``."""
    return {f"twin-v{v.version}": recipe(v) for v in sorted(versions, key=lambda v: v.version)}
