"""Which model the Serve app loads: the registry's serving version (base + adapter), a pinned
version, or the plain base model when nothing is registered yet."""

from __future__ import annotations

import logging
from pathlib import Path

from twin.llm.engines import ModelSpec
from twin.settings import Settings

log = logging.getLogger(__name__)


def served_model(settings: Settings) -> ModelSpec:
    """The spec of the model to serve (no weights loaded here)."""
    from twin.registry import Registry

    base = dict(cache_dir=str(settings.models_dir), top_p=settings.llm.top_p,
                repetition_penalty=settings.llm.repetition_penalty)
    registry = Registry(settings)
    pinned = settings.serve.model_version
    version = registry.get(pinned) if pinned is not None else registry.serving()
    if version is None:
        log.warning("no model version is marked for serving: serving the base model %s",
                    settings.llm.base_model)
        return ModelSpec(base=settings.llm.base_model, label="base", **base)
    return ModelSpec(base=version.base_model or settings.llm.base_model,
                     adapter=str(registry.adapter_path(version)),
                     label=f"twin-v{version.version}", **base)


def tokenizer_and_window(spec: ModelSpec) -> tuple[str, int]:
    """Where the served model's tokenizer (chat template) is, and its context window."""
    from transformers import AutoConfig

    from twin.llm.models import resolve_base_model

    base = resolve_base_model(spec.base, Path(spec.cache_dir))
    window = int(getattr(AutoConfig.from_pretrained(base), "max_position_embeddings", 2048))
    return spec.adapter or base, window
