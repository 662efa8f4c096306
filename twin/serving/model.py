"""What each deployment of the Serve app is given: the served model, resolved once (the
registry's serving version, a pinned version, or the plain base model when nothing is
registered yet), and only the settings it uses."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from twin.domain.choices import Choices
from twin.llm.engines import EngineOptions, choose_engine, describe_model
from twin.llm.served import ServedModel
from twin.settings import Settings

log = logging.getLogger(__name__)

# What the RAG deployment reads (retrieval, links fetched with the collectors, the warehouse,
# the registry's versions); the other groups, and the secrets in them, never reach it.
RAG_GROUPS = ("milvus", "embed", "ingest", "rag", "warehouse", "collect", "platforms",
              "registry", "llm", "posts")
# A request's links are anyone's: they are fetched without the owner's GitHub token, so a caller
# can neither read the private repositories it opens nor spend its rate limit (decisions.md).
RAG_WITHHELD = (("platforms", "github_token"),)


def engine_options(settings: Settings) -> EngineOptions:
    """How the LLM replicas run their engine (``serve.vllm_*``)."""
    s = settings.serve
    return EngineOptions(python=s.vllm_python, dtype=s.vllm_dtype, kv_cache_gb=s.vllm_kv_cache_gb,
                         max_model_len=s.vllm_max_model_len,
                         log_dir=str(settings.home_dir / "logs"))


def resolve_served_model(settings: Settings) -> ServedModel:
    """The model to serve, read from the registry now (no weights loaded): every deployment
    of one app is given this value, so a moved alias changes nothing until a redeploy."""
    from twin.registry import Registry

    s = settings.serve
    engine = choose_engine(s.engine, s.vllm_python)
    registry = Registry(settings)
    version = registry.get(s.model_version) if s.model_version is not None \
        else registry.serving()
    common: dict[str, Any] = {"cache_dir": str(settings.models_dir),
                              "options": engine_options(settings)}
    if version is None:
        log.warning("no model version is marked for serving: serving the base model %s",
                    settings.llm.base_model)
        served = describe_model(engine, settings.llm.base_model, None, label="base",
                                version=None, **common)
        kits = newest_dataset_kits(settings)
        choices = newest_dataset_choices(settings)
    else:
        served = describe_model(engine, version.base_model or settings.llm.base_model,
                                str(registry.adapter_path(version)),
                                label=f"twin-v{version.version}", version=version.version,
                                **common)
        kits = registry.voice_root(version)
        choices = version.choices
    if not s.apply_choices:
        choices = None
    return served.model_copy(update={"voice_dir": str(kits) if kits else None,
                                     "choices": choices})


def newest_dataset_kits(settings: Settings) -> Path | None:
    """The authors' kits of the newest instruction dataset (what the base model is checked
    and scored with before any version is trained)."""
    from twin.domain.models import VOICE_DIR
    from twin.train.common import TrainError
    from twin.train.runner import latest_dataset

    try:
        folder = latest_dataset(settings) / VOICE_DIR
    except TrainError:
        return None
    return folder if folder.is_dir() else None


def newest_dataset_choices(settings: Settings) -> Choices | None:
    """The settings the evaluation chose for the base model on the newest instruction
    dataset's held-out prompts, if it was evaluated."""
    from twin.evaluate.choices import base_choices
    from twin.train.common import TrainError
    from twin.train.runner import latest_dataset

    try:
        return base_choices(settings, latest_dataset(settings))
    except TrainError:
        return None


def scoped_settings(settings: Settings, groups: tuple[str, ...] = RAG_GROUPS,
                    withheld: tuple[tuple[str, str], ...] = RAG_WITHHELD) -> Settings:
    """A settings object with only ``groups`` (and the home folder and log level) taken from
    ``settings``, less the ``withheld`` (group, field) values, which keep their defaults; every
    other group has its defaults, so none of its secrets. Built without reading the
    environment: the replica gets exactly this."""
    values: dict[str, Any] = {"home": settings.home_dir, "log_level": settings.log_level}
    values.update({group: getattr(settings, group).model_copy(deep=True) for group in groups})
    for group, name in withheld:
        if group in values:
            default = type(values[group]).model_fields[name].get_default(
                call_default_factory=True)
            setattr(values[group], name, default)
    return Settings.model_construct(**values)
